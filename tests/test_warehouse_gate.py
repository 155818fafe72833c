"""The export gate (EDS-6, EDS-SEC-EXP-1..5, EDS-SEC-DAY-1): check, quarantine, review, release; nothing else."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from santegarde.audit.trail import AuditTrail
from santegarde.store.db import make_engine, migrate
from santegarde.warehouse.anonymity import AgeBands
from santegarde.warehouse.anonymity.risks import Risk
from santegarde.warehouse.gate import (
    JUSTIFICATIONS,
    ExportRequest,
    Gate,
    GateError,
    GateThresholds,
    GrantReviewers,
    IndicatorSpec,
    criterion_text,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
STUDY = (
    "Risk study: the recipient is the regional health observatory under a data-sharing agreement forbidding any "
    "linkage; the export holds no direct identifier, ages are exact but the area is a department; the residual "
    "risk of re-identification is judged acceptable for this one-off statistical use."
)
FAST = GateThresholds(n_attacks=30, max_singling_out=0.5, max_linkability=0.5, max_inference=0.5)
GOOD = "SELECT person_id, age_band, sex, diagnosis FROM stays"
BAD = "SELECT person_id, age, department, diagnosis FROM stays"


class Reviewers:
    """Fictitious holders of the export reviewer profile."""

    def __init__(self, *logins: str) -> None:
        self.logins = set(logins)

    def empowered(self, login: str) -> bool:
        return login in self.logins


@pytest.fixture
def trail(tmp_path: Path) -> AuditTrail:
    engine = make_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    migrate(engine, package="santegarde.audit")
    return AuditTrail(engine, b"s" * 32)


@pytest.fixture
def conn(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    """240 fictitious stays: coarse columns meeting k=10, l=2, and exact ages that do not."""
    con = duckdb.connect(str(tmp_path / "source.duckdb"))
    con.execute(
        "CREATE TABLE stays AS SELECT i AS person_id, 20 + (i * 7) % 60 AS age, "
        "CAST(20 + 20 * ((i % 3)) AS VARCHAR) || '-' || CAST(39 + 20 * (i % 3) AS VARCHAR) AS age_band, "
        "CASE WHEN i % 2 = 0 THEN 'F' ELSE 'M' END AS sex, "
        "['75', '92', '93', '94'][1 + (i * 13) % 4] AS department, "
        "['J45', 'E11', 'I10'][1 + (i // 6) % 3] AS diagnosis, "
        "CASE WHEN i < 230 THEN 'cardio' ELSE 'rare' END AS service "
        "FROM range(240) t(i)"
    )
    return con


def _quick_risks(table: pa.Table, request: ExportRequest, limits: GateThresholds) -> list[tuple[Any, str]]:
    """A stand-in for anonymeter (slow to start) outside the tests of the real attacks: 0.02 everywhere."""
    risk = Risk(0.02, 0.0, 0.1, 0.95, 0.3, 0.3, 0.29, limits.n_attacks)
    return [(risk, ""), (risk, ""), (risk, "")]


@pytest.fixture
def gate(tmp_path: Path, trail: AuditTrail) -> Gate:
    return Gate(tmp_path / "gate", trail, Reviewers("marie", "paul"), thresholds=FAST, clock=lambda: NOW,
                risk_assessor=_quick_risks)


@pytest.fixture
def real_gate(tmp_path: Path, trail: AuditTrail) -> Gate:
    """The gate with anonymeter's attacks (few of them)."""
    return Gate(tmp_path / "real", trail, Reviewers("marie", "paul"), thresholds=FAST, clock=lambda: NOW)


def _row(source: str = GOOD, by: str = "fanny", fmt: str = "parquet", **kw: object) -> ExportRequest:
    qis = ("age_band", "sex") if source == GOOD else ("age", "department")
    return ExportRequest(source=source, recipient="ORS Île-de-France", purpose="activity_indicators",
                         project="P-IND-1", requested_by=by, quasi_identifiers=qis, sensitive=("diagnosis",),
                         person="person_id",
                         format=fmt, **kw)  # type: ignore[arg-type]


def _outbox(gate: Gate) -> list[str]:
    return sorted(p.name for p in gate.outbox.rglob("*")) if gate.outbox.exists() else []


def _ops(trail: AuditTrail) -> list[tuple[object, object, object, object]]:
    with trail.engine.connect() as c:
        return [(e.content["operation"], e.content["actor"], e.content["outcome"], e.content["resource_id"])
                for e in trail.entries(c) if str(e.content["operation"]).startswith("export.")]


# ---- pass → awaiting validation → released ----------------------------------------------------------------------


def test_passing_export_waits_for_validation_then_is_released_with_its_report(
    real_gate: Gate, conn: duckdb.DuckDBPyConnection, trail: AuditTrail
) -> None:
    gate = real_gate
    rid = gate.submit(_row())
    checked = gate.check(rid, conn)
    assert checked.status == "awaiting_validation"
    assert {c.name for c in checked.criteria} == {
        "k", "l_distinct", "l_entropy", "t_closeness", "singling_out", "linkability", "inference"
    }
    assert all(c.passed for c in checked.criteria), checked.criteria
    assert checked.proposal is None and gate.alerts() == []
    assert _outbox(gate) == []

    release = gate.validate(rid, "marie", conn)
    assert gate.get(rid).status == "released"
    table = pq.read_table(release.data)
    # the person column first, as pseudonyms of this export only (one per person, no source id)
    assert table.num_rows == 240 and table.column_names == ["person_id", "age_band", "sex", "diagnosis"]
    released = set(table.column("person_id").to_pylist())
    sources = {str(p) for (p,) in conn.execute("SELECT person_id FROM stays").fetchall()}
    assert len(released) == 240 and not sources & released
    report = json.loads(release.report_json.read_text())
    assert report["status"] == "released" and report["file"] == f"export-{rid}.parquet"
    html = release.report_html.read_text()
    assert "Pourquoi ces seuils" in html and "seuil des petits effectifs" in html and "k-anonymat" in html
    assert _ops(trail) == [
        ("export.request", "fanny", "success", str(rid)),
        ("export.check", "gate", "success", str(rid)),
        ("export.validate", "marie", "success", str(rid)),
        ("export.release", "marie", "success", str(rid)),
    ]


def test_report_lists_each_criterion_with_value_threshold_and_decision(
    gate: Gate, conn: duckdb.DuckDBPyConnection
) -> None:
    rid = gate.submit(_row())
    gate.check(rid, conn)
    release = gate.validate(rid, "paul", conn, lang="en")
    report = json.loads(release.report_json.read_text())
    by_name = {c["name"]: c for c in report["criteria"]}
    assert report["lang"] == "en" and by_name["k"]["label"] == "k-anonymity"
    detail = "30 attacks, 95% interval [0, 0.1], attack rate 0.3, control rate 0.29."
    assert by_name["singling_out"]["detail"] == detail
    assert by_name["k"]["value"] == 40 and by_name["k"]["threshold"] == 10 and by_name["k"]["passed"]
    assert by_name["l_distinct"]["threshold"] == 2 and by_name["t_closeness"]["comparison"] == "<="
    assert {"singling_out", "linkability", "inference"} <= set(by_name)
    assert report["decision"].startswith("Released after validation by paul")
    assert [t["name"] for t in report["thresholds"]] == list(JUSTIFICATIONS)
    assert report["thresholds"][0]["justification"].startswith("k=10 mirrors the small-cell threshold")
    html = release.report_html.read_text()
    assert "Why these thresholds" in html and "small-cell threshold" in html
    for criterion in report["criteria"]:
        assert f"<td>{criterion['label']}</td>" in html and f"<td>{criterion['name']}</td>" not in html


def test_csv_format_is_written_as_csv(gate: Gate, conn: duckdb.DuckDBPyConnection) -> None:
    rid = gate.submit(_row(fmt="csv"))
    gate.check(rid, conn)
    release = gate.validate(rid, "marie", conn)
    assert release.data.suffix == ".csv" and pacsv.read_csv(release.data).num_rows == 240


def test_the_requester_cannot_validate_their_own_export(
    tmp_path: Path, trail: AuditTrail, conn: duckdb.DuckDBPyConnection
) -> None:
    gate = Gate(tmp_path / "g", trail, Reviewers("marie", "paul"), thresholds=FAST, clock=lambda: NOW)
    rid = gate.submit(_row(by="marie"))
    gate.check(rid, conn)
    with pytest.raises(GateError, match="a demandé l'export"):
        gate.validate(rid, "marie", conn)
    assert gate.get(rid).status == "awaiting_validation" and _outbox(gate) == []
    assert ("export.validate", "marie", "denied", str(rid)) in _ops(trail)


def test_a_manager_without_the_reviewer_profile_cannot_validate(gate: Gate, conn: duckdb.DuckDBPyConnection) -> None:
    rid = gate.submit(_row())
    gate.check(rid, conn)
    with pytest.raises(GateError, match="export_reviewer"):
        gate.validate(rid, "igor", conn)
    assert _outbox(gate) == []


def test_data_changed_after_the_check_is_not_released(gate: Gate, conn: duckdb.DuckDBPyConnection) -> None:
    rid = gate.submit(_row())
    gate.check(rid, conn)
    conn.execute("UPDATE stays SET diagnosis = 'C50' WHERE person_id = 0")
    with pytest.raises(GateError, match="ont changé depuis son contrôle"):
        gate.validate(rid, "marie", conn)
    assert _outbox(gate) == [] and gate.get(rid).status == "awaiting_validation"


def test_validation_needs_a_passing_checked_export(gate: Gate, conn: duckdb.DuckDBPyConnection) -> None:
    rid = gate.submit(_row())
    with pytest.raises(GateError, match="n'attend pas de validation"):
        gate.validate(rid, "marie", conn)
    gate.check(rid, conn)
    with pytest.raises(GateError, match="seule une demande nouvelle est contrôlée"):
        gate.check(rid, conn)
    gate.validate(rid, "marie", conn)
    with pytest.raises(GateError, match="n'attend pas de validation"):
        gate.validate(rid, "paul", conn)


# ---- fail → quarantine, alert, proposal -------------------------------------------------------------------------


def test_failing_export_is_quarantined_with_an_alert_and_a_proposal(
    gate: Gate, conn: duckdb.DuckDBPyConnection, trail: AuditTrail
) -> None:
    rid = gate.submit(_row(BAD))
    checked = gate.check(rid, conn, hierarchies={"age": AgeBands((10, 20))})
    assert checked.status == "quarantined"
    failed = {c.name for c in checked.criteria if not c.passed}
    assert "k" in failed
    assert [a.request_id for a in gate.alerts()] == [rid] and "k" in gate.alerts()[0].failed
    assert checked.proposal is not None and checked.proposal["found"]
    assert checked.proposal["k"] >= 10 and "age" in checked.proposal["levels"]
    assert ("export.alert", "gate", "success", str(rid)) in _ops(trail)
    with pytest.raises(GateError, match="n'attend pas de validation"):
        gate.validate(rid, "marie", conn)
    assert _outbox(gate) == []


def test_proposal_sql_resubmitted_passes(gate: Gate, conn: duckdb.DuckDBPyConnection) -> None:
    rid = gate.submit(_row(BAD))
    proposal = gate.check(rid, conn, hierarchies={"age": AgeBands((10, 20))}).proposal
    assert proposal is not None
    again = gate.submit(ExportRequest(source=proposal["sql"], recipient="ORS", purpose="activity_indicators",
                                      project="P-IND-1", requested_by="fanny", quasi_identifiers=("age", "department"),
                                      sensitive=("diagnosis",), person="person_id"))
    by_name = {c.name: c for c in gate.check(again, conn).criteria}
    assert by_name["k"].passed and by_name["l_distinct"].passed


def test_quarantined_release_needs_a_risk_study_and_a_trained_manager(
    gate: Gate, conn: duckdb.DuckDBPyConnection, trail: AuditTrail
) -> None:
    rid = gate.submit(_row(BAD))
    gate.check(rid, conn)
    with pytest.raises(GateError, match="formation"):
        gate.review_quarantined(rid, "marie", "release", STUDY, conn)
    gate.record_training("marie", date(2020, 1, 10), "Anonymisation and export review", by="dpo")
    with pytest.raises(GateError, match="trois dernières années"):
        gate.review_quarantined(rid, "marie", "release", STUDY, conn)
    gate.record_training("marie", date(2025, 6, 2), "Anonymisation and export review", by="dpo")
    with pytest.raises(GateError, match="étude écrite du risque"):
        gate.review_quarantined(rid, "marie", "release", "Looks fine to me.", conn)
    with pytest.raises(GateError, match="export_reviewer"):
        gate.review_quarantined(rid, "igor", "release", STUDY, conn)
    assert _outbox(gate) == [] and gate.get(rid).status == "quarantined"

    release = gate.review_quarantined(rid, "marie", "release", STUDY, conn)
    assert release is not None and pq.read_table(release.data).num_rows == 240
    report = json.loads(release.report_json.read_text())
    assert report["risk_study"] == STUDY and report["alerts"]
    assert "Étude du risque de réidentification" in release.report_html.read_text()
    assert ("export.review", "marie", "denied", str(rid)) in _ops(trail)
    assert _ops(trail)[-1] == ("export.release", "marie", "success", str(rid))


def test_the_requester_cannot_review_their_own_quarantined_export(
    gate: Gate, conn: duckdb.DuckDBPyConnection
) -> None:
    rid = gate.submit(_row(BAD, by="marie"))
    gate.check(rid, conn)
    gate.record_training("marie", date(2026, 1, 5), "Export review", by="dpo")
    with pytest.raises(GateError, match="a demandé l'export"):
        gate.review_quarantined(rid, "marie", "release", STUDY, conn)


def test_training_cannot_be_in_the_future_and_decision_must_be_known(
    gate: Gate, conn: duckdb.DuckDBPyConnection
) -> None:
    with pytest.raises(GateError, match="date future"):
        gate.record_training("marie", date(2027, 1, 1), "Export review")
    rid = gate.submit(_row(BAD))
    gate.check(rid, conn)
    with pytest.raises(GateError, match="release ou reject"):
        gate.review_quarantined(rid, "marie", "publish", STUDY, conn)


def test_rejection_leaves_nothing_and_is_final(
    gate: Gate, conn: duckdb.DuckDBPyConnection, trail: AuditTrail
) -> None:
    quarantined = gate.submit(_row(BAD))
    gate.check(quarantined, conn)
    gate.record_training("paul", date(2026, 3, 1), "Export review", by="dpo")
    assert gate.review_quarantined(quarantined, "paul", "reject", "Exact ages with departments single people out.") \
        is None
    passing = gate.submit(_row())
    gate.check(passing, conn)
    with pytest.raises(GateError, match="motif"):
        gate.reject(passing, "marie", "  ")
    gate.reject(passing, "marie", "The recipient has no agreement yet.")
    assert gate.get(quarantined).status == "rejected" and gate.get(passing).status == "rejected"
    with pytest.raises(GateError, match="déjà rejeté"):
        gate.reject(passing, "marie", "again")
    with pytest.raises(GateError, match="n'attend pas de validation"):
        gate.validate(passing, "paul", conn)
    with pytest.raises(GateError, match="n'est pas en quarantaine"):
        gate.review_quarantined(quarantined, "paul", "release", STUDY, conn)
    assert _outbox(gate) == []
    assert ("export.reject", "paul", "success", str(quarantined)) in _ops(trail)
    assert [d["decision"] for d in gate.decisions(passing)] == ["reject"]


def test_nothing_reaches_the_outbox_except_through_release(gate: Gate, conn: duckdb.DuckDBPyConnection) -> None:
    unchecked = gate.submit(_row())
    unvalidated = gate.submit(_row())
    gate.check(unvalidated, conn)
    quarantined = gate.submit(_row(BAD))
    gate.check(quarantined, conn)
    rejected = gate.submit(_row())
    gate.check(rejected, conn)
    gate.reject(rejected, "paul", "Not needed after all.")
    assert _outbox(gate) == []
    assert {r.status for r in gate.requests()} == {"requested", "awaiting_validation", "quarantined", "rejected"}
    released = gate.submit(_row())
    gate.check(released, conn)
    gate.validate(released, "paul", conn)
    assert [p.name for p in gate.outbox.iterdir()] == [f"export-{released}"]
    assert unchecked not in (released,)
    public = [n for n in dir(Gate) if not n.startswith("_")]
    assert not any(n.startswith(("write", "export", "save", "dump")) for n in public)


def test_refused_requests(gate: Gate) -> None:
    with pytest.raises(GateError, match="le destinataire"):
        gate.submit(ExportRequest(GOOD, "", "p", "P", "fanny", ("sex",)))
    with pytest.raises(GateError, match="format"):
        gate.submit(_row(fmt="xlsx"))
    with pytest.raises(GateError, match="quasi-identifiants"):
        gate.submit(ExportRequest(GOOD, "ORS", "p", "P", "fanny"))
    with pytest.raises(GateError, match="dimensions"):
        gate.submit(ExportRequest(GOOD, "ORS", "p", "P", "fanny", kind="indicator"))
    with pytest.raises(GateError, match="pas de demande d'export"):
        gate.get(99)


def test_unmeasurable_risks_quarantine_the_export(
    tmp_path: Path, trail: AuditTrail, conn: duckdb.DuckDBPyConnection
) -> None:
    gate = Gate(tmp_path / "g", trail, Reviewers("paul"), thresholds=FAST)  # real anonymeter
    rid = gate.submit(ExportRequest("SELECT person_id, sex FROM stays", "ORS", "p", "P", "fanny", ("sex",),
                                    person="person_id"))
    checked = gate.check(rid, conn)
    assert checked.status == "quarantined"
    assert {c.name for c in checked.criteria if not c.passed} == {"singling_out", "linkability", "inference"}


def test_empowerment_comes_from_active_export_reviewer_grants(tmp_path: Path) -> None:
    from identity_fixtures import make_context
    from santegarde.identity import accounts, grants

    ctx = make_context(f"sqlite:///{tmp_path / 'identity.db'}", tmp_path, "eds-2021-118")
    for login, profile in (("marie", "export_reviewer"), ("fanny", "project_member")):
        accounts.add(ctx, login, f"{login.title()} Fictif", person_ref=f"staff-{login}", by="admin")
        grants.give(ctx, login, profile, validated_by="comité", validator_role="governance_body",
                    reason="validated by the committee", ends_at=datetime.now(UTC) + timedelta(days=30),
                    project="P-IND-1", by="admin")
    reviewers = GrantReviewers(ctx)
    assert reviewers.empowered("marie")
    assert not reviewers.empowered("fanny") and not reviewers.empowered("nobody")


# ---- indicators through the gate --------------------------------------------------------------------------------


def _indicator(filters: tuple[tuple[str, tuple[object, ...]], ...] = ()) -> ExportRequest:
    spec = IndicatorSpec(dimensions=("service", "sex"), filters=filters, person="person_id")
    return ExportRequest(source="SELECT * FROM stays", recipient="Direction", purpose="activity_indicators",
                         project="DIM", requested_by="fanny", format="csv", kind="indicator", indicator=spec)


def test_indicator_goes_through_the_gate_with_its_suppression(
    gate: Gate, conn: duckdb.DuckDBPyConnection, trail: AuditTrail
) -> None:
    rid = gate.submit(_indicator())
    checked = gate.check(rid, conn)
    assert checked.status == "awaiting_validation"
    assert {c.name: c.passed for c in checked.criteria} == {"filters": True, "min_cell": True}
    assert _outbox(gate) == []
    release = gate.validate(rid, "paul", conn)
    rows = pacsv.read_csv(release.data).to_pylist()
    rare = [r for r in rows if r["service"] == "rare"]
    assert {r["sex"]: r["count"] for r in rare} == {"F": None, "M": None, "TOTAL": 10}
    assert all(r["suppressed"] for r in rare if r["sex"] != "TOTAL")
    shown = [r["count"] for r in rows if not r["suppressed"]]
    assert shown and all(c == 0 or c >= 10 for c in shown)
    assert ("export.check", "gate", "success", str(rid)) in _ops(trail)
    report = json.loads(release.report_json.read_text())
    assert {c["name"] for c in report["criteria"]} == {"filters", "min_cell"}


def test_indicator_whose_filters_isolate_persons_is_quarantined_and_cannot_be_released(
    gate: Gate, conn: duckdb.DuckDBPyConnection
) -> None:
    rid = gate.submit(_indicator(filters=(("service", ("rare",)), ("sex", ("F",)))))
    checked = gate.check(rid, conn)
    assert checked.status == "quarantined" and [c.name for c in checked.criteria if not c.passed] == ["filters"]
    assert gate.alerts()[-1].request_id == rid
    gate.record_training("paul", date(2026, 2, 1), "Export review", by="dpo")
    with pytest.raises(GateError, match="isolent des personnes"):
        gate.review_quarantined(rid, "paul", "release", STUDY, conn)
    gate.review_quarantined(rid, "paul", "reject", "The filter selects fewer than ten persons.")
    assert gate.get(rid).status == "rejected" and _outbox(gate) == []


def test_real_attacks_on_exact_rows_quarantine_an_export_meeting_k(
    tmp_path: Path, trail: AuditTrail, conn: duckdb.DuckDBPyConnection
) -> None:
    """k is met on the declared quasi-identifiers, but the undeclared exact age singles people out."""
    strict = GateThresholds(n_attacks=30)
    gate = Gate(tmp_path / "g", trail, Reviewers("paul"), thresholds=strict, clock=lambda: NOW)
    rid = gate.submit(ExportRequest("SELECT person_id, age, sex, diagnosis FROM stays", "ORS", "p", "P", "fanny",
                                    ("sex",), ("diagnosis",), person="person_id"))
    checked = gate.check(rid, conn)
    by_name = {c.name: c for c in checked.criteria}
    assert by_name["k"].passed and not by_name["singling_out"].passed
    assert checked.status == "quarantined" and by_name["singling_out"].note == "attacks"
    # 30 requested, 12 singling-out queries could be built from this export: the risk and the count are those run
    assert by_name["singling_out"].facts["n"] == 12
    assert criterion_text(by_name["singling_out"], "fr").startswith("12 attaques, intervalle de confiance à 95 %")


def test_a_check_stored_before_the_wording_moved_keeps_its_detail(
    gate: Gate, conn: duckdb.DuckDBPyConnection
) -> None:
    """Criteria stored as English sentences (before keys and facts) still load and show their sentence."""
    import sqlite3

    rid = gate.submit(_row())
    gate.check(rid, conn)
    old = [{"name": "k", "value": 40, "threshold": 10, "comparison": ">=", "passed": True,
            "detail": "0 of 240 rows are in classes under k; smallest classes [40]."}]  # fmt: skip
    with sqlite3.connect(gate.directory / "gate.sqlite") as db:
        db.execute("UPDATE requests SET criteria = ? WHERE id = ?", (json.dumps(old), rid))
    (criterion,) = gate.get(rid).criteria
    assert criterion.note == "" and criterion.facts == {}
    assert criterion_text(criterion, "fr") == old[0]["detail"]
    report = gate.report(rid)
    assert report["criteria"][0]["label"] == "k-anonymat" and report["criteria"][0]["detail"] == old[0]["detail"]


# ---- anonymity counted in persons, not rows (issue 15, fault 3) -------------------------------------------------


@pytest.fixture
def measurements(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    """60 fictitious patients with 2 to 8 measurements each; sex, age band and diagnosis constant per patient."""
    con = duckdb.connect(str(tmp_path / "measurements.duckdb"))
    con.execute(
        "CREATE TABLE m AS SELECT p AS person_id, ['F', 'M'][1 + p % 2] AS sex, "
        "['20-39', '40-59', '60-79'][1 + p % 3] AS age_band, ['E11', 'I10', 'J45'][1 + (p // 6) % 3] AS diagnosis, "
        "p * 10 + r AS hba1c FROM range(60) t(p), range(8) u(r) WHERE r < 2 + p % 7"
    )
    return con


def _measurement_request(qis: tuple[str, ...] = ("sex", "age_band")) -> ExportRequest:
    return ExportRequest("SELECT person_id, sex, age_band, diagnosis, hba1c FROM m", "ORS", "activity_indicators",
                         "P-IND-1", "fanny", qis, ("diagnosis",), person="person_id")


def test_one_row_per_measurement_is_measured_in_persons(gate: Gate, measurements: duckdb.DuckDBPyConnection) -> None:
    """The issue's reproduction: over rows, every class holds 2 to 8 rows, yet each is one patient's."""
    rows_k = measurements.execute(
        "SELECT min(n) FROM (SELECT count(*) AS n FROM m GROUP BY person_id, sex, age_band)"
    ).fetchone()
    assert rows_k == (2,)  # what counting rows saw, with the person made a quasi-identifier
    rid = gate.submit(_measurement_request())
    checked = gate.check(rid, measurements)
    k = next(c for c in checked.criteria if c.name == "k")
    assert k.value == 10 and k.facts["persons"] == 60 and k.facts["rows"] == checked.rows  # 6 classes of 10 persons
    assert "60 personnes" in criterion_text(k, "fr") and "en personnes" in criterion_text(k, "fr")
    # a class of one patient's 2 to 8 rows is k = 1 (a person's own key under another name, or a value computed
    # from it, is refused outright: tests/test_warehouse_export_lineage.py; here a measured value, the person's
    # first result, two persons sharing one, so it is no key)
    one = gate.submit(ExportRequest("SELECT person_id, least(min(hba1c) OVER (PARTITION BY person_id), 580) AS bed, "
                                    "diagnosis FROM m", "ORS", "activity_indicators", "P", "fanny", ("bed",),
                                    ("diagnosis",), person="person_id"))
    k1 = next(c for c in gate.check(one, measurements).criteria if c.name == "k")
    assert k1.value == 1 and not k1.passed


def test_quasi_identifiers_varying_within_a_person_are_refused(
    gate: Gate, measurements: duckdb.DuckDBPyConnection
) -> None:
    rid = gate.submit(_measurement_request(("sex", "hba1c")))
    varies = r"varient d'une ligne à l'autre d'une même personne .* une seule valeur par personne"
    with pytest.raises(GateError, match=varies):
        gate.check(rid, measurements)
    assert gate.get(rid).status == "requested" and _outbox(gate) == []


def test_the_person_column_is_required_checked_and_released_only_as_pseudonyms(
    gate: Gate, measurements: duckdb.DuckDBPyConnection
) -> None:
    with pytest.raises(GateError, match="désigner la colonne identifiant la personne"):
        gate.submit(ExportRequest("SELECT sex FROM m", "ORS", "p", "P", "fanny", ("sex",)))
    missing = gate.submit(ExportRequest("SELECT sex, diagnosis FROM m", "ORS", "p", "P", "fanny", ("sex",),
                                        person="person_id"))
    with pytest.raises(GateError, match="« person_id », n'est pas dans la source"):
        gate.check(missing, measurements)
    rid = gate.submit(_measurement_request())
    assert gate.check(rid, measurements).status == "awaiting_validation"
    release = gate.validate(rid, "marie", measurements)
    table = pq.read_table(release.data)
    assert table.num_rows == release.rows
    # the person column leaves as pseudonyms of this export: one per person, none of the source's ids
    released = table.column("person_id").to_pylist()
    assert all(isinstance(p, str) and len(p) == 32 for p in released) and len(set(released)) == 60
    per_person = measurements.execute("SELECT person_id, count(*) FROM m GROUP BY 1 ORDER BY 2, 1").fetchall()
    assert sorted(Counter(released).values()) == sorted(n for _, n in per_person)


def test_each_export_has_pseudonyms_of_its_own_and_its_key_is_erased_once_released(
    gate: Gate, measurements: duckdb.DuckDBPyConnection
) -> None:
    """The same rows exported twice cannot be joined on their persons; after the release nobody (the gate
    included) can recompute the pseudonyms; a rejected request loses its key too."""
    import sqlite3

    pseudonyms = []
    for _ in range(2):
        rid = gate.submit(_measurement_request())
        gate.check(rid, measurements)
        with sqlite3.connect(gate.directory / "gate.sqlite") as db:
            assert db.execute("SELECT export_key FROM requests WHERE id = ?", (rid,)).fetchone()[0]
        release = gate.validate(rid, "marie", measurements)
        pseudonyms.append(set(pq.read_table(release.data).column("person_id").to_pylist()))
        with sqlite3.connect(gate.directory / "gate.sqlite") as db:
            assert db.execute("SELECT export_key FROM requests WHERE id = ?", (rid,)).fetchone()[0] is None
    assert len(pseudonyms[0]) == len(pseudonyms[1]) == 60 and not pseudonyms[0] & pseudonyms[1]
    rid = gate.submit(_measurement_request())
    gate.check(rid, measurements)
    gate.reject(rid, "marie", "Pas de justification du besoin (essai).")
    with sqlite3.connect(gate.directory / "gate.sqlite") as db:
        assert db.execute("SELECT export_key FROM requests WHERE id = ?", (rid,)).fetchone()[0] is None


def test_a_request_stored_before_persons_were_counted_is_refused_with_the_way_out(
    gate: Gate, conn: duckdb.DuckDBPyConnection
) -> None:
    import sqlite3

    rid = gate.submit(_row())
    with sqlite3.connect(gate.directory / "gate.sqlite") as db:
        body = json.loads(db.execute("SELECT body FROM requests WHERE id = ?", (rid,)).fetchone()[0])
        del body["person"]  # as stored before issue 15
        db.execute("UPDATE requests SET body = ? WHERE id = ?", (json.dumps(body), rid))
    with pytest.raises(GateError, match="soumettez-la à nouveau avec la colonne de la personne"):
        gate.check(rid, conn)
    assert gate.get(rid).status == "requested"


def test_the_gate_refuses_in_french_by_default_and_in_english_as_the_option(
    gate: Gate, conn: duckdb.DuckDBPyConnection
) -> None:
    """A few representative refusals, in both languages: no French sentence carries a field name."""
    with pytest.raises(GateError) as lacking:
        gate.submit(ExportRequest(GOOD, "", "p", "P", "", ("sex",)))
    assert str(lacking.value) == "Il manque à la demande d'export : le destinataire ou le demandeur ; déclarez-les."
    assert lacking.value.in_language("en") == "The export request lacks the recipient or the requester; declare them."
    assert "requested_by" not in str(lacking.value)
    rid = gate.submit(_row())
    with pytest.raises(GateError) as early:
        gate.validate(rid, "marie", conn)
    assert f"L'export n° {rid} est demandé, il n'attend pas de validation" in str(early.value)
    assert f"Export {rid} is requested, not awaiting validation" in early.value.in_language("en")
    with pytest.raises(GateError) as decision:
        gate.review_quarantined(rid, "marie", "publish", "")
    assert str(decision.value) == "La décision est release ou reject ; « publish » n'en est pas une."
    assert decision.value.in_language("en") == "The decision must be release or reject; 'publish' is not one."
    with pytest.raises(GateError) as thresholds:
        GateThresholds(max_linkability=1.5)
    assert "Le seuil max_linkability doit être compris entre 0 et 1" in str(thresholds.value)
    assert "must lie between 0 and 1" in thresholds.value.in_language("en")
