"""Warehouse retention (EDS-7): 20 years at most from collection, identifying data end with the health data.

Fictitious persons only; the date is fixed (2026-06-01), so 20 years back the cutoff is 2006-06-01:
rows collected on or before it have expired.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from santegarde.config.model import ChoiceAnswer
from santegarde.referentials import loader
from santegarde.referentials.model import Duration, EndAction, Referential
from santegarde.warehouse import governance as gov
from santegarde.warehouse import retention
from santegarde.warehouse.access import Operator, WarehouseGuard
from santegarde.warehouse.feed import DataList, feed_omop
from santegarde.warehouse.omop import OMOP_TABLES
from santegarde.warehouse.retention import RetentionError, WarehouseRetention, minus, policy
from santegarde.warehouse.workspace import Workspaces
from warehouse_governance_fixtures import Setup, approve, build, staff

TODAY = date(2026, 6, 1)
CUTOFF = date(2006, 6, 1)
FEEDER = Operator("feed.bot", "feeding")  # may mobilise the genetic/location key (EDS-SEC-LOG-6)
DORA = {"family": "Ancien-Fictif", "given": "Dora", "birthdate": "1931-02-14"}  # only old data: she ends
FULL = {f"{t}.{c.name}": "needed by the warehouse purposes" for t, cols in OMOP_TABLES.items() for c in cols}


def clock() -> datetime:
    return datetime(2026, 6, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def s(tmp_path: Path) -> Iterator[Setup]:
    setup = build(tmp_path)
    staff(setup.identity, FEEDER.login, "feeding")
    _old_data(setup)
    yield setup
    setup.warehouse.close()


@pytest.fixture
def guard(s: Setup) -> WarehouseGuard:
    return WarehouseGuard(s.identity, s.trail)


def eds(duration: str | None = None) -> Referential:
    """eds-2021-118, with the patient_data period replaced as a retention deviation would."""
    ref = loader.get("eds-2021-118")
    if duration is None:
        return ref
    data = ref.model_dump(mode="json")
    for rule in data["retention"]:
        if rule["id"] == "patient_data":
            rule["active"]["duration"] = duration
    return Referential.model_validate(data)


def engine_for(s: Setup, guard: WarehouseGuard, ref: Referential | None = None, **choices: str) -> WarehouseRetention:
    answers = {k: ChoiceAnswer(value=v) for k, v in choices.items()}
    return WarehouseRetention(
        s.warehouse,
        s.trail,
        policy(ref or eds(), answers),
        operator=FEEDER,
        guard=guard,
        governance=s.governance,
        clock=clock,
    )


def _old_data(s: Setup) -> None:
    """Dora: everything collected before 2006; Alice: old rows besides her recent ones; Bruno: an undated result."""
    wh, con = s.warehouse, s.warehouse.omop
    dora_pseudonym = wh.pseudonym_of(DORA)
    dora = wh.person_id_of(DORA)
    alice = s.person_ids["alice"]
    con.execute(
        "INSERT INTO omop.person (person_id, gender_concept_id, year_of_birth, race_concept_id, ethnicity_concept_id, "
        "location_id, person_source_value) VALUES ($p, 8532, 1931, 0, 0, 555, $ps)",
        {"p": dora, "ps": dora_pseudonym},
    )
    rows = [
        ("visit_occurrence", "visit_occurrence_id, person_id, visit_concept_id, visit_start_date, visit_end_date, "
         "visit_type_concept_id", f"8000002, {dora}, 9202, DATE '1999-05-01', DATE '1999-05-01', 32817"),
        ("condition_occurrence", "condition_occurrence_id, person_id, condition_concept_id, condition_start_date, "
         "condition_type_concept_id", f"9002, {dora}, 4112343, DATE '1999-05-01', 32817"),
        ("measurement", "measurement_id, person_id, measurement_concept_id, measurement_date, "
         "measurement_type_concept_id", f"9003, {dora}, 3004410, DATE '2001-02-03', 32817"),
        ("death", "person_id, death_date", f"{dora}, DATE '2003-01-01'"),
        ("observation_period", "observation_period_id, person_id, observation_period_start_date, "
         "observation_period_end_date, period_type_concept_id", f"9005, {dora}, DATE '1999-05-01', "
         "DATE '2003-01-01', 32817"),
        ("visit_occurrence", "visit_occurrence_id, person_id, visit_concept_id, visit_start_date, visit_end_date, "
         "visit_type_concept_id", f"8000001, {alice}, 9202, DATE '2000-01-01', DATE '2000-01-02', 32817"),
        ("measurement", "measurement_id, person_id, measurement_concept_id, measurement_date, "
         "measurement_type_concept_id", f"9011, {alice}, 3004410, DATE '1998-01-01', 32817"),
        ("measurement", "measurement_id, person_id, measurement_concept_id, measurement_date, "
         "measurement_type_concept_id", f"9012, {alice}, 3004410, DATE '2006-06-02', 32817"),  # one day inside
        ("observation", "observation_id, person_id, observation_concept_id, observation_date, "
         "observation_type_concept_id, visit_occurrence_id", f"9013, {alice}, 0, DATE '2025-01-01', 32817, 8000001"),
        ("observation_period", "observation_period_id, person_id, observation_period_start_date, "
         "observation_period_end_date, period_type_concept_id", f"9014, {alice}, DATE '1998-01-01', "
         "DATE '2025-04-01', 32817"),
    ]  # fmt: skip
    for table, columns, values in rows:
        con.execute(f"INSERT INTO omop.{table} ({columns}) VALUES ({values})")
    with wh.vault_connection() as vault:
        vault.execute(
            "INSERT INTO vault.identity (pseudonym, family, given, birth_date, city, updated_at, kind, source_hash) "
            "VALUES ($ps, $f, $g, DATE '1931-02-14', 'Fictiville', TIMESTAMP '2024-01-01 10:00:00', 'fhir:Patient', "
            "'hash-of-dora-source')",
            {"ps": dora_pseudonym, "f": DORA["family"], "g": DORA["given"]},
        )
        vault.execute(
            "INSERT INTO vault.mapping VALUES ($ps, 'fhir:Patient', 'hash-of-dora-source', "
            "TIMESTAMP '2024-01-01 10:00:00')",
            {"ps": dora_pseudonym},
        )
    with wh.location_connection(FEEDER, guard=WarehouseGuard(s.identity, s.trail)) as geo:
        geo.execute("INSERT INTO geo.location (location_id, city, zip) VALUES (555, 'Fictiville', '99001')")
        geo.execute(
            "INSERT INTO geo.genetic_result VALUES (1, $p, DATE '2000-01-01', 'GENE1', 'c.1A>G', 0, 'benign'), "
            "(2, $a, DATE '2024-01-01', 'GENE2', 'c.2A>G', 0, 'benign'), "
            "(3, $b, NULL, 'GENE3', 'c.3A>G', 0, 'benign')",
            {"p": dora, "a": alice, "b": s.person_ids["bruno"]},
        )


def counts(s: Setup, guard: WarehouseGuard) -> dict[str, int]:
    wh = s.warehouse
    out = dict(wh.counts())
    with wh.vault_connection() as con, wh.location_connection(FEEDER, guard=guard):
        for table in ("vault.identity", "vault.mapping", "geo.location", "geo.genetic_result"):
            row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
            out[table] = int(row[0]) if row else 0
    return out


def events(s: Setup, operation: str) -> list[Mapping[str, Any]]:
    with s.trail.engine.connect() as conn:
        return [e.content for e in s.trail.entries(conn) if e.content["operation"] == operation]


def test_cutoff_is_calendar_arithmetic() -> None:
    assert minus(TODAY, Duration(years=20)) == CUTOFF
    assert minus(date(2028, 2, 29), Duration(years=19)) == date(2009, 2, 28)
    assert minus(date(2026, 3, 31), Duration(months=1, days=1)) == date(2026, 2, 27)


def test_dry_run_reports_and_changes_nothing(s: Setup, guard: WarehouseGuard) -> None:
    before = counts(s, guard)
    report = engine_for(s, guard).plan()
    lines = {line.table: line for line in report.tables}
    assert report.cutoff == CUTOFF and not report.applied
    assert (lines["measurement"].expired, lines["measurement"].persons, lines["measurement"].kept) == (2, 2, 4)
    assert lines["visit_occurrence"].expired == 2 and lines["death"].expired == 1
    assert lines["observation_period"].expired == 1  # Dora's; Alice's straddles the cutoff: shortened, not deleted
    assert (lines["genetic_result"].expired, lines["genetic_result"].kept, lines["genetic_result"].undated) == (1, 2, 1)
    assert report.persons_affected == 2 and report.persons_ended == 1
    assert report.deleted == {"identity": 1, "mapping": 1, "person": 1, "location": 1}
    assert counts(s, guard) == before
    assert events(s, "warehouse.retention.purge") == []


def test_apply_removes_expired_rows_keeps_recent_ones_and_ends_the_person(s: Setup, guard: WarehouseGuard) -> None:
    wh = s.warehouse
    dora, alice = wh.person_id_of(DORA), s.person_ids["alice"]
    report = engine_for(s, guard).apply()
    assert report.applied and report.expired_rows == 8
    assert report.periods_shortened == 1 and report.references_cleared == 1
    measurements = wh.omop.execute("SELECT measurement_id FROM omop.measurement ORDER BY 1").fetchall()
    assert [m[0] for m in measurements] == [201, 202, 203, 9012]  # recent ones, and the one a day inside
    for table in ("person", "visit_occurrence", "condition_occurrence", "death", "observation_period"):
        found = wh.omop.execute(f"SELECT count(*) FROM omop.{table} WHERE person_id = $p", {"p": dora})
        assert found.fetchone() == (0,), table
    assert wh.omop.execute(
        "SELECT observation_period_start_date FROM omop.observation_period WHERE person_id = $p", {"p": alice}
    ).fetchone() == (date(2006, 6, 2),)
    assert wh.omop.execute(
        "SELECT visit_occurrence_id FROM omop.observation WHERE observation_id = 9013"
    ).fetchone() == (None,)
    with wh.vault_connection() as con, wh.location_connection(FEEDER, guard=guard):
        identities = {r[0] for r in con.execute("SELECT family FROM vault.identity").fetchall()}
        assert DORA["family"] not in identities and "Martin-Fictif" in identities  # Alice keeps hers
        assert con.execute("SELECT count(*) FROM vault.mapping").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM geo.location").fetchone() == (0,)
        kept = {r[0] for r in con.execute("SELECT genetic_result_id FROM geo.genetic_result").fetchall()}
        assert kept == {2, 3}  # Alice's recent result, Bruno's undated one
    assert wh.counts()["person"] == 3


def test_purge_is_audited_with_counts_only(s: Setup, guard: WarehouseGuard) -> None:
    engine_for(s, guard).apply()
    purges = events(s, "warehouse.retention.purge")
    assert [e["resource_type"] for e in purges] == ["warehouse/vault", "warehouse/location", "warehouse/omop"]
    assert all(e["outcome"] == "success" and e["rule"] == "EDS-7" and e["actor"] == FEEDER.login for e in purges)
    assert purges[0]["resource_id"] == "cutoff=2006-06-01 identity=1 mapping=1"
    assert "measurement=2" in str(purges[2]["resource_id"]) and "person=1" in str(purges[2]["resource_id"])
    text = json.dumps(purges)
    for secret in (DORA["family"], DORA["given"], s.warehouse.pseudonym_of(DORA), str(s.warehouse.person_id_of(DORA))):
        assert secret not in text


def test_a_second_run_changes_nothing(s: Setup, guard: WarehouseGuard) -> None:
    engine_for(s, guard).apply()
    after = counts(s, guard)
    again = engine_for(s, guard).apply()
    assert again.expired_rows == 0 and again.persons_ended == 0
    assert all(v == 0 for v in again.deleted.values()) and again.periods_shortened == 0
    assert counts(s, guard) == after


def test_a_failed_store_keeps_nothing_of_its_step_and_the_next_run_completes(
    s: Setup, guard: WarehouseGuard, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = retention._purge_omop

    def failing(*args, **kwargs):  # type: ignore[no-untyped-def]
        original(*args, **kwargs)
        raise duckdb.IOException("disk full")

    monkeypatch.setattr(retention, "_purge_omop", failing)
    before = s.warehouse.counts()
    with pytest.raises(RetentionError, match="nothing of that step was kept"):
        engine_for(s, guard).apply()
    assert s.warehouse.counts() == before  # the OMOP step was rolled back whole
    assert [e["outcome"] for e in events(s, "warehouse.retention.purge")] == ["success", "success", "error"]
    monkeypatch.setattr(retention, "_purge_omop", original)
    report = engine_for(s, guard).apply()
    assert report.persons_ended == 1 and report.deleted["person"] == 1  # found again without its identity
    assert report.deleted["identity"] == 0 and s.warehouse.counts()["person"] == 3


def test_a_period_longer_than_twenty_years_is_refused_and_traced(s: Setup, guard: WarehouseGuard) -> None:
    before = counts(s, guard)
    with pytest.raises(RetentionError, match="longer than the 20 years from collection"):
        engine_for(s, guard, eds("P25Y")).plan()
    with pytest.raises(RetentionError, match="longer than the 20 years"):
        engine_for(s, guard, eds("P20Y1D")).apply()
    denied = events(s, "warehouse.retention")
    assert [(e["outcome"], e["resource_id"]) for e in denied] == [("denied", "limit=P25Y"), ("denied", "limit=P20Y1D")]
    assert counts(s, guard) == before


def test_an_organisation_may_keep_less(s: Setup, guard: WarehouseGuard) -> None:
    report = engine_for(s, guard, eds("P10Y")).plan()
    assert report.limit == Duration(years=10) and report.cutoff == date(2016, 6, 1)
    assert {line.table: line.expired for line in report.tables}["measurement"] == 3  # the 2006-06-02 row too
    from santegarde.cli import warehouse_core

    document = json.loads(json.dumps(warehouse_core.retention_document(report)))  # retention --json: the same facts
    assert document["cutoff"] == "2016-06-01" and document["applied"] is False
    assert {t["table"]: t["expired"] for t in document["tables"]}["measurement"] == 3
    assert document["expired_rows"] == report.expired_rows and document["persons_affected"] == report.persons_affected


def test_anonymise_keeps_only_counts_per_table_and_year(s: Setup, guard: WarehouseGuard) -> None:
    run = engine_for(s, guard, retention_end_action="anonymise")
    assert run.policy.end_action == EndAction.ANONYMISE
    run.apply()
    rows = s.warehouse.omop.execute(
        "SELECT table_name, year_of_collection, count FROM omop.retention_aggregate ORDER BY 1, 2"
    ).fetchall()
    assert (
        ("measurement", 1998, 1) in rows and ("measurement", 2001, 1) in rows and ("visit_occurrence", 1999, 1) in rows
    )
    assert s.warehouse.omop.execute(
        "SELECT count(*) FROM omop.measurement WHERE measurement_date <= $c", {"c": CUTOFF}
    ).fetchone() == (0,)
    with s.warehouse.location_connection(FEEDER, guard=guard) as geo:
        assert geo.execute("SELECT * FROM geo.retention_aggregate").fetchall() == [("genetic_result", 2000, 1)]


def test_the_key_of_genetic_and_location_data_is_needed(s: Setup, guard: WarehouseGuard) -> None:
    run = WarehouseRetention(
        s.warehouse,
        s.trail,
        policy(eds(), {}),
        operator=Operator("someone", "project_member"),
        guard=guard,
        clock=clock,
    )
    with pytest.raises(Exception, match="genetic and location"):
        run.plan()


def test_feeds_skip_rows_already_past_retention(s: Setup, guard: WarehouseGuard, tmp_path: Path) -> None:
    directory = tmp_path / "omop"
    directory.mkdir()
    (directory / "person.csv").write_text(
        "person_id,gender_concept_id,year_of_birth,race_concept_id,ethnicity_concept_id\n501,8507,1950,0,0\n"
    )
    (directory / "condition_occurrence.csv").write_text(
        "condition_occurrence_id,person_id,condition_concept_id,condition_start_date,condition_type_concept_id\n"
        "1,501,201826,1990-04-01,32817\n2,501,201826,2006-06-01,32817\n3,501,201826,2024-05-02,32817\n"
    )
    before = s.warehouse.counts()["condition_occurrence"]
    report = feed_omop(
        s.warehouse, directory, DataList.from_mapping(FULL), source_name="partner", operator=FEEDER, guard=guard,
        cutoff=minus(TODAY, Duration(years=20)),
    )  # fmt: skip
    assert report.expired_skipped == 2 and report.rows["condition_occurrence"] == 1
    assert s.warehouse.counts()["condition_occurrence"] == before + 1
    period = s.warehouse.omop.execute(
        "SELECT min(observation_period_start_date) FROM omop.observation_period WHERE observation_period_start_date "
        "> DATE '2024-01-01'"
    ).fetchone()
    assert period == (date(2024, 5, 2),)


def test_an_organisation_keeping_less_feeds_less(s: Setup, guard: WarehouseGuard, tmp_path: Path) -> None:
    """The organisation's shorter period reaches the feed through Warehouse.feed_omop (as the CLI passes it)."""
    directory = tmp_path / "omop"
    directory.mkdir()
    (directory / "person.csv").write_text(
        "person_id,gender_concept_id,year_of_birth,race_concept_id,ethnicity_concept_id\n502,8532,1960,0,0\n"
    )
    (directory / "condition_occurrence.csv").write_text(
        "condition_occurrence_id,person_id,condition_concept_id,condition_start_date,condition_type_concept_id\n"
        "1,502,201826,2006-06-01,32817\n2,502,201826,2024-05-02,32817\n"
    )
    ten_years = minus(TODAY, Duration(years=10))
    s.warehouse.guard = guard  # as the CLI opens it, from the session
    report = s.warehouse.feed_omop(
        directory, DataList.from_mapping(FULL), source_name="partner", operator=FEEDER, cutoff=ten_years
    )
    assert report.expired_skipped == 1 and report.rows["condition_occurrence"] == 1


def test_workspaces_of_projects_no_longer_running_are_removed(s: Setup, guard: WarehouseGuard) -> None:
    variables = {"person.year_of_birth": "Age is a stratification factor"}
    approve(s, "P-RUN", variables)
    approve(s, "P-END", variables)
    spaces = Workspaces(s.warehouse, s.governance, s.trail, identity=s.identity)
    running, ended = spaces.create("P-RUN", by="fanny").path, spaces.create("P-END", by="fanny").path
    gov.close_project_record(s.governance, "P-END", by="dpo")  # the project ended, its file survived
    plan = engine_for(s, guard).plan()
    assert [(w.project, w.status) for w in plan.workspaces] == [("P-END", "closed")] and ended.exists()
    report = engine_for(s, guard).apply()
    assert report.deleted["workspace files"] == 1 and not ended.exists() and running.exists()
    assert any(e["resource_type"] == "workspace/P-END" for e in events(s, "warehouse.retention.purge"))


def test_cli_retention_has_help_and_refuses_apply_at_a_date() -> None:
    from santegarde.cli import warehouse_core

    runner = CliRunner()
    shown = runner.invoke(warehouse_core.app, ["retention", "--help"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0 and "--apply" in shown.output and "dry run" in shown.output
    refused = runner.invoke(warehouse_core.app, ["retention", "--apply", "--at", "2030-01-01"])
    assert refused.exit_code != 0 and "--at only plans ahead" in " ".join(refused.output.split())


def test_cli_report_shows_counts_per_table_and_persons(
    s: Setup, guard: WarehouseGuard, monkeypatch: pytest.MonkeyPatch
) -> None:
    from santegarde.cli import warehouse_core
    from santegarde.cli.common import console

    monkeypatch.setattr(console, "_width", 200)  # restored exactly after the test
    with console.capture() as captured:
        warehouse_core._print_retention(engine_for(s, guard).plan())
    said = " ".join(captured.get().split())
    assert "rows collected on or before 2006-06-01 expire" in said and "measurement_date" in said
    assert "Persons with expired health data: 2." in said
    assert "whose identifying data end: 1 (identity 1, mapping 1, person 1, location 1)" in said
    assert "Would delete (dry run): 8 expired rows" in said and "1 genetic results have no date" in said


def test_an_identity_without_health_data_ends_after_its_own_twenty_years(s: Setup, guard: WarehouseGuard) -> None:
    wh = s.warehouse
    with wh.vault_connection() as vault:
        for pseudonym, collected in (("a" * 64, "2005-01-01 08:00:00"), ("b" * 64, "2024-01-01 08:00:00")):
            vault.execute(
                "INSERT INTO vault.identity (pseudonym, family, given, updated_at, kind, source_hash) "
                "VALUES ($p, 'Sansdonnees-Fictif', 'Eve', CAST($t AS TIMESTAMP), 'test', $p)",
                {"p": pseudonym, "t": collected},
            )
    report = engine_for(s, guard).apply()
    assert report.persons_ended == 2 and report.deleted["identity"] == 2  # Dora, and the 2005 identity
    with wh.vault_connection() as vault:
        left = {r[0] for r in vault.execute("SELECT pseudonym FROM vault.identity").fetchall()}
    assert "b" * 64 in left and "a" * 64 not in left  # collected in 2024, no health data yet: kept
