"""Running the server as operations teams do: liveness, readiness, Prometheus metrics and JSON access logs.

The metrics exposition and the log lines are scanned for the identifying data the requests carried (a name, a birth
date, a NIR, a login, a password, the bearer token): none may appear, whatever the route or the answer.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from identity_fixtures import make_context
from santegarde.api import create_app, health, ops
from santegarde.audit.trail import AuditEvent, AuditTrail
from santegarde.cli.serve import build_app
from santegarde.crypto import ScryptParams, create_keyring, create_keystore
from santegarde.demo import demo_answers
from santegarde.lifecycle import retention
from santegarde.lifecycle.backup import create_backup, verify_backup
from santegarde.organisation import build_config, init_organisation
from santegarde.referentials import loader
from santegarde.runtime import Organisation, open_organisation
from santegarde.store.db import make_engine

PASS = "ops passphrase, fictitious"
TOKEN = "a-fictitious-metrics-token-for-the-tests-0123456789"
# Identifying data a client may send anywhere in a request (all fictitious; the NIR has a valid key).
NIR = "269054958815780"
FAMILY = "Quillebeuf"
GIVEN = "Amandine"
BIRTH = "1969-05-14"
LOGIN = "dr.quillebeuf"
PASSWORD = "Tisane-Violette-7-Horloge!"
SECRETS = (NIR, FAMILY, GIVEN, BIRTH, LOGIN, PASSWORD, TOKEN, "14/05/1969")


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Organisation]:
    directory = tmp_path_factory.mktemp("ops") / "org"
    ref = loader.for_profile("practice")
    choices, justifications = demo_answers(ref)
    config, ref = build_config(
        directory, "practice", organisation_name="Cabinet Ops (fictif)", choices=choices, justifications=justifications
    )
    init_organisation(directory, config, ref)
    keydir = Path(config.keyring_path)
    create_keyring(create_keystore(keydir, PASS, ScryptParams(n=2**10, r=8, p=1)), keydir)
    opened = open_organisation(directory / "santegarde.yaml", PASS)
    yield opened
    opened.close()


@pytest.fixture
def client(org: Organisation, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setenv(ops.METRICS_TOKEN_ENV, TOKEN)
    return TestClient(build_app(org), base_url="https://testserver")


def identifying_requests(c: TestClient) -> None:
    """Requests carrying identifying data in the path, the query, the headers and the body, answered or refused."""
    c.get(f"/fhir/Patient/{NIR}", headers={"X-Purpose": "medical_record"})
    c.get(f"/fhir/Patient?family={FAMILY}&birthdate={BIRTH}", headers={"X-Purpose": "medical_record"})
    c.post("/fhir/Patient/_search", data={"family": FAMILY, "given": GIVEN, "birthdate": BIRTH})
    c.post("/auth/login", json={"login": LOGIN, "password": PASSWORD})
    c.post(
        "/fhir/Patient",
        json={"resourceType": "Patient", "name": [{"family": FAMILY, "given": [GIVEN]}], "birthDate": BIRTH,
              "identifier": [{"system": "urn:oid:1.2.250.1.213.1.4.8", "value": NIR}]},
        headers={"X-Purpose": "medical_record", "Content-Type": "application/fhir+json"},
    )  # fmt: skip
    c.get(f"/no/such/route/{NIR}/{FAMILY}")
    c.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}x"})


# -- liveness and readiness --------------------------------------------------------------------------------------


def test_live_touches_nothing_and_ready_checks_the_organisation(client: TestClient) -> None:
    live = client.get("/health/live")
    assert live.status_code == 200 and live.json() == {"status": "live"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {
        "status": "ready",
        "checks": {name: "ok" for name in ("records_database", "audit_database", "keys", "migrations", "audit_disk")},
    }
    assert "0.1.0" not in ready.text and "version" not in ready.text  # nothing to fingerprint the release by


def test_ready_refuses_a_schema_older_than_the_code_and_says_to_upgrade(org: Organisation) -> None:
    with org.audit.engine.begin() as conn:
        (before,) = conn.execute(text("SELECT version_num FROM audit_alembic_version")).one()
        conn.execute(text("UPDATE audit_alembic_version SET version_num = 'a_revision_older_than_the_code'"))
    try:
        checks = health.readiness(org)()
        answer = TestClient(build_app(org), base_url="https://testserver").get("/health/ready")
    finally:
        with org.audit.engine.begin() as conn:
            conn.execute(text("UPDATE audit_alembic_version SET version_num = :v"), {"v": before})
    assert checks["migrations"] is not None and "santegarde upgrade" in checks["migrations"]
    assert [name for name, why in checks.items() if why] == ["migrations"]
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "not ready" and body["checks"]["migrations"] == "failing"
    assert "santegarde upgrade" in body["todo"]["migrations"]
    assert str(Path(org.config_path).parent) not in answer.text  # no path of the machine


def test_ready_reports_a_full_disk_and_an_unreachable_database(org: Organisation) -> None:
    full = health.readiness(org, min_free_bytes=2**62)()
    assert full["audit_disk"] is not None and "MiB" in full["audit_disk"]
    gone = Organisation(org.config_path, org.config, org.referential, org.keyring, org.engine, org.audit)
    gone.audit = AuditTrail(make_engine("sqlite:////nonexistent-directory/audit.db"), b"\0" * 32)
    checks = health.readiness(gone)()
    assert checks["audit_database"] is not None and "audit_database_url" in checks["audit_database"]
    assert checks["migrations"] is not None and checks["records_database"] is None
    assert checks["audit_disk"] is not None


def test_an_app_without_an_organisation_is_never_ready(tmp_path: Path) -> None:
    # An application built without an organisation's checks cannot show it is ready: 503 (deny by default).
    app = create_app(make_context(f"sqlite:///{tmp_path / 'identity.db'}", tmp_path))
    answer = TestClient(app, base_url="https://testserver").get("/health/ready")
    assert answer.status_code == 503 and "santegarde serve --config" in answer.json()["todo"]["organisation"]


# -- metrics -----------------------------------------------------------------------------------------------------


def test_metrics_are_off_without_a_token_and_need_the_right_one(
    org: Organisation, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ops.METRICS_TOKEN_ENV, raising=False)
    off = TestClient(build_app(org), base_url="https://testserver").get("/metrics")
    assert off.status_code == 404 and ops.METRICS_TOKEN_ENV in off.json()["detail"]
    monkeypatch.setenv(ops.METRICS_TOKEN_ENV, TOKEN)
    c = TestClient(build_app(org), base_url="https://testserver")
    assert c.get("/metrics").status_code == 401
    assert c.get("/metrics", headers={"Authorization": f"Bearer {TOKEN[:-1]}"}).status_code == 401
    assert c.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    assert c.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    monkeypatch.setenv(ops.METRICS_TOKEN_ENV, "short")
    with pytest.raises(ops.MetricsTokenTooShort, match="token_urlsafe"):
        build_app(org)


def test_metrics_count_by_route_template_and_rule_and_carry_no_identifier(client: TestClient) -> None:
    identifying_requests(client)
    exposition = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert exposition.status_code == 200
    assert exposition.headers["content-type"].startswith("text/plain")
    scraped = exposition.text
    assert (
        'santegarde_http_requests_total{method="GET",route="/fhir/{resource_type}/{rid}",status="401"} 1.0' in scraped
    )
    assert 'route="unrouted",status="404"' in scraped  # the unknown path is never a label
    assert 'santegarde_http_request_duration_seconds_bucket{le="0.005",method="POST",route="/auth/login"}' in scraped
    assert 'santegarde_refusals_total{rule="LoginRefused"}' in scraped
    assert "santegarde_audit_entries " in scraped
    for secret in SECRETS:
        assert secret not in scraped, secret


def scrape(c: TestClient) -> dict[str, float]:
    """The exposition's samples without labels (name → value)."""
    answer = c.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    return {
        name: float(value)
        for name, _, value in (line.partition(" ") for line in answer.text.splitlines())
        if not name.startswith("#") and "{" not in name
    }


def test_audit_append_latency_is_a_histogram_of_this_servers_appends(org: Organisation, client: TestClient) -> None:
    before = scrape(client).get("santegarde_audit_append_duration_seconds_count", 0.0)
    event = AuditEvent("u1", "practitioner", "read", "Observation", "o1", "medical_record", True, "r", "6", "success")
    org.audit.append(event)
    with org.audit.transaction() as conn:  # within a caller's transaction, as the record service appends
        org.audit.append(event, conn)
        org.audit.append(event, conn)
    after = scrape(client)
    assert after["santegarde_audit_append_duration_seconds_count"] == before + 3
    assert after["santegarde_audit_append_duration_seconds_sum"] > 0
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    assert 'santegarde_audit_append_duration_seconds_bucket{le="0.001"}' in answer
    assert "# TYPE santegarde_audit_append_duration_seconds histogram" in answer


def test_retention_and_backup_gauges_are_read_from_the_trail_whoever_ran_them(
    org: Organisation, client: TestClient, tmp_path: Path
) -> None:
    first = scrape(client)
    elsewhere = open_organisation(org.config_path, PASS)  # another process: a timer, an operator's command
    try:
        backups = tmp_path / "backups"
        broken = backups / "backup-broken.sgb"
        backups.mkdir(mode=0o700)
        broken.write_bytes(b"not a backup")
        assert not verify_backup(elsewhere, broken).ok  # a failed verification is no success
        assert (
            scrape(client)["santegarde_backup_last_verified_timestamp_seconds"]
            == first["santegarde_backup_last_verified_timestamp_seconds"]
        )
        started = time.time()
        retention.run(elsewhere, elsewhere.audit.now())
        assert verify_backup(elsewhere, create_backup(elsewhere, backups)).ok
    finally:
        elsewhere.close()
    gauges = scrape(client)
    for name in (
        "santegarde_retention_last_success_timestamp_seconds",
        "santegarde_backup_last_verified_timestamp_seconds",
    ):
        assert started - 1 <= gauges[name] <= time.time() + 1, name
    # A server started afterwards (another worker, a restart) reads the same from the trail, not from memory.
    assert {k: v for k, v in scrape(TestClient(build_app(org), base_url="https://testserver")).items()
            if "last_" in k} == {k: v for k, v in gauges.items() if "last_" in k}  # fmt: skip


def test_a_gauge_is_zero_until_its_job_has_succeeded_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ops.METRICS_TOKEN_ENV, TOKEN)
    directory = tmp_path / "fresh"
    ref = loader.for_profile("practice")
    choices, justifications = demo_answers(ref)
    config, ref = build_config(directory, "practice", organisation_name="Cabinet Neuf (fictif)", choices=choices,
                               justifications=justifications)  # fmt: skip
    init_organisation(directory, config, ref)
    keydir = Path(config.keyring_path)
    create_keyring(create_keystore(keydir, PASS, ScryptParams(n=2**10, r=8, p=1)), keydir)
    fresh = open_organisation(directory / "santegarde.yaml", PASS)
    try:
        gauges = scrape(TestClient(build_app(fresh), base_url="https://testserver"))
    finally:
        fresh.close()
    assert gauges["santegarde_retention_last_success_timestamp_seconds"] == 0
    assert gauges["santegarde_backup_last_verified_timestamp_seconds"] == 0


def test_refusal_rules_that_could_carry_data_are_not_labels() -> None:
    assert ops.safe_rule("PRA-ACC-3") == "PRA-ACC-3"
    assert ops.safe_rule("LoginRefused") == "LoginRefused"
    assert ops.safe_rule(f"{FAMILY} {GIVEN}") == "other"
    assert ops.safe_rule("x" * 65) == "other"


# -- structured logs ---------------------------------------------------------------------------------------------


def test_one_json_line_per_request_without_any_identifying_data(
    client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    ops.configure_logging("info")
    try:
        identifying_requests(client)
        answered = client.get("/health/live")
    finally:
        logger = logging.getLogger("santegarde")  # as it was: other tests capture through the root logger
        logger.handlers, logger.propagate = [], True
        logger.setLevel(logging.NOTSET)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]
    access = [line for line in lines if line["logger"] == ops.ACCESS_LOGGER]
    assert len(access) == 8  # one per request
    assert {line["route"] for line in access} >= {
        "/fhir/{resource_type}/{rid}",
        "/fhir/{resource_type}",
        "/auth/login",
        "unrouted",
    }
    for line in access:
        assert set(line) == {"time", "level", "logger", "message", "request_id", "method", "route", "status",
                             "duration_ms"}  # fmt: skip
    assert access[-1]["request_id"] == answered.headers[ops.REQUEST_ID_HEADER]
    assert len({line["request_id"] for line in access}) == len(access)
    everything = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines)
    for secret in SECRETS:
        assert secret not in everything, secret


def test_a_client_cannot_choose_its_request_id(client: TestClient) -> None:
    answer = client.get("/health/live", headers={ops.REQUEST_ID_HEADER: NIR})
    assert answer.headers[ops.REQUEST_ID_HEADER] != NIR and len(answer.headers[ops.REQUEST_ID_HEADER]) == 32


def test_an_unknown_log_level_is_refused_with_a_sentence() -> None:
    with pytest.raises(ops.LogLevelError, match="debug, info, warning or error"):
        ops.configure_logging("chatty")
