"""Every command that prints a table takes --json (the same rows, for scripts) and, piped, never cuts a value at 80
columns (issue 17): cli/common.show_table."""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from rich.table import Table
from typer.main import get_command
from typer.testing import CliRunner

from santegarde.cli.common import show_table, table_rows
from santegarde.cli.main import COMMANDS, app

PASS = "demo passphrase for the tests"
# Commands that print a table among other sections (a report, a document's summary): their tables are not the
# whole answer, so --json would have to be a document of its own; left out on purpose, named here.
NOT_A_LIST = {
    "referential show",  # every section of a référentiel: `referential list --json` and the YAML are the data
    "demo",  # what the demo wrote, then how to log in
    "policy check",  # has --json (the decision); the table is the explanation
    "review start",  # the review's heading, its grants, then the count of decisions
    "review status",
    "review close",
    "warehouse feed",
    "warehouse retention",
    "warehouse export",
    "warehouse identity review",
    "conformity",
    "init",
}


def _commands() -> Iterator[tuple[str, Any]]:
    def walk(prefix: str, command: Any) -> Iterator[tuple[str, Any]]:
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                yield from walk(f"{prefix} {name}".strip(), sub)
        elif command.callback is not None:
            yield prefix, command

    for name in COMMANDS:
        yield from walk(name, get_command(app).get_command(typer.Context(get_command(app)), name))  # type: ignore[arg-type]


def test_every_command_that_prints_a_table_has_json() -> None:
    missing = []
    for name, command in _commands():
        source = inspect.getsource(inspect.unwrap(command.callback))
        prints_a_table = "Table(" in source or "_print_report" in source
        if prints_a_table and name not in NOT_A_LIST and not any(p.name == "as_json" for p in command.params):
            missing.append(name)
    assert not missing, f"table commands without --json: {missing}"


def test_rows_come_out_as_plain_objects_and_piped_tables_are_whole(capsys: pytest.CaptureFixture[str]) -> None:
    table = Table("id", "état")
    long_id = "aac-2022-106-" + "x" * 120
    table.add_row(long_id, "[red]refusé[/]")
    assert table_rows(table) == [{"id": long_id, "état": "refusé"}]
    show_table(table)  # not a terminal here
    assert long_id in capsys.readouterr().out
    show_table(table, as_json=True)
    assert json.loads(capsys.readouterr().out) == [{"id": long_id, "état": "refusé"}]


@pytest.fixture
def org(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SANTEGARDE_PASSPHRASE", PASS)
    directory = tmp_path / "demo"
    result = CliRunner().invoke(app, ["demo", "--dir", str(directory), "--patients", "3"])
    assert result.exit_code == 0, result.output
    return directory / "santegarde.yaml"


def test_list_commands_print_json(org: Path) -> None:
    runner = CliRunner()

    def rows(*args: str) -> Any:
        result = runner.invoke(app, [*args, "--json", "--config", str(org)])
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    users = rows("user", "list", "--grants")
    assert {"accounts", "grants"} <= set(users) and users["accounts"][0]["login"]
    assert all({"grant", "login", "profile"} <= set(g) for g in users["grants"])
    assert rows("maintenance", "list") == []  # empty: an empty list, not a sentence
    measures = rows("measure", "list")
    assert measures and all(isinstance(m, dict) and len(m) == len(measures[0]) for m in measures)
    plan = rows("retention", "plan")
    assert plan["rules"] and all({"Rule", "End now", "Notes"} <= set(r) for r in plan["rules"]), plan
    assert rows("breach", "list") == []
