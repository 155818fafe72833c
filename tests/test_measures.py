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
from santegarde.organisation import build_config
from santegarde.referentials import loader

WIDE = {"COLUMNS": "300"}
PLANNED = "The charter is being written with the staff; it will be signed by every user in March."


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


def _run(runner: CliRunner, path: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["measure", *args, "--config", str(path)], env=WIDE)
    return result.exit_code, result.output


def test_set_records_status_evidence_author_and_date(runner: CliRunner, path: Path) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    code, out = _run(
        runner, path, "set", "PHA-PRO-1", "--status", "done", "--evidence", "Training log 2026", "--by", "A. Exemple"
    )
    assert code == 0, out
    assert "PHA-PRO-1 recorded as implemented by A. Exemple" in out
    [entry] = load(path).deviations.measures
    assert (entry.code, entry.status, entry.evidence, entry.set_by) == (
        "PHA-PRO-1",
        "implemented",
        "Training log 2026",
        "A. Exemple",
    )
    assert entry.set_at is not None and entry.set_at >= before
    # Setting it again replaces it: one status per measure.
    args = ["set", "pha-pro-1", "--status", "planned", "--evidence", "Draft plan", "--by", "B. Exemple"]
    code, out = _run(runner, path, *args, "--justification", PLANNED)
    assert code == 0, out
    [entry] = load(path).deviations.measures
    assert (entry.status, entry.set_by, entry.justification) == ("not_implemented", "B. Exemple", PLANNED)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["PHA-PRO-X1", "--status", "done"], "is not a security measure of pha-2022-067. Did you mean PHA-PRO-1"),
        (["PHA-PRO-1", "--status", "finished"], "choose one of: implemented, equivalent"),
        (["PHA-PRO-2", "--status", "not_applicable"], "needs a written justification"),
        (["PHA-PRO-2", "--status", "partial", "--justification", "todo"], "--justification"),
    ],
)
def test_set_refusals_name_what_to_do_and_write_nothing(
    runner: CliRunner, path: Path, args: list[str], says: str
) -> None:
    before = path.read_bytes()
    code, out = _run(runner, path, "set", *args, "--evidence", "Procedure P-1", "--by", "A. Exemple")
    assert code == 2 and says in " ".join(out.split()), out
    assert path.read_bytes() == before


def test_set_refuses_an_empty_evidence_or_author(path: Path) -> None:
    with pytest.raises(measures.MeasureError, match="--evidence"):
        measures.record(path, "PHA-PRO-1", "done", evidence=" ", by="A. Exemple")
    with pytest.raises(measures.MeasureError, match="--by NAME"):
        measures.record(path, "PHA-PRO-1", "done", evidence="Training log", by="")
    assert load(path).deviations.measures == []


def test_list_and_missing(runner: CliRunner, path: Path) -> None:
    measures.record(path, "PHA-PRO-1", "done", evidence="Training log 2026", by="A. Exemple")
    total = len(loader.for_profile("pharmacy").measures)
    code, out = _run(runner, path, "list")
    assert code == 0 and "PHA-PRO-1" in out and "Training log 2026" in out and "A. Exemple" in out
    assert "PHA-PRO-2" in out and "no status" in out
    code, out = _run(runner, path, "list", "--missing")
    assert code == 0 and "PHA-PRO-1 " not in out and "PHA-PRO-2" in out
    assert f"{total - 1} measure(s) without a status" in out
    config = load(path)
    ref = loader.get(config.referential)
    for m in ref.measures:
        config = measures.statused(config, ref, m.code, "done", evidence="Procedure P-12", by="A. Exemple")
    save(config, path)
    code, out = _run(runner, path, "list", "--missing")
    assert code == 0 and "Every measure of pha-2022-067 has a recorded status" in out


def test_the_conformity_report_and_the_dpia_show_who_set_each_status_and_when(path: Path, tmp_path: Path) -> None:
    at = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)
    measures.record(path, "PHA-PRO-1", "done", evidence="Training log 2026", by="A. Exemple", clock=lambda: at)
    config = load(path)
    ref = loader.get(config.referential)
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
