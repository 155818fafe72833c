"""santegarde measure set | list: the status of each security measure, who recorded it and when (COM-SEC-1).

Works on the configuration file only: no database, no keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from santegarde.cli.common import console, friendly_errors
from santegarde.cli.organisation import ConfigOption
from santegarde.config import CONFIG_NAME, load
from santegarde.governance import measures
from santegarde.referentials import loader

app = typer.Typer(help="Record and list the status of the référentiel's security measures.", no_args_is_help=True)


@app.command("set")
@friendly_errors
def set_status(
    code: Annotated[str, typer.Argument(help="The measure's code in the référentiel, e.g. PHA-PRO-1")],
    status: Annotated[str, typer.Option("--status", help=" | ".join(measures.STATUS_CHOICES))],
    evidence: Annotated[str, typer.Option("--evidence", help="What shows the status: a document, a procedure")],
    by: Annotated[str, typer.Option("--by", help="Who records the status")],
    justification: Annotated[
        str | None,
        typer.Option("--justification", help="Why, for a status other than implemented (at least 20 characters)"),
    ] = None,
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Record a measure's status in the configuration (deviations.measures), with its evidence, author and date."""
    entry = measures.record(config, code, status, evidence=evidence, by=by, justification=justification)
    when = f"{entry.set_at:%Y-%m-%d %H:%M} UTC" if entry.set_at else ""
    console.print(
        f"Measure {entry.code} recorded as {entry.status.replace('_', ' ')} by {entry.set_by} on {when}; the "
        "conformity report and the DPIA show it from now on.",
        soft_wrap=True,
    )


@app.command("list")
@friendly_errors
def list_statuses(
    missing: Annotated[bool, typer.Option("--missing", help="Only the measures with no status yet")] = False,
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """List the référentiel's measures with their recorded status, evidence, author and date."""
    cfg = load(config)
    ref = loader.get(cfg.referential)
    found = measures.rows(cfg, ref, missing=missing)
    if not found:
        console.print(f"Every measure of {ref.id} has a recorded status.")
        return
    table = Table(
        "code", "measure", "§", "status", "evidence", "set by", "set at", title=f"Security measures of {ref.id}"
    )
    for row in found:
        s = row.status
        table.add_row(
            row.measure.code,
            row.measure.title,
            row.measure.section,
            s.status.replace("_", " ") if s else "[yellow]no status[/]",
            (s.evidence or "") if s else "",
            (s.set_by or "") if s else "",
            f"{s.set_at:%Y-%m-%d %H:%M}" if s and s.set_at else "",
        )
    console.print(table)
    if missing:
        console.print(
            f"{len(found)} measure(s) without a status: record each with 'santegarde measure set CODE --status … "
            "--evidence … --by NAME'.",
            soft_wrap=True,
        )
