"""The README's main job: a demo organisation on SQLite, filled with synthetic data through policy."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from santegarde.cli.main import app
from santegarde.config import load
from santegarde.store.db import make_engine
from santegarde.store.schema import resource


@pytest.mark.parametrize("profile", ["practice", "pharmacy", "compassionate", "warehouse"])
def test_demo_fills_an_organisation_through_policy(runner: CliRunner, tmp_path: Path, profile: str) -> None:
    directory = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--profile", profile, "--dir", str(directory), "--patients", "5"])
    assert result.exit_code == 0, result.output
    config = load(directory / "santegarde.yaml")
    engine = make_engine(config.database_url)
    with engine.connect() as conn:
        rows = conn.execute(select(resource.c.resource_type, resource.c.rule, resource.c.category)).all()
    engine.dispose()
    assert sum(1 for r in rows if r.resource_type == "Patient") == 5
    assert all(r.rule.startswith("accessors.") for r in rows), "every row was written under an allowed decision"
    if profile == "compassionate":
        assert all(r.category not in ("nir", "ins") for r in rows)
    # Running it again starts afresh: same counts.
    again = runner.invoke(app, ["demo", "--profile", profile, "--dir", str(directory), "--patients", "5"])
    assert again.exit_code == 0, again.output


def test_demo_never_overwrites_a_real_organisation(runner: CliRunner, tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    assert runner.invoke(app, ["demo", "--dir", str(directory), "--patients", "2"]).exit_code == 0
    path = directory / "santegarde.yaml"
    path.write_text(path.read_text().replace("Démo practice", "Cabinet Réel"))
    result = runner.invoke(app, ["demo", "--dir", str(directory), "--patients", "2"])
    assert result.exit_code == 2 and "never overwrites a real organisation" in result.output


def test_readme_commands_and_ci(repo_root: Path) -> None:
    readme = (repo_root / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"^(\./scripts/\w+)\s+#", readme, flags=re.MULTILINE)
    assert commands == ["./scripts/demo", "./scripts/test"]
    ci = (repo_root / ".ci" / "run").read_text(encoding="utf-8")
    assert [line for line in ci.splitlines() if line and not line.startswith(("#", "set ", "cd "))] == [
        "./scripts/test"
    ]
    for command in commands:
        assert (repo_root / command).stat().st_mode & 0o111
