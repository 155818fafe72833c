"""The rights desk at the practice: a request received at the desk is registered with its deadline (8 days for an
access request), read through the one path; a missing detail is said in French next to its field, nothing
registered; a desk that may not see the patient registers nothing for them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from santegarde.rights.tables import rights_request
from test_web import error_of, signed_in, words
from web_fixtures import Practice, make_practice


@pytest.fixture
def practice(tmp_path: Path) -> Iterator[Practice]:
    p = make_practice(tmp_path)
    yield p
    p.close()








def registered(practice: Practice) -> int:
    with practice.place.service.engine.connect() as conn:
        return len(conn.execute(rights_request.select()).all())


def test_the_secretariat_registers_an_access_request_with_its_deadline(practice: Practice) -> None:
    c, token = signed_in(practice, "sec.durand")
    found = words(c.post("/patients/recherche", data={"csrf": token, "nom": "Fictivé"}))
    assert "Enregistrer une demande de droits pour Alix Fictivé" in found
    form = words(c.get("/patients/p-1/droits"))
    assert "Enregistrer une demande de droits pour Alix Fictivé" in form and "Droit d'accès" in form
    access = {"droit": "access", "demandeur": "person", "finalite": "medical_record"}
    done = c.post("/patients/p-1/droits", data={"csrf": token, **access})
    assert done.status_code == 200, words(done)[:2000]
    text = words(done)
    assert "Droit d'accès : demande <strong>n° 1</strong>, reçue le 25 novembre 2026" in text
    assert "Réponse à donner au plus tard le <strong>3 décembre 2026" in text  # 8 days for the medical record
    assert registered(practice) == 1


@pytest.mark.parametrize(
    ("form", "field", "expected"),
    [
        ({"droit": "", "demandeur": "person"}, "droit", "Choisissez le droit exercé dans la liste."),
        ({"droit": "access", "demandeur": "voisin"}, "demandeur", "Choisissez qui fait la demande dans la liste."),
        ({"droit": "objection", "demandeur": "person"}, "finalite", "Ce droit s'exerce pour une finalité"),
        ({"droit": "restriction", "demandeur": "person", "motif": "non"}, "motif", "Écrivez ce que la personne"),
    ],
)
def test_a_missing_detail_is_said_next_to_its_field_and_nothing_registered(
    practice: Practice, form: dict[str, str], field: str, expected: str
) -> None:
    c, token = signed_in(practice, "sec.durand")
    refused = c.post("/patients/p-1/droits", data={"csrf": token, **form})
    assert refused.status_code == 422 and error_of(refused, field).startswith(expected)
    assert "La demande n'est pas enregistrée." in words(refused)
    assert registered(practice) == 0


def test_a_desk_that_may_not_see_the_patient_registers_nothing(practice: Practice) -> None:
    c, token = signed_in(practice, "dr.autre")  # no care relationship with p-1
    assert c.get("/patients/p-1/droits").status_code == 403
    refused = c.post("/patients/p-1/droits", data={"csrf": token, "droit": "access", "demandeur": "person"})
    assert refused.status_code == 403 and "Pas de relation de soin" in words(refused) and "Fictivé" not in refused.text
    mine, _ = signed_in(practice, "sec.durand")
    forged = mine.post("/patients/p-1/droits", data={"csrf": "0" * 64, "droit": "access", "demandeur": "person"})
    assert forged.status_code == 403 and "Formulaire expiré" in words(forged)
    assert registered(practice) == 0
