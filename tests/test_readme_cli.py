"""The README's command-line walk-through, run as written (issue 17): every line of its santegarde block that names
no placeholder (…, <…>, a|b alternatives) and starts no server is run in a fresh directory, in order, and must
succeed; the lines with placeholders are the cheat sheet's, and stay out."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from santegarde.cli.main import app

README = Path(__file__).resolve().parent.parent / "README.md"
PASSPHRASE = "README walk-through passphrase, fictitious"


def runnable_lines() -> list[list[str]]:
    """The santegarde commands of the README's walk-through block that run as written."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)
    block = next(b for b in blocks if "santegarde referential list" in b)
    joined = re.sub(r"\\\n\s*", " ", block)
    found = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        if not words or words[0] != "santegarde" or words[1] == "serve":
            continue
        if any("…" in w or "<" in w or "|" in w or w in ("&&", "/") for w in words):
            continue
        found.append(words[1:])
    return found


def test_the_walk_through_has_its_steps() -> None:
    steps = [" ".join(w[:2]) for w in runnable_lines()]
    for step in ("referential list", "referential diff", "init --profile", "config check", "keys init", "user add"):
        assert step in steps, steps


def test_the_readme_commands_run_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SANTEGARDE_PASSPHRASE", PASSPHRASE)
    runner = CliRunner()
    for words in runnable_lines():
        result = runner.invoke(app, words, env={"COLUMNS": "200"})
        # the README's policy decision is a refusal, shown on purpose: it exits 2 with the rule that denies
        refusal_shown = words[:2] == ["policy", "decide"] and result.exit_code == 2 and "REFUSÉ" in result.output
        assert result.exit_code == 0 or refusal_shown, f"santegarde {' '.join(words)}\n{result.output}"
    assert (tmp_path / "my-pharmacy" / "santegarde.yaml").exists()
