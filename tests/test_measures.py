"""santegarde measure set | list (COM-SEC-1): statuses recorded durably, with evidence, author and date."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from santegarde.cli.main import app
from santegarde.config import load, save
from santegarde.demo import demo_answers, demo_organisation
from santegarde.governance import conformity, dpia, measures
from santegarde.organisation import build_config, init_organisation
from santegarde.referentials import loader
from santegarde.runtime import open_organisation

WIDE = {"COLUMNS": "300"}
PLANNED = "The charter is being written with the staff; it will be signed by every user in March."
PASS = "a long enough test passphrase"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """A pharmacy's configuration file, complete but for the measures' statuses (no database needed)."""
    ref = loader.for_profile("pharmacy")
    values, justifications = demo_answers(ref)
    config, _ = build_config(
        tmp_path / "org",
        "pharmacy",
        organisation_name="Pharmacie fictive",
        choices=values,
        justifications=justifications,
        answers=demo_organisation(ref),
    )
    target = tmp_path / "org" / "santegarde.yaml"
    target.parent.mkdir()
    save(config, target)
    return target


@pytest.fixture
def keyed(runner: CliRunner, path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The same organisation initialised (databases, audit trail) with its keys: ``measure set`` traces there."""
    config = load(path)
    init_organisation(path.parent, config, loader.get(config.referential), force=True)
    monkeypatch.setenv("SANTEGARDE_PASSPHRASE", PASS)
    result = runner.invoke(app, ["keys", "init", "--config", str(path)])
    assert result.exit_code == 0, result.output
    return path


def _trail(path: Path) -> list[dict[str, object]]:
    """The audit entries about security measures, oldest first."""
    org = open_organisation(path, PASS)
    try:
        with org.audit.engine.connect() as conn:
            found = [dict(e.content) for e in org.audit.entries(conn)]
    finally:
        org.close()
    return [e for e in found if e.get("resource_type") == "SecurityMeasure"]


def _run(runner: CliRunner, path: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["measure", *args, "--config", str(path)], env=WIDE)
    return result.exit_code, result.output


def test_set_records_status_evidence_author_and_date_and_audits_each_change(runner: CliRunner, keyed: Path) -> None:
    path = keyed
    before = datetime.now(UTC).replace(microsecond=0)
    code, out = _run(
        runner, path, "set", "PHA-PRO-1", "--status", "done", "--evidence", "Training log 2026", "--by", "A. Exemple"
    )
    assert code == 0, out
    assert "Mesure PHA-PRO-1 enregistrée comme mise en œuvre par A. Exemple le " in " ".join(out.split())
    [entry] = load(path).deviations.measures
    assert (entry.code, entry.status, entry.evidence, entry.set_by) == (
        "PHA-PRO-1",
        "implemented",
        "Training log 2026",
        "A. Exemple",
    )
    assert entry.set_at is not None and entry.set_at >= before
    # Setting it again replaces it: one status per measure. Partial is stored as partial, not as not implemented.
    args = ["set", "pha-pro-1", "--status", "partial", "--evidence", "Draft plan", "--by", "B. Exemple"]
    code, out = _run(runner, path, *args, "--justification", PLANNED, "--lang", "en")
    assert code == 0, out
    assert "PHA-PRO-1 recorded as partially implemented by B. Exemple" in " ".join(out.split())
    [entry] = load(path).deviations.measures
    assert (entry.status, entry.set_by, entry.justification) == ("partial", "B. Exemple", PLANNED)
    # Every change is in the audit trail: who, which measure, which status, under which requirement.
    trail = _trail(path)
    assert [(e["actor"], e["operation"], e["resource_id"], e["rule"]) for e in trail] == [
        ("A. Exemple", "measure.status.implemented", "PHA-PRO-1", "COM-SEC-1"),
        ("B. Exemple", "measure.status.partial", "PHA-PRO-1", "COM-SEC-1"),
    ]
    # A refusal changes nothing and traces no change.
    code, out = _run(runner, path, "set", "PHA-PRO-1", "--status", "finished", "--evidence", "Plan", "--by", "C")
    assert code == 2 and len(_trail(path)) == 2 and load(path).deviations.measures == [entry]


def test_a_partial_measure_shows_in_the_conformity_report_the_dpia_and_the_register(path: Path) -> None:
    at = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)
    config = load(path)
    ref = loader.get(config.referential)
    config = measures.statused(
        config,
        ref,
        "PHA-PRO-2",
        "partial",
        evidence="Charte v0.3",
        by="A. Exemple",
        justification=PLANNED,
        clock=lambda: at,
    )
    report = conformity.build_report(config, ref)
    line = next(line for line in report.lines if line.measure.code == "PHA-PRO-2")
    assert (line.status, line.set_by, line.set_at, line.needs_justification) == ("partial", "A. Exemple", at, False)
    assert report.summary()["partial"] == 1 and report.summary()["not_implemented"] == 0
    html = conformity.render(report)
    assert "Partiellement mises en œuvre (justifiées)" in html
    assert 'partiellement mise en œuvre<br><span class="muted">renseigné par A. Exemple, 30/11/2026 09:15 UTC' in html
    assert "Charte informatique contraignante" in html  # the measure's French title, not "IT charter"
    assert "IT charter" not in html
    built = dpia.build(config, ref)
    [planned] = [m for m in built["action_plan"] if m["code"] == "PHA-PRO-2"]
    assert planned["status_words"] == "partiellement mise en œuvre"
    assert planned["title"] == "Charte informatique contraignante"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["PHA-PRO-X1", "--status", "done"],
            "n'est pas une mesure de sécurité du référentiel pha-2022-067. Vouliez-vous dire PHA-PRO-1",
        ),
        (["PHA-PRO-1", "--status", "finished"], "choisissez parmi : implemented, partial, equivalent"),
        (["PHA-PRO-2", "--status", "not_applicable"], "Une mesure non nécessaire exige une justification écrite"),
        (["PHA-PRO-2", "--status", "partial", "--justification", "todo"], "--justification"),
        (["PHA-PRO-2", "--status", "partial", "--lang", "en"], "A measure that is partially implemented needs"),
    ],
)
def test_set_refusals_name_what_to_do_and_write_nothing(
    runner: CliRunner, path: Path, args: list[str], says: str
) -> None:
    before = path.read_bytes()
    code, out = _run(runner, path, "set", *args, "--evidence", "Procedure P-1", "--by", "A. Exemple")
    assert code == 2 and says in " ".join(out.split()), out
    assert ("Error:" if "--lang" in args else "Erreur :") in out
    assert path.read_bytes() == before


def test_set_refuses_an_empty_evidence_or_author(path: Path) -> None:
    config = load(path)
    ref = loader.get(config.referential)
    with pytest.raises(measures.MeasureError, match="--evidence") as refused:
        measures.statused(config, ref, "PHA-PRO-1", "done", evidence=" ", by="A. Exemple")
    assert refused.value.in_language("en").startswith("Say what shows the status of PHA-PRO-1")
    with pytest.raises(measures.MeasureError, match="--by NOM"):
        measures.statused(config, ref, "PHA-PRO-1", "done", evidence="Training log", by="")


def test_list_and_missing(runner: CliRunner, path: Path) -> None:
    config = load(path)
    ref = loader.get(config.referential)
    save(measures.statused(config, ref, "PHA-PRO-1", "done", evidence="Training log 2026", by="A. Exemple"), path)
    total = len(ref.measures)
    code, out = _run(runner, path, "list")
    assert code == 0 and "PHA-PRO-1" in out and "Training log 2026" in out and "A. Exemple" in out
    assert "PHA-PRO-2" in out and "sans statut" in out and "Charte informatique contraignante" in out
    assert "mise en œuvre" in out and "IT charter" not in out
    code, out = _run(runner, path, "list", "--lang", "en")
    assert code == 0 and "IT charter" in out and "no status" in out
    code, out = _run(runner, path, "list", "--missing")
    assert code == 0 and "PHA-PRO-1 " not in out and "PHA-PRO-2" in out
    assert f"{total - 1} mesure(s) sans statut" in out
    config = load(path)
    ref = loader.get(config.referential)
    for m in ref.measures:
        config = measures.statused(config, ref, m.code, "done", evidence="Procedure P-12", by="A. Exemple")
    save(config, path)
    code, out = _run(runner, path, "list", "--missing")
    assert code == 0 and "Chaque mesure du référentiel pha-2022-067 a un statut enregistré" in out


def test_the_conformity_report_and_the_dpia_show_who_set_each_status_and_when(path: Path, tmp_path: Path) -> None:
    at = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)
    config = load(path)
    ref = loader.get(config.referential)
    config = measures.statused(
        config, ref, "PHA-PRO-1", "done", evidence="Training log 2026", by="A. Exemple", clock=lambda: at
    )
    report = conformity.build_report(config, ref)
    line = next(line for line in report.lines if line.measure.code == "PHA-PRO-1")
    assert (line.status, line.set_by, line.set_at, line.declared_evidence) == (
        "implemented",
        "A. Exemple",
        at,
        "Training log 2026",
    )
    html = conformity.render(report)
    assert "renseigné par A. Exemple, 30/11/2026 09:15 UTC" in html and "preuve déclarée : Training log 2026" in html
    data = json.loads(conformity.write(report, tmp_path / "c.json").read_text(encoding="utf-8"))
    row = next(m for m in data["measures"] if m["code"] == "PHA-PRO-1")
    assert row["set_by"] == "A. Exemple" and row["set_at"].startswith("2026-11-30T09:15")
    # The --strict problems name the command that records a status.
    assert any("PHA-PRO-2" in p and "santegarde measure set PHA-PRO-2" in p for p in report.problems())
    assert not any("PHA-PRO-1 " in p for p in report.problems())
    built = dpia.build(config, ref)
    assert "PHA-PRO-1" not in {m["code"] for m in built["action_plan"]}


@pytest.mark.parametrize(
    ("command", "says"),
    [
        (["measure", "--help"], "set"),
        (["measure", "set", "--help"], "--evidence"),
        (["measure", "list", "--help"], "--missing"),
        (["init", "--help"], "--no-dpo-reason"),
        (["config", "check", "--help"], "--strict"),
    ],
)
def test_help(runner: CliRunner, command: list[str], says: str) -> None:
    result = runner.invoke(app, command, env=WIDE)
    assert result.exit_code == 0 and says in result.output
