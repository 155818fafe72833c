"""The FHIR REST API: every route through the one path, OperationOutcome errors, no personal data in URLs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from santegarde.api import create_app
from store_fixtures import Workplace, make_workplace
from test_store import observation, patient

FHIR = "application/fhir+json"


@pytest.fixture
def place(tmp_path: Path) -> Iterator[Workplace]:
    w = make_workplace(f"sqlite:///{tmp_path / 'fhir.db'}", tmp_path)
    yield w
    w.close()


def client(w: Workplace, token: str | None) -> TestClient:
    c = TestClient(create_app(w.identity, records=w.service), base_url="https://testserver")
    if token:
        c.cookies.set("sg_session", token)
    return c


def outcome(answer: Any) -> str:
    body = answer.json()
    assert body["resourceType"] == "OperationOutcome" and answer.headers["content-type"].startswith(FHIR)
    return str(body["issue"][0]["diagnostics"])


def test_create_read_update_history_search(place: Workplace) -> None:
    doc = client(place, place.person("dr.martin", "practitioner", ref="10001234567"))
    purpose = {"X-Purpose": "medical_record"}
    created = doc.post("/fhir/Patient", json=patient(), headers=purpose)
    assert (
        created.status_code == 201 and created.headers["location"] == "https://testserver/fhir/Patient/p-1/_history/1"
    )
    assert created.headers["etag"] == 'W/"1"'
    assert doc.post("/fhir/Observation", json=observation(), headers=purpose).status_code == 201
    read = doc.get("/fhir/Observation/o-1", headers=purpose)
    assert read.status_code == 200 and read.json()["valueQuantity"]["value"] == 61.5
    updated = doc.put("/fhir/Patient/p-1", json={**patient(), "gender": "other"}, headers=purpose)
    assert updated.json()["meta"]["versionId"] == "2"
    history = doc.get("/fhir/Patient/p-1/_history", headers=purpose).json()
    assert history["type"] == "history" and history["total"] == 2
    found = doc.post("/fhir/Patient/_search", json={"family": "fictive"}, headers=purpose).json()
    assert found["type"] == "searchset" and [e["resource"]["id"] for e in found["entry"]] == ["p-1"]


def test_refusals_are_operation_outcomes(place: Workplace) -> None:
    doc_token = place.person("dr.martin", "practitioner", ref="10001234567")
    doc = client(place, doc_token)
    purpose = {"X-Purpose": "medical_record"}
    doc.post("/fhir/Patient", json=patient(), headers=purpose)
    doc.post("/fhir/Observation", json=observation(), headers=purpose)
    sec = client(place, place.person("sec.durand", "secretariat", ref="S-2"))
    denied = sec.get("/fhir/Observation/o-1", headers=purpose)
    said = outcome(denied)
    assert denied.status_code == 403 and said.startswith("Refusé : votre profil n'est pas autorisé à lire"), said
    assert "cette finalité selon le référentiel" in said and "_" not in said
    english = sec.get("/fhir/Observation/o-1", headers={**purpose, "Accept-Language": "en"})
    assert "is not allowed to read" in outcome(english)
    assert client(place, None).get("/fhir/Observation/o-1", headers=purpose).status_code == 401
    no_purpose = doc.get("/fhir/Observation/o-1")
    assert no_purpose.status_code == 400 and "X-Purpose" in outcome(no_purpose)
    missing = doc.get("/fhir/Observation/nope", headers=purpose)
    assert missing.status_code == 404 and "Aucune ressource Observation d'identifiant « nope »" in outcome(missing)
    english = doc.get("/fhir/Observation/nope", headers={**purpose, "Accept-Language": "en-GB,en;q=0.9"})
    assert outcome(english) == "There is no Observation with id 'nope'."
    invalid = doc.post("/fhir/Patient", json={**patient("p-3"), "gender": 12}, headers=purpose)
    assert invalid.status_code == 400 and "not valid FHIR R4" in outcome(invalid)
    in_url = doc.get("/fhir/Patient?family=Fictive", headers=purpose)
    assert in_url.status_code == 400 and "never appear in a URL" in outcome(in_url)
    other = client(place, place.person("dr.autre", "practitioner", ref="10007654321"))
    no_care = other.get("/fhir/Observation/o-1", headers=purpose)
    assert no_care.status_code == 403 and "pas de relation de soin enregistrée" in outcome(no_care)
    assert "en bris de glace" in outcome(no_care) and "au moins" in outcome(no_care)
    english = other.get("/fhir/Observation/o-1", headers={**purpose, "Accept-Language": "en"})
    assert "no care relationship" in outcome(english)
    glass = other.get("/fhir/Observation/o-1", headers={**purpose, "X-Break-Glass": "unconscious patient, allergies"})
    assert glass.status_code == 200
    care = other.post(
        "/fhir/Patient/p-1/$declare-care", json={"basis": "consultation", "note": "new consultation"}, headers=purpose
    )
    assert care.status_code == 200
    assert other.get("/fhir/Observation/o-1", headers=purpose).status_code == 200


def test_capability_statement_and_openapi(place: Workplace) -> None:
    anyone = client(place, None)
    statement = anyone.get("/fhir/metadata").json()
    assert statement["resourceType"] == "CapabilityStatement" and statement["fhirVersion"] == "4.0.1"
    types = {r["type"] for r in statement["rest"][0]["resource"]}
    assert {"Patient", "Observation", "MedicationDispense", "Consent", "Communication"} <= types
    assert "/fhir/{resource_type}/_search" in anyone.get("/openapi.json").json()["paths"]
