"""No log line, at DEBUG, carries a synthetic patient's name, birth date, NIR/INS or a record's body (issue 25).

Every logger of the process (santegarde's JSON lines and every library's: SQLAlchemy, httpx, FastAPI…) is captured
at DEBUG, with everything a record holds (its message, its arguments, its extra fields, its traceback), while the
main flows run: the demo filling an organisation through the request path; the README's API session (login, second
factor, a page of patients, a read, a search, an objection, a bulk export and its files); a patient and an
observation created and read back; requests refused for carrying a name or a NIR in the URL, or a malformed body; a
data-subject access request registered, checked, executed and its letter printed. Then each identifying value of
the synthetic data set and of the requests is looked for in every line.

SQLAlchemy's own logger is lowered to DEBUG too, as an operator chasing a slow query would: its statements are
logged, never their parameters (``hide_parameters``) nor the rows fetched (a filter in ``store/db.py``): without
them, what a free-text field of the rights register holds (an identity-check note) would appear here.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient

from santegarde.api import ops
from santegarde.cli.serve import build_app
from santegarde.demo import DemoReport, run_demo
from santegarde.runtime import open_organisation
from santegarde.synthetic import generate_dataset
from test_api_readme import parse_curl, readme_curls, substitute

PASSPHRASE = "log capture passphrase, fictitious"
SEED, PATIENTS = 23, 3
# A patient and a note that only the requests of this test carry (fictitious; the NIR has a valid key).
NIR = "283076912345624"
FAMILY, GIVEN, BIRTH = "Vauquelin-Aubertot", "Séraphine", "1983-07-19"
NOTE = "Douleurs abdominales depuis trois jours, pas de fièvre, revoir si aggravation"
MEDICAL = {"X-Purpose": "medical_record"}


# The test's own HTTP client (Starlette's TestClient is httpx): it logs the URLs it sends, refused ones included;
# the server side of every request is what is captured.
CLIENT_LOGGERS = ("httpx", "httpcore")


class Keep(logging.Handler):
    """Every record, with all it carries: message, arguments, extra fields, traceback (the test client's aside)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] in CLIENT_LOGGERS:
            return
        fields = {key: repr(value) for key, value in vars(record).items() if key not in ("msg", "args")}
        fields["message"] = record.getMessage()
        if record.exc_info:
            fields["traceback"] = logging.Formatter().formatException(record.exc_info)
        self.lines.append(json.dumps(fields, ensure_ascii=False))


@pytest.fixture
def captured() -> Iterator[Keep]:
    keep = Keep()
    root, ours, sql = logging.getLogger(), logging.getLogger("santegarde"), logging.getLogger("sqlalchemy")
    before, sql_before = root.level, sql.level
    root.setLevel(logging.DEBUG)
    sql.setLevel(logging.DEBUG)  # SQLAlchemy sets WARN for itself: an operator debugging would lower it
    root.addHandler(keep)
    ops.configure_logging("debug")  # what santegarde serve --log-level debug does: its own handler, not propagated
    ours.addHandler(keep)
    try:
        yield keep
    finally:
        root.removeHandler(keep)
        root.setLevel(before)
        sql.setLevel(sql_before)
        ours.handlers, ours.propagate = [], True  # as it was: other tests capture through the root logger
        ours.setLevel(logging.NOTSET)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def identifying_values() -> set[str]:
    """Names, birth dates (as written and as a French page shows them), identifiers, contact details and the free
    text of every record of the synthetic data set the demo stored."""
    found: set[str] = set()
    for resource in generate_dataset(seed=SEED, patients=PATIENTS, profile="practice").resources():
        body = json.loads(resource.model_dump_json(by_alias=True, exclude_none=True))
        if body["resourceType"] == "Patient":
            for name in body.get("name", []):
                found.update(n for n in [name.get("family", ""), *name.get("given", [])] if len(n) >= 4)
            birth = body.get("birthDate", "")
            found.update({birth, "/".join(reversed(birth.split("-")))} if birth else set())
            found.update(i["value"] for i in body.get("identifier", []) if len(i.get("value", "")) >= 8)
            found.update(t["value"] for t in body.get("telecom", []))
            found.update(line for a in body.get("address", []) for line in a.get("line", []))
        elif any(key in body for key in ("subject", "patient")):
            found.update(s for s in _strings(body) if " " in s and len(s) >= 12 and "://" not in s)
            found.add(json.dumps(body, ensure_ascii=False))
    return found


def _log_in(client: TestClient, report: DemoReport) -> None:
    assert client.post("/auth/login", json={"login": report.login, "password": report.password}).is_success
    code = pyotp.TOTP(report.totp_secret).at(datetime.now(UTC) + timedelta(seconds=30))
    assert client.post("/auth/second-factor", json={"code": code}).is_success


def _readme_session(client: TestClient, report: DemoReport, repo_root: Path) -> str:
    """The README's requests as written; the Content-Location of the bulk export."""
    location = ""
    for line in readme_curls((repo_root / "README.md").read_text(encoding="utf-8")):
        if "/auth/" in line:
            continue  # logged in already (the README's codes are placeholders)
        sent = parse_curl(substitute(line, report, location))
        answer = client.request(sent.method, sent.url, headers=sent.headers, content=sent.body)
        assert answer.is_success, f"{line}\n→ {answer.status_code} {answer.text[:300]}"
        location = answer.headers.get("Content-Location", location)
    return location


def _export_files(client: TestClient, location: str) -> int:
    """Wait for the bulk export, then download each of its files; how many there were."""
    for _ in range(200):
        status = client.get(location, headers=MEDICAL)
        if status.status_code == 200:
            outputs = status.json()["output"]
            for output in outputs:
                assert client.get(output["url"], headers=MEDICAL).is_success
            return len(outputs)
        assert status.status_code == 202, status.text
        time.sleep(0.05)
    raise AssertionError("the bulk export did not finish")


def _create_and_read(client: TestClient) -> str:
    patient = {
        "resourceType": "Patient", "name": [{"family": FAMILY, "given": [GIVEN]}], "birthDate": BIRTH,
        "gender": "female", "identifier": [{"system": "urn:oid:1.2.250.1.213.1.4.8", "value": NIR}],
    }  # fmt: skip
    fhir = {**MEDICAL, "Content-Type": "application/fhir+json"}
    created = client.post("/fhir/Patient", json=patient, headers=fhir)
    assert created.status_code == 201, created.text
    pid = created.json()["id"]
    observation = {
        "resourceType": "Observation", "status": "final", "subject": {"reference": f"Patient/{pid}"},
        "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5"}], "text": "Température"},
        "valueQuantity": {"value": 37.2, "unit": "Cel", "system": "http://unitsofmeasure.org", "code": "Cel"},
        "note": [{"text": NOTE}],
    }  # fmt: skip
    assert client.post("/fhir/Observation", json=observation, headers=fhir).status_code == 201
    assert client.get(f"/fhir/Patient/{pid}", headers=MEDICAL).json()["birthDate"] == BIRTH
    found = client.post("/fhir/Patient/_search", data={"family": FAMILY[:6], "birthdate": BIRTH}, headers=MEDICAL)
    assert pid in found.text
    # refused: identifying data in a URL, a malformed body carrying a name and a NIR
    assert client.get(f"/fhir/Patient?family={FAMILY}&birthdate={BIRTH}", headers=MEDICAL).status_code == 400
    assert client.get(f"/fhir/Patient?identifier={NIR}", headers=MEDICAL).status_code == 400
    broken = {**patient, "birthDate": f"{BIRTH} {FAMILY}", "gender": NIR}
    assert client.post("/fhir/Patient", json=broken, headers=fhir).status_code in (400, 422)
    return str(pid)


def _rights(client: TestClient, pid: str) -> None:
    created = client.post("/rights/requests", json={"right": "access", "patient_id": pid}, headers=MEDICAL)
    assert created.status_code == 201, created.text
    rid = created.json()["id"]
    how = {"how": f"carte d'identité de {GIVEN} {FAMILY}, née le {BIRTH}"}
    assert client.post(f"/rights/requests/{rid}/identity-check", json=how, headers=MEDICAL).is_success
    done = client.post(f"/rights/requests/{rid}/execute", headers=MEDICAL)
    assert done.is_success and done.json()["executed"] and FAMILY in done.text, done.text
    assert client.get(f"/rights/requests/{rid}/letter", headers=MEDICAL).is_success


def test_no_log_line_of_the_main_flows_identifies_a_patient_or_holds_a_record(
    captured: Keep, tmp_path: Path, repo_root: Path
) -> None:
    report = run_demo(tmp_path / "demo", "practice", patients=PATIENTS, seed=SEED, passphrase=PASSPHRASE)
    assert report.stored["Patient"] == PATIENTS
    org = open_organisation(report.config_path, PASSPHRASE)
    try:
        with TestClient(build_app(org, local_http=True), base_url="http://localhost:8000") as client:
            _log_in(client, report)
            location = _readme_session(client, report, repo_root)
            assert _export_files(client, location) >= 1
            pid = _create_and_read(client)
            _rights(client, pid)
    finally:
        org.close()
    lines = captured.lines
    assert len(lines) > 100 and any(repr(ops.ACCESS_LOGGER) in line for line in lines)  # it did capture
    messages = [json.loads(line)["message"] for line in lines]
    assert any(m.startswith("SELECT") for m in messages)  # the libraries too: SQLAlchemy's statements, at DEBUG
    assert not any(m.startswith("Row ") for m in messages)  # never the rows it fetched (store/db.py)
    assert any("SQL parameters hidden" in m for m in messages)  # nor the parameters it sent (hide_parameters)
    values = identifying_values() | {NIR, FAMILY, GIVEN, BIRTH, "19/07/1983", NOTE, report.password}
    assert len(values) > 4 * PATIENTS
    leaks = {value: line[:600] for line in lines for value in values if value in line}
    assert not leaks, leaks
