"""Key management and audit commands end to end, through an initialised organisation."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import delete
from typer.testing import CliRunner

from init_answers import init_answers
from santegarde.audit import request
from santegarde.audit.tables import entry
from santegarde.audit.trail import AuditEvent
from santegarde.cli.main import app
from santegarde.runtime import open_organisation

PASS = "a long enough test passphrase"


@pytest.fixture
def org(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SANTEGARDE_PASSPHRASE", PASS)
    directory = tmp_path / "org"
    result = runner.invoke(
        app,
        [
            "init",
            "--profile",
            "practice",
            "--dir",
            str(directory),
            "--name",
            "Cabinet Test",
            "--set",
            "retention_end_action=delete",
            *init_answers("practice"),
        ],
    )
    assert result.exit_code == 0, result.output
    config = directory / "santegarde.yaml"
    assert runner.invoke(app, ["keys", "init", "--config", str(config)]).exit_code == 0
    return config


def _append(config: Path, n: int) -> None:
    org = open_organisation(config, PASS)
    for i in range(n):
        org.audit.append(
            AuditEvent(
                "u1",
                "practitioner",
                "read",
                "Observation",
                f"o{i}",
                "medical_record",
                True,
                "accessors.practitioner.access[0]",
                "6",
                "success",
            )
        )
    org.close()


def test_keys_rotate_and_wrong_passphrase(runner: CliRunner, org: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = runner.invoke(app, ["keys", "rotate", "health", "--config", str(org)])
    assert result.exit_code == 0 and "La clé « santé » est maintenant à la version 2" in " ".join(result.output.split())
    monkeypatch.setenv("SANTEGARDE_NEW_PASSPHRASE", "another long test passphrase")
    master = runner.invoke(app, ["keys", "rotate-master", "--config", str(org)])
    assert master.exit_code == 0 and "à nouveau chiffrées" in master.output, master.output
    trail = open_organisation(org, "another long test passphrase")
    with trail.audit.engine.connect() as conn:
        keys = [
            (e.content["operation"], e.content["resource_id"], e.content["outcome"]) for e in trail.audit.entries(conn)
        ]
    assert trail.audit.verify().intact
    trail.close()
    assert [k for k in keys if k[0].startswith("keys.")] == [  # each written before the keyring changed
        ("keys.rotate", "health v2", "intent"),
        ("keys.rotate", "health v2", "success"),
        ("keys.rotate_master", "master", "intent"),
        ("keys.rotate_master", "master", "success"),
    ]
    monkeypatch.setenv("SANTEGARDE_PASSPHRASE", "another long test passphrase")
    again = runner.invoke(app, ["keys", "rotate", "identity", "--lang", "en", "--config", str(org)])
    assert again.exit_code == 0 and "The identity key is now at version 2" in " ".join(again.output.split())
    seal = runner.invoke(app, ["keys", "rotate", "audit_seal", "--config", str(org)])
    said = " ".join(seal.output.split())
    assert seal.exit_code == 2 and "paraîtraient donc falsifiés" in said  # verify would fail on every older seal
    seal_en = runner.invoke(app, ["keys", "rotate", "audit_seal", "--lang", "en", "--config", str(org)])
    assert seal_en.exit_code == 2 and "would read as forged" in " ".join(seal_en.output.split())
    monkeypatch.setenv("SANTEGARDE_PASSPHRASE", "not the right passphrase")
    wrong = runner.invoke(app, ["keys", "rotate", "health", "--config", str(org)])
    assert wrong.exit_code == 2 and "phrase de passe du magasin de clés est erronée" in " ".join(wrong.output.split())


def test_no_terminal_and_no_passphrase_says_so(runner: CliRunner, org: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SANTEGARDE_PASSPHRASE")
    result = runner.invoke(app, ["keys", "rotate", "health", "--config", str(org)])  # no input: end of file
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and "SANTEGARDE_PASSPHRASE n'est pas définie et rien n'a été saisi" in said, said
    result = runner.invoke(app, ["keys", "rotate", "health", "--lang", "en", "--config", str(org)])
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and "SANTEGARDE_PASSPHRASE is not set and none was typed" in said, result.output


def test_second_keys_init_refused(runner: CliRunner, org: Path) -> None:
    again = runner.invoke(app, ["keys", "init", "--config", str(org)])
    assert again.exit_code == 2 and "n'est jamais écrasé" in " ".join(again.output.split())


def test_audit_verify_detects_deletion(runner: CliRunner, org: Path) -> None:
    _append(org, 5)
    ok = runner.invoke(app, ["audit", "verify", "--config", str(org)])
    assert ok.exit_code == 0 and "intacte : 6 entrées" in ok.output  # the trail's first entry, then 5
    trail = open_organisation(org, PASS)
    with trail.audit.engine.begin() as conn:
        conn.execute(delete(entry).where(entry.c.seq == 2))
    trail.close()
    broken = runner.invoke(app, ["audit", "verify", "--config", str(org)])
    assert broken.exit_code == 2 and "PAS intacte" in broken.output


def test_audit_export_and_status(runner: CliRunner, org: Path) -> None:
    _append(org, 2)
    exported = runner.invoke(app, ["audit", "export", "--config", str(org)])
    assert exported.exit_code == 0 and exported.output.count('"AuditEvent"') == 3  # and the first
    status = runner.invoke(app, ["audit", "status", "--config", str(org)])
    assert "has ever been run" in status.output
    review = runner.invoke(app, ["audit", "review", "--reviewer", "dpo", "--config", str(org)])
    assert review.exit_code == 0 and '"entries": 5' in review.output  # first, 2 events, export, status
    bad = runner.invoke(app, ["audit", "purge", "--months", "24", "--config", str(org)])
    assert bad.exit_code == 2 and "1 an au plus : choisissez --months entre 6 et 12" in " ".join(bad.output.split())
    bad = runner.invoke(app, ["audit", "purge", "--months", "24", "--lang", "en", "--config", str(org)])
    assert bad.exit_code == 2 and "at most 1 year" in bad.output
    purged = runner.invoke(app, ["audit", "purge", "--months", "12", "--config", str(org)])
    assert purged.exit_code == 0 and "0 entrée(s) de plus de 12 mois purgée(s)" in purged.output


def test_audit_export_of_one_request_from_its_log_line(runner: CliRunner, org: Path) -> None:
    _append(org, 1)
    with request.answering("5e" * 16):
        _append(org, 2)
    one = runner.invoke(app, ["audit", "export", "--request-id", "5e" * 16, "--config", str(org)])
    assert one.exit_code == 0, one.output
    assert one.output.count('"AuditEvent"') == 2 and one.output.count("5e" * 16) == 2
    bad = runner.invoke(app, ["audit", "export", "--request-id", "Dupont", "--config", str(org)])
    assert bad.exit_code == 2 and "32 hexadecimal characters" in bad.output


def test_every_command_opening_the_keys_is_journaled(runner: CliRunner, org: Path) -> None:
    """EDS-SEC-DAY-2: who ran which command with which options (names, never values), and how it ended."""
    assert runner.invoke(app, ["audit", "purge", "--months", "7", "--config", str(org)]).exit_code == 0
    bad = runner.invoke(app, ["user", "disable", "nobody.here", "--reason", "left on 2026-11-30", "--config", str(org)])
    assert bad.exit_code != 0
    trail = open_organisation(org, PASS)
    with trail.audit.engine.connect() as conn:
        journal = [e.content for e in trail.audit.entries(conn) if e.content["operation"] == "administration.command"]
    trail.close()
    assert [(j["resource_id"], j["outcome"]) for j in journal] == [
        ("santegarde audit purge --config --months", "success"),
        ("santegarde user disable --config --login --reason", "error"),
    ]
    assert all(j["actor"] and j["source"].startswith("cli@") for j in journal)
    assert "nobody.here" not in str(journal) and "2026-11-30" not in str(journal)


def test_no_keys_refuses_to_open(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANTEGARDE_PASSPHRASE", PASS)
    directory = tmp_path / "nokeys"
    assert (
        runner.invoke(
            app,
            [
                "init",
                "--profile",
                "practice",
                "--dir",
                str(directory),
                "--set",
                "retention_end_action=delete",
                *init_answers("practice"),
            ],
        ).exit_code
        == 0
    )
    result = runner.invoke(app, ["audit", "verify", "--config", str(directory / "santegarde.yaml")])
    assert result.exit_code == 2 and "refuse de fonctionner sans clés" in " ".join(result.output.split())
