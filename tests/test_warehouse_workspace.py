"""Sealed project workspaces (EDS-SEC-ESP-1..3), traced queries (EDS-SEC-DAY-1), end of project (HAB-5, DAY-3)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from santegarde.audit.tables import review as audit_review
from santegarde.identity import reviews
from santegarde.referentials import loader
from santegarde.warehouse import governance as gov
from santegarde.warehouse.workspace import Workspace, WorkspaceError, Workspaces, sql_digest, workspace_key
from warehouse_governance_fixtures import DIABETIC, Setup, account, approve, build

VARIABLES = {
    "person.year_of_birth": "Age is a stratification factor",
    "measurement.value_as_number": "HbA1c values are the outcome",
}


@pytest.fixture
def s(tmp_path: Path) -> Iterator[Setup]:
    setup = build(tmp_path)
    yield setup
    setup.warehouse.close()


@pytest.fixture
def spaces(s: Setup) -> Workspaces:
    return Workspaces(s.warehouse, s.governance, s.trail, identity=s.identity)


def _events(s: Setup, operation: str) -> list[dict[str, object]]:
    with s.trail.engine.connect() as conn:
        return [e.content for e in s.trail.entries(conn) if e.content["operation"] == operation]


def test_workspace_holds_only_approved_variables_and_cohort_under_its_own_pseudonyms(
    s: Setup, spaces: Workspaces
) -> None:
    approve(s, "P-A", VARIABLES)
    account(s, "fanny", "project_member", "P-A")
    info = spaces.create("P-A", by="fanny")
    assert info.persons == len(DIABETIC)
    with spaces.open("P-A", "fanny") as ws:
        assert ws.tables() == {
            "measurement": ("person_id", "value_as_number"),
            "person": ("person_id", "year_of_birth"),
        }
        ids = {r[0] for r in ws.query("SELECT person_id FROM person", "fanny").rows}
        assert len(ids) == len(DIABETIC)
        assert ids.isdisjoint(s.person_ids.values())  # never the warehouse's pseudonyms
        joined = ws.query("SELECT count(*) FROM measurement JOIN person USING (person_id)", "fanny").rows
        assert joined == ((2,),)  # the workspace pseudonyms stay consistent between tables
        with pytest.raises(WorkspaceError, match="failed"):
            ws.query("SELECT condition_concept_id FROM condition_occurrence", "fanny")
        with pytest.raises(WorkspaceError, match="failed"):
            ws.query("SELECT gender_concept_id FROM person", "fanny")


def test_two_workspaces_have_different_pseudonyms_and_cannot_read_each_other(s: Setup, spaces: Workspaces) -> None:
    approve(s, "P-A", VARIABLES)
    approve(s, "P-B", {"person.year_of_birth": "Age is a stratification factor"})
    a, b = spaces.create("P-A", by="fanny"), spaces.create("P-B", by="fanny")
    with (
        Workspace(a.path, workspace_key(s.warehouse, "P-A"), s.trail, project="P-A") as ws_a,
        Workspace(b.path, workspace_key(s.warehouse, "P-B"), s.trail, project="P-B") as ws_b,
    ):
        ids_a = {r[0] for r in ws_a.query("SELECT person_id FROM person", "fanny").rows}
        ids_b = {r[0] for r in ws_b.query("SELECT person_id FROM person", "fanny").rows}
        assert ids_a.isdisjoint(ids_b)
        with pytest.raises(WorkspaceError, match="failed"):  # no file system access from inside a workspace
            ws_a.query(f"ATTACH '{b.path}' AS other", "fanny")
    with pytest.raises(WorkspaceError, match="cannot be opened with this key"):
        Workspace(b.path, workspace_key(s.warehouse, "P-A"), s.trail, project="P-B")
    with pytest.raises(WorkspaceError, match="cannot be opened with this key"):
        Workspace(b.path, s.warehouse.keys.health, s.trail, project="P-B")


def test_cohort_follow_up_reuses_the_warehouse_pseudonyms(s: Setup, spaces: Workspaces) -> None:
    approve(s, "P-F1", VARIABLES, follow_up=True)
    approve(s, "P-F2", {"person.year_of_birth": "Age is a stratification factor"}, follow_up=True)
    expected = {s.person_ids[n] for n in DIABETIC}
    for code in ("P-F1", "P-F2"):
        spaces.create(code, by="fanny")
        with Workspace(spaces.path(code), workspace_key(s.warehouse, code), s.trail, project=code) as ws:
            assert {r[0] for r in ws.query("SELECT person_id FROM person", "fanny").rows} == expected


def test_identifiers_other_than_persons_are_rekeyed(s: Setup, spaces: Workspaces) -> None:
    approve(s, "P-V", {"measurement.visit_occurrence_id": "Measurements are grouped by stay"})
    spaces.create("P-V", by="fanny")
    with Workspace(spaces.path("P-V"), workspace_key(s.warehouse, "P-V"), s.trail, project="P-V") as ws:
        visits = {r[0] for r in ws.query("SELECT visit_occurrence_id FROM measurement", "fanny").rows}
    assert len(visits) == 2 and visits.isdisjoint({7_000_001, 7_000_002, 7_000_003})


def test_every_query_is_traced_by_the_digest_of_its_text(s: Setup, spaces: Workspaces) -> None:
    approve(s, "P-A", VARIABLES)
    account(s, "fanny", "project_member", "P-A")
    spaces.create("P-A", by="fanny")
    sql = "SELECT avg(value_as_number) FROM measurement"
    with spaces.open("P-A", "fanny") as ws:
        result = ws.query(sql, "fanny")
        with pytest.raises(WorkspaceError):
            ws.query("SELECT nothing FROM nowhere", "fanny")
    traced = _events(s, "workspace.query")
    assert [(e["actor"], e["resource_id"], e["outcome"]) for e in traced] == [
        ("fanny", hashlib.sha256(sql.encode()).hexdigest(), "success"),
        ("fanny", sql_digest("SELECT nothing FROM nowhere"), "error"),
    ]
    dumped = json.dumps(traced)
    assert "measurement" not in dumped and str(result.rows[0][0]) not in dumped  # never the SQL nor the results
    assert [e["outcome"] for e in _events(s, "workspace.connect")] == ["success"]
    assert [e["outcome"] for e in _events(s, "workspace.create")] == ["success"]


def test_no_workspace_without_a_favourable_opinion(s: Setup, spaces: Workspaces) -> None:
    ref = loader.get("eds-2021-118")
    gov.declare_variable(s.governance, "person.year_of_birth", "Age is a stratification factor", by="copil")
    gov.submit_project(
        s.governance,
        ref,
        code="P-X",
        title="Pending",
        leader="Dr X",
        leader_contact="x@chu.invalid",
        purpose="feasibility_studies",
        variables={"person.year_of_birth": "Age as a factor"},
        by="x",
    )
    with pytest.raises(WorkspaceError, match="no favourable opinion"):
        spaces.create("P-X", by="x")
    assert not spaces.path("P-X").exists()
    assert [e["outcome"] for e in _events(s, "workspace.create")] == ["denied"]


def test_only_the_project_team_connects(s: Setup, spaces: Workspaces) -> None:
    approve(s, "P-A", VARIABLES)
    approve(s, "P-B", {"person.year_of_birth": "Age is a stratification factor"})
    account(s, "gaston", "project_member", "P-B")
    spaces.create("P-A", by="fanny")
    with pytest.raises(WorkspaceError, match="no active authorisation for the project 'P-A'"):
        spaces.open("P-A", "gaston")
    with pytest.raises(WorkspaceError, match="no active authorisation"):
        spaces.open("P-A", "nobody")
    assert [e["outcome"] for e in _events(s, "workspace.connect")] == ["denied", "denied"]


def test_a_bad_cohort_leaves_nothing(s: Setup, spaces: Workspaces) -> None:
    approve(s, "P-Q", VARIABLES, cohort="SELECT person_id FROM no_such_table")
    with pytest.raises(WorkspaceError, match="could not be built"):
        spaces.create("P-Q", by="fanny")
    assert not spaces.path("P-Q").exists()


def test_closing_the_project_ends_access_and_starts_the_reviews(s: Setup, spaces: Workspaces) -> None:
    approve(s, "P-A", VARIABLES)
    account(s, "fanny", "project_member", "P-A")
    spaces.create("P-A", by="fanny")
    ws = spaces.open("P-A", "fanny")
    ws.query("SELECT count(*) FROM person", "fanny")
    report = spaces.close_project("P-A", by="dpo")
    assert report.deleted and not spaces.path("P-A").exists()
    with pytest.raises(WorkspaceError, match="closed"):
        ws.query("SELECT count(*) FROM person", "fanny")
    with pytest.raises(WorkspaceError, match="closed"):
        spaces.open("P-A", "fanny")
    assert gov.get_project(s.governance, "P-A").status == "closed"
    assert report.authorisation_review is not None
    review = reviews.report(s.identity, report.authorisation_review)
    assert (review.reason, review.project) == ("project_end", "P-A")
    assert [line.login for line in review.lines] == ["fanny"]
    with s.trail.engine.connect() as conn:
        assert conn.execute(select(audit_review.c.id)).scalars().all() == [report.audit_review]
    assert [e["outcome"] for e in _events(s, "workspace.close")] == ["success"]
    with pytest.raises(WorkspaceError, match="already closed"):
        spaces.close_project("P-A", by="dpo")


def test_closing_needs_the_identity_context(s: Setup) -> None:
    approve(s, "P-A", VARIABLES)
    bare = Workspaces(s.warehouse, s.governance, s.trail)
    with pytest.raises(WorkspaceError, match="identity context"):
        bare.close_project("P-A", by="dpo")


def test_tables_without_person_id_hold_only_the_cohorts_rows(s: Setup, spaces: Workspaces) -> None:
    """cohort (its person is subject_id) and cohort note NLP (through its note) keep to the project's cohort."""
    con = s.warehouse.omop
    for n, (name, pid) in enumerate(s.person_ids.items(), start=1):
        con.execute(
            "INSERT INTO omop.note (note_id, person_id, note_date, note_type_concept_id, note_class_concept_id, "
            "note_text, encoding_concept_id, language_concept_id) VALUES ($i, $p, DATE '2025-03-02', 32817, 0, "
            "'[NOM]', 0, 0)",
            {"i": 500 + n, "p": pid},
        )
        con.execute(
            "INSERT INTO omop.note_nlp (note_nlp_id, note_id, lexical_variant, nlp_date) VALUES ($i, $n, $v, "
            "DATE '2025-03-03')",
            {"i": 600 + n, "n": 500 + n, "v": name},
        )
        con.execute("INSERT INTO omop.cohort VALUES (1, $p, DATE '2025-03-01', DATE '2025-12-31')", {"p": pid})
    entry = "The date each person enters"
    approve(s, "P-N", {"note_nlp.lexical_variant": "The terms found", "cohort.cohort_start_date": entry})
    info = spaces.create("P-N", by="fanny")
    with Workspace(info.path, workspace_key(s.warehouse, "P-N"), s.trail, project="P-N") as ws:
        assert ws.tables() == {"note_nlp": ("lexical_variant",), "cohort": ("subject_id", "cohort_start_date")}
        assert sorted(r[0] for r in ws.query("SELECT lexical_variant FROM note_nlp", "fanny").rows) == sorted(DIABETIC)
        subjects = {r[0] for r in ws.query("SELECT subject_id FROM cohort", "fanny").rows}
        assert len(subjects) == len(DIABETIC) and subjects.isdisjoint(s.person_ids.values())
