"""The CLI starts in a blink: ``santegarde --help`` loads no command, and a command loads only what it uses."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys

from typer.testing import CliRunner

from santegarde.cli.main import COMMANDS, app, load_command

# Libraries only some commands need: the warehouse's engine and kernel, the documents' renderers, the web server.
HEAVY = {"duckdb", "numba", "numpy", "pyarrow", "pandas", "anonymeter", "weasyprint", "openpyxl", "spacy"}
WEB = {"fastapi", "starlette", "uvicorn"}
# What importing the command may load of santegarde itself: the table and the umask of its callback.
STARTUP = {"santegarde", "santegarde.cli", "santegarde.cli.main", "santegarde.private"}


def _modules_after(code: str) -> list[str]:
    """The modules a fresh interpreter has loaded after running ``code`` (its SystemExit ignored)."""
    script = f"import json, sys\ntry:\n    {code}\nexcept SystemExit:\n    pass\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def test_the_command_and_its_help_import_no_command_and_no_heavy_library() -> None:
    code = "from santegarde.cli.main import app; app(['--help'], prog_name='santegarde')"
    loaded = _modules_after(code)
    assert [m for m in loaded if m.split(".")[0] in HEAVY | WEB] == []
    assert {m for m in loaded if m.split(".")[0] == "santegarde"} == STARTUP


def test_commands_load_only_what_they_use() -> None:
    """Every command but the warehouse and the web server loads neither; none loads the document renderers."""
    lean = [name for name in COMMANDS if name not in ("warehouse", "serve")]
    loaded = _modules_after(f"from santegarde.cli.main import load_command\n    for n in {lean!r}: load_command(n)")
    top = {m.split(".")[0] for m in loaded}
    assert top.isdisjoint(HEAVY | WEB), sorted(top & (HEAVY | WEB))
    assert not [m for m in loaded if m.startswith(("santegarde.warehouse", "santegarde.api"))]


def test_the_help_lists_every_command_with_the_first_line_of_its_own_help() -> None:
    listing = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert listing.exit_code == 0
    for name, (_, text) in COMMANDS.items():
        assert re.search(rf"│ {re.escape(name)} +{re.escape(text)} +│", listing.output), name
        command = load_command(name)
        own = inspect.cleandoc(command.short_help or command.help or "").split("\n\n")[0]
        assert " ".join(own.split()) == text, f"COMMANDS[{name!r}] no longer says what the command's help says"


def test_an_unknown_command_is_refused_with_the_nearest_names() -> None:
    result = CliRunner().invoke(app, ["referentia"])
    assert result.exit_code == 2
    assert "No such command 'referentia'. Did you mean 'referential', 'retention'?" in " ".join(result.output.split())


def test_the_web_server_loads_no_warehouse() -> None:
    """A practice's server: the API app factory and the serve command leave the warehouse and its kernel alone."""
    loaded = _modules_after("from santegarde.cli.main import load_command\n    load_command('serve')")
    assert "santegarde.api.app" in loaded
    assert not [m for m in loaded if m.split(".")[0] in HEAVY or m.startswith("santegarde.warehouse")]


def test_version_prints_the_installed_version_without_loading_any_command() -> None:
    from importlib.metadata import version

    for flag in ("--version", "-V"):
        done = subprocess.run(
            [sys.executable, "-c", f"from santegarde.cli.main import app; app([{flag!r}], prog_name='santegarde')"],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout == f"santegarde {version('santegarde')}\n"
    loaded = _modules_after("from santegarde.cli.main import app; app(['--version'], prog_name='santegarde')")
    assert {m for m in loaded if m.split(".")[0] == "santegarde"} == STARTUP
    assert [m for m in loaded if m.split(".")[0] in HEAVY | WEB] == []
