"""The practice's record screens beside the chart: the identity form (the store's FHIR validation decides; each
element refused is said in French next to its field, nothing stored), the history of versions, the documents; and
their refusals."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from identity_fixtures import NEW_PASSWORD
from santegarde.identity import sessions
from santegarde.store.service import Request
from test_web import error_of, signed_in, words
from web_fixtures import Practice, make_practice

IDENTITY = {"nom": "Fictivé-Durand", "prenoms": "Alix Marie", "naissance": "21/03/1979", "sexe": "female"}


@pytest.fixture
def practice(tmp_path: Path) -> Iterator[Practice]:
    p = make_practice(tmp_path)
    yield p
    p.close()








def versions(practice: Practice) -> int:
    ctx = practice.place.identity
    opened = sessions.login(ctx, "dr.martin", NEW_PASSWORD, source="10.0.0.1", workstation_class="office")
    sessions.second_factor(ctx, opened.token, practice.code("dr.martin"))
    token = sessions.rotate(ctx, opened.token)
    try:
        return len(practice.place.service.history(Request(token, "medical_record"), "Patient", "p-1"))
    finally:
        sessions.logout(ctx, token)


def test_the_identity_is_updated_as_a_new_version_shown_in_the_history(practice: Practice) -> None:
    c, token = signed_in(practice, "dr.martin")
    chart = words(c.get("/patients/p-1"))
    assert "Modifier l'identité" in chart and "Historique des versions de la fiche" in chart
    form = c.get("/patients/p-1/identite")
    assert form.status_code == 200 and 'value="21/03/1979"' in form.text and 'name="version" value="1"' in form.text
    saved = c.post("/patients/p-1/identite", data={"csrf": token, "version": "1", **IDENTITY})
    assert saved.status_code == 303 and saved.headers["location"] == "/patients/p-1"
    assert "Dossier de Alix Marie Fictivé-Durand" in words(c.get("/patients/p-1"))
    history = words(c.get("/patients/p-1/historique"))
    assert "2 versions, de la plus récente à la plus ancienne" in history
    assert "nom, prénom(s)" in history and "création" in history and "Fictivé-Durand" in history
    assert "21 mars 1979" in history
    assert versions(practice) == 2


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("naissance", "30/02/1979", "Cette date de naissance n'existe pas ou est mal écrite"),
        ("naissance", "le 21 mars", "Cette date de naissance n'existe pas ou est mal écrite"),
        ("nom", "   ", "Le nom ne peut pas être vide"),
        ("sexe", "banane", "Choisissez le sexe dans la liste"),
    ],
)
def test_a_fhir_validation_error_is_shown_in_french_next_to_its_field(
    practice: Practice, field: str, value: str, expected: str
) -> None:
    c, token = signed_in(practice, "dr.martin")
    refused = c.post("/patients/p-1/identite", data={"csrf": token, "version": "1", **IDENTITY, field: value})
    assert refused.status_code == 422
    assert error_of(refused, field).startswith(expected)
    assert f'aria-invalid="true" aria-describedby="{field}-erreur"' in refused.text
    assert "La fiche n'est pas enregistrée." in words(refused) and "not valid FHIR" not in refused.text
    assert versions(practice) == 1  # nothing stored


def test_a_stale_form_stores_nothing_and_shows_the_current_version(practice: Practice) -> None:
    c, token = signed_in(practice, "dr.martin")
    assert c.post("/patients/p-1/identite", data={"csrf": token, "version": "1", **IDENTITY}).status_code == 303
    stale = c.post("/patients/p-1/identite", data={"csrf": token, "version": "1", **IDENTITY, "nom": "Autre"})
    assert stale.status_code == 409 and "La fiche a été modifiée entre-temps." in words(stale)
    assert 'value="Fictivé-Durand"' in stale.text and 'name="version" value="2"' in stale.text
    assert versions(practice) == 2


def test_without_care_relationship_or_token_nothing_is_read_nor_written(practice: Practice) -> None:
    c, token = signed_in(practice, "dr.autre")
    refused = c.get("/patients/p-1/identite")
    assert (
        refused.status_code == 403 and "Pas de relation de soin" in words(refused) and "21/03/1979" not in refused.text
    )
    history = c.get("/patients/p-1/historique")
    assert history.status_code == 403 and "Fictivé" not in history.text
    written = c.post("/patients/p-1/identite", data={"csrf": token, "version": "1", **IDENTITY})
    assert written.status_code == 403
    mine, _ = signed_in(practice, "dr.martin")
    forged = mine.post("/patients/p-1/identite", data={"csrf": "0" * 64, "version": "1", **IDENTITY})
    assert forged.status_code == 403 and "Formulaire expiré" in words(forged)
    assert versions(practice) == 1


def test_the_chart_lists_the_patients_documents(practice: Practice) -> None:
    ctx = practice.place.identity
    opened = sessions.login(ctx, "dr.martin", NEW_PASSWORD, source="10.0.0.1", workstation_class="office")
    sessions.second_factor(ctx, opened.token, practice.code("dr.martin"))
    token = sessions.rotate(ctx, opened.token)
    document = {
        "resourceType": "DocumentReference",
        "id": "d-1",
        "status": "current",
        "type": {"text": "Compte rendu de consultation (fictif)"},
        "subject": {"reference": "Patient/p-1"},
        "date": "2026-11-20T09:30:00+00:00",
        "content": [{"attachment": {"contentType": "application/pdf", "title": "cr-consultation.pdf"}}],
    }
    practice.place.service.create(Request(token, "medical_record"), document)
    sessions.logout(ctx, token)
    c, _ = signed_in(practice, "dr.martin")
    chart = words(c.get("/patients/p-1"))
    assert "Compte rendu de consultation (fictif) — du 20 novembre 2026 à 10 h 30 (cr-consultation.pdf)" in chart


def test_a_practitioner_declares_the_care_relationship_from_the_refused_chart(practice: Practice) -> None:
    c, token = signed_in(practice, "dr.autre")
    refused = words(c.get("/patients/p-1"))
    assert (
        "Déclarer la relation de soin" in refused and "Le patient m'est adressé par un autre professionnel" in refused
    )
    blank = c.post("/patients/p-1/relation-de-soin", data={"csrf": token, "motif": "parce que"})
    assert (
        blank.status_code == 403
        and error_of(blank, "motif") == "Choisissez le motif de la prise en charge dans la liste."
    )
    assert "61,5 kg" not in blank.text
    declared = c.post("/patients/p-1/relation-de-soin", data={"csrf": token, "motif": "referral"})
    assert declared.status_code == 303 and declared.headers["location"] == "/patients/p-1"
    assert "61,5 kg" in c.get("/patients/p-1").text


def test_the_secretariat_holds_no_care_relationship(practice: Practice) -> None:
    c, token = signed_in(practice, "sec.durand")
    refused = c.post("/patients/p-1/relation-de-soin", data={"csrf": token, "motif": "consultation"})
    assert refused.status_code == 403 and "Accès refusé" in words(refused)
    assert "Fictivé" not in refused.text


def test_every_basis_of_the_store_has_its_french_words() -> None:
    from santegarde.store.service import CARE_BASES as STORE
    from santegarde.web.french import CARE_BASES as DESK

    assert set(STORE) == set(DESK)
