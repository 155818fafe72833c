"""FHIR Bulk Data export (issue 17): kick-off, status, NDJSON files, each resource through the read path; the
files bound to the account that asked, encrypted on disk, deleted when they expire."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from santegarde.api import create_app
from santegarde.audit.tables import entry
from santegarde.store import bulk
from santegarde.store.service import Request
from store_fixtures import Workplace, make_workplace
from test_store import observation, patient

ASYNC = {"Prefer": "respond-async", "X-Purpose": "medical_record", "Accept": "application/fhir+json"}
PURPOSE = {"X-Purpose": "medical_record"}


@pytest.fixture
def place(database_url: str, tmp_path: Path) -> Iterator[Workplace]:
    w = make_workplace(database_url, tmp_path)
    yield w
    w.close()


@pytest.fixture
def doc(place: Workplace) -> Iterator[TestClient]:
    """Dr Martin's client: two patients of hers with observations; a third patient (another doctor's) she has no
    care relationship with, whose records the policy refuses her."""
    token = place.person("dr.martin", "practitioner", ref="10001234567")
    req = Request(token, "medical_record")
    place.service.create(req, patient("p-1", "Fictivé"))
    place.service.create(req, patient("p-2", "Le Fictif"))
    for n in range(3):
        place.service.create(req, observation("p-1", f"o-{n}"))
    place.service.create(req, observation("p-2", "o-9"))
    other = Request(place.person("dr.autre", "practitioner", ref="10007654321"), "medical_record")
    place.service.create(other, patient("p-3", "Autre"))
    place.service.create(other, observation("p-3", "o-x"))
    app = create_app(place.identity, records=place.service)
    c = TestClient(app, base_url="https://testserver")
    c.cookies.set("sg_session", token)
    yield c
    app.state.exports.close()


def kick_off(client: TestClient, url: str = "/fhir/$export") -> str:
    answer = client.get(url, headers=ASYNC)
    assert answer.status_code == 202, answer.text
    status = answer.headers["Content-Location"]
    assert status.startswith("https://testserver/fhir/$export-status/")
    return status


def completed(client: TestClient, status: str, purpose: str = "medical_record") -> dict[str, Any]:
    """Poll the status URL as a Bulk Data client does until the export is complete (bounded, not timed)."""
    for _ in range(600):
        answer = client.get(status, headers={"X-Purpose": purpose})
        if answer.status_code != 202:
            assert answer.status_code == 200, answer.text
            assert "Expires" in answer.headers
            return dict(answer.json())
        assert "types exported" in answer.headers["X-Progress"]
        time.sleep(0.05)
    raise AssertionError("the export never completed")


def ndjson(client: TestClient, url: str, purpose: str = "medical_record") -> list[dict[str, Any]]:
    answer = client.get(url, headers={"X-Purpose": purpose})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/fhir+ndjson")
    return [json.loads(line) for line in answer.text.splitlines()]


def files(manifest: dict[str, Any]) -> dict[str, str]:
    return {o["type"]: o["url"] for o in manifest["output"]}


def trail(w: Workplace) -> list[dict[str, Any]]:
    with w.audit.engine.connect() as conn:
        return [json.loads(r.content) for r in conn.execute(select(entry).order_by(entry.c.seq))]


def test_system_export_writes_ndjson_per_type_through_the_read_path(doc: TestClient, place: Workplace) -> None:
    manifest = completed(doc, kick_off(doc))
    assert manifest["requiresAccessToken"] is True and manifest["request"] == "https://testserver/fhir/$export"
    assert {o["type"]: o["count"] for o in manifest["output"]} == {"Observation": 4, "Patient": 2}
    urls = files(manifest)
    patients = ndjson(doc, urls["Patient"])
    assert sorted(p["id"] for p in patients) == ["p-1", "p-2"] and patients[0]["name"][0]["given"] == ["Alix"]
    assert sorted(o["id"] for o in ndjson(doc, urls["Observation"])) == ["o-0", "o-1", "o-2", "o-9"]
    # the other doctor's patient is refused by policy (no care relationship): absent, counted, traced
    assert manifest["extension"]["refused"] == {"Observation": 1, "Patient": 1}
    outcomes = ndjson(doc, manifest["error"][0]["url"])
    assert any("1 Patient record(s) were left out" in o["issue"][0]["diagnostics"] for o in outcomes)
    entries = trail(place)
    exported = [e for e in entries if e["operation"] == "export" and e["resource_id"]]
    assert sorted(e["resource_id"] for e in exported if e["allowed"]) == ["o-0", "o-1", "o-2", "o-9", "p-1", "p-2"]
    assert {e["resource_id"] for e in exported if not e["allowed"]} == {"p-3", "o-x"}
    assert all(e["actor"] == "dr.martin" for e in exported)
    assert len([e for e in entries if e["operation"] == "export.download" and e["allowed"]]) == 3
    # nothing in clear on disk: the files are sealed under the job's key, owner-only
    job_dir = place_dir(doc, manifest)
    for f in job_dir.iterdir():
        assert f.stat().st_mode & 0o077 == 0
        assert b"Fictiv" not in f.read_bytes() and b'"resourceType"' not in f.read_bytes()


def place_dir(client: TestClient, manifest: dict[str, Any]) -> Path:
    job = urlsplit(manifest["output"][0]["url"]).path.split("/")[-2]
    exports: bulk.BulkExports = client.app.state.exports  # type: ignore[attr-defined]
    return exports.directory / job


def test_patient_export_type_and_since(doc: TestClient, place: Workplace) -> None:
    manifest = completed(doc, kick_off(doc, "/fhir/Patient/$export?_type=Observation"))
    assert [o["type"] for o in manifest["output"]] == ["Observation"]
    place.clock.advance(seconds=5)
    since = place.clock.now.strftime("%Y-%m-%dT%H:%M:%SZ")  # an instant after every record written so far
    place.clock.advance(seconds=5)
    token = doc.cookies["sg_session"]
    changed = {**observation("p-1", "o-1"), "status": "amended"}
    place.service.update(Request(token, "medical_record"), "Observation", "o-1", changed)
    manifest = completed(doc, kick_off(doc, f"/fhir/$export?_type=Observation,Patient&_since={since}"))
    assert {o["type"]: o["count"] for o in manifest["output"]} == {"Observation": 1}
    assert [o["status"] for o in ndjson(doc, files(manifest)["Observation"])] == ["amended"]


def test_another_user_can_read_neither_the_status_nor_the_files(doc: TestClient, place: Workplace) -> None:
    status = kick_off(doc)
    manifest = completed(doc, status)
    stranger = TestClient(doc.app, base_url="https://testserver")
    stranger.cookies.set("sg_session", place.person("dr.tiers", "practitioner", ref="10009999999"))
    for url in (status, *files(manifest).values()):
        refused = stranger.get(url, headers=PURPOSE)
        assert refused.status_code == 404, url
        assert refused.json()["resourceType"] == "OperationOutcome"
        assert "pas d'export à cette adresse pour votre compte" in refused.json()["issue"][0]["diagnostics"]
        english = stranger.get(url, headers={**PURPOSE, "Accept-Language": "en"})
        assert "no export at this address for your account" in english.json()["issue"][0]["diagnostics"]
    assert stranger.delete(status, headers=PURPOSE).status_code == 404
    assert [e for e in trail(place) if e["actor"] == "dr.tiers" and e["rule"] == "export.not_found"]
    # nor the owner under another purpose, nor without a session
    other_purpose = doc.get(status, headers={"X-Purpose": "appointments"})
    assert other_purpose.status_code == 403 and "X-Purpose: medical_record" in other_purpose.text
    anonymous = TestClient(doc.app, base_url="https://testserver").get(files(manifest)["Patient"], headers=PURPOSE)
    assert anonymous.status_code == 401
    # the owner still can, then deletes it
    assert doc.get(status, headers=PURPOSE).status_code == 200
    assert doc.delete(status, headers=PURPOSE).status_code == 202
    assert doc.get(status, headers=PURPOSE).status_code == 404
    assert not place_dir(doc, manifest).exists()


def test_files_are_deleted_when_the_export_expires(doc: TestClient, place: Workplace) -> None:
    exports: bulk.BulkExports = doc.app.state.exports  # type: ignore[attr-defined]
    exports.lifetime = timedelta(minutes=1)
    status = kick_off(doc)
    manifest = completed(doc, status)
    job_dir = place_dir(doc, manifest)
    assert job_dir.is_dir()
    place.clock.advance(minutes=2)
    gone = doc.get(files(manifest)["Patient"], headers=PURPOSE)
    assert (
        gone.status_code == 404
        and "il a expiré (un export est gardé 1 minute" in gone.json()["issue"][0]["diagnostics"]
    )
    assert not job_dir.exists()


def test_kick_off_refusals_are_sentences(doc: TestClient) -> None:
    def refused(url: str, headers: dict[str, str] = ASYNC, status: int = 400) -> str:
        answer = doc.get(url, headers=headers)
        assert answer.status_code == status, answer.text
        assert answer.json()["resourceType"] == "OperationOutcome"
        return str(answer.json()["issue"][0]["diagnostics"])

    assert "Prefer: respond-async" in refused("/fhir/$export", PURPOSE)
    assert "'Practitioner'" in refused("/fhir/Patient/$export?_type=Practitioner")
    assert "'Nonsense'" in refused("/fhir/$export?_type=Nonsense")
    assert "instant with its time zone" in refused("/fhir/$export?_since=2026-01-01")
    assert "_outputFormat, _typeFilter" in refused("/fhir/$export?_elements=id")
    assert "NDJSON" in refused("/fhir/$export?_outputFormat=text/csv")
    assert "X-Purpose" in refused("/fhir/$export", {"Prefer": "respond-async"})


def test_type_filter_exports_only_what_one_of_its_searches_finds(doc: TestClient, place: Workplace) -> None:
    req = Request(doc.cookies["sg_session"], "medical_record")
    place.service.update(req, "Observation", "o-1", {**observation("p-1", "o-1"), "status": "amended"})
    amended = completed(doc, kick_off(doc, "/fhir/$export?_typeFilter=Observation%3Fstatus%3Damended"))
    assert {o["type"]: o["count"] for o in amended["output"]} == {"Observation": 1, "Patient": 2}  # Patient: whole
    assert [o["id"] for o in ndjson(doc, files(amended)["Observation"])] == ["o-1"]
    # two searches for a type (comma-separated, or _typeFilter repeated): either one; a match of both written once
    for url in (
        "/fhir/$export?_type=Observation&_typeFilter=Observation%3Fstatus%3Damended,Observation%3Fpatient%3Dp-2",
        "/fhir/$export?_type=Observation&_typeFilter=Observation%3Fstatus%3Damended"
        "&_typeFilter=Observation%3Fsubject%3DPatient%2Fp-1",
    ):
        manifest = completed(doc, kick_off(doc, url))
        found = sorted(o["id"] for o in ndjson(doc, files(manifest)["Observation"]))
        assert found == (["o-1", "o-9"] if "p-2" in url else ["o-0", "o-1", "o-2"]), url
        assert manifest["output"][0]["count"] == len(found)
    # a code (system|value, encoded twice as the specification has it) and a date range
    loinc = "http%253A%252F%252Floinc.org%257C"
    by_code = "/fhir/$export?_type=Observation&_typeFilter=Observation%3Fcode%3D" + loinc
    coded = completed(doc, kick_off(doc, by_code + "29463-7"))
    assert sorted(o["id"] for o in ndjson(doc, files(coded)["Observation"])) == ["o-0", "o-1", "o-2", "o-9"]
    assert completed(doc, kick_off(doc, by_code + "8302-2"))["output"] == []
    # only the records the path lets this session read: the other doctor's observation matches, and stays out
    refused = completed(doc, kick_off(doc, "/fhir/$export?_type=Observation&_typeFilter=Observation%3Fstatus%3Dfinal"))
    assert sorted(o["id"] for o in ndjson(doc, files(refused)["Observation"])) == ["o-0", "o-2", "o-9"]
    assert refused["extension"]["refused"] == {"Observation": 1}


def test_type_filter_refusals_name_what_to_change(doc: TestClient, place: Workplace) -> None:
    def refused(url: str) -> str:
        answer = doc.get(url, headers=ASYNC)
        assert answer.status_code == 400, answer.text
        assert answer.json()["resourceType"] == "OperationOutcome"
        return str(answer.json()["issue"][0]["diagnostics"])

    # a name, an identifier or a birth date would sit in the URL: refused, like a search in a URL
    assert "never appear in a URL" in refused("/fhir/$export?_typeFilter=Patient%3Ffamily%3DFic")
    assert "identifier" in refused("/fhir/$export?_typeFilter=Patient%3Fidentifier%3D1234")
    assert "birthdate" in refused("/fhir/Patient/$export?_typeFilter=Patient%3Fbirthdate%3Dge1944")
    # a parameter the type does not have (strict by default), one that shapes the answer, a type not exported
    unknown = refused("/fhir/$export?_typeFilter=Observation%3Fvalue-quantity%3D60")
    assert "'value-quantity'" in unknown and "supported: _id, _lastUpdated" in unknown
    assert "_count shapes" in refused("/fhir/$export?_typeFilter=Observation%3F_count%3D5")
    assert "not a type this export includes" in refused(
        "/fhir/$export?_type=Patient&_typeFilter=Observation%3Fstatus%3Dfinal"
    )
    assert "not a type this export includes" in refused("/fhir/Patient/$export?_typeFilter=Practitioner%3F_id%3Dx")
    assert "a type and a search" in refused("/fhir/$export?_typeFilter=Observation")
    assert "status has no value" in refused("/fhir/$export?_typeFilter=Observation%3Fstatus%3D")
    # every refusal traced, and no export started
    assert len([e for e in trail(place) if e["rule"] == "export.parameters"]) == 9
    exports: bulk.BulkExports = doc.app.state.exports  # type: ignore[attr-defined]
    assert not exports._jobs  # nothing queued
    # Prefer: handling=lenient: the unsupported parameter is ignored, and the export says so
    lenient = doc.get(
        "/fhir/$export?_type=Observation&_typeFilter=Observation%3Fstatus%3Dfinal%26value-quantity%3D60",
        headers={**ASYNC, "Prefer": "respond-async, handling=lenient"},
    )
    assert lenient.status_code == 202, lenient.text
    manifest = completed(doc, lenient.headers["Content-Location"])
    assert manifest["output"][0]["count"] == 4
    notes = [o["issue"][0]["diagnostics"] for o in ndjson(doc, manifest["error"][0]["url"])]
    assert any("value-quantity not supported, ignored" in n for n in notes), notes


def test_a_type_the_policy_refuses_is_left_out_with_its_reason(place: Workplace) -> None:
    token = place.person("dr.martin", "practitioner", ref="10001234567")
    place.service.create(Request(token, "medical_record"), patient("p-1"))
    place.service.create(Request(token, "medical_record"), observation("p-1", "o-1"))
    sec = place.person("sec.durand", "secretariat", ref="S-2")
    app = create_app(place.identity, records=place.service)
    try:
        c = TestClient(app, base_url="https://testserver")
        c.cookies.set("sg_session", sec)
        answer = c.get("/fhir/$export?_type=Observation", headers={**ASYNC, "X-Purpose": "appointments"})
        assert answer.status_code == 202, answer.text
        manifest = completed(c, answer.headers["Content-Location"], "appointments")
        assert manifest["output"] == []
        outcome = ndjson(c, manifest["error"][0]["url"], "appointments")
        assert outcome[0]["issue"][0]["diagnostics"].startswith("Observation was not exported: Refused")
    finally:
        app.state.exports.close()


def test_sealed_files_refuse_a_cut_or_another_jobs_key(tmp_path: Path) -> None:
    key = bytes(32)
    path = tmp_path / "Patient.ndjson.sgx"
    with bulk._SealedWriter(path, key, "job", "Patient") as out:
        for n in range(3):
            out.write(b"x" * bulk.CHUNK_BYTES + f"{n}\n".encode())
    assert b"".join(bulk._read_sealed(path, key, "job", "Patient")).count(b"\n") == 3
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(Exception, match="altered or cut"):
        list(bulk._read_sealed(path, key, "job", "Patient"))
    path.write_bytes(whole)
    with pytest.raises(Exception, match="altered or cut"):
        list(bulk._read_sealed(path, key, "other-job", "Patient"))


def test_the_capability_statement_advertises_the_export_operations_it_routes(doc: TestClient) -> None:
    statement = doc.get("/fhir/metadata", headers=PURPOSE).json()["rest"][0]
    paths = doc.get("/openapi.json").json()["paths"]
    assert [o["name"] for o in statement["operation"]] == ["export"] and "get" in paths["/fhir/$export"]
    patient = next(r for r in statement["resource"] if r["type"] == "Patient")
    assert patient["operation"][0]["definition"].endswith("/patient-export") and "get" in paths["/fhir/Patient/$export"]
    assert not [r for r in statement["resource"] if r["type"] != "Patient" and r.get("operation")]
    assert {"get", "delete"} <= set(paths["/fhir/$export-status/{job_id}"])
