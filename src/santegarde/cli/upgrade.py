"""santegarde upgrade: every store's migrations, in order, after a verified backup (the data are kept)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from santegarde.cli.common import console, friendly_errors
from santegarde.cli.keys import opened
from santegarde.cli.organisation import ConfigOption
from santegarde.config import CONFIG_NAME
from santegarde.lifecycle.backup import BackupRefused
from santegarde.lifecycle.upgrade import upgrade as run_upgrade


@friendly_errors
def upgrade(
    config: ConfigOption = Path(CONFIG_NAME),
    backup_to: Annotated[
        Path | None,
        typer.Option(
            "--backup-to", help="Where the backup taken first goes (default: backup_directory of the configuration)"
        ),
    ] = None,
) -> None:
    """Bring every database schema to this version of santegarde, after a verified backup; the data are kept."""
    with opened(config) as org:
        directory = backup_to or (Path(org.config.backup_directory) if org.config.backup_directory else None)
        if directory is None:
            raise BackupRefused(
                "An upgrade starts with a verified backup: say where it goes with --backup-to DIR, or set "
                "backup_directory in the organisation's configuration."
            )
        result = run_upgrade(org, directory)
    if not result.upgraded:
        console.print("Every schema is already at this version of santegarde: nothing to upgrade.")
        return
    console.print(f"Verified backup taken first: {result.backup}.")
    for state in result.upgraded:
        console.print(f"{state.package}: {', '.join(state.current) or 'no revision'} → {', '.join(state.head)}")
    console.print("Upgrade done; the data and the audit trail are kept. Start the server again.")
