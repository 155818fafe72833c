"""The pharmacy's registers in the console: browsed by register, period and product, each line read through the
record path, printable as the register itself; a wrong period said in French next to its field."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from santegarde.web.app import STATIC
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
