"""santegarde warehouse export request|check|review|release|reject|training and warehouse indicator.

Every export goes through the gate (EDS-SEC-EXP-1..5): the logged-in user requests it under a profile the
text lets export anonymous data for the purpose, the gate checks it where the data is — the warehouse's own
encrypted OMOP store opened through the keyring (tables by their OMOP names), the Parquet tables Spark published
when the configuration says ``engine: spark`` (same names, same SQL, same decisions), or a plain DuckDB database
given with ``--database`` — and an empowered manager (profile
``export_reviewer``) other than the requester releases it, or a trained one reviews it when quarantined.
The gate's state and outbox live in ``warehouse/exports`` next to the configuration file. Its thresholds come
from ``warehouse/export-thresholds.yaml`` there if present (keys: the fields of ``GateThresholds``), else the
justified defaults.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import duckdb
import typer
from rich.table import Table

from santegarde.cli.common import ReportJson, console, friendly_errors
from santegarde.cli.organisation import ConfigOption
from santegarde.cli.session import logged_in
from santegarde.cli.warehouse_engine import spark_store
from santegarde.config import CONFIG_NAME
from santegarde.identity import sessions
from santegarde.referentials.model import Sensitivity
from santegarde.runtime import Organisation
from santegarde.warehouse.gate import (
    Engine,
    ExportRequest,
    Gate,
    GateError,
    GrantReviewers,
    IndicatorSpec,
    StoredRequest,
    criterion_name,
    criterion_text,
    export_words,
)
from santegarde.warehouse.place import exports_directory, load_thresholds, thresholds_path

__all__ = ["load_thresholds", "thresholds_path"]  # where the CLI's tests and measure commands read them
from santegarde.warehouse.spark.session import SparkEngineError

app = typer.Typer(
    help="Exports through the anonymity gate: request, check, review, release, reject.", no_args_is_help=True
)

Database = Annotated[
    Path | None,
    typer.Option(
        "--database",
        help="A plain DuckDB database the source query runs on; default: the warehouse's own encrypted OMOP store, "
        "opened through the keyring",
    ),
]
RequestId = Annotated[int, typer.Argument(help="The export request number")]
Source = Annotated[str, typer.Option("--source", help="The SELECT query producing the rows")]
Recipient = Annotated[str, typer.Option("--recipient", help="Who receives the export")]
Purpose = Annotated[str, typer.Option("--purpose", help="The purpose (e.g. activity_indicators)")]
Project = Annotated[str, typer.Option("--project", help="The project or activity the export serves")]
Format = Annotated[str, typer.Option("--format", help="parquet or csv")]
Lang = Annotated[
    str, typer.Option("--lang", help="The language of what the command prints and of the report: fr (default) or en")
]


def _said(lang: str) -> dict[str, str]:
    """What an export command prints after it succeeds, in ``lang``."""
    found: dict[str, str] = export_words(lang)["cli"]
    return found


@contextmanager
def _gate(config: Path) -> Iterator[tuple[Gate, str, Organisation]]:
    """The gate of the organisation (with its configured thresholds), the logged-in user's login, the organisation."""
    thresholds = load_thresholds(config)
    with logged_in(config) as s:
        login = sessions.state(s.identity, s.token).login
        gate = Gate(exports_directory(config), s.org.audit, GrantReviewers(s.identity), thresholds=thresholds)
        yield gate, login, s.org


@contextmanager
def _requesting_gate(config: Path) -> Iterator[tuple[Gate, str, Callable[[ExportRequest], int]]]:
    """The gate, the login, and how to submit under the session's profile (two factors, EDS-SEC-AUT-1)."""
    thresholds = load_thresholds(config)
    with logged_in(config) as s:
        current = sessions.require(s.identity, s.token, sensitivity=Sensitivity.SPECIAL)
        gate = Gate(exports_directory(config), s.org.audit, GrantReviewers(s.identity), thresholds=thresholds)
        yield gate, current.login, lambda request: gate.submit_as(request, current.profile, s.org.referential)


@contextmanager
def _source(database: Path | None, org: Organisation, config: Path) -> Iterator[Engine]:
    """Where the source query runs: the warehouse's own encrypted OMOP store (its tables by their OMOP names,
    opened with the organisation's keyring), the Parquet tables Spark published when the configuration says
    ``engine: spark`` (each by its OMOP name too), or a plain DuckDB database given with --database."""
    settings = org.config.warehouse
    if database is None and settings.engine == "spark":
        from santegarde.warehouse.spark.sql import SparkRunner

        store = spark_store(config, settings)
        with store.views() as tables:
            if not tables:
                raise SparkEngineError("nothing_published", storage=store.storage)
            yield SparkRunner(store.spark)
        return
    if database is None:
        from santegarde.cli.warehouse_core import warehouse_directory
        from santegarde.warehouse import Warehouse

        with Warehouse.open(warehouse_directory(config), org.keyring, create=False) as warehouse:
            warehouse.omop.execute("USE omop")
            yield warehouse.omop
        return
    if not database.exists():
        raise GateError("no_database", database=database)
    try:
        conn = duckdb.connect(str(database), read_only=True)
    except duckdb.Error:
        raise GateError("database_unreadable", database=database) from None
    try:
        yield conn
    finally:
        conn.close()


def check_document(stored: StoredRequest, lang: str) -> dict[str, Any]:
    """What ``check --json`` prints: the request's status and each criterion (code, value, threshold, met, the
    detail in ``lang``), and the generalisation proposed, under stable keys."""
    return {
        "request": stored.id,
        "status": stored.status,
        "criteria": [
            {
                "criterion": c.name,
                "value": c.value,
                "comparison": c.comparison,
                "threshold": c.threshold,
                "met": c.passed,
                "detail": criterion_text(c, lang),
            }
            for c in stored.criteria
        ],
        "proposal": stored.proposal,
    }


def _print(stored: StoredRequest, lang: str) -> None:
    t = export_words(lang)
    status = t["statuses"].get(stored.status, stored.status)
    table = Table(
        t["criterion"],
        t["value"],
        t["threshold"],
        t["result"],
        t["detail"],
        title=t["cli"]["table_title"].format(id=stored.id, status=status),
    )
    for c in stored.criteria:
        value = "—" if c.value is None else f"{c.value:g}"
        threshold = "—" if c.threshold is None else f"{c.comparison} {c.threshold:g}"
        table.add_row(
            criterion_name(c.name, lang),
            value,
            threshold,
            t["met"] if c.passed else t["not_met"].upper(),
            criterion_text(c, lang),
        )
    console.print(table)
    if stored.proposal:
        if stored.proposal.get("found"):
            proposed = t["cli"]["proposed"].format(levels=stored.proposal["levels"])
            console.print(f"{proposed}\n{stored.proposal['sql']}", markup=False)
        else:
            console.print(t["cli"]["no_proposal"].format(reason=stored.proposal.get("reason")), markup=False)


@app.command("request")
@friendly_errors
def request(
    source: Source,
    recipient: Recipient,
    purpose: Purpose,
    project: Project,
    qi: Annotated[list[str], typer.Option("--qi", help="A quasi-identifier column (repeat)")],
    person: Annotated[
        str,
        typer.Option(
            "--person",
            help="The column identifying the person (e.g. person_id): anonymity is counted in persons; "
            "the column leaves only as pseudonyms of this export",
        ),
    ],
    sensitive: Annotated[list[str] | None, typer.Option("--sensitive", help="A sensitive column (repeat)")] = None,
    fmt: Format = "parquet",
    config: ConfigOption = Path(CONFIG_NAME),
    lang: Lang = "fr",
) -> None:
    """Request a row-level export (it leaves nothing until checked and validated).

    k, l, t and the re-identification risks are measured over persons: the export's rows are brought to one row
    per person with the --person column, and refused if a quasi-identifier or sensitive column varies within a
    person. The --person column leaves only as pseudonyms of this export (a key of its own, erased once it is
    released or rejected): two exports cannot be joined on their persons.
    """
    export_words(lang)  # an unknown language is refused before anything is recorded
    with _requesting_gate(config) as (_, login, submit):
        rid = submit(
            ExportRequest(
                source, recipient, purpose, project, login, tuple(qi), tuple(sensitive or ()), fmt, person=person
            )
        )
    console.print(_said(lang)["requested"].format(id=rid), markup=False)


@app.command("check")
@friendly_errors
def check(
    request_id: RequestId,
    database: Database = None,
    config: ConfigOption = Path(CONFIG_NAME),
    lang: Lang = "fr",
    as_json: ReportJson = False,
) -> None:
    """Measure the export (against the warehouse, or --database); a failure quarantines it and raises an alert."""
    export_words(lang)
    with _gate(config) as (gate, _, org), _source(database, org, config) as conn:
        stored = gate.check(request_id, conn)
    if as_json:
        print(json.dumps(check_document(stored, lang), ensure_ascii=False, indent=2, default=str))
    else:
        _print(stored, lang)


@app.command("release")
@friendly_errors
def release(
    request_id: RequestId, database: Database = None, config: ConfigOption = Path(CONFIG_NAME), lang: Lang = "fr"
) -> None:
    """Validate a passing export as an empowered manager (not the requester): it is written to the outbox."""
    export_words(lang)
    with _gate(config) as (gate, login, org), _source(database, org, config) as conn:
        done = gate.validate(request_id, login, conn, lang=lang)
    console.print(_said(lang)["released"].format(data=done.data, rows=done.rows, report=done.report_html), markup=False)


@app.command("review")
@friendly_errors
def review(
    request_id: RequestId,
    decision: Annotated[str, typer.Option("--decision", help="release or reject")],
    risk_study: Annotated[Path, typer.Option("--risk-study", help="File of the written risk study (or reason)")],
    database: Database = None,
    config: ConfigOption = Path(CONFIG_NAME),
    lang: Lang = "fr",
) -> None:
    """Review a quarantined export as a trained, empowered manager: release with a risk study, or reject."""
    export_words(lang)
    text = risk_study.read_text(encoding="utf-8")
    with _gate(config) as (gate, login, org):
        if decision != "release":
            done = gate.review_quarantined(request_id, login, decision, text, lang=lang)
        else:
            with _source(database, org, config) as conn:
                done = gate.review_quarantined(request_id, login, decision, text, conn, lang=lang)
    said = _said(lang)
    console.print(said["released_short"].format(data=done.data) if done else said["rejected"].format(id=request_id))


@app.command("reject")
@friendly_errors
def reject(
    request_id: RequestId,
    reason: Annotated[str, typer.Option("--reason", help="Why it is rejected")],
    config: ConfigOption = Path(CONFIG_NAME),
    lang: Lang = "fr",
) -> None:
    """Reject an export as an empowered manager; nothing leaves."""
    export_words(lang)
    with _gate(config) as (gate, login, _):
        gate.reject(request_id, login, reason)
    console.print(_said(lang)["rejected"].format(id=request_id), markup=False)


@app.command("training")
@friendly_errors
def training(
    login: Annotated[str, typer.Argument(help="The trained manager's login")],
    trained_on: Annotated[str, typer.Option("--on", help="Date of the training, YYYY-MM-DD")],
    subject: Annotated[str, typer.Option("--subject", help="What the training covered")],
    config: ConfigOption = Path(CONFIG_NAME),
    lang: Lang = "fr",
) -> None:
    """Record a manager's export-review training (valid three years), for the controller: under the controller's
    profile, never one's own."""
    export_words(lang)
    thresholds = load_thresholds(config)
    with logged_in(config) as s:
        current = sessions.require(s.identity, s.token, sensitivity=Sensitivity.SPECIAL)
        gate = Gate(exports_directory(config), s.org.audit, GrantReviewers(s.identity), thresholds=thresholds)
        gate.record_training_as(
            login,
            date.fromisoformat(trained_on),
            subject,
            by=current.login,
            profile=current.profile,
            referential=s.org.referential,
        )
    console.print(_said(lang)["trained"].format(login=login), markup=False)


def _filters(values: list[str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    result = []
    for item in values:
        name, sep, wanted = item.partition("=")
        if not sep or not name.strip():
            raise GateError("bad_filter", item=item)
        result.append((name.strip(), tuple(v.strip() for v in wanted.split(","))))
    return tuple(result)


@friendly_errors
def indicator(
    source: Source,
    recipient: Recipient,
    purpose: Purpose,
    project: Project,
    dimension: Annotated[list[str], typer.Option("--dimension", help="A column to count by (repeat)")],
    filters: Annotated[list[str] | None, typer.Option("--filter", help="column=value[,value] (repeat)")] = None,
    person: Annotated[str | None, typer.Option("--person", help="Column identifying persons (distinct count)")] = None,
    fmt: Format = "csv",
    config: ConfigOption = Path(CONFIG_NAME),
    lang: Lang = "fr",
) -> None:
    """Request an indicator export (counts with small-cell suppression), checked by the same gate."""
    export_words(lang)
    spec = IndicatorSpec(tuple(dimension), _filters(filters or []), (), person)
    with _requesting_gate(config) as (_, login, submit):
        rid = submit(
            ExportRequest(source, recipient, purpose, project, login, format=fmt, kind="indicator", indicator=spec)
        )
    console.print(_said(lang)["indicator_requested"].format(id=rid), markup=False)


app.command("indicator")(indicator)
