"""The core promise under attack, through the HTTP API: each test replays an attack found on the demo.

1. a practitioner overwriting another patient's record without a care relationship, or moving it to another
   patient, or writing a record with no patient or with a foreign one;
2. a secretary reading the chart by declaring the health-insurance purpose;
5. justifications kept (break-the-glass reasons, research formalities, care declarations) and flagged;
6. everything that touches data traced (searches with no result, 404 probes, refusals before the path, logout),
   and no answer that tells whether a record exists to someone who may not see it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from santegarde.api import create_app
from santegarde.audit.review import detect
from santegarde.audit.tables import entry
from santegarde.config.model import Formality
from santegarde.store import justifications
from santegarde.store.schema import access_justification
from santegarde.store.service import AccessDenied, RecordService, Request
from store_fixtures import Workplace, make_workplace
from test_store import observation, patient

PURPOSE = {"X-Purpose": "medical_record"}


@pytest.fixture
def place(tmp_path: Path) -> Iterator[Workplace]:
    w = make_workplace(f"sqlite:///{tmp_path / 'attacks.db'}", tmp_path)
    yield w
    w.close()


def client(w: Workplace, token: str | None, records: RecordService | None = None) -> TestClient:
    c = TestClient(create_app(w.identity, records=records or w.service), base_url="https://testserver")
    if token:
        c.cookies.set("sg_session", token)
    return c


def trail(w: Workplace) -> list[dict[str, Any]]:
    with w.audit.engine.connect() as conn:
        return [json.loads(r.content) for r in conn.execute(select(entry).order_by(entry.c.seq))]


def encounter(pid: str = "p-1", eid: str = "e-1") -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": eid,
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "type": [{"coding": [{"system": "https://www.ameli.fr/ngap", "code": "G"}]}],
        "subject": {"reference": f"Patient/{pid}"},
        "period": {"start": "2026-11-30T09:00:00+01:00", "end": "2026-11-30T09:20:00+01:00"},
        "reasonCode": [{"coding": [{"system": "http://snomed.info/sct", "code": "44054006"}]}],
        "diagnosis": [{"condition": {"reference": "Condition/c-1"}}],
    }


def condition(pid: str = "p-1") -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": "c-1",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006"}]},
        "subject": {"reference": f"Patient/{pid}"},
    }


@pytest.fixture
def two_doctors(place: Workplace) -> tuple[TestClient, TestClient]:
    """dr.martin follows p-1 (Observation o-1); dr.autre follows p-2 only."""
    martin = client(place, place.person("dr.martin", "practitioner", ref="10001234567"))
    autre = client(place, place.person("dr.autre", "practitioner", ref="10007654321"))
    assert martin.post("/fhir/Patient", json=patient("p-1"), headers=PURPOSE).status_code == 201
    assert martin.post("/fhir/Observation", json=observation("p-1"), headers=PURPOSE).status_code == 201
    assert autre.post("/fhir/Patient", json=patient("p-2", "Autre"), headers=PURPOSE).status_code == 201
    return martin, autre


# -- 1. no write around the care check ----------------------------------------------------------------------


def test_no_overwrite_of_another_patients_record_without_care(place: Workplace, two_doctors: Any) -> None:
    martin, autre = two_doctors
    # The attack: dr.autre rewrites p-1's observation as if it were about his own patient p-2.
    moved = autre.put("/fhir/Observation/o-1", json=observation("p-2"), headers=PURPOSE)
    assert moved.status_code == 403 and "pas de relation de soin enregistrée" in moved.json()["issue"][0]["diagnostics"]
    unlinked = {k: v for k, v in observation("p-1").items() if k != "subject"}
    assert autre.put("/fhir/Observation/o-1", json=unlinked, headers=PURPOSE).status_code == 400
    assert autre.put("/fhir/Observation/o-1", json=observation("p-1"), headers=PURPOSE).status_code == 403
    # Even breaking the glass does not move a record to another patient.
    glass = {**PURPOSE, "X-Break-Glass": "patient unconscious, checking the weight history"}
    assert autre.put("/fhir/Observation/o-1", json=observation("p-2"), headers=glass).status_code == 403
    # Its own practitioner cannot move it either.
    martin.post("/fhir/Patient/p-2/$declare-care", json={"basis": "replacement"}, headers=PURPOSE)
    refused = martin.put("/fhir/Observation/o-1", json=observation("p-2"), headers=PURPOSE)
    assert refused.status_code == 403 and "ne peut pas être déplacée" in refused.json()["issue"][0]["diagnostics"]
    kept = martin.get("/fhir/Observation/o-1", headers=PURPOSE).json()
    assert kept["meta"]["versionId"] == "1" and kept["subject"]["reference"] == "Patient/p-1"
    rules = [e["rule"] for e in trail(place) if e["resource_id"] == "o-1" and not e["allowed"]]
    assert "record.patient_changed" in rules and "record.patient_reference" in rules


def test_records_name_exactly_their_own_patient(place: Workplace, two_doctors: Any) -> None:
    martin, _ = two_doctors
    no_subject = {k: v for k, v in observation("p-1", "o-2").items() if k != "subject"}
    missing = martin.post("/fhir/Observation", json=no_subject, headers=PURPOSE)
    assert missing.status_code == 400 and "belongs to a patient" in missing.json()["issue"][0]["diagnostics"]
    absolute = {**observation("p-1", "o-3"), "subject": {"reference": "https://elsewhere.invalid/fhir/Patient/p-1"}}
    assert martin.post("/fhir/Observation", json=absolute, headers=PURPOSE).status_code == 400
    two = {**observation("p-1", "o-4"), "performer": [{"reference": "Patient/p-2"}]}
    both = martin.post("/fhir/Observation", json=two, headers=PURPOSE)
    assert both.status_code == 400 and "another patient" in both.json()["issue"][0]["diagnostics"]
    glass = {**PURPOSE, "X-Break-Glass": "emergency, the patient was brought in unconscious"}
    ghost = martin.post("/fhir/Observation", json=observation("nobody", "o-5"), headers=glass)
    assert ghost.status_code == 400 and "not a patient of this organisation" in ghost.json()["issue"][0]["diagnostics"]
    for oid in ("o-2", "o-3", "o-4", "o-5"):
        assert martin.get(f"/fhir/Observation/{oid}", headers=PURPOSE).status_code == 404


# -- 2. no clinical data through a purpose ------------------------------------------------------------------


def test_secretary_reads_only_billing_elements_under_health_insurance(place: Workplace, two_doctors: Any) -> None:
    martin, _ = two_doctors
    assert martin.post("/fhir/Encounter", json=encounter(), headers=PURPOSE).status_code == 201
    assert martin.post("/fhir/Condition", json=condition(), headers=PURPOSE).status_code == 201
    sec = client(place, place.person("sec.durand", "secretariat", ref="S-2"))
    billing = {"X-Purpose": "health_insurance_documents"}
    for kind, rid in (("Condition", "c-1"), ("Observation", "o-1")):
        denied = sec.get(f"/fhir/{kind}/{rid}", headers=billing)
        assert denied.status_code == 403, kind
        assert "ce que ses missions exigent strictement" in denied.json()["issue"][0]["diagnostics"]
        english = sec.get(f"/fhir/{kind}/{rid}", headers={**billing, "Accept-Language": "en"})
        assert "strictly need" in english.json()["issue"][0]["diagnostics"]
        assert sec.get(f"/fhir/{kind}/{rid}/_history", headers=billing).status_code == 403
    seen = sec.get("/fhir/Encounter/e-1", headers=billing)
    assert seen.status_code == 200
    body = seen.json()
    assert body["period"]["start"].startswith("2026-11-30") and body["type"][0]["coding"][0]["code"] == "G"
    assert "reasonCode" not in body and "diagnosis" not in body
    assert body["meta"]["security"][0]["code"] == "REDACTED"
    assert sec.get("/fhir/Patient/p-1", headers=billing).status_code == 200
    # Under the appointments purpose, not even the encounter.
    assert sec.get("/fhir/Encounter/e-1", headers={"X-Purpose": "appointments"}).status_code == 403


def test_a_refusal_does_not_tell_whether_the_record_exists(place: Workplace, two_doctors: Any) -> None:
    sec = client(place, place.person("sec.durand", "secretariat", ref="S-2"))
    billing = {"X-Purpose": "health_insurance_documents"}
    existing = sec.get("/fhir/Observation/o-1", headers=billing)
    absent = sec.get("/fhir/Observation/does-not-exist", headers=billing)
    assert existing.status_code == absent.status_code == 403
    assert existing.json()["issue"][0]["diagnostics"] == absent.json()["issue"][0]["diagnostics"]
    martin, _ = two_doctors
    # An id of another type answers like an id that does not exist: its type is not disclosed.
    wrong_type = martin.put("/fhir/Condition/o-1", json={**condition(), "id": "o-1"}, headers=PURPOSE)
    assert wrong_type.status_code == 404 and "Observation" not in wrong_type.text


def test_two_factors_for_identity_too(place: Workplace, two_doctors: Any) -> None:
    weak = client(place, place.person("dr.faible", "practitioner", ref="10001111111", two_factors=False))
    glass = {**PURPOSE, "X-Break-Glass": "patient unconscious at the practice"}
    answer = weak.get("/fhir/Patient/p-1", headers=glass)
    assert answer.status_code == 403 and "deux facteurs" in answer.json()["issue"][0]["diagnostics"]
    found = weak.post("/fhir/Patient/_search", json={"family": "Fictivé"}, headers=glass)
    assert found.status_code == 403


# -- 5. justifications kept ---------------------------------------------------------------------------------


def test_break_the_glass_reason_is_kept_apart_and_pointed_to(place: Workplace, two_doctors: Any) -> None:
    _, autre = two_doctors
    reason = "patient unconscious in the waiting room, allergies needed"
    read = autre.get("/fhir/Observation/o-1", headers={**PURPOSE, "X-Break-Glass": reason})
    assert read.status_code == 200
    glass = [e for e in trail(place) if e["break_glass"]]
    assert len(glass) == 1 and glass[0]["justification"]
    kept = justifications.read(place.service.engine, glass[0]["justification"])
    assert kept.text == reason and kept.kind == "break_glass" and kept.login == "dr.autre"
    assert reason not in json.dumps(trail(place))  # the reason may speak of health: never in the trail
    with place.audit.engine.connect() as conn:
        found = detect(place.audit.entries(conn))
    flagged = [a for a in found if a.kind == "break_the_glass"]
    assert flagged and f"reason no. {kept.number}" in flagged[0].detail


def test_research_needs_a_formality_the_organisation_recorded(place: Workplace, two_doctors: Any) -> None:
    recorded = Formality(
        reference="MR-004 recepisse 2219876 v 0",
        kind="reference_methodology",
        purposes=["research"],
        granted=date(2024, 1, 15),
    )
    service = RecordService(
        place.service.engine,
        place.service.ref,
        place.identity.keyring,
        place.audit,
        place.identity,
        formalities=[recorded],
    )
    martin = client(place, place.person("dr.chercheur", "practitioner", ref="10002222222"), service)
    martin.post("/fhir/Patient/p-1/$declare-care", json={"basis": "care_team"}, headers=PURPOSE)
    research = {"X-Purpose": "research"}
    for forged in ("x", "MR-004", "MR-003 recepisse 2219876 v 0"):
        denied = martin.get("/fhir/Observation/o-1", headers={**research, "X-Formality": forged})
        assert denied.status_code == 403 and "formalité" in denied.json()["issue"][0]["diagnostics"]
    ok = martin.get("/fhir/Observation/o-1", headers={**research, "X-Formality": "mr-004  recepisse 2219876 v 0"})
    assert ok.status_code == 200
    pointed = [e for e in trail(place) if e["purpose"] == "research" and e["allowed"] and e["justification"]]
    assert len(pointed) == 1
    assert justifications.read(place.service.engine, pointed[0]["justification"]).kind == "formality"
    expired = recorded.model_copy(update={"expires": date(2025, 1, 1)})
    service.formalities = (expired,)
    late = martin.get("/fhir/Observation/o-1", headers={**research, "X-Formality": recorded.reference})
    assert late.status_code == 403


def test_care_declarations_are_coded_and_flagged(place: Workplace, two_doctors: Any) -> None:
    _, autre = two_doctors
    whatever = autre.post("/fhir/Patient/p-1/$declare-care", json={"basis": "whatever"}, headers=PURPOSE)
    assert whatever.status_code == 403 and "referral" in whatever.json()["issue"][0]["diagnostics"]
    assert autre.get("/fhir/Observation/o-1", headers=PURPOSE).status_code == 403
    declared = autre.post(
        "/fhir/Patient/p-1/$declare-care", json={"basis": "referral", "note": "adressé par Dr Martin"}, headers=PURPOSE
    )
    assert declared.status_code == 200
    assert autre.get("/fhir/Observation/o-1", headers=PURPOSE).status_code == 200
    with place.audit.engine.connect() as conn:
        found = detect(place.audit.entries(conn))
    assert [a.actor for a in found if a.kind == "care_declared"] == ["dr.autre"]


# -- 6. everything that touches data is traced ----------------------------------------------------------------


def test_probes_and_refusals_before_the_path_are_traced(place: Workplace, two_doctors: Any) -> None:
    martin, _ = two_doctors
    before = len(trail(place))
    assert martin.post("/fhir/Patient/_search", json={"family": "Personne"}, headers=PURPOSE).json()["total"] == 0
    assert martin.get("/fhir/Observation/nope", headers=PURPOSE).status_code == 404
    assert martin.get("/fhir/Observation/o-1").status_code == 400  # no purpose
    assert martin.post("/fhir/Observation", content=b"not json", headers=PURPOSE).status_code == 422
    assert martin.post("/fhir/Patient", json=patient("p-1"), headers=PURPOSE).status_code == 400  # already exists
    assert client(place, None).get("/fhir/Observation/o-1", headers=PURPOSE).status_code == 401
    assert martin.post("/auth/logout").status_code == 200
    new = trail(place)[before:]
    seen = {(e["operation"], e["rule"], e["outcome"]) for e in new}
    assert ("search", "search", "success") in seen
    assert ("read", "record.not_found", "not_found") in seen
    assert ("read", "purpose.missing", "denied") in seen
    assert ("create", "request.invalid", "denied") in seen
    assert ("create", "record.id_taken", "denied") in seen
    assert ("read", "identity", "denied") in seen
    assert "logout" in place.identity.trace.actions("success")  # type: ignore[attr-defined]
    with place.service.engine.connect() as conn:
        assert conn.execute(select(access_justification)).first() is None  # nothing exceptional happened


def test_no_freeze_of_another_patients_record_without_care(place: Workplace, two_doctors: Any) -> None:
    """Freezing is writing: a practitioner with no care relationship cannot freeze (or unfreeze) p-1's record."""
    autre = place.person("dr.tiers", "practitioner", ref="10003333333")
    with pytest.raises(AccessDenied, match="pas de relation de soin enregistrée"):
        place.service.freeze(Request(autre, "medical_record"), "Observation", "o-1", "accuracy disputed")
    refused = [e for e in trail(place) if e["operation"] == "freeze" and not e["allowed"]]
    assert refused and refused[-1]["care_relationship"] is False


def test_erasure_needs_care_and_takes_the_justifications_with_it(place: Workplace, two_doctors: Any) -> None:
    martin, autre = two_doctors
    reason = "patient unconscious, weight needed for the dose"
    assert autre.get("/fhir/Observation/o-1", headers={**PURPOSE, "X-Break-Glass": reason}).status_code == 200
    stranger = place.person("dr.tiers", "practitioner", ref="10003333333")
    with pytest.raises(AccessDenied, match="pas de relation de soin enregistrée"):
        place.service.erase_patient(Request(stranger, "medical_record"), "p-1", "erasure requested, request 1")
    assert martin.get("/fhir/Observation/o-1", headers=PURPOSE).status_code == 200  # nothing erased
    token = str(martin.cookies.get("sg_session"))
    assert place.service.erase_patient(Request(token, "medical_record"), "p-1", "erasure requested, request 1")
    with place.service.engine.connect() as conn:  # the reason spoke of the patient: it goes with them
        assert (
            conn.execute(select(access_justification).where(access_justification.c.patient_id == "p-1")).first() is None
        )
