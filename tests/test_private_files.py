"""Files santegarde creates are owner-only: an organisation's folder, keyring, databases, backups, documents.

The attack: on the demo, santegarde.db, audit.db and their -wal/-shm were 0644 and the organisation
folder 0755, readable by every local account. The tests run under a permissive umask (022), as a
shell usually does, and check that nothing santegarde creates is readable by group or others.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from santegarde.atomic import write_atomic, write_new_bytes
from santegarde.cli.main import app
from santegarde.store.db import make_engine

PASS = "a long enough test passphrase"


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """A shell's usual umask, restored afterwards (the CLI sets the process umask to 077)."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def readable_by_others(root: Path) -> list[str]:
    """Every file or directory under ``root`` (``root`` included) that group or others can use."""
    paths = [root, *root.rglob("*")]
    modes = {p: stat.S_IMODE(p.lstat().st_mode) for p in paths}
    return [f"{p.relative_to(root.parent)} {mode:o}" for p, mode in modes.items() if mode & 0o077]


def run(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(app, list(args), env={"SANTEGARDE_PASSPHRASE": PASS, "COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.usefixtures("permissive_umask")
def test_an_organisation_set_up_and_used_from_the_cli_is_owner_only(tmp_path: Path) -> None:
    runner = CliRunner()
    org = tmp_path / "cabinet"
    run(runner, "demo", "--dir", str(org), "--patients", "2")  # init, keys, an account, records through policy
    config = str(org / "santegarde.yaml")
    run(runner, "user", "add", "dr.martin", "--name", "Claire Martin", "--ref", "10001234565", "--config", config)
    run(runner, "backup", "create", "--to", str(org / "backups" / "daily"), "--config", config)
    run(runner, "register", "--out", str(org / "documents" / "register.html"), "--config", config)
    run(runner, "dpia", "generate", "--out", str(org / "documents" / "aipd.html"), "--config", config)
    names = {p.name for p in org.rglob("*")}
    assert {"santegarde.db", "audit.db", "audit.anchor", "keyring", "register.html", "aipd.html", "daily"} <= names
    assert any(name.endswith(".sgb") for name in names)
    assert readable_by_others(org) == []


@pytest.mark.usefixtures("permissive_umask")
def test_a_library_caller_gets_owner_only_databases_and_files_without_the_cli(tmp_path: Path) -> None:
    os.umask(0o022)  # as if the CLI had never run in this process
    database = tmp_path / "lib" / "records.db"
    database.parent.mkdir()
    engine = make_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
            conn.commit()
            companions = [database.with_name(database.name + s) for s in ("-wal", "-shm")]
            assert all(c.exists() for c in companions)  # while the connection is open
            assert [p for p in readable_by_others(database.parent) if p.startswith("lib/")] == []
    finally:
        engine.dispose()
    write_atomic(tmp_path / "docs" / "deep" / "report.txt", "fictitious")
    write_new_bytes(tmp_path / "anchors" / "anchor.bin", b"\x00")
    for root in ("docs", "anchors"):
        assert readable_by_others(tmp_path / root) == []


@pytest.mark.usefixtures("permissive_umask")
def test_an_existing_readable_database_is_tightened_when_opened(tmp_path: Path) -> None:
    database = tmp_path / "old.db"
    for suffix in ("", "-wal", "-shm"):
        path = database.with_name(database.name + suffix)
        path.write_bytes(b"")
        path.chmod(0o644)
    make_engine(f"sqlite:///{database}").dispose()
    assert [stat.S_IMODE(database.with_name(database.name + s).stat().st_mode) for s in ("", "-wal", "-shm")] == [
        0o600
    ] * 3
