"""The requirement trace lists every ID of REQUIREMENTS.md, and every location it names exists."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from santegarde.cli.main import app
from santegarde.trace import load_trace, parse_requirement_ids, verify_locations
from santegarde.trace.model import Trace, TraceEntry

REQUIREMENTS = Path(__file__).resolve().parents[2] / "shared" / "spec" / "REQUIREMENTS.md"


def _requirement_ids() -> list[str]:
    if not REQUIREMENTS.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{REQUIREMENTS} is missing: CI runs with shared/ beside the repository")
        pytest.skip("shared/spec/REQUIREMENTS.md is not beside this checkout")
    return parse_requirement_ids(REQUIREMENTS.read_text(encoding="utf-8"))


def test_trace_lists_exactly_the_requirement_ids() -> None:
    ids = _requirement_ids()
    trace_ids = load_trace().ids()
    assert len(trace_ids) == len(set(trace_ids)), "an ID is listed twice"
    assert sorted(set(ids) - set(trace_ids)) == [], "IDs of REQUIREMENTS.md missing from the trace"
    assert sorted(set(trace_ids) - set(ids)) == [], "IDs in the trace that REQUIREMENTS.md does not have"


def test_every_location_exists(repo_root: Path) -> None:
    assert verify_locations(load_trace(), repo_root) == []


def test_a_missing_location_is_reported(repo_root: Path) -> None:
    trace = Trace(
        requirements=[
            TraceEntry(
                id="X-1",
                status="done",
                code=["src/santegarde/policy/decisions.py::nope"],
                tests=["tests/test_none.py::test_x"],
            )
        ]
    )
    assert verify_locations(trace, repo_root) == [
        "X-1: src/santegarde/policy/decisions.py defines no 'nope'",
        "X-1: tests/test_none.py does not exist",
    ]


def test_range_expansion() -> None:
    md = "- **AAC-SEC-SEN-1..2, AUT-1..3** text\n- **COM-REF-1** text\n- **EDS-SEC-LOG-1..2** t\n"
    assert parse_requirement_ids(md) == [
        "AAC-SEC-SEN-1",
        "AAC-SEC-SEN-2",
        "AAC-SEC-AUT-1",
        "AAC-SEC-AUT-2",
        "AAC-SEC-AUT-3",
        "COM-REF-1",
        "EDS-SEC-LOG-1",
        "EDS-SEC-LOG-2",
    ]


def test_trace_json_lists_every_id(runner: CliRunner) -> None:
    ids = _requirement_ids()
    result = runner.invoke(app, ["trace", "--json"])
    assert result.exit_code == 0, result.output
    listed = [e["id"] for e in json.loads(result.output)["requirements"]]
    assert set(listed) == set(ids)
