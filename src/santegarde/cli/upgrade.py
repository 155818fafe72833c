"""santegarde upgrade: every store's migrations, in order, after a verified backup (the data are kept)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from santegarde.cli.common import LangOption, console, friendly_errors
from santegarde.cli.keys import opened
from santegarde.cli.organisation import ConfigOption
from santegarde.config import CONFIG_NAME
from santegarde.errors import WordedError
from santegarde.lifecycle.upgrade import upgrade as run_upgrade


def _said(lang: str) -> dict[str, Any]:
    """What the upgrade prints, in ``lang`` (documents_text.yaml, upgrade_desk)."""
    from santegarde.governance import doctext

    found: dict[str, Any] = doctext.words(lang)["upgrade_desk"]
    return found


@friendly_errors
def upgrade(
    config: ConfigOption = Path(CONFIG_NAME),
    backup_to: Annotated[
        Path | None,
        typer.Option(
            "--backup-to", help="Where the backup taken first goes (default: backup_directory of the configuration)"
        ),
    ] = None,
    lang: LangOption = "fr",
) -> None:
    """Bring every database schema to this version of santegarde, after a verified backup; the data are kept."""
    said = _said(lang)
    with opened(config) as org:
        directory = backup_to or (Path(org.config.backup_directory) if org.config.backup_directory else None)
        if directory is None:
            from santegarde import refusals

            raise WordedError(refusals.sentences("upgrade", "no_backup_directory", setting="backup_directory"))
        result = run_upgrade(org, directory)
    if not result.upgraded:
        console.print(said["nothing"])
        return
    console.print(said["backup"].format(backup=result.backup), markup=False)
    for state in result.upgraded:
        current = ", ".join(state.current) or said["no_revision"]
        console.print(said["step"].format(package=state.package, current=current, head=", ".join(state.head)))
    console.print(said["done"])
