"""Warehouse governance (EDS-2, EDS-3): data list, committee composition, projects, opinions, the DPO's list."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import Engine
from typer.testing import CliRunner

from init_answers import init_answers
from santegarde.cli.main import app as main_app
from santegarde.cli.warehouse import app as warehouse_app
from santegarde.referentials import loader
from santegarde.referentials.model import Referential
from santegarde.store.db import make_engine, migrate
from santegarde.warehouse import governance as gov
from santegarde.warehouse.governance import GovernanceError

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
COHORT = "SELECT person_id FROM condition_occurrence WHERE condition_concept_id = 201826"
FULL_COMMITTEE = [
    ("Dr Alice Ethique", ["health_ethics"]),
    ("M. Bruno Externe", ["independent"]),
    ("Dr Chloé Soignante", ["health_professional", "researcher"]),
    ("Mme Dalila Sociale", ["medico_social_professional"]),
    ("M. Étienne Usager", ["patient_representative"]),
]


def fixed() -> datetime:
    return NOW


@pytest.fixture
def ref() -> Referential:
    return loader.get("eds-2021-118")


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    migrate(eng, package="santegarde.governance")
    yield eng
    eng.dispose()


def _data_list(engine: Engine) -> None:
    gov.declare_variable(engine, "person.year_of_birth", "Age at diagnosis for the studies", by="copil")
    gov.declare_variable(engine, "measurement.value_as_number", "Laboratory results for follow-up", by="copil")
    gov.declare_variable(engine, "condition_occurrence.condition_concept_id", "Diagnoses for cohorts", by="copil")


def _committee(engine: Engine, members: list[tuple[str, list[str]]] = FULL_COMMITTEE) -> None:
    for name, roles in members:
        gov.add_member(engine, name, roles, by="dpo", clock=fixed)


def _submit(engine: Engine, ref: Referential, code: str = "P2026-01", **extra: object) -> gov.Project:
    values: dict[str, object] = {
        "code": code,
        "title": "HbA1c trajectories in type 2 diabetes",
        "leader": "Dr Fanny Chercheuse",
        "leader_contact": "fanny.chercheuse@chu.invalid",
        "purpose": "feasibility_studies",
        "variables": {
            "person.year_of_birth": "Age is a stratification factor",
            "measurement.value_as_number": "HbA1c values are the outcome",
        },
        "by": "fanny",
        "clock": fixed,
    }
    values.update(extra)
    return gov.submit_project(engine, ref, **values)  # type: ignore[arg-type]


# ---- data list ---------------------------------------------------------------------------------------------------


def test_data_list_keeps_each_variable_with_its_justification(engine: Engine) -> None:
    _data_list(engine)
    entries = gov.data_list(engine)
    assert entries[0].variable == "condition_occurrence.condition_concept_id"
    assert all(e.justification for e in entries)
    assert "person.year_of_birth" in gov.allowed_variables(engine)
    assert gov.feed_data_list(engine).allows("measurement", "value_as_number")
    gov.remove_variable(engine, "person.year_of_birth")
    assert "person.year_of_birth" not in gov.allowed_variables(engine)


@pytest.mark.parametrize(
    ("variable", "justification"),
    [
        ("person", "A real justification"),
        ("person.year_of_birth", "no"),
        ("person.favourite_colour", "Really needed here"),
    ],
)
def test_data_list_refuses_bad_names_and_missing_justifications(
    engine: Engine, variable: str, justification: str
) -> None:
    with pytest.raises(GovernanceError):
        gov.declare_variable(engine, variable, justification, by="copil")


def test_removing_an_unlisted_variable_is_refused(engine: Engine) -> None:
    with pytest.raises(GovernanceError, match="not on the data list"):
        gov.remove_variable(engine, "person.gender_concept_id")


# ---- committee composition ---------------------------------------------------------------------------------------


def test_composition_lists_what_is_missing(engine: Engine) -> None:
    assert set(gov.composition(engine).missing) == set(gov.ROLES)
    _committee(engine, FULL_COMMITTEE[:3])
    missing = gov.composition(engine).missing
    assert missing == ("medico_social_professional", "patient_representative")
    _committee(engine, FULL_COMMITTEE[3:])
    assert gov.composition(engine).complete


def test_unknown_role_or_no_role_refused(engine: Engine) -> None:
    with pytest.raises(GovernanceError, match="Unknown committee role"):
        gov.add_member(engine, "Someone", ["lawyer"], by="dpo")
    with pytest.raises(GovernanceError, match="at least one role"):
        gov.add_member(engine, "Someone", [], by="dpo")


def test_no_opinion_while_the_committee_is_incomplete(engine: Engine, ref: Referential, tmp_path: Path) -> None:
    _data_list(engine)
    _committee(engine, [m for m in FULL_COMMITTEE if "patient_representative" not in m[1]])
    _submit(engine, ref)
    with pytest.raises(GovernanceError, match="patient or user representative"):
        gov.record_opinion(
            engine,
            ref,
            "P2026-01",
            decision="favourable",
            reasoning="Sound protocol, minimised data.",
            decided_on=date(2026, 11, 20),
            by="secretary",
            notices_dir=tmp_path,
            organisation_name="CHU Test",
            cohort_sql=COHORT,
        )


def test_a_member_leaving_makes_the_committee_incomplete(engine: Engine) -> None:
    _committee(engine)
    ethics = gov.composition(engine).members[0]
    gov.remove_member(engine, ethics.id)
    assert gov.composition(engine).missing == ("health_ethics",)
    with pytest.raises(GovernanceError, match="no sitting committee member"):
        gov.remove_member(engine, ethics.id)


# ---- projects ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("purpose", ["product_promotion", "insurance_selection"])
def test_forbidden_purposes_refused_with_their_section(engine: Engine, ref: Referential, purpose: str) -> None:
    _data_list(engine)
    with pytest.raises(GovernanceError, match=r"forbidden by eds-2021-118 \(section 3\.1\.4\)"):
        _submit(engine, ref, purpose=purpose)
    assert gov.list_projects(engine) == []


def test_out_of_scope_unknown_and_identifying_purposes_refused(engine: Engine, ref: Referential) -> None:
    _data_list(engine)
    with pytest.raises(GovernanceError, match=r"outside the scope of eds-2021-118 \(section 1\.3\)"):
        _submit(engine, ref, purpose="care_delivery")
    with pytest.raises(GovernanceError, match="not a purpose of eds-2021-118"):
        _submit(engine, ref, purpose="marketing")
    with pytest.raises(GovernanceError, match="re-identification procedures"):
        _submit(engine, ref, purpose="recontact")


def test_research_needs_its_formality_reference(engine: Engine, ref: Referential) -> None:
    _data_list(engine)
    with pytest.raises(GovernanceError, match="own formality"):
        _submit(engine, ref, purpose="research")
    project = _submit(engine, ref, purpose="research", formality_reference="MR-004 declaration 2226789 v0")
    assert project.formality_reference == "MR-004 declaration 2226789 v0"
    assert project.status == "submitted"


def test_variable_not_on_the_data_list_refused(engine: Engine, ref: Referential) -> None:
    _data_list(engine)
    with pytest.raises(GovernanceError, match="not on the steering committee's data list"):
        _submit(engine, ref, variables={"person.gender_concept_id": "Sex is a stratification factor"})
    assert gov.list_projects(engine) == []


def test_unjustified_or_missing_variables_refused(engine: Engine, ref: Referential) -> None:
    _data_list(engine)
    with pytest.raises(GovernanceError, match="no justification"):
        _submit(engine, ref, variables={"person.year_of_birth": ""})
    with pytest.raises(GovernanceError, match="names the variables"):
        _submit(engine, ref, variables={})


def test_duplicate_or_bad_code_refused(engine: Engine, ref: Referential) -> None:
    _data_list(engine)
    _submit(engine, ref)
    with pytest.raises(GovernanceError, match="already exists"):
        _submit(engine, ref)
    with pytest.raises(GovernanceError, match="not a project code"):
        _submit(engine, ref, code="../evil")


# ---- opinion and letter ------------------------------------------------------------------------------------------


def test_favourable_opinion_recorded_and_letter_sent(engine: Engine, ref: Referential, tmp_path: Path) -> None:
    _data_list(engine)
    _committee(engine)
    _submit(engine, ref)
    opinion = gov.record_opinion(
        engine,
        ref,
        "P2026-01",
        decision="favourable",
        reasoning="Relevant question, variables minimised; age only as year of birth.",
        decided_on=date(2026, 11, 20),
        by="secretary",
        notices_dir=tmp_path / "notices",
        organisation_name="CHU Test",
        cohort_sql=COHORT + ";",
        approved_variables=["measurement.value_as_number"],
        clock=fixed,
    )
    assert opinion.decision == "favourable"
    assert opinion.notice_sent_at == NOW
    assert len(opinion.members_present) == len(FULL_COMMITTEE)
    letter = Path(opinion.notice_path or "").read_text()
    assert "Dr Fanny Chercheuse" in letter and "un avis favorable" in letter and "variables minimised" in letter
    assert "Le 20/11/2026, le comité" in letter and "<code>measurement.value_as_number</code>" in letter
    english = gov.opinion_letter(ref, gov.get_project(engine, "P2026-01"), opinion, "CHU Test", lang="en")
    assert "On 2026-11-20, the committee gave a favourable opinion on the project." in english
    project = gov.get_project(engine, "P2026-01")
    assert project.status == "favourable"
    assert project.approved_variables == ("measurement.value_as_number",)
    assert project.cohort_sql == COHORT
    with pytest.raises(GovernanceError, match="already has an opinion"):
        gov.record_opinion(
            engine,
            ref,
            "P2026-01",
            decision="unfavourable",
            reasoning="Changed our mind on this project.",
            decided_on=date(2026, 11, 21),
            by="secretary",
            notices_dir=tmp_path,
            organisation_name="CHU Test",
        )


def test_opinion_refusals(engine: Engine, ref: Referential, tmp_path: Path) -> None:
    _data_list(engine)
    _committee(engine)
    _submit(engine, ref)
    common: dict[str, object] = {
        "decided_on": date(2026, 11, 20),
        "by": "secretary",
        "notices_dir": tmp_path,
        "organisation_name": "CHU",
    }
    with pytest.raises(GovernanceError, match="favourable or unfavourable"):
        gov.record_opinion(engine, ref, "P2026-01", decision="maybe", reasoning="x" * 30, **common)  # type: ignore[arg-type]
    with pytest.raises(GovernanceError, match="reasoned"):
        gov.record_opinion(engine, ref, "P2026-01", decision="unfavourable", reasoning="No.", **common)  # type: ignore[arg-type]
    with pytest.raises(GovernanceError, match="cohort"):
        gov.record_opinion(engine, ref, "P2026-01", decision="favourable", reasoning="x" * 30, **common)  # type: ignore[arg-type]
    with pytest.raises(GovernanceError, match="SELECT"):
        gov.record_opinion(
            engine,
            ref,
            "P2026-01",
            decision="favourable",
            reasoning="x" * 30,
            cohort_sql="DROP TABLE person",
            **common,  # type: ignore[arg-type]
        )
    with pytest.raises(GovernanceError, match="only approve variables the project requested"):
        gov.record_opinion(
            engine,
            ref,
            "P2026-01",
            decision="favourable",
            reasoning="x" * 30,
            cohort_sql=COHORT,
            approved_variables=["condition_occurrence.condition_concept_id"],
            **common,  # type: ignore[arg-type]
        )
    with pytest.raises(GovernanceError, match="no warehouse project"):
        gov.record_opinion(engine, ref, "P-none", decision="unfavourable", reasoning="x" * 30, **common)  # type: ignore[arg-type]
    assert gov.get_project(engine, "P2026-01").status == "submitted"


# ---- the yearly list for the DPO ---------------------------------------------------------------------------------


def test_yearly_list_for_the_dpo(engine: Engine, ref: Referential, tmp_path: Path) -> None:
    _data_list(engine)
    _committee(engine)
    _submit(engine, ref, "P2026-01")
    _submit(engine, ref, "P2026-02", purpose="pmsi_coding_quality")
    _submit(engine, ref, "P2025-09")
    common: dict[str, object] = {"by": "secretary", "notices_dir": tmp_path, "organisation_name": "CHU Test"}
    gov.record_opinion(
        engine,
        ref,
        "P2026-01",
        decision="favourable",
        reasoning="Minimised and well justified.",
        decided_on=date(2026, 3, 1),
        cohort_sql=COHORT,
        **common,  # type: ignore[arg-type]
    )
    gov.record_opinion(
        engine,
        ref,
        "P2026-02",
        decision="unfavourable",
        reasoning="Coding quality needs no birth year.",
        decided_on=date(2026, 6, 1),
        **common,  # type: ignore[arg-type]
    )
    gov.record_opinion(
        engine,
        ref,
        "P2025-09",
        decision="unfavourable",
        reasoning="Decided the year before this one.",
        decided_on=date(2025, 12, 31),
        **common,  # type: ignore[arg-type]
    )
    data = gov.yearly_list(engine, ref, 2026, "CHU Test")
    assert (data["count"], data["favourable"], data["unfavourable"]) == (2, 1, 1)
    assert [o["project"] for o in data["opinions"]] == ["P2026-01", "P2026-02"]
    html = gov.write_yearly_list(engine, ref, 2026, tmp_path / "dpo-2026.html", "CHU Test").read_text()
    assert "P2026-02" in html and "P2025-09" not in html and "délégué à la protection des données" in html
    assert "défavorable" in html and "01/06/2026" in html
    english = gov.write_yearly_list(engine, ref, 2026, tmp_path / "en.html", "CHU Test", lang="en").read_text()
    assert "data protection officer" in english and "unfavourable" in english and "2026-06-01" in english
    written = json.loads(gov.write_yearly_list(engine, ref, 2026, tmp_path / "dpo-2026.json", "CHU Test").read_text())
    assert written["year"] == 2026 and written["count"] == 2


def test_closing_a_project_record(engine: Engine, ref: Referential) -> None:
    _data_list(engine)
    _submit(engine, ref)
    assert gov.close_project_record(engine, "P2026-01", by="dpo", clock=fixed).status == "closed"
    with pytest.raises(GovernanceError, match="already closed"):
        gov.close_project_record(engine, "P2026-01", by="dpo")


# ---- CLI ---------------------------------------------------------------------------------------------------------

PASS = "a long enough test passphrase"


@pytest.fixture
def org(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SANTEGARDE_PASSPHRASE", PASS)
    directory = tmp_path / "org"
    choices = {
        "retention_end_action": "delete",
        "research_formality": "reference_methodology_declaration",
        "information_exception": "false",
    }
    durations = {"professional_data_retention": "P5Y", "trace_retention": "P1Y", "objection_notice_period": "P1M"}
    args = ["init", "--profile", "warehouse", "--dir", str(directory), "--name", "CHU Test", *init_answers("warehouse")]
    for key, value in {**choices, **durations}.items():
        args += ["--set", f"{key}={value}"]
    for key in durations:
        args += ["--justify", f"{key}=Chosen by the controller after the DPIA of the warehouse."]
    result = runner.invoke(main_app, args)
    assert result.exit_code == 0, result.output
    config = directory / "santegarde.yaml"
    assert runner.invoke(main_app, ["keys", "init", "--config", str(config)]).exit_code == 0
    return config


def test_cli_governance_path(runner: CliRunner, org: Path, tmp_path: Path) -> None:
    c = ["--config", str(org)]

    def run(*args: str) -> Result:
        return runner.invoke(warehouse_app, [*args, *c], env={"COLUMNS": "200"})

    assert run("init").exit_code == 0
    listed = run("committee", "variable-add", "person.year_of_birth", "--justification", "Age for strata", "--by", "x")
    assert listed.exit_code == 0, listed.output
    refused = run(
        "project", "submit", "P1", "--title", "T", "--leader", "Dr F", "--contact", "f@x.invalid",
        "--purpose", "insurance_selection", "--variable", "person.year_of_birth=Age for stratification", "--by", "f",
    )  # fmt: skip
    assert refused.exit_code == 2 and "forbidden" in refused.output
    submitted = run(
        "project", "submit", "P1", "--title", "T", "--leader", "Dr F", "--contact", "f@x.invalid",
        "--purpose", "feasibility_studies", "--variable", "person.year_of_birth=Age for stratification", "--by", "f",
    )  # fmt: skip
    assert submitted.exit_code == 0, submitted.output
    opinion = (
        "committee", "opinion", "P1", "--decision", "favourable", "--reasoning", "Well minimised, clear question.",
        "--cohort", "SELECT person_id FROM person", "--date", "2026-11-20", "--by", "sec",
        "--notices", str(tmp_path / "notices"),
    )  # fmt: skip
    incomplete = run(*opinion)
    assert incomplete.exit_code == 2 and "incomplete" in incomplete.output
    for name, roles in FULL_COMMITTEE:
        assert run("committee", "member-add", name, *[f"--role={r}" for r in roles], "--by", "dpo").exit_code == 0
    assert "Composition complete" in run("committee", "show").output
    recorded = run(*opinion)
    assert recorded.exit_code == 0, recorded.output
    assert list((tmp_path / "notices").glob("opinion-P1-*.html"))
    assert run("committee", "yearly-list", "2026", "--output", str(tmp_path / "dpo.json")).exit_code == 0
    assert json.loads((tmp_path / "dpo.json").read_text())["count"] == 1
    created = run("workspace", "create", "P1", "--by", "steward")
    assert created.exit_code == 0, created.output
    closed = run("workspace", "close", "P1", "--by", "dpo")
    assert closed.exit_code == 0 and "closed" in closed.output, closed.output


def test_many_variables_are_added_at_once_all_or_none(runner: CliRunner, org: Path) -> None:
    """Issue 15: ``committee variable-add`` takes several variables under one justification, checked before any is
    written: a wrong one adds none."""
    c = ["--config", str(org)]

    def run(*args: str) -> Result:
        return runner.invoke(warehouse_app, [*args, *c], env={"COLUMNS": "200"})

    assert run("init").exit_code == 0
    why = ["--justification", "Strata of the activity indicators", "--by", "Comité"]
    wrong = run("committee", "variable-add", "person.year_of_birth", "person.no_such_column", *why)
    assert wrong.exit_code == 2 and "not an OMOP CDM 5.4 column" in " ".join(wrong.output.split())
    listed = run("committee", "data-list")
    assert "person.year_of_birth" not in listed.output
    added = run("committee", "variable-add", "person.year_of_birth", "person.month_of_birth",
                "measurement.value_as_number", "person.year_of_birth", *why)  # fmt: skip
    assert added.exit_code == 0, added.output
    assert added.output.count("is on the data list") == 3
    listed = run("committee", "data-list")
    for variable in ("person.year_of_birth", "person.month_of_birth", "measurement.value_as_number"):
        assert variable in listed.output
