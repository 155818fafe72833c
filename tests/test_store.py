"""The record store through the one path (COM-PUR-1, COM-MIN-1, COM-QUAL-1, COM-FREE-1, PRA-1..3, COM-CRY-1).

On SQLite and PostgreSQL: identity → policy → encrypted store → audit, and every refusal.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from santegarde.audit.tables import entry
from santegarde.crypto import DecryptionRefused
from santegarde.identity import grants, sessions
from santegarde.identity.errors import SessionRefused, StepRequired
from santegarde.store import mapping, vault
from santegarde.store.db import DatabaseUrlError, make_engine, migrate, normalise_url, tables
from santegarde.store.schema import patient_key, record_part
from santegarde.store.service import AccessDenied, NotFound, Request
from store_fixtures import Workplace, make_workplace

INS = {
    "system": "urn:oid:1.2.250.1.213.1.4.10",
    "value": "279035121518989",
    "type": {
        "coding": [{"system": "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203", "code": "INS-NIR-TEST"}]
    },
}
NIR = {
    "system": "urn:oid:1.2.250.1.213.1.4.8",
    "value": "279035121518989",
    "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "NH"}]},
}


def patient(pid: str = "p-1", family: str = "Fictivé") -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [INS],
        "name": [{"family": family, "given": ["Alix"]}],
        "gender": "female",
        "birthDate": "1979-03-21",
    }


def observation(pid: str = "p-1", oid: str = "o-1", note: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "subject": {"reference": f"Patient/{pid}"},
        "valueQuantity": {"value": 61.5, "unit": "kg"},
    }
    if note is not None:
        body["note"] = [{"text": note}]
    return body


def appointment(pid: str = "p-1") -> dict[str, Any]:
    return {
        "resourceType": "Appointment",
        "id": "a-1",
        "status": "booked",
        "start": "2026-12-01T09:00:00+01:00",
        "end": "2026-12-01T09:20:00+01:00",
        "reasonCode": [{"text": "suivi diabète"}],
        "participant": [{"actor": {"reference": f"Patient/{pid}"}, "status": "accepted"}],
    }


@pytest.fixture
def place(database_url: str, tmp_path: Path) -> Iterator[Workplace]:
    w = make_workplace(database_url, tmp_path)
    yield w
    w.close()


def audit_rows(w: Workplace) -> list[dict[str, Any]]:
    with w.audit.engine.connect() as conn:
        return [json.loads(r.content) for r in conn.execute(select(entry.c.content).order_by(entry.c.seq))]


def test_migrations_create_the_schema(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    migrate(engine)  # idempotent
    assert {"organisation", "record", "record_part", "record_index", "patient_key", "care_relationship"} <= tables(
        engine
    )
    assert "fhir_resource" not in tables(engine)
    engine.dispose()


def test_practitioner_writes_and_reads_through_the_path(place: Workplace) -> None:
    doc = place.person("dr.martin", "practitioner", ref="10001234567")
    req = Request(doc, "medical_record")
    created = place.service.create(req, patient())
    assert created["meta"]["versionId"] == "1" and created["name"][0]["family"] == "Fictivé"
    assert created["meta"]["lastUpdated"].endswith("+00:00")  # FHIR instants carry their time zone
    place.service.create(req, observation())
    got = place.service.read(req, "Observation", "o-1")
    assert got["valueQuantity"]["value"] == 61.5
    reads = [e for e in audit_rows(place) if e["operation"] == "read" and e["outcome"] == "success"]
    assert len(reads) == 1 and reads[0]["patient"] == "p-1" and reads[0]["actor"] == "dr.martin"
    assert reads[0]["care_relationship"] is True and "61.5" not in json.dumps(audit_rows(place))


def test_nothing_readable_at_rest(place: Workplace) -> None:
    doc = place.person("dr.martin", "practitioner", ref="10001234567")
    place.service.create(Request(doc, "medical_record"), patient(family="Zyxwvutsr"))
    with place.service.engine.connect() as conn:
        dump = " ".join(
            str(v)
            for t in ("record", "record_part", "record_index", "patient_key")
            for row in conn.execute(text(f"SELECT * FROM {t}"))
            for v in row
        )
    assert "Zyxwvutsr".lower() not in dump.lower() and "1979-03-21" not in dump and "279035121518989" not in dump


def test_secretary_cannot_read_an_observation_and_sees_appointments_redacted(place: Workplace) -> None:
    doc = place.person("dr.martin", "practitioner", ref="10001234567")
    sec = place.person("sec.durand", "secretariat", ref="S-2")
    place.service.create(Request(doc, "medical_record"), patient())
    place.service.create(Request(doc, "medical_record"), observation())
    with pytest.raises(AccessDenied, match=r"^Refusé : votre profil n'est pas autorisé à lire") as refused:
        place.service.read(Request(sec, "medical_record"), "Observation", "o-1")
    assert refused.value.in_language("en").startswith("Refused: the profile '")
    place.service.create(Request(doc, "appointments"), {**appointment(), "reasonCode": None})
    seen = place.service.read(Request(sec, "appointments"), "Appointment", "a-1")
    assert seen["status"] == "booked"
    denied = [e for e in audit_rows(place) if e["outcome"] == "denied" and e["actor"] == "sec.durand"]
    assert denied and denied[0]["resource_type"] == "Observation"


def test_minimisation_refuses_elements_outside_the_purpose(place: Workplace) -> None:
    doc = place.person("dr.martin", "practitioner", ref="10001234567")
    place.service.create(Request(doc, "medical_record"), patient())
    with pytest.raises(AccessDenied, match=r"reasonCode.*ne sont pas nécessaires à cette finalité") as refused:
        place.service.create(Request(doc, "appointments"), appointment())
    assert "not needed for the purpose 'appointments'" in refused.value.in_language("en")
    with pytest.raises(AccessDenied, match="minimisation des données") as refused:
        place.service.create(Request(doc, "medical_record"), {**patient("p-2"), "identifier": [INS, NIR]})
    assert "not needed for the purpose 'medical_record'" in refused.value.in_language("en")


def test_care_relationship_or_break_the_glass(place: Workplace) -> None:
    first = place.person("dr.martin", "practitioner", ref="10001234567")
    other = place.person("dr.autre", "practitioner", ref="10007654321")
    place.service.create(Request(first, "medical_record"), patient())
    place.service.create(Request(first, "medical_record"), observation())
    with pytest.raises(AccessDenied, match="pas de relation de soin enregistrée"):
        place.service.read(Request(other, "medical_record"), "Observation", "o-1")
    with pytest.raises(AccessDenied, match="pas de relation de soin enregistrée"):
        place.service.read(Request(other, "medical_record", break_glass="urgent"), "Observation", "o-1")
    glass = Request(other, "medical_record", break_glass="patient unconscious at the practice, allergies needed")
    assert place.service.read(glass, "Observation", "o-1")["status"] == "final"
    flagged = [e for e in audit_rows(place) if e["break_glass"]]
    assert len(flagged) == 1 and flagged[0]["actor"] == "dr.autre" and flagged[0]["care_relationship"] is False
    place.service.declare_care(Request(other, "medical_record"), "p-1", "consultation", note="requested by the patient")
    assert place.service.read(Request(other, "medical_record"), "Observation", "o-1")["id"] == "o-1"


def test_two_factors_needed_for_every_patient_record(place: Workplace) -> None:
    """A password alone opens the directory of professionals, never a patient's record, identity included."""
    doc = place.person("dr.martin", "practitioner", ref="10001234567", two_factors=False)
    with pytest.raises(StepRequired, match="deux facteurs"):
        place.service.create(Request(doc, "medical_record"), patient())
    assert audit_rows(place)[-1]["outcome"] == "denied"
    with pytest.raises(StepRequired, match="deux facteurs"):
        place.service.create(Request(doc, "medical_record"), observation())
    practitioner = {"resourceType": "Practitioner", "id": "pr-1", "name": [{"family": "Annuaire"}]}
    assert place.service.create(Request(doc, "medical_record"), practitioner)["id"] == "pr-1"


def test_no_session_or_forged_token_reaches_nothing(place: Workplace) -> None:
    doc = place.person("dr.martin", "practitioner", ref="10001234567")
    place.service.create(Request(doc, "medical_record"), patient())
    for token in ("", "forged-token", doc[:-1] + "x"):
        with pytest.raises(SessionRefused):
            place.service.read(Request(token, "medical_record"), "Patient", "p-1")
        with pytest.raises(SessionRefused):
            place.service.search(Request(token, "medical_record"), "Patient", {"family": "Fictivé"})
    assert audit_rows(place)[-1]["actor"] == "unauthenticated"


def test_undeclared_purpose_refused(place: Workplace) -> None:
    doc = place.person("dr.martin", "practitioner", ref="10001234567")
    with pytest.raises(AccessDenied):
        place.service.create(Request(doc, "marketing"), patient())


def test_search_by_blind_index(place: Workplace) -> None:
    doc = place.person("dr.martin", "practitioner", ref="10001234567")
    req = Request(doc, "medical_record")
    place.service.create(req, patient("p-1", "Fictivé"))
    place.service.create(req, patient("p-2", "Autre"))
    assert [p["id"] for p in place.service.search(req, "Patient", {"family": "FICTIVE"})] == ["p-1"]
    assert [p["id"] for p in place.service.search(req, "Patient", {"birthdate": "1979-03-21", "given": "alix"})] == [
        "p-1",
        "p-2",
    ]
    ident = f"{INS['system']}|{INS['value']}"
    assert len(place.service.search(req, "Patient", {"identifier": ident})) == 2
    with pytest.raises(mapping.MappingError, match="cannot be searched by the parameter 'phone'"):
        place.service.search(req, "Patient", {"phone": "06"})


def test_versions_are_kept(place: Workplace) -> None:
    doc = place.person("dr.martin", "practitioner", ref="10001234567")
    req = Request(doc, "medical_record")
    place.service.create(req, patient())
    place.service.update(req, "Patient", "p-1", {**patient(), "gender": "other"})
    history = place.service.history(req, "Patient", "p-1")
    assert [h["meta"]["versionId"] for h in history] == ["2", "1"]
    assert [h["gender"] for h in history] == ["other", "female"]
    with pytest.raises(NotFound):
        place.service.update(req, "Patient", "p-9", patient("p-9"))
    with pytest.raises(mapping.MappingError, match="already exists"):
        place.service.create(req, patient())


def test_invalid_fhir_and_unsupported_types_refused(place: Workplace) -> None:
    doc = place.person("dr.martin", "practitioner", ref="10001234567")
    req = Request(doc, "medical_record")
    with pytest.raises(mapping.MappingError, match="not valid FHIR R4"):
        place.service.create(req, {**patient(), "gender": 12})
    with pytest.raises(mapping.MappingError, match="does not store 'Basic'"):
        place.service.create(req, {"resourceType": "Basic", "id": "b"})


def test_free_text_is_flagged_and_limited(place: Workplace) -> None:
    doc = place.person("dr.martin", "practitioner", ref="10001234567")
    req = Request(doc, "medical_record")
    place.service.create(req, patient())
    created = place.service.create(req, observation(note="Patient reports feeling better."))
    assert created["meta"]["tag"] == [mapping.FREE_TEXT_TAG]
    with pytest.raises(mapping.MappingError, match="limit is 2000"):
        place.service.create(req, observation(oid="o-2", note="x" * 2001))


def test_identifying_free_text_is_flagged_on_write(place: Workplace) -> None:
    doc = place.person("dr.martin", "practitioner", ref="10001234567")
    req = Request(doc, "medical_record")
    place.service.create(req, patient())
    plain = place.service.create(req, observation(note="Patient reports feeling better."))
    assert plain["meta"]["tag"] == [mapping.FREE_TEXT_TAG]
    created = place.service.create(req, observation(oid="o-2", note="Rappeler Mme Lardière au 06 11 22 33 44."))
    flag = created["meta"]["tag"][-1]
    assert flag["code"] == "free-text-identifiers"
    assert "NOM" in flag["display"] and "TEL" in flag["display"] and "note" in flag["display"]
    assert "Lardière" not in flag["display"] and "06 11" not in flag["display"]


def test_destroying_a_patients_keys_erases_them(place: Workplace) -> None:
    doc = place.person("dr.martin", "practitioner", ref="10001234567")
    req = Request(doc, "medical_record")
    place.service.create(req, patient())
    place.service.create(req, observation())
    with place.service.engine.begin() as conn:
        assert vault.PatientKeys(place.identity.keyring).destroy(conn, "p-1") == 2
        assert conn.execute(select(patient_key)).first() is None
    with pytest.raises(DecryptionRefused, match="ont été détruites"):
        place.service.read(req, "Observation", "o-1")


def test_a_part_moved_to_another_record_does_not_decrypt(place: Workplace) -> None:
    doc = place.person("dr.martin", "practitioner", ref="10001234567")
    req = Request(doc, "medical_record")
    place.service.create(req, patient())
    place.service.create(req, observation("p-1", "o-1"))
    place.service.create(req, {**observation("p-1", "o-2"), "valueQuantity": {"value": 99.0, "unit": "kg"}})
    with place.service.engine.begin() as conn:
        stolen = conn.execute(select(record_part.c.token).where(record_part.c.record_id == "o-2")).scalar_one()
        conn.execute(record_part.update().where(record_part.c.record_id == "o-1").values(token=stolen))
    with pytest.raises(DecryptionRefused, match="modifiée ou déplacée"):
        place.service.read(req, "Observation", "o-1")


def test_compassionate_access_refuses_nir_and_free_text(database_url: str, tmp_path: Path) -> None:
    w = make_workplace(database_url, tmp_path, "aac-2022-106")
    try:
        token = w.person(
            "ph.resp", "pharmacist_in_charge", ref="10001112223", ends_at=w.identity.now().replace(year=2027)
        )
        req = Request(token, "access_initiation_follow_up")
        with pytest.raises(AccessDenied):
            w.service.create(req, {"resourceType": "Patient", "id": "p-1", "identifier": [NIR]})
        purposes = w.service.purposes_for("pharmacist_in_charge", observation())
        assert "access_initiation_follow_up" in purposes
        with pytest.raises(AccessDenied, match="interdit les champs de texte libre"):
            w.service.create(req, observation(note="free comment"))
    finally:
        w.close()


@pytest.mark.parametrize("url", ["mysql://root@localhost/x", "not a url"])
def test_unsupported_database_is_refused(url: str) -> None:
    with pytest.raises(DatabaseUrlError):
        normalise_url(url)


def test_postgres_url_uses_psycopg3() -> None:
    assert normalise_url("postgresql://postgres@127.0.0.1/db").startswith("postgresql+psycopg://")


def test_a_frozen_record_is_read_but_not_changed(place: Workplace) -> None:
    doc = place.person("dr.martin", "practitioner", ref="10001234567")
    sec = place.person("sec.durand", "secretariat", ref="S-2")
    req = Request(doc, "medical_record")
    place.service.create(req, patient())
    place.service.create(req, observation())
    with pytest.raises(AccessDenied):
        place.service.freeze(Request(sec, "medical_record"), "Observation", "o-1", "accuracy disputed")
    place.service.freeze(req, "Patient", "p-1", "accuracy disputed by the patient")
    assert place.service.read(req, "Patient", "p-1")["meta"]["tag"][0]["display"] == "accuracy disputed by the patient"
    with pytest.raises(AccessDenied, match="est gelée"):
        place.service.update(req, "Patient", "p-1", {**patient(), "gender": "other"})
    place.service.unfreeze(req, "Patient", "p-1")
    assert place.service.update(req, "Patient", "p-1", {**patient(), "gender": "other"})["gender"] == "other"
    with pytest.raises(NotFound, match="n'est pas gelée : il n'y a rien à lever") as missing:
        place.service.unfreeze(req, "Patient", "p-1")
    assert missing.value.in_language("en") == "Patient/p-1 is not frozen."


def test_sqlite_commits_are_durable_when_they_return(tmp_path: Path) -> None:
    """WAL with synchronous=FULL: a committed record or audit entry survives a power loss."""
    engine = make_engine(f"sqlite:///{tmp_path / 'durable.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    engine.dispose()


def test_nothing_the_path_read_outlives_its_request(place: Workplace) -> None:
    """One identity check and one probe per request (issue 18), never kept: a write answers what a read gives, and
    a freeze, a revoked grant, an ended session or destroyed keys count from the very next call."""
    doc = place.person("dr.martin", "practitioner", ref="10001234567")
    nurse = place.person("dr.durand", "practitioner", ref="10001234568")
    req = Request(doc, "medical_record")
    created = place.service.create(req, patient())
    written = place.service.create(req, observation())
    assert written == place.service.read(req, "Observation", "o-1")  # the body answered without a read-back
    assert created == place.service.read(req, "Patient", "p-1")
    place.service.freeze(req, "Observation", "o-1", "accuracy disputed")
    with pytest.raises(AccessDenied, match="gelée"):
        place.service.update(req, "Observation", "o-1", observation())
    place.service.unfreeze(req, "Observation", "o-1")
    assert place.service.update(req, "Observation", "o-1", observation())["meta"]["versionId"] == "2"
    [grant] = [g for g in grants.all_grants(place.identity) if g.login == "dr.martin"]
    grants.revoke(place.identity, grant.id, "left the practice", by="admin")
    with pytest.raises(SessionRefused, match="no longer granted"):
        place.service.read(req, "Observation", "o-1")
    other = Request(nurse, "medical_record", break_glass="unconscious patient in the waiting room")
    assert place.service.read(other, "Observation", "o-1")["id"] == "o-1"
    sessions.logout(place.identity, nurse)
    with pytest.raises(SessionRefused, match="ended"):
        place.service.read(other, "Observation", "o-1")
    with place.service.engine.begin() as conn:
        vault.PatientKeys(place.identity.keyring).destroy(conn, "p-1")
    fresh = Request(place.person("dr.petit", "practitioner", ref="10001234569"), "medical_record", break_glass="x" * 20)
    with pytest.raises(DecryptionRefused, match="ont été détruites"):
        place.service.read(fresh, "Observation", "o-1")
