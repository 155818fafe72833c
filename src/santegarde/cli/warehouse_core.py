"""santegarde warehouse init | feed | oppose: the health data warehouse's stores, feeds and objections (EDS).

The warehouse lives in ``warehouse/`` next to the configuration file; its keys derive from the
organisation's keyring, opened with the keystore passphrase for the duration of one command.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from sqlalchemy import Engine

from santegarde.cli.common import ReportJson, console, friendly_errors
from santegarde.cli.keys import opened
from santegarde.cli.organisation import ConfigOption
from santegarde.cli.session import CliSession, logged_in
from santegarde.cli.warehouse_engine import engine_settings, spark_store, write_engine
from santegarde.clock import utc_now
from santegarde.config import CONFIG_NAME, load
from santegarde.identity import sessions
from santegarde.referentials.model import Sensitivity
from santegarde.runtime import Organisation
from santegarde.warehouse import Warehouse, WarehouseError
from santegarde.warehouse import governance as gov
from santegarde.warehouse.access import Operator, WarehouseGuard
from santegarde.warehouse.feed import DataList, FeedReport, TextDeidentifier, checked_source
from santegarde.warehouse.feed import Progress as FeedProgress
from santegarde.warehouse.place import warehouse_directory
from santegarde.warehouse.retention import RetentionReport, WarehouseRetention
from santegarde.warehouse.retention import policy as retention_policy
from santegarde.warehouse.spark import feed as spark_feed
from santegarde.warehouse.spark.session import SparkEngineError

app = typer.Typer(help="Health data warehouse: create it, feed it, register objections.", no_args_is_help=True)


@contextmanager
def _warehouse(config: Path, *, create: bool = False) -> Iterator[Warehouse]:
    with opened(config) as org, _opened_warehouse(org, config, create=create) as warehouse:
        yield warehouse


@contextmanager
def _opened_warehouse(
    org: Organisation, config: Path, *, create: bool = False, guard: WarehouseGuard | None = None
) -> Iterator[Warehouse]:
    directory = warehouse_directory(config)
    warehouse = (
        Warehouse.init(directory, org.keyring, guard=guard)
        if create
        else Warehouse.open(directory, org.keyring, create=False, guard=guard)
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
def _session_warehouse(config: Path) -> Iterator[tuple[CliSession, Operator, Warehouse]]:
    """The user's session (``santegarde login``), who acts in it, and the warehouse guarded by it."""
    with logged_in(config) as s:
        current = sessions.require(s.identity, s.token, sensitivity=Sensitivity.SPECIAL)
        guard = WarehouseGuard(s.identity, s.org.audit)
        with _opened_warehouse(s.org, config, guard=guard) as warehouse:
            yield s, Operator(current.login, current.profile), warehouse


@contextmanager
def _bar(shown: bool = True) -> Iterator[FeedProgress]:
    if not shown:  # --json: nothing but the document on the output
        yield lambda description, done, total: None
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console) as bar:
        task = bar.add_task("Feeding", total=None)

        def advance(description: str, done: int, total: int) -> None:
            bar.update(task, description=description, completed=done, total=total)

        yield advance


def feed_document(report: FeedReport) -> dict[str, Any]:
    """What ``feed --json`` prints: the feed's report under stable keys."""
    return {
        "rows": dict(sorted(report.rows.items())),
        "refused": [{"item": r.item, "reason": r.reason} for r in report.refused],
        "objected_skipped": report.objected_skipped,
        "expired_skipped": report.expired_skipped,
        "files": report.files,
    }


def _print(report: FeedReport) -> None:
    table = Table("Table", "Rows written", title="Feed")
    for name, rows in sorted(report.rows.items()):
        table.add_row(name, str(rows))
    console.print(table)
    for refusal in report.refused:
        console.print(f"Refused {refusal.item}: {refusal.reason}.")
    console.print(f"Persons skipped because they objected: {report.objected_skipped}.")
    console.print(f"Rows skipped because their retention period had expired: {report.expired_skipped}.")


@app.command("init")
@friendly_errors
def init(
    engine: Annotated[
        str | None,
        typer.Option(
            "--engine",
            help="duckdb (one machine, the default) or spark (the health tables as Parquet files written by Apache "
            "Spark); written in the organisation's configuration",
        ),
    ] = None,
    spark_master: Annotated[
        str | None,
        typer.Option("--spark-master", help="With --engine spark: local[2] on one machine, spark://host:7077, yarn"),
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage",
            help="With --engine spark: where the Parquet tables go, a directory (relative to the configuration "
            "file's) or a URI such as hdfs://namenode/eds",
        ),
    ] = None,
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Create the warehouse's encrypted OMOP store and identity vault (genetic/location data: at first use).

    With --engine spark the identity vault and mapping stay in the warehouse's encrypted store and the health
    tables go to --storage; the engine settings are checked before anything is created.
    """
    chosen = None
    if engine is not None or spark_master is not None or storage is not None:
        chosen = engine_settings(engine or "duckdb", spark_master, storage)
    with _warehouse(config, create=True) as warehouse:
        console.print(f"Entrepôt créé dans {warehouse.directory}.")
    if chosen is not None:
        write_engine(config, chosen)
        where = ""
        if chosen.engine == "spark":
            where = f" (maître {chosen.spark_master}, tables Parquet dans {chosen.storage})"
        console.print(f"Moteur de l'entrepôt : {chosen.engine}{where}, enregistré dans {config.name}.", markup=False)


@app.command("feed")
@friendly_errors
def feed(
    source: Annotated[
        str,
        typer.Option(
            "--source",
            help="The system the files come from (e.g. dpi-chu); its identifiers are a namespace of their own: "
            "always give the same name for the same system, another name for another system",
        ),
    ],
    data_list: Annotated[
        Path | None,
        typer.Option("--data-list", help="A data list (YAML); default: the steering committee's, from governance"),
    ] = None,
    fhir: Annotated[list[Path] | None, typer.Option("--fhir", help="FHIR Bundle JSON files")] = None,
    omop_dir: Annotated[Path | None, typer.Option("--omop", help="A directory of OMOP CDM 5.4 CSV/Parquet")] = None,
    deidentify_notes: Annotated[
        bool,
        typer.Option(
            "--deidentify-notes",
            help="Let notes in (the OMOP note table; every attachment of FHIR DocumentReferences: text, HTML, "
            ".docx, PDF, images read by OCR), their text replaced by generic tags",
        ),
    ] = False,
    note_surrogates: Annotated[
        bool,
        typer.Option(
            "--note-surrogates",
            help="With --deidentify-notes: names become consistent fictitious names and dates are shifted, "
            "per patient, under the warehouse key, instead of tags",
        ),
    ] = False,
    config: ConfigOption = Path(CONFIG_NAME),
    as_json: ReportJson = False,
) -> None:
    """Feed FHIR Bundles or OMOP CDM files; only the data list's variables enter, objecting persons never.

    Needs your session (santegarde login) under the feeding profile: only it feeds the warehouse and mobilises
    the key of the genetic and location data (EDS-SEC-LOG-6); any other profile is refused, and traced.
    Without --data-list, the steering committee's data list recorded in the governance tables is used.
    """
    if bool(fhir) == (omop_dir is not None):
        raise WarehouseError("Give either --fhir files or one --omop directory, not both and not neither.")
    if note_surrogates and not deidentify_notes:
        raise WarehouseError("--note-surrogates only applies with --deidentify-notes; add it or leave it out.")
    checked_source(source)
    settings = load(config).warehouse
    if settings.engine == "spark" and fhir:
        raise SparkEngineError("no_fhir")
    if settings.engine == "spark" and deidentify_notes:
        raise SparkEngineError("no_notes")
    with _session_warehouse(config) as (s, operator, warehouse):
        checked = DataList.load(data_list) if data_list is not None else committee_data_list(s.org.engine)
        cutoff = retention_policy(s.org.referential, s.org.config.choices).cutoff(utc_now().date())
        if settings.engine == "spark":
            assert omop_dir is not None
            store = spark_store(config, settings)
            report = spark_feed.feed_omop(
                warehouse, store.spark, store.storage, omop_dir, checked, source_name=source, operator=operator,
                cutoff=cutoff,
            )  # fmt: skip
            _print(report)
            return
        deidentify = None
        if deidentify_notes:
            from santegarde.deid.detector import Detector  # edsnlp and spaCy: loaded only when notes are fed

            detector = Detector()
            deidentify = detector.deidentify
            if note_surrogates:
                from functools import partial

                from santegarde.deid.surrogates import Surrogates

                deidentify = partial(detector.deidentify, surrogates=Surrogates(warehouse.surrogate_key))
        report = _feed(warehouse, checked, source, fhir, omop_dir, operator, cutoff, deidentify, bar=not as_json)
    if as_json:
        print(json.dumps(feed_document(report), ensure_ascii=False, indent=2))
    else:
        _print(report)


def _feed(
    warehouse: Warehouse, checked: DataList, source: str, fhir: list[Path] | None, omop_dir: Path | None,
    operator: Operator, cutoff: date, deidentify: TextDeidentifier | None = None, *, bar: bool = True,
) -> FeedReport:  # fmt: skip
    """Feed with a progress bar (unless not ``bar``); rows collected on or before ``cutoff`` (the organisation's
    retention) stay out."""
    with _bar(bar) as progress:
        if fhir:
            report = warehouse.feed_fhir(
                fhir, checked, progress=progress, source=source, operator=operator, cutoff=cutoff,
                deidentify=deidentify,
            )  # fmt: skip
        else:
            assert omop_dir is not None
            report = warehouse.feed_omop(
                omop_dir,
                checked,
                progress=progress,
                source_name=source,
                operator=operator,
                cutoff=cutoff,
                deidentify=deidentify,
            )
    return report


@app.command("oppose")
@friendly_errors
def oppose(
    family: Annotated[str, typer.Option("--family", help="Family name")],
    given: Annotated[str, typer.Option("--given", help="First given name")],
    birthdate: Annotated[str, typer.Option("--birthdate", help="Birth date, YYYY-MM-DD")],
    ins: Annotated[str | None, typer.Option("--ins", help="INS, to tell homonyms apart")] = None,
    birthplace: Annotated[
        str | None, typer.Option("--birthplace", help="Birthplace (town), to tell homonyms apart")
    ] = None,
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Register a durable objection: the person's data is deleted and no later feed brings it back.

    Needs your session (santegarde login) under the profile handling the persons' rights (data_steward);
    the person's genetic results are deleted without being read, and every step is traced.
    """
    with _session_warehouse(config) as (_, operator, warehouse):
        pseudonym = warehouse.person_of(
            {"family": family, "given": given, "birthdate": birthdate}, ins=ins, birth_place=birthplace
        )
        deleted = warehouse.oppose_pseudonym(pseudonym, by=operator)
    console.print(
        f"Opposition enregistrée ; {deleted} ligne(s) supprimée(s). Les alimentations suivantes écarteront cette "
        "personne."
    )


@app.command("retention")
@friendly_errors
def retention(
    apply: Annotated[
        bool, typer.Option("--apply", help="Delete what expired; without it, a dry run that changes nothing")
    ] = False,
    at: Annotated[
        str | None, typer.Option("--at", help="Plan as at this date (YYYY-MM-DD); dry run only, default today")
    ] = None,
    config: ConfigOption = Path(CONFIG_NAME),
    as_json: ReportJson = False,
) -> None:
    """Health data past their retention period (at most 20 years from collection, EDS-7): report, or delete.

    A dry run by default: counts per table and persons affected. With --apply the expired rows are deleted (one
    transaction per store), then the identity, mapping, person, genetic and location rows of the persons who have
    no health data left, and the workspaces of projects that are no longer running; the counts go to the audit
    trail. Needs your session (santegarde login) under a profile that may mobilise the key of the genetic and
    location data (EDS-SEC-LOG-6). A shorter period is a justified retention deviation on 'patient_data' in the
    configuration; a longer one is refused.
    """
    day = None
    if at is not None:
        if apply:
            raise WarehouseError("--at only plans ahead: --apply always runs at today's date; drop one of them.")
        try:
            day = date.fromisoformat(at)
        except ValueError:
            raise WarehouseError(f"--at {at!r} is not a date; write it as YYYY-MM-DD.") from None
    with _session_warehouse(config) as (s, operator, warehouse):
        run = WarehouseRetention(
            warehouse,
            s.org.audit,
            retention_policy(s.org.referential, s.org.config.choices),
            operator=operator,
            guard=warehouse.guard,
            governance=s.org.engine,
        )
        report = run.apply() if apply else run.plan(day)
    if as_json:
        print(json.dumps(retention_document(report), ensure_ascii=False, indent=2))
    else:
        _print_retention(report)


def retention_document(report: RetentionReport) -> dict[str, Any]:
    """What ``retention --json`` prints: the plan (or what was deleted) under stable keys."""
    return {
        "today": report.today.isoformat(),
        "cutoff": report.cutoff.isoformat(),
        "limit": report.limit.human(),
        "end_action": report.end_action.value,
        "applied": report.applied,
        "tables": [
            {
                "store": line.store,
                "table": line.table,
                "collection_date": line.collected_on,
                "expired": line.expired,
                "persons": line.persons,
                "kept": line.kept,
                "undated": line.undated,
            }
            for line in report.tables
        ],
        "expired_rows": report.expired_rows,
        "persons_affected": report.persons_affected,
        "persons_ended": report.persons_ended,
        "deleted": dict(report.deleted),
        "periods_shortened": report.periods_shortened,
        "references_cleared": report.references_cleared,
        "undated": report.undated,
        "workspaces": [{"project": w.project, "status": w.status, "files": list(w.files)} for w in report.workspaces],
    }


def _print_retention(report: RetentionReport) -> None:
    verb = "Deleted" if report.applied else "Would delete (dry run)"
    title = (
        f"Warehouse retention at {report.today.isoformat()}: {report.limit.human()} from collection, rows collected "
        f"on or before {report.cutoff.isoformat()} expire"
    )
    table = Table("Store", "Table", "Collection date", "Expired rows", "Persons", "Rows kept", title=title)
    for line in report.tables:
        kept = f"{line.kept} ({line.undated} undated)" if line.undated else str(line.kept)
        table.add_row(line.store, line.table, line.collected_on, str(line.expired), str(line.persons), kept)
    console.print(table)
    console.print(f"Persons with expired health data: {report.persons_affected}.")
    console.print(
        f"Persons with no health data left, whose identifying data end: {report.persons_ended} "
        f"({', '.join(f'{k} {v}' for k, v in report.deleted.items() if not k.startswith('omop.')) or 'nothing'})."
    )
    console.print(f"End action: {report.end_action.value}. {verb}: {report.expired_rows} expired rows.")
    if report.applied:
        console.print(
            f"Observation periods shortened: {report.periods_shortened}; references to deleted visits cleared: "
            f"{report.references_cleared}."
        )
    if report.undated:
        console.print(f"{report.undated} genetic results have no date and are kept: date them or delete them by hand.")
    for workspace in report.workspaces:
        action = "removed" if report.applied else "would be removed"
        console.print(f"Workspace of '{workspace.project}' ({workspace.status}): {action}.")


@app.command("vocabulary")
@friendly_errors
def vocabulary_load(
    folder: Annotated[Path, typer.Argument(help="Dossier des fichiers Athena (CONCEPT.csv…)")],
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Charger les vocabulaires OMOP (format Athena) et rattacher les codes source à leurs concepts standard.

    Needs your session (santegarde login) under the feeding profile; the load is one transaction and is traced.
    """
    from santegarde.warehouse.vocabulary import load_vocabulary

    with _session_warehouse(config) as (_, operator, warehouse):
        counts = load_vocabulary(warehouse, folder, operator)
    console.print("Vocabulaires chargés : " + ", ".join(f"{t} {n}" for t, n in sorted(counts.items())) + ".")
