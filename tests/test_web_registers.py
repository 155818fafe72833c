"""The pharmacy's registers in the console: browsed by register, period and product, each line read through the
record path, printable as the register itself; a wrong period said in French next to its field."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from identity_fixtures import NEW_PASSWORD
from santegarde.identity import sessions
from santegarde.pharmacy import EntryFrozen, PharmacyRegister
from santegarde.pharmacy.register import PURPOSE
from santegarde.store.service import Request
from santegarde.web import create_console
from santegarde.web.app import STATIC
from test_pharmacy_register import audit_rows
from test_web import DISPENSING, browser, csrf, sign_in, words
from web_fixtures import Practice, make_pharmacy


@pytest.fixture
def pharmacy(tmp_path: Path) -> Iterator[Practice]:
    p = make_pharmacy(tmp_path)
    yield p
    p.close()


def with_two_dispensings(pharmacy: Practice) -> TestClient:
    c = browser(pharmacy)
    sign_in(pharmacy, c, "ph.durand")
    token = csrf(c.get("/accueil"))
    assert c.post("/pharmacie/delivrance/p-1", data={"csrf": token, **DISPENSING}).status_code == 200
    other = {**DISPENSING, "code": "3400930000002", "produit": "Autre produit fictif 5 mg"}
    assert c.post("/pharmacie/delivrance/p-1", data={"csrf": token, **other}).status_code == 200
    return c


def test_the_prescription_book_is_browsed_and_filtered_by_product(pharmacy: Practice) -> None:
    c = with_two_dispensings(pharmacy)
    assert 'href="/pharmacie/registres"' in c.get("/accueil").text
    book = words(c.get("/pharmacie/registres"))
    assert "Ordonnancier, du 26 octobre 2026 au 25 novembre 2026" in book
    assert "2 inscriptions" in book and "Alix Fictivé" in book and "Dr Prescriptrice Fictive" in book
    assert "Produit fictif 10 mg (3400930000001)" in book and "à valider" in book and "Liste I" in book
    one = words(c.get("/pharmacie/registres?registre=prescription_book&produit=autre"))
    assert "1 inscription pour « autre »" in one and "Produit fictif 10 mg" not in one
    none = words(c.get("/pharmacie/registres?registre=blood_derived_register"))
    assert "Aucune inscription sur cette période." in none


def test_a_wrong_period_is_said_next_to_its_field(pharmacy: Practice) -> None:
    c = with_two_dispensings(pharmacy)
    wrong = c.get("/pharmacie/registres?du=25/11/2026")
    assert wrong.status_code == 422
    found = re.search(r'<span id="du-erreur" class="champ-erreur">([^<]*)</span>', wrong.text)
    assert found and "date complète" in html.unescape(found.group(1)) and "Fictivé" not in wrong.text
    backwards = c.get("/pharmacie/registres?du=2026-11-25&au=2026-11-01")
    assert backwards.status_code == 422 and "précède son début" in words(backwards)


def test_signed_out_nothing_is_shown_and_the_page_prints_as_the_register(pharmacy: Practice) -> None:
    anonymous = browser(pharmacy)
    assert anonymous.get("/pharmacie/registres").headers["location"] == "/connexion"
    css = (STATIC / "console.css").read_text(encoding="utf-8")
    printed = css[css.index("@media print") :]
    assert ".bandeau" in printed and ".ecran-seulement" in printed and "display: none" in printed


def console(pharmacy: Practice, name: str = "Pharmacie Fictive du Marché") -> TestClient:
    app = create_console(pharmacy.place.identity, records=pharmacy.place.service, organisation_name=name)
    return TestClient(app, base_url="https://testserver", follow_redirects=False)


def test_a_pharmacist_validates_and_freezes_the_period(pharmacy: Practice) -> None:
    c = with_two_dispensings(pharmacy)
    page = words(c.get("/pharmacie/registres"))
    assert "2 inscriptions de cette période sont à valider" in page and "Valider et figer la période" in page
    token = csrf(c.get("/pharmacie/registres"))
    done = c.post(
        "/pharmacie/registres/validation",
        data={"csrf": token, "registre": "prescription_book", "du": "2026-10-26", "au": "2026-11-25"},
    )
    assert done.status_code == 303 and done.headers["location"].endswith("valide=2")
    shown = words(c.get(done.headers["location"]))
    assert "2 inscription(s) validée(s) et figée(s)" in shown and "à valider" not in shown
    register = PharmacyRegister(pharmacy.place.service)
    assert all(e.validated and e.validated_by == "ph.durand" for e in register.entries("prescription_book"))
    with pytest.raises(EntryFrozen):  # frozen: only a correction may follow
        register.delete(Request(pharmacy_token(pharmacy), PURPOSE), "prescription_book", 1)
    again = c.post(
        "/pharmacie/registres/validation",
        data={"csrf": token, "registre": "prescription_book", "du": "2026-10-26", "au": "2026-11-25"},
    )
    assert again.headers["location"].endswith("valide=0")


def pharmacy_token(pharmacy: Practice) -> str:
    ctx = pharmacy.place.identity
    opened = sessions.login(ctx, "ph.durand", NEW_PASSWORD, source="10.0.0.1", workstation_class="office")
    sessions.second_factor(ctx, opened.token, pharmacy.code("ph.durand"))
    return sessions.rotate(ctx, opened.token)


def test_a_preparer_is_refused_the_validation_with_the_rule_and_traced(pharmacy: Practice) -> None:
    with_two_dispensings(pharmacy)
    pharmacy.person("prep.fictif", "preparer", ref="P-9")
    c = browser(pharmacy)
    sign_in(pharmacy, c, "prep.fictif")
    page = c.get("/pharmacie/registres")
    assert "Seul un pharmacien valide les inscriptions." in words(page) and "Valider et figer" not in page.text
    refused = c.post(
        "/pharmacie/registres/validation",
        data={"csrf": csrf(page), "registre": "prescription_book", "du": "2026-10-26", "au": "2026-11-25"},
    )
    assert refused.status_code == 403
    assert "Seul un pharmacien valide et fige" in words(refused) and "PHA-3" in refused.text
    assert not any(e.validated for e in PharmacyRegister(pharmacy.place.service).entries("prescription_book"))
    denied = [a for a in audit_rows(pharmacy.place) if a["operation"] == "register.validate"]
    assert denied and all(a["actor"] == "prep.fictif" and a["outcome"] == "denied" for a in denied)
    forged = c.post("/pharmacie/registres/validation", data={"csrf": "0" * 64, "registre": "prescription_book"})
    assert forged.status_code == 403 and "Formulaire expiré" in words(forged)


def test_the_register_of_the_period_is_given_as_a_pdf(pharmacy: Practice) -> None:
    c = console(pharmacy)
    sign_in(pharmacy, c, "ph.durand")
    token = csrf(c.get("/accueil"))
    assert c.post("/pharmacie/delivrance/p-1", data={"csrf": token, **DISPENSING}).status_code == 200
    page = c.get("/pharmacie/registres")
    link = html.unescape(re.search(r'href="(/pharmacie/registres/pdf\?[^"]*)"', page.text).group(1))  # type: ignore[union-attr]
    assert "p-1" not in link and "Fictiv" not in link
    pdf = c.get(link)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert (
        pdf.content.startswith(b"%PDF")
        and "prescription_book-2026-10-26-2026-11-25.pdf" in (pdf.headers["content-disposition"])
    )
    anonymous = browser(pharmacy)
    assert anonymous.get(link).headers["location"] == "/connexion"
    unnamed = console(pharmacy, "")
    sign_in(pharmacy, unnamed, "ph.durand")
    refused = unnamed.get(link)
    assert refused.status_code == 409 and "nom de l'officine n'est pas configuré" in words(refused)
