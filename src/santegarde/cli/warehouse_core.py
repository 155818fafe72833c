"""santegarde warehouse init | feed | oppose: the health data warehouse's stores, feeds and objections (EDS).

The warehouse lives in ``warehouse/`` next to the configuration file; its keys derive from the
organisation's keyring, opened with the keystore passphrase for the duration of one command.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from sqlalchemy import Engine

from santegarde.cli.common import console, friendly_errors
from santegarde.cli.keys import opened
from santegarde.cli.organisation import ConfigOption
from santegarde.config import CONFIG_NAME
from santegarde.runtime import Organisation
from santegarde.warehouse import Warehouse, WarehouseError
from santegarde.warehouse import governance as gov
from santegarde.warehouse.feed import DataList, FeedReport
from santegarde.warehouse.feed import Progress as FeedProgress

app = typer.Typer(help="Health data warehouse: create it, feed it, register objections.", no_args_is_help=True)


def warehouse_directory(config: Path) -> Path:
    return config.resolve().parent / "warehouse"


@contextmanager
def _warehouse(config: Path, *, create: bool = False) -> Iterator[Warehouse]:
    with opened(config) as org, _opened_warehouse(org, config, create=create) as warehouse:
        yield warehouse


@contextmanager
def _opened_warehouse(org: Organisation, config: Path, *, create: bool = False) -> Iterator[Warehouse]:
    directory = warehouse_directory(config)
    warehouse = (
        Warehouse.init(directory, org.keyring) if create else Warehouse.open(directory, org.keyring, create=False)
    )
    try:
        yield warehouse
    finally:
        warehouse.close()


def committee_data_list(engine: Engine) -> DataList:
    """The steering committee's data list from the governance tables (EDS-3); refused if it is empty."""
    if not gov.data_list(engine):
        raise WarehouseError(
            "The steering committee's data list is empty, so nothing may enter the warehouse: declare variables "
            "with santegarde warehouse committee variable-add (or give --data-list)."
        )
    checked: DataList = gov.feed_data_list(engine)
    return checked


@contextmanager
def _bar() -> Iterator[FeedProgress]:
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console) as bar:
        task = bar.add_task("Feeding", total=None)

        def advance(description: str, done: int, total: int) -> None:
            bar.update(task, description=description, completed=done, total=total)

        yield advance


def _print(report: FeedReport) -> None:
    table = Table("Table", "Rows written", title="Feed")
    for name, rows in sorted(report.rows.items()):
        table.add_row(name, str(rows))
    console.print(table)
    for refusal in report.refused:
        console.print(f"Refused {refusal.item}: {refusal.reason}.")
    console.print(f"Persons skipped because they objected: {report.objected_skipped}.")


@app.command("init")
@friendly_errors
def init(config: ConfigOption = Path(CONFIG_NAME)) -> None:
    """Create the warehouse's three encrypted stores (OMOP, identity vault, genetic/location data)."""
    with _warehouse(config, create=True) as warehouse:
        console.print(f"Warehouse created in {warehouse.directory}.")


@app.command("feed")
@friendly_errors
def feed(
    data_list: Annotated[
        Path | None,
        typer.Option("--data-list", help="A data list (YAML); default: the steering committee's, from governance"),
    ] = None,
    fhir: Annotated[list[Path] | None, typer.Option("--fhir", help="FHIR Bundle JSON files")] = None,
    omop_dir: Annotated[Path | None, typer.Option("--omop", help="A directory of OMOP CDM 5.4 CSV/Parquet")] = None,
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Feed FHIR Bundles or OMOP CDM files; only the data list's variables enter, objecting persons never.

    Without --data-list, the steering committee's data list recorded in the governance tables is used.
    """
    if bool(fhir) == (omop_dir is not None):
        raise WarehouseError("Give either --fhir files or one --omop directory, not both and not neither.")
    with opened(config) as org, _opened_warehouse(org, config) as warehouse:
        checked = DataList.load(data_list) if data_list is not None else committee_data_list(org.engine)
        report = _feed(warehouse, checked, fhir, omop_dir)
    _print(report)


def _feed(warehouse: Warehouse, checked: DataList, fhir: list[Path] | None, omop_dir: Path | None) -> FeedReport:
    with _bar() as progress:
        if fhir:
            report = warehouse.feed_fhir(fhir, checked, progress=progress)
        else:
            assert omop_dir is not None
            report = warehouse.feed_omop(omop_dir, checked, progress=progress)
    return report


@app.command("oppose")
@friendly_errors
def oppose(
    family: Annotated[str, typer.Option("--family", help="Family name")],
    given: Annotated[str, typer.Option("--given", help="First given name")],
    birthdate: Annotated[str, typer.Option("--birthdate", help="Birth date, YYYY-MM-DD")],
    ins: Annotated[str | None, typer.Option("--ins", help="INS, to check against the identity vault")] = None,
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Register a durable objection: the person's data is deleted and no later feed brings it back."""
    with _warehouse(config) as warehouse:
        pseudonym = warehouse.pseudonym_of({"family": family, "given": given, "birthdate": birthdate})
        if ins:
            with warehouse.vault_connection() as con:
                row = con.execute("SELECT ins FROM vault.identity WHERE pseudonym = $p", {"p": pseudonym}).fetchone()
            if row is not None and row[0] and row[0] != ins:
                raise WarehouseError("The INS given differs from the one recorded for this identity; check it.")
        deleted = warehouse.oppose_pseudonym(pseudonym)
    console.print(f"Objection registered; {deleted} rows removed. Later feeds will skip this person.")
