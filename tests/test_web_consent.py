"""The patient's consent recorded from the chart: a FHIR Consent through the record path, shown in the chart's
consents; a category or purpose outside what the référentiel collects with consent refused in French next to its
field, nothing stored; a practitioner without care relationship records nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from test_web import error_of, signed_in, words
from web_fixtures import Practice, make_practice

LIFESTYLE = {"categorie": "lifestyle", "finalite": "medical_record"}


@pytest.fixture
def practice(tmp_path: Path) -> Iterator[Practice]:
    p = make_practice(tmp_path)
    yield p
    p.close()


def test_a_consent_is_recorded_and_shown_in_the_chart(practice: Practice) -> None:
    c, token = signed_in(practice, "dr.martin")
    chart = words(c.get("/patients/p-1"))
    assert "Aucun consentement enregistré." in chart and "Enregistrer un consentement" in chart
    form = words(c.get("/patients/p-1/consentement"))
    assert "Enregistrer le consentement de Alix Fictivé" in form and 'value="lifestyle"' in form
    saved = c.post("/patients/p-1/consentement", data={"csrf": token, **LIFESTYLE})
    assert saved.status_code == 303 and saved.headers["location"] == "/patients/p-1"
    chart = words(c.get("/patients/p-1"))
    assert "Aucun consentement enregistré." not in chart and "donné le 25 novembre 2026" in chart


@pytest.mark.parametrize(
    ("form", "field", "expected"),
    [
        ({"categorie": "health", "finalite": "medical_record"}, "categorie", "Choisissez la catégorie"),
        ({"categorie": "lifestyle", "finalite": "bookkeeping"}, "finalite", "Cette finalité ne recueille pas"),
    ],
)
def test_a_category_or_purpose_outside_the_text_is_refused_next_to_its_field(
    practice: Practice, form: dict[str, str], field: str, expected: str
) -> None:
    c, token = signed_in(practice, "dr.martin")
    refused = c.post("/patients/p-1/consentement", data={"csrf": token, **form})
    assert refused.status_code == 422 and error_of(refused, field).startswith(expected)
    assert "Aucun consentement enregistré." in words(c.get("/patients/p-1"))


def test_without_care_relationship_or_token_no_consent_is_recorded(practice: Practice) -> None:
    c, token = signed_in(practice, "dr.autre")
    refused = c.post("/patients/p-1/consentement", data={"csrf": token, **LIFESTYLE})
    assert refused.status_code == 403 and "Pas de relation de soin" in words(refused)
    mine, _ = signed_in(practice, "dr.martin")
    forged = mine.post("/patients/p-1/consentement", data={"csrf": "0" * 64, **LIFESTYLE})
    assert forged.status_code == 403 and "Formulaire expiré" in words(forged)
    assert "Aucun consentement enregistré." in words(mine.get("/patients/p-1"))


def test_a_consent_is_withdrawn_from_the_chart_once(practice: Practice) -> None:
    c, token = signed_in(practice, "dr.martin")
    assert c.post("/patients/p-1/consentement", data={"csrf": token, **LIFESTYLE}).status_code == 303
    chart = c.get("/patients/p-1")
    assert "Retirer ce consentement" in words(chart)
    (cid,) = re.findall(r'action="/patients/p-1/consentement/([^/"]+)/retrait"', chart.text)
    done = c.post(f"/patients/p-1/consentement/{cid}/retrait", data={"csrf": token})
    assert done.status_code == 303 and done.headers["location"] == "/patients/p-1"
    chart = words(c.get("/patients/p-1"))
    assert "retiré le 25 novembre 2026" in chart and "Retirer ce consentement" not in chart
    again = c.post(f"/patients/p-1/consentement/{cid}/retrait", data={"csrf": token})
    assert again.status_code == 409 and "n'est pas en vigueur" in words(again) and "rien à retirer" in words(again)


def test_a_withdrawal_is_refused_for_another_patient_a_stranger_or_a_forged_form(practice: Practice) -> None:
    c, token = signed_in(practice, "dr.martin")
    c.post("/patients/p-1/consentement", data={"csrf": token, **LIFESTYLE})
    (cid,) = re.findall(r'action="/patients/p-1/consentement/([^/"]+)/retrait"', c.get("/patients/p-1").text)
    other = c.post(f"/patients/p-2/consentement/{cid}/retrait", data={"csrf": token})
    assert other.status_code == 404 and "pas celui de ce patient" in words(other)
    forged = c.post(f"/patients/p-1/consentement/{cid}/retrait", data={"csrf": "0" * 64})
    assert forged.status_code == 403 and "Formulaire expiré" in words(forged)
    stranger, theirs = signed_in(practice, "dr.autre")
    refused = stranger.post(f"/patients/p-1/consentement/{cid}/retrait", data={"csrf": theirs})
    assert refused.status_code == 403 and "Pas de relation de soin" in words(refused)
    missing = c.post("/patients/p-1/consentement/inconnu-1/retrait", data={"csrf": token})
    assert missing.status_code == 404
    assert "Retirer ce consentement" in words(c.get("/patients/p-1"))  # still in force
