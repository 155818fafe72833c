"""santegarde maintenance log | list: the maintenance logbook (COM-MNT-1)."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from santegarde.audit.trail import AuditEvent
from santegarde.cli.common import JsonOption, LangOption, console, friendly_errors, show_table
from santegarde.cli.keys import opened
from santegarde.cli.organisation import ConfigOption
from santegarde.config import CONFIG_NAME
from santegarde.governance import maintenance

app = typer.Typer(help="The maintenance logbook: every intervention on the systems, recorded.", no_args_is_help=True)


def _said(lang: str) -> dict[str, Any]:
    """What the maintenance commands print, in ``lang`` (documents_text.yaml, maintenance_desk)."""
    from santegarde.governance import doctext

    found: dict[str, Any] = doctext.words(lang)["maintenance_desk"]
    return found


@app.command("log")
@friendly_errors
def log(
    operator: Annotated[str, typer.Option(help="Who intervened")],
    company: Annotated[str, typer.Option(help="For which company (or 'internal')")],
    equipment: Annotated[str, typer.Option(help="On what: workstation, server, software…")],
    description: Annotated[str, typer.Option(help="What was done")],
    supervised_by: Annotated[str, typer.Option(help="Who of the organisation supervised it")],
    kind: Annotated[str, typer.Option(help=", ".join(maintenance.KINDS))] = "maintenance",
    by: Annotated[str, typer.Option("--by", help="Who records the entry")] = "",
    lang: LangOption = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Record one intervention; it is also traced in the audit trail."""
    said = _said(lang)  # an unknown --lang is refused before anything is written
    with opened(config) as org:
        entry = maintenance.record(
            org.engine,
            at=datetime.now(UTC),
            operator=operator,
            company=company,
            kind=kind,
            equipment=equipment,
            description=description,
            supervised_by=supervised_by,
            recorded_by=by or getpass.getuser(),
        )
        org.audit.append(
            AuditEvent(
                entry.recorded_by,
                "",
                "maintenance.log",
                "MaintenanceLog",
                str(entry.id),
                "security",
                True,
                "COM-MNT-1",
                "",
                "success",
                "admin",
                org.referential.id,
            )
        )
    console.print(said["recorded"].format(id=entry.id))


@app.command("list")
@friendly_errors
def list_entries(
    lang: LangOption = "fr", config: ConfigOption = Path(CONFIG_NAME), as_json: JsonOption = False
) -> None:
    """Print the logbook."""
    said = _said("en" if as_json else lang)  # --json: stable keys and values for scripts
    with opened(config) as org:
        rows = maintenance.entries(org.engine)
    table = Table(*said["columns"])
    for e in rows:
        table.add_row(
            str(e.id),
            e.at.strftime(said["date_time"]),
            e.operator,
            e.company,
            said["kinds"].get(e.kind, e.kind),
            e.equipment,
            e.supervised_by,
            e.description,
        )
    show_table(table, as_json)
