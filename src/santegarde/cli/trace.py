"""santegarde trace — print the requirement trace."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from santegarde.cli.common import console, friendly_errors, show_table
from santegarde.trace import load_trace


@friendly_errors
def trace(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
    status: Annotated[str | None, typer.Option(help="Only entries with this status: done, partial, planned")] = None,
) -> None:
    """Print every requirement ID with its status, the code that implements it and the tests that prove it."""
    entries = [e for e in load_trace().requirements if status is None or e.status == status]
    if as_json:
        typer.echo(json.dumps({"requirements": [e.model_dump() for e in entries]}, ensure_ascii=False, indent=2))
        return
    table = Table("id", "status", "code", "tests", title="Requirement trace")
    colours = {"done": "green", "partial": "yellow", "planned": "dim"}
    for e in entries:
        table.add_row(e.id, f"[{colours[e.status]}]{e.status}[/]", "\n".join(e.code), "\n".join(e.tests))
    show_table(table)
    counts = {s: sum(1 for e in entries if e.status == s) for s in ("done", "partial", "planned")}
    console.print(", ".join(f"{n} {s}" for s, n in counts.items()))
