"""santegarde backup create | verify | list: encrypted backups and their verified restore (COM-BAK-1)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from santegarde.cli.common import EXIT_REFUSED, console, err_console, friendly_errors
from santegarde.cli.keys import opened
from santegarde.cli.organisation import ConfigOption
from santegarde.config import CONFIG_NAME, load
from santegarde.lifecycle import backup
from santegarde.lifecycle.backup import BackupRefused
from santegarde.lifecycle.backup import Progress as TableProgress

app = typer.Typer(
    help="Encrypted backups of the records and the audit trail, and their verified restore.", no_args_is_help=True
)

DirOption = Annotated[
    Path | None,
    typer.Option("--to", help="The directory of the backups (default: backup_directory of the configuration)"),
]


@contextmanager
def _bar(label: str) -> Iterator[TableProgress]:
    """A Rich progress bar over the tables; yields the callback the lifecycle functions call."""
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)

        def advance(table: str, index: int, total: int) -> None:
            bar.update(task, description=f"{label}: {table}", completed=index, total=total)

        yield advance


def _directory(given: Path | None, configured: str | None) -> Path:
    if given is not None:
        return given
    if configured:
        return Path(configured)
    raise BackupRefused("Say where the backups go: --to DIR, or backup_directory in the organisation's configuration.")


@app.command("create")
@friendly_errors
def create(to: DirOption = None, config: ConfigOption = Path(CONFIG_NAME)) -> None:
    """Write one encrypted backup file and rewrite the patient-key escrow beside it."""
    with opened(config) as org, _bar("Backing up") as progress:
        path = backup.create_backup(org, _directory(to, org.config.backup_directory), progress=progress)
    console.print(f"Backup written: {path} (mode 0600). Verify it with 'santegarde backup verify {path}'.")


@app.command("verify")
@friendly_errors
def verify(
    file: Annotated[Path, typer.Argument(help="The backup file (.sgb) to restore into a scratch store and check")],
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Decrypt the backup, restore it into a scratch store, compare it and verify its audit trail."""
    with opened(config) as org:
        report = backup.verify_backup(org, file)
    console.print(
        f"{report.file}: {report.tables} tables, {report.rows} rows restored, "
        f"{report.audit_entries} audit entries verified."
    )
    if report.escrow_patients is not None:
        console.print(f"Key escrow: keys of {report.escrow_patients} patients.")
    if report.changed_since:
        console.print(f"Changed since the backup (work went on): {', '.join(report.changed_since)}.")
    if not report.ok:
        for problem in report.problems:
            err_console.print(f"[bold red]Problem:[/] {problem}", soft_wrap=True)
        raise typer.Exit(EXIT_REFUSED)
    console.print("[bold green]The backup restores and verifies.[/]")


@app.command("list")
@friendly_errors
def list_all(to: DirOption = None, config: ConfigOption = Path(CONFIG_NAME)) -> None:
    """The backups of a directory, from their clear headers, with their last verification."""
    to = _directory(to, load(config).backup_directory if config.exists() else None)
    table = Table("file", "created", "tables", "rows", "size", "last verified", "result")
    for info in backup.list_backups(to):
        table.add_row(
            info.path.name,
            info.created_at[:19],
            str(info.tables),
            str(info.rows),
            f"{info.size:,}",
            info.last_verified[:19] or "never",
            info.last_result,
        )
    console.print(table)
