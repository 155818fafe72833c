"""Maintenance (COM-MNT-1): administrative commands run without any health field being decrypted; logbook."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from santegarde.cli.main import app
from santegarde.crypto.envelope import token_family
from santegarde.crypto.keyring import KeyFamily
from santegarde.governance import maintenance
from santegarde.runtime import open_organisation
from santegarde.store import vault

PASS = "demo passphrase for the tests"


@pytest.fixture
def org(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SANTEGARDE_PASSPHRASE", PASS)
    directory = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--dir", str(directory), "--patients", "3"])
    assert result.exit_code == 0, result.output
    return directory / "santegarde.yaml"


def test_admin_commands_never_decrypt_health_data(
    runner: CliRunner, org: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    real_decrypt = vault.decrypt

    def no_parts(*args: Any, **kwargs: Any) -> None:
        opened.append("part")
        raise AssertionError("a record part was decrypted")

    def guarded(ring: Any, token: bytes, **kwargs: Any) -> bytes:
        if token_family(token)[0] in (KeyFamily.HEALTH, KeyFamily.GENETIC_LOCATION):
            opened.append("health key")
            raise AssertionError("a health key was unwrapped")
        return real_decrypt(ring, token, **kwargs)

    monkeypatch.setattr(vault, "open_part", no_parts)
    monkeypatch.setattr(vault, "decrypt", guarded)
    c = ["--config", str(org)]
    commands = [
        ["user", "add", "tech.dupuis", "--name", "Marc Dupuis", "--ref", "EXT-7", *c, "--by", "admin"],
        ["user", "grant", "tech.dupuis", "maintenance", "--validated-by", "Dr Martin", "--reason", "IT contract", *c],
        ["user", "list", "--grants", *c],
        ["review", "start", *c],
        ["audit", "verify", *c],
        ["audit", "status", *c],
        ["keys", "rotate", "health", *c],
        ["config", "check", "--config", str(org)],
        [
            "maintenance",
            "log",
            "--operator",
            "Marc Dupuis",
            "--company",
            "InfoSanté SARL",
            "--equipment",
            "server",
            "--description",
            "Applied the security updates of the month",
            "--supervised-by",
            "Dr Martin",
            "--kind",
            "update",
            *c,
        ],
        ["maintenance", "list", *c],
    ]
    for command in commands:
        result = runner.invoke(app, command, env={"COLUMNS": "200"})
        assert result.exit_code == 0, (command, result.output)
    assert opened == []


def test_logbook_entries_are_complete_and_traced(runner: CliRunner, org: Path) -> None:
    incomplete = runner.invoke(
        app,
        [
            "maintenance",
            "log",
            "--operator",
            "X",
            "--company",
            "Y",
            "--equipment",
            "pc",
            "--description",
            "short",
            "--supervised-by",
            "Z",
            "--config",
            str(org),
        ],
    )
    assert incomplete.exit_code == 2 and "at least 10 characters" in incomplete.output
    ok = runner.invoke(
        app,
        [
            "maintenance",
            "log",
            "--operator",
            "Marc",
            "--company",
            "InfoSanté",
            "--equipment",
            "workstation 2",
            "--description",
            "Replaced the hard drive; old one erased",
            "--supervised-by",
            "Dr Martin",
            "--kind",
            "repair",
            "--config",
            str(org),
        ],
    )
    assert ok.exit_code == 0 and "Intervention n° 1 consignée dans le registre de maintenance." in ok.output
    listed = runner.invoke(app, ["maintenance", "list", "--config", str(org)], env={"COLUMNS": "200"})
    assert listed.exit_code == 0 and "réparation" in listed.output and "supervisée par" in listed.output
    listed = runner.invoke(app, ["maintenance", "list", "--lang", "en", "--config", str(org)], env={"COLUMNS": "200"})
    assert listed.exit_code == 0 and "repair" in listed.output and "supervised by" in listed.output
    organisation = open_organisation(org, PASS)
    try:
        [entry] = maintenance.entries(organisation.engine)
        assert entry.kind == "repair" and entry.supervised_by == "Dr Martin"
        assert organisation.audit.verify().intact
    finally:
        organisation.close()


def test_maintenance_profile_reads_no_record(runner: CliRunner, org: Path) -> None:
    from santegarde.policy import AccessRequest, decide
    from santegarde.referentials import loader
    from santegarde.referentials.model import Operation

    ref = loader.get("pra-2020-081")
    for category in ref.categories:
        for purpose in ref.purposes:
            assert not decide(ref, AccessRequest("maintenance", Operation.READ, category.id, purpose.id)).allowed
