"""Every command that prints a table takes --json (the same rows, for scripts) and, piped, never cuts a value at 80
columns (issue 17): cli/common.show_table."""

from __future__ import annotations

import inspect
import json
import re
import sys
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


def _printed_by(callback: Any) -> str:
    """The command's source and that of the functions of its own CLI module it calls (its printing helpers)."""
    function = inspect.unwrap(callback)
    source = inspect.getsource(function)
    module = sys.modules[function.__module__]
    helpers = [getattr(module, name, None) for name in sorted(set(re.findall(r"\b(\w+)\(", source)))]
    called = [h for h in helpers if inspect.isfunction(h) and h is not function and h.__module__ == module.__name__]
    return source + "".join(inspect.getsource(inspect.unwrap(h)) for h in called)


REPORTS = ("conformity", "referential show")  # reports without a table of their own: a summary, a whole référentiel


def test_every_command_that_prints_a_table_or_a_report_has_json() -> None:
    """No exception list: every table or report, printed by the command or by a helper of its module, has --json."""
    missing = []
    for name, command in _commands():
        prints_a_table = "Table(" in _printed_by(command.callback) or name in REPORTS
        if prints_a_table and not any(p.name == "as_json" for p in command.params):
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
    """A demo organisation, set up with --json: what the demo wrote and how to log in, as one object."""
    monkeypatch.setenv("SANTEGARDE_PASSPHRASE", PASS)
    directory = tmp_path / "demo"
    result = CliRunner().invoke(app, ["demo", "--dir", str(directory), "--patients", "3", "--json"])
    assert result.exit_code == 0, result.output
    made = json.loads(result.output)
    assert made["config"] == str(directory / "santegarde.yaml") and made["profile"] == "practice"
    assert made["stored"]["Patient"] == 3 and made["passphrase"] is None  # taken from the environment: not repeated
    assert made["account"]["login"] and made["account"]["password"] and made["account"]["totp_secret"]
    assert made["example_patient"]["id"] and made["example_patient"]["family"]
    assert {"dpia", "dpo"} == set(made["decisions"]) and made["compassionate"] is None
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


def test_reports_print_json(org: Path, tmp_path: Path) -> None:
    runner = CliRunner()

    def document(*args: str) -> Any:
        result = runner.invoke(app, [*args, "--json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    opened = document("review", "start", "--by", "admin", "--config", str(org))
    assert opened["review"] and opened["reason"] == "yearly" and opened["closed_at"] is None
    assert opened["grants"] and all(g["decision"] == "pending" for g in opened["grants"])
    assert opened["counts"] == {"confirmed": 0, "ended": 0, "pending": len(opened["grants"])}
    english = document("review", "status", "--lang", "en", "--config", str(org))
    assert english == document("review", "status", "--config", str(org)) == opened  # stable, whatever --lang
    closed = document("review", "close", str(opened["review"]), "--by", "admin", "--config", str(org))
    assert closed["closed_by"] == "admin" and closed["counts"]["ended"] == len(opened["grants"])

    written = document("conformity", "--out", str(tmp_path / "report.html"), "--config", str(org))
    assert written["out"] == str(tmp_path / "report.html") and (tmp_path / "report.html").exists()
    assert written["summary"]["measures"] > 0 and isinstance(written["problems"], list)

    ref = document("referential", "show", "pra-2020-081")
    assert ref["id"] == "pra-2020-081" and ref["purposes"] and ref["retention"]
    only = document("referential", "show", "pra-2020-081", "--section", "5")
    assert only["categories"] and all(c["section"].split(".")[0] == "5" for c in only["categories"])
    assert not only["purposes"] or all(p["section"].split(".")[0] == "5" for p in only["purposes"])
