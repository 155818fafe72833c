"""santegarde init --profile compassionate gives a working programme; santegarde aac programme check|add|list|show."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from init_answers import init_answers
from santegarde.cli.aac import parse_answers
from santegarde.cli.main import app
from santegarde.compassionate.registry import example_text
from santegarde.errors import SantegardeError, WordedError

CHOICES = [
    "--set",
    "retention_end_action=delete",
    "--set",
    "traces_retention=P1Y",
    "--justify",
    "traces_retention=One year to investigate incidents, within the six to twelve months of the text.",
]


@pytest.fixture(scope="module")
def organisation(tmp_path_factory: pytest.TempPathFactory) -> Path:
    org = tmp_path_factory.mktemp("aac") / "labo"
    result = CliRunner().invoke(
        app,
        [
            "init",
            "--profile",
            "compassionate",
            "--dir",
            str(org),
            "--name",
            "Labo",
            *CHOICES,
            *init_answers("compassionate"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "programme d'exemple : velmorine-sla@1" in result.output
    return org / "santegarde.yaml"


def test_init_gives_a_working_example_programme(runner: CliRunner, organisation: Path) -> None:
    listed = runner.invoke(app, ["aac", "programme", "list", "--config", str(organisation)])
    assert listed.exit_code == 0, listed.output
    assert "velmorine-sla (versions 1)" in listed.output and "décision de l'ANSM n° AAC-EX-2026-0001" in listed.output
    english = runner.invoke(app, ["aac", "programme", "list", "--config", str(organisation), "--lang", "en"])
    assert "ANSM decision AAC-EX-2026-0001" in english.output
    shown = runner.invoke(app, ["aac", "programme", "show", "velmorine-sla", "--config", str(organisation)])
    assert shown.exit_code == 0, shown.output
    assert "Visite de suivi" in shown.output and "poids — Poids : nombre en kg, de 20 à 250" in shown.output
    assert "motif_refus — Motif du refus (facultatif) : choix" in shown.output
    args = ["aac", "programme", "show", "velmorine-sla", "--config", str(organisation), "--lang", "en"]
    assert "poids — Poids: number in kg, from 20 to 250" in runner.invoke(app, args).output


def test_a_protocol_with_free_text_is_refused_by_the_cli(runner: CliRunner, organisation: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(example_text().replace("        type: date\n", "        type: text\n", 1), encoding="utf-8")
    for args in (["check", str(bad)], ["add", str(bad), "--config", str(organisation)]):
        result = runner.invoke(app, ["aac", "programme", *args])
        assert result.exit_code == 2, result.output
        assert "date_diagnostic" in result.output and "saisie libre" in result.output
        assert "Traceback" not in result.output
    english = runner.invoke(app, ["aac", "programme", "check", str(bad), "--lang", "en"])
    assert english.exit_code == 2 and "free-entry" in english.output and "saisie" not in english.output
    good = tmp_path / "v2.yaml"
    good.write_text(example_text().replace('version: "1"', 'version: "2"'), encoding="utf-8")
    assert runner.invoke(app, ["aac", "programme", "check", str(good)]).exit_code == 0
    added = runner.invoke(app, ["aac", "programme", "add", str(good), "--config", str(organisation)])
    assert added.exit_code == 0 and "Programme velmorine-sla@2 enregistré" in added.output
    again = runner.invoke(app, ["aac", "programme", "add", str(good), "--config", str(organisation), "--lang", "en"])
    assert "already registered, unchanged" in again.output


def test_answers_from_the_command_line() -> None:
    assert parse_answers(["poids=71.5", "grave=false", "effet=10028813", "diagnostic=G12.2"], None) == {
        "poids": 71.5,
        "grave": False,
        "effet": 10028813,
        "diagnostic": "G12.2",
    }
    with pytest.raises(SantegardeError, match="ne s'écrit pas CHAMP=VALEUR") as refused:
        parse_answers(["poids"], None)
    assert isinstance(refused.value, WordedError) and "is not FIELD=VALUE" in refused.value.in_language("en")
