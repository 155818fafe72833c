"""The console in French by default and in English on request: the switch in the banner keeps the choice in a
cookie of the browser; every phrase a template says goes through ``t()`` (documents_text.yaml, ``console``), whose
French and English trees hold the same keys; dates and numbers follow the page's language."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from santegarde.governance.doctext import words
from santegarde.web.french import date_in, number_in
from santegarde.web.render import TEMPLATES
from test_web import DISPENSING, browser, csrf, signed_in
from test_web import words as read
from web_fixtures import Practice, make_pharmacy, make_practice

KEY = re.compile(r"""\bt\(\s*["']([a-z_]+(?:\.[a-z_]+)+)["']""")


@pytest.fixture
def practice(tmp_path: Path) -> Iterator[Practice]:
    p = make_practice(tmp_path)
    yield p
    p.close()


def _keys(tree: Any, prefix: str = "") -> set[str]:
    if not isinstance(tree, dict):
        return {prefix}
    return {k for name, sub in tree.items() for k in _keys(sub, f"{prefix}.{name}" if prefix else name)}


def test_french_and_english_hold_the_same_phrases_and_every_key_a_template_uses() -> None:
    fr, en = _keys(words("fr")["console"]), _keys(words("en")["console"])
    assert fr == en, f"only in one language: {sorted(fr ^ en)}"
    pages = [page.read_text(encoding="utf-8") for page in TEMPLATES.rglob("*.html")]
    used = {k for text in pages for k in KEY.findall(text)}
    # every quoted "group.key" of a template, also those chosen by a condition (t("a.b" if x else "a.c"))
    groups = "|".join(words("fr")["console"])
    found = (re.findall(rf"""["']((?:{groups})(?:\.[a-z_]+)+)["']""", text) for text in pages)
    quoted = {k for keys in found for k in keys if not k.endswith(".html")}
    assert used and not (used | quoted) - fr, (
        f"keys used by the templates but not written: {sorted((used | quoted) - fr)}"
    )
    assert "login.submit" in used and "base.switch" in used


def test_dates_and_numbers_in_the_pages_language() -> None:
    at = datetime(2026, 12, 4, 10, 15, tzinfo=UTC)  # 11:15 in Paris
    assert date_in(at, "fr") == "4 décembre 2026 à 11 h 15" and date_in(at, "en") == "4 December 2026 at 11:15"
    assert date_in("1979-03-21", "en") == "21 March 1979" and date_in(None, "en") == "—"
    assert number_in(61.5, "fr") == "61,5" and number_in(61.5, "en") == "61.5"


def test_the_switch_turns_the_console_into_english_and_back(practice: Practice) -> None:
    c = browser(practice)
    page = c.get("/connexion")
    assert '<html lang="fr">' in page.text and "Identifiant" in read(page) and ">English</button>" in page.text
    switched = c.post("/langue", data={"csrf": csrf(page), "langue": "en", "suite": "/connexion"})
    assert switched.status_code == 303 and switched.headers["location"] == "/connexion"
    cookie = switched.headers["set-cookie"]
    assert "sg_lang=en" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" in cookie
    english = c.get("/connexion")
    assert '<html lang="en">' in english.text
    for phrase in ("Sign in", "Login", "Password", "Workstation", "Every access to the data is traced"):
        assert phrase in english.text
    assert "Identifiant" not in english.text and "Se connecter" not in english.text
    back = c.post("/langue", data={"csrf": csrf(english), "langue": "fr", "suite": "/connexion"})
    assert "sg_lang=fr" in back.headers["set-cookie"] and "Identifiant" in read(c.get("/connexion"))


def test_a_signed_in_page_in_english_and_the_switch_refusals(practice: Practice) -> None:
    c, token = signed_in(practice, "dr.martin")
    c.post("/langue", data={"csrf": token, "langue": "en", "suite": "/accueil"})
    home = c.get("/accueil")
    assert "Find a patient" in home.text and "Family name" in home.text and ">Appointments</a>" in home.text
    found = read(c.post("/patients/recherche", data={"csrf": token, "nom": "Fictivé"}))
    assert "1 patient found" in found and "Open the chart of Alix Fictivé" in found and "21 March 1979" in found
    assert "female" in found and "Sign out" in found
    chart = read(c.get("/patients/p-1"))
    assert "Chart of Alix Fictivé" in chart and "Problems and diagnoses" in chart and "Given name(s)" in chart
    assert "4 December 2026 at 11:15" in chart and "61.5 kg" in chart and "No consent recorded." in chart
    assert "Dossier de" not in chart and "décembre" not in chart
    book = read(c.get("/rendez-vous?jour=2026-12-08"))
    assert "No appointment." in book and "Week view" in book and "Previous day" in book
    assert "Appointments — Tuesday 8 December 2026" in book
    week = read(c.get("/rendez-vous?jour=2026-12-08&vue=semaine"))
    assert "Appointments — Week of 7 December 2026" in week and "Sunday 13 December 2026" in week
    # Anything but French or English is French; the page to come back to is one of the console's.
    away = c.post("/langue", data={"csrf": token, "langue": "de", "suite": "//ailleurs.example/"})
    assert away.headers["location"] == "/accueil" and "sg_lang=fr" in away.headers["set-cookie"]
    forged = c.post("/langue", data={"csrf": "0" * 64, "langue": "en"})
    assert forged.status_code == 403 and "sg_lang" not in forged.headers.get("set-cookie", "")


def test_the_pharmacy_registers_in_english(tmp_path: Path) -> None:
    pharmacy = make_pharmacy(tmp_path)
    try:
        c, token = signed_in(pharmacy, "ph.durand")
        assert c.post("/pharmacie/delivrance/p-1", data={"csrf": token, **DISPENSING}).status_code == 200
        c.post("/langue", data={"csrf": token, "langue": "en", "suite": "/pharmacie/registres"})
        page = read(c.get("/pharmacie/registres"))
        assert "Prescription book, from 26 October 2026 to 25 November 2026" in page
        assert "List I" in page and "not yet validated" in page and "1 entry of this period is to be validated." in page
        assert "Validate and freeze the period" in page and "Ordonnancier" not in page and "à valider" not in page
    finally:
        pharmacy.close()
