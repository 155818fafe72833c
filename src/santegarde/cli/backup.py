"""santegarde backup create | verify | list | restore | drill: encrypted backups, verified restores (COM-BAK-1)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from santegarde.cli.common import (
    EXIT_REFUSED,
    JsonOption,
    LangOption,
    console,
    err_console,
    friendly_errors,
    show_table,
)
from santegarde.cli.keys import ask_passphrase, opened
from santegarde.cli.organisation import ConfigOption
from santegarde.config import CONFIG_NAME, load
from santegarde.crypto import load_keyring, open_keystore
from santegarde.errors import WordedError
from santegarde.lifecycle import backup, restore
from santegarde.lifecycle.backup import Progress as TableProgress
from santegarde.lifecycle.restore import RestoreReport, Steps
from santegarde.refusals import Said

app = typer.Typer(
    help="Encrypted backups of the records and the audit trail, and their verified restore.", no_args_is_help=True
)

DirOption = Annotated[
    Path | None,
    typer.Option("--to", help="The directory of the backups (default: backup_directory of the configuration)"),
]


def _said(lang: str) -> dict[str, Any]:
    """What the backup commands print, in ``lang`` (documents_text.yaml, backup_desk)."""
    from santegarde.governance import doctext

    found: dict[str, Any] = doctext.words(lang)["backup_desk"]
    return found


def _refused(key: str, **facts: Any) -> WordedError:
    """A refusal of the backup commands in French and English (refusals.yaml, backup)."""
    from santegarde import refusals

    return WordedError(refusals.sentences("backup", key, **facts))


def _problems(problems: Sequence[Said], said: dict[str, Any], lang: str) -> NoReturn:
    for problem in problems:
        err_console.print(f"[bold red]{said['problem']}[/] {escape(problem.in_language(lang))}", soft_wrap=True)
    raise typer.Exit(EXIT_REFUSED)


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


def _print_restored(report: RestoreReport, said: dict[str, Any]) -> None:
    line = said["restored_report"].format(
        backup=report.backup,
        created=report.created_at[:19].replace("T", " "),
        tables=report.tables,
        rows=report.rows,
        keys=report.patient_keys,
        records=report.sampled_records,
        entries=report.audit_entries,
    )
    console.print(line, markup=False)


def _directory(given: Path | None, configured: str | None) -> Path:
    if given is not None:
        return given
    if configured:
        return Path(configured)
    raise _refused("no_directory", setting="backup_directory")


@app.command("create")
@friendly_errors
def create(to: DirOption = None, lang: LangOption = "fr", config: ConfigOption = Path(CONFIG_NAME)) -> None:
    """Write one encrypted backup file and rewrite the patient-key escrow beside it."""
    said = _said(lang)
    with opened(config) as org, _bar(said["backing_up"]) as progress:
        path = backup.create_backup(org, _directory(to, org.config.backup_directory), progress=progress)
    console.print(said["written"].format(path=path), markup=False)


@app.command("verify")
@friendly_errors
def verify(
    file: Annotated[Path, typer.Argument(help="The backup file (.sgb) to restore into a scratch store and check")],
    lang: LangOption = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Decrypt the backup, restore it into a scratch store, compare it and verify its audit trail."""
    said = _said(lang)
    with opened(config) as org:
        report = backup.verify_backup(org, file)
    verified = said["verified"].format(
        file=report.file, tables=report.tables, rows=report.rows, entries=report.audit_entries
    )
    console.print(verified, markup=False)
    if report.escrow_patients is not None:
        console.print(said["escrow"].format(n=report.escrow_patients))
    if report.changed_since:
        console.print(said["changed"].format(tables=", ".join(report.changed_since)), markup=False)
    if not report.live:
        console.print(said["not_live"], markup=False)
    if not report.ok:
        _problems(report.problems, said, lang)
    console.print(f"[bold green]{said['verifies']}[/]")


@app.command("list")
@friendly_errors
def list_all(
    directory: Annotated[Path | None, typer.Argument(metavar="[DIR]", help="The directory of the backups")] = None,
    to: DirOption = None,
    lang: LangOption = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
    as_json: JsonOption = False,
) -> None:
    """The backups of a directory (DIR, --to, or the configured backup_directory), with their last verification."""
    said = _said("en" if as_json else lang)  # --json: stable keys and values for scripts
    if directory is not None and to is not None and directory != to:
        raise _refused("directory_twice", directory=directory, to=to)
    to = _directory(directory or to, load(config).backup_directory if config.exists() else None)
    table = Table(*said["columns"])
    for info in backup.list_backups(to):
        table.add_row(
            info.path.name,
            info.created_at[:19],
            str(info.tables),
            str(info.rows),
            f"{info.size:,}",
            info.last_verified[:19] or said["never"],
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
    lang: LangOption = "fr",
) -> None:
    """Restore a backup into a new directory as a complete organisation, verified before it is put in place.

    Nothing is written if the target is not empty, the backup is altered or the passphrase is wrong.

    A restore that does not verify (counts and hashes, audit trail, records decrypted) is removed.
    """
    said = _said(lang)
    source = load(config)
    keydir = keyring if keyring is not None else Path(source.keyring_path)
    ring = load_keyring(open_keystore(keydir, ask_passphrase(lang=lang)), keydir)
    with _steps(said["restoring"]) as (step, table):
        report = restore.restore_organisation(
            file, to, ring=ring, keyring_source=keydir, config=source, config_source=config,
            database_url=database_url, audit_database_url=audit_database_url, steps=step, tables=table,
        )  # fmt: skip
    _print_restored(report, said)
    restored = said["restored"].format(to=to)
    console.print(f"[bold green]{restored}[/] " + said["restored_next"].format(config=report.config_path))


@app.command("drill")
@friendly_errors
def drill(
    backup_file: Annotated[
        Path | None, typer.Option("--backup", help="The backup to restore (default: the latest of the directory)")
    ] = None,
    to: DirOption = None,
    lang: LangOption = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Restore drill: restore a backup into a temporary directory, verify and time it, remove it, keep the evidence."""
    said = _said(lang)
    with opened(config) as org:
        path = backup_file or restore.latest_backup(_directory(to, org.config.backup_directory))
        with _steps(said["drilling"]) as (step, table):
            report = restore.run_drill(org, path, steps=step, tables=table)
    if report.restore is not None and report.restore.hashes_ok:
        _print_restored(report.restore, said)
    seconds = f"{report.duration_seconds:.1f}"
    if lang == "fr":
        seconds = seconds.replace(".", ",")
    console.print(said["drill"].format(backup=report.backup, by=report.by, seconds=seconds), markup=False)
    if not report.ok:
        _problems(report.problems, said, lang)
    evidence = said["drill_evidence"].format(log=path.parent / backup.LOG_NAME)
    console.print(f"[bold green]{said['drill_passed']}[/] {evidence}")
