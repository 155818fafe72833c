"""santegarde backup create | verify | list | restore | drill: encrypted backups, verified restores (COM-BAK-1)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from santegarde.cli.common import EXIT_REFUSED, JsonOption, console, err_console, friendly_errors, show_table
from santegarde.cli.keys import ask_passphrase, opened
from santegarde.cli.organisation import ConfigOption
from santegarde.config import CONFIG_NAME, load
from santegarde.crypto import load_keyring, open_keystore
from santegarde.lifecycle import backup, restore
from santegarde.lifecycle.backup import BackupRefused
from santegarde.lifecycle.backup import Progress as TableProgress
from santegarde.lifecycle.restore import RestoreReport, Steps

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


@contextmanager
def _steps(label: str) -> Iterator[tuple[Steps, TableProgress]]:
    """A Rich progress bar over the steps of a restore, naming the table being compared; yields both callbacks."""
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)
        current = [label]

        def step(name: str, index: int, total: int) -> None:
            current[0] = f"{label}: {name}"
            bar.update(task, description=current[0], completed=index - 1, total=total)

        def table(name: str, index: int, total: int) -> None:
            bar.update(task, description=f"{current[0]} ({name}, {index}/{total})")

        yield step, table


def _print_restored(report: RestoreReport) -> None:
    console.print(
        f"{report.backup} (of {report.created_at[:19]} UTC): {report.tables} tables and {report.rows} rows match the "
        f"backup header's counts and hashes; {report.patient_keys} patient keys restored from the key escrow; "
        f"{report.sampled_records} records decrypted; the restored audit trail verifies ({report.audit_entries} "
        "entries, the restore included)."
    )


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
    if not report.live:
        console.print(
            "The organisation's databases are not here (only its configuration and keyring): the backup was not "
            "compared with live data and the verification is logged beside the backups only. "
            "Restore it with 'santegarde backup restore'."
        )
    if not report.ok:
        for problem in report.problems:
            err_console.print(f"[bold red]Problem:[/] {problem}", soft_wrap=True)
        raise typer.Exit(EXIT_REFUSED)
    console.print("[bold green]The backup restores and verifies.[/]")


@app.command("list")
@friendly_errors
def list_all(
    directory: Annotated[Path | None, typer.Argument(metavar="[DIR]", help="The directory of the backups")] = None,
    to: DirOption = None,
    config: ConfigOption = Path(CONFIG_NAME),
    as_json: JsonOption = False,
) -> None:
    """The backups of a directory (DIR, --to, or the configured backup_directory), with their last verification."""
    if directory is not None and to is not None and directory != to:
        raise BackupRefused(f"Name the directory once: {directory} or --to {to}, not both.")
    to = _directory(directory or to, load(config).backup_directory if config.exists() else None)
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
    show_table(table, as_json)


@app.command("restore")
@friendly_errors
def restore_command(
    file: Annotated[Path, typer.Argument(help="The backup file (.sgb); the key escrow keys.sgk must be beside it")],
    to: Annotated[Path, typer.Option("--to", help="The new or empty directory of the restored organisation")],
    config: Annotated[
        Path,
        typer.Option(
            "--config", "-c", envvar="SANTEGARDE_CONFIG", help="A copy of the organisation's configuration file"
        ),
    ] = Path(CONFIG_NAME),
    keyring: Annotated[
        Path | None,
        typer.Option(
            "--keyring",
            help="The copy of the organisation's keyring directory, kept apart from the backups "
            "(default: keyring_path of the configuration); opened with the keystore passphrase",
        ),
    ] = None,
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="PostgreSQL: an empty database for the records")
    ] = None,
    audit_database_url: Annotated[
        str | None,
        typer.Option(
            "--audit-database-url", help="PostgreSQL: an empty database for the audit trail (default: --database-url)"
        ),
    ] = None,
) -> None:
    """Restore a backup into a new directory as a complete organisation, verified before it is put in place.

    Nothing is written if the target is not empty, the backup is altered or the passphrase is wrong.

    A restore that does not verify (counts and hashes, audit trail, records decrypted) is removed.
    """
    source = load(config)
    keydir = keyring if keyring is not None else Path(source.keyring_path)
    ring = load_keyring(open_keystore(keydir, ask_passphrase()), keydir)
    with _steps("Restoring") as (step, table):
        report = restore.restore_organisation(
            file, to, ring=ring, keyring_source=keydir, config=source, config_source=config,
            database_url=database_url, audit_database_url=audit_database_url, steps=step, tables=table,
        )  # fmt: skip
    _print_restored(report)
    console.print(
        f"[bold green]Organisation restored in {to}.[/] Its configuration: {report.config_path}; "
        "check it with 'santegarde audit verify' and 'santegarde config check'."
    )


@app.command("drill")
@friendly_errors
def drill(
    backup_file: Annotated[
        Path | None, typer.Option("--backup", help="The backup to restore (default: the latest of the directory)")
    ] = None,
    to: DirOption = None,
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Restore drill: restore a backup into a temporary directory, verify and time it, remove it, keep the evidence."""
    with opened(config) as org:
        path = backup_file or restore.latest_backup(_directory(to, org.config.backup_directory))
        with _steps("Restore drill") as (step, table):
            report = restore.run_drill(org, path, steps=step, tables=table)
    if report.restore is not None and report.restore.hashes_ok:
        _print_restored(report.restore)
    console.print(f"Drill of {report.backup} by {report.by}: {report.duration_seconds:.1f} s; the copy is removed.")
    if not report.ok:
        for problem in report.problems:
            err_console.print(f"[bold red]Problem:[/] {problem}", soft_wrap=True)
        raise typer.Exit(EXIT_REFUSED)
    console.print(
        f"[bold green]The drill passed;[/] its evidence is in {path.parent / backup.LOG_NAME} and the audit trail."
    )
