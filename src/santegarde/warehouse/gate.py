"""The export gate (EDS-6, EDS-SEC-EXP-1..5, EDS-SEC-DAY-1): nothing leaves the warehouse or a workspace otherwise.

An export request declares its source (a SQL query over any DuckDB connection — the warehouse or a workspace — or
over the Parquet tables of the warehouse on Spark, through the engine's runner: the same SQL text on both engines),
its quasi-identifiers and sensitive attributes, recipient, purpose, project, requester and format, and whether
it is row-level or an indicator. ``check`` measures it (k, l, t in SQL; singling-out, linkability and inference
risks with anonymeter on a control split for row-level exports; filters and smallest shown cell for indicators,
after their suppression). A pass waits for a manager's validation; a failure raises an alert, goes to quarantine
with a generalisation proposal, and waits for a trained, empowered manager who releases it only with a written
risk study, or rejects it. ``_release`` is the only function writing data: into ``outbox/export-<id>/``, moved
there in one rename with its HTML and JSON report, after checking that the data is still the data checked.
The state (requests, alerts, trainings, decisions) is a small SQLite file; every step is traced by reference.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import secrets
import shutil
import sqlite3
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from markupsafe import Markup, escape

from santegarde import refusals
from santegarde.atomic import write_atomic, write_new_bytes
from santegarde.audit.trail import AuditEvent, AuditTrail
from santegarde.clock import utc_now
from santegarde.errors import WordedError
from santegarde.governance import doctext
from santegarde.governance.documents import render_html
from santegarde.governance.vocabulary import VocabularyError, label
from santegarde.identity import accounts, grants
from santegarde.identity.context import IdentityContext
from santegarde.policy.desks import Desk, decide_desk
from santegarde.referentials.model import Granularity, Operation, Referential
from santegarde.warehouse import lineage
from santegarde.warehouse.anonymity import (
    TOTAL,
    AnonymityError,
    Generaliser,
    Indicator,
    IndicatorRefused,
    Query,
    Thresholds,
    indicator,
    measure,
    propose,
    quote_ident,
)
from santegarde.warehouse.anonymity._sql import Runner, runner_of

Engine = duckdb.DuckDBPyConnection | Runner  # where the source query runs: a DuckDB connection or a Spark runner
ORDERED = "ORDER BY ALL ASC NULLS LAST"  # DuckDB's default order, said explicitly: Spark puts NULLs first

Clock = Callable[[], datetime]
RiskAssessor = Callable[[pa.Table, "ExportRequest", "GateThresholds"], list[tuple[Any, str]]]
PROFILE = "export_reviewer"
REFERENTIAL = "eds-2021-118"
SECTION = "10.2"
TRAINING_RULE = "EDS-SEC-EXP-3.training"  # a training recorded by the controller, never by the trained manager
STATE_FILE = "gate.sqlite"
OUTBOX = "outbox"
FORMATS = ("parquet", "csv")
KINDS = ("row", "indicator")
MIN_RISK_STUDY = 200
TRAINING_VALIDITY = timedelta(days=3 * 365 + 1)
DECISIONS = ("release", "reject")

REQUESTED = "requested"
AWAITING = "awaiting_validation"
QUARANTINED = "quarantined"
RELEASED = "released"
REJECTED = "rejected"

# The thresholds whose choice the report justifies; the justifications are worded from documents_text.yaml.
JUSTIFICATIONS = ("k", "l_distinct", "l_entropy", "t", "max_singling_out", "max_linkability", "max_inference",
                  "min_cell", "max_suppression")


class GateError(WordedError):
    """An export request, check, review or release is refused or cannot be done; the message says why.

    Worded in French and English from the catalogue (``data/refusals.yaml``, ``gate``).
    """

    def __init__(self, key: str, /, **facts: Any) -> None:
        self.key = key
        super().__init__(refusals.sentences("gate", key, **facts))


def engine_refusal(error: Exception, key: str = "engine") -> GateError:
    """The anonymity engine's (English) refusal as a gate refusal: in French from ``engine_messages.yaml``."""
    text = str(error)
    return GateError(key, message={"fr": doctext.engine_message(text, "fr").text, "en": text})


def status_words(status: str) -> dict[str, str]:
    """An export's status in words, in every language ("en quarantaine", "quarantined")."""
    return {lang: str(doctext.words(lang)["export"]["statuses"].get(status, status)) for lang in doctext.LANGS}


class IdentifierColumnError(GateError):
    """A released column carries identifiers (an aliased person column, a surrogate key): the export is refused.
    Worded by ``lineage.sentences`` (each column named with where its values come from)."""

    def __init__(self, sentences: dict[str, str]) -> None:
        self.key = "identifier_column"
        WordedError.__init__(self, sentences)


# ---- configuration and values ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GateThresholds:
    """The gate's thresholds (configuration); ``None`` disables an optional criterion. See ``JUSTIFICATIONS``."""

    k: int = 10
    l_distinct: int | None = 2
    l_entropy: float | None = None
    t: float | None = 0.2
    max_singling_out: float = 0.1
    max_linkability: float = 0.1
    max_inference: float = 0.1
    min_cell: int = 10
    max_suppression: float = 0.05
    n_attacks: int = 200
    control_share: float = 0.3
    seed: int = 0

    def __post_init__(self) -> None:
        """Refuse thresholds that mean nothing."""
        self.anonymity()
        for name in ("max_singling_out", "max_linkability", "max_inference", "control_share"):
            if not 0 <= getattr(self, name) <= 1:
                raise GateError("threshold_range", name=name)
        if self.min_cell < 1 or self.n_attacks < 1:
            raise GateError("threshold_minimum")

    def anonymity(self) -> Thresholds:
        """The metrics' thresholds."""
        try:
            return Thresholds(
                k=self.k, l_distinct=self.l_distinct, l_entropy=self.l_entropy, t=self.t,
                max_suppression=self.max_suppression,
            )
        except AnonymityError as error:
            raise engine_refusal(error) from error


@dataclass(frozen=True)
class IndicatorSpec:
    """What an indicator export counts: dimensions, filters (column → values), aggregates, person column."""

    dimensions: tuple[str, ...]
    filters: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    aggregates: tuple[tuple[str, str, str], ...] = ()  # (output, sum|mean, column)
    person: str | None = None


@dataclass(frozen=True)
class ExportRequest:
    """An export as declared by its requester."""

    source: str
    recipient: str
    purpose: str
    project: str
    requested_by: str
    quasi_identifiers: tuple[str, ...] = ()
    sensitive: tuple[str, ...] = ()
    format: str = "parquet"
    kind: str = "row"
    indicator: IndicatorSpec | None = None
    person: str | None = None  # row-level: the column identifying the person; released only as export pseudonyms


@dataclass(frozen=True)
class Criterion:
    """One criterion of the check: its measured value, its threshold and whether it is met.

    What explains it is stored as keys and values (``state``, ``note`` and ``facts``), worded in the report's
    language when it is rendered (``criterion_text``); ``detail`` is the English sentence of checks stored before.
    """

    name: str
    value: float | None
    threshold: float | None
    comparison: str  # ">=" or "<="
    passed: bool
    detail: str = ""
    note: str = ""  # a key of export.notes in documents_text.yaml, or "" for none
    facts: dict[str, Any] = field(default_factory=dict)
    state: str = ""  # "", "not_enforced" or "not_applicable"
    error: str = ""  # the engine's message when the criterion could not be measured (shown as a technical message)


@dataclass(frozen=True)
class StoredRequest:
    """A request as the gate keeps it."""

    id: int
    request: ExportRequest
    status: str
    created_at: str
    criteria: tuple[Criterion, ...]
    proposal: dict[str, Any] | None
    digest: str | None
    rows: int | None


@dataclass(frozen=True)
class Alert:
    """An alert raised by a failed check."""

    id: int
    request_id: int
    raised_at: str
    failed: tuple[str, ...]


@dataclass(frozen=True)
class Release:
    """What a release wrote into the outbox."""

    request_id: int
    directory: Path
    data: Path
    report_html: Path
    report_json: Path
    rows: int


class Reviewers(Protocol):
    """Who may review exports: the holders of the export reviewer profile."""

    def empowered(self, login: str) -> bool:
        """Tell whether ``login`` currently holds the export reviewer profile."""
        ...


@dataclass(frozen=True)
class GrantReviewers:
    """Reviewers from the identity database: an active account holding an active ``export_reviewer`` grant."""

    identity: IdentityContext
    profile: str = PROFILE

    def empowered(self, login: str) -> bool:
        """Tell whether ``login`` is active and holds the profile now."""
        now = self.identity.now()
        with self.identity.engine.connect() as conn:
            row = accounts.find(conn, login)
            if row is None or row.status != "active":
                return False
            return any(g.profile == self.profile for g in grants.active_for_user(conn, row.id, now))


# ---- state ----------------------------------------------------------------------------------------------------

SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL,
    checked_at TEXT, criteria TEXT, proposal TEXT, digest TEXT, rows INTEGER, export_key TEXT);
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT, request_id INTEGER NOT NULL, raised_at TEXT NOT NULL, failed TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trainings (
    id INTEGER PRIMARY KEY AUTOINCREMENT, login TEXT NOT NULL, trained_on TEXT NOT NULL, subject TEXT NOT NULL,
    recorded_by TEXT NOT NULL, recorded_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, request_id INTEGER NOT NULL, manager TEXT NOT NULL, decision TEXT NOT NULL,
    decided_at TEXT NOT NULL, risk_study TEXT);
"""


def _request_json(request: ExportRequest) -> str:
    return json.dumps(asdict(request), ensure_ascii=False, default=str)


def _request_from(body: str) -> ExportRequest:
    data = json.loads(body)
    spec = data.pop("indicator")
    if spec is not None:
        spec = IndicatorSpec(
            dimensions=tuple(spec["dimensions"]),
            filters=tuple((name, tuple(values)) for name, values in spec["filters"]),
            aggregates=tuple((o, f, c) for o, f, c in spec["aggregates"]),
            person=spec["person"],
        )
    data["quasi_identifiers"] = tuple(data["quasi_identifiers"])
    data["sensitive"] = tuple(data["sensitive"])
    return ExportRequest(**data, indicator=spec)


def _stored(row: sqlite3.Row) -> StoredRequest:
    criteria = tuple(Criterion(**c) for c in json.loads(row["criteria"] or "[]"))
    return StoredRequest(
        id=int(row["id"]),
        request=_request_from(row["body"]),
        status=str(row["status"]),
        created_at=str(row["created_at"]),
        criteria=criteria,
        proposal=json.loads(row["proposal"]) if row["proposal"] else None,
        digest=row["digest"],
        rows=row["rows"],
    )


# ---- measuring ------------------------------------------------------------------------------------------------


def _source_sql(sql: str) -> str:
    text = sql.strip().rstrip(";").strip()
    if not text:
        raise GateError("empty_source")
    return text


def _ordered_table(run: Runner, sql: str) -> pa.Table:
    """The rows of the source in a canonical order (so that their digest does not depend on the engine's order)."""
    try:
        return run.arrow(f"SELECT * FROM ({_source_sql(sql)}) AS __src {ORDERED}")  # noqa: S608
    except run.errors as error:
        raise GateError("source_fails", error=type(error).__name__) from error


def _digest(table: pa.Table) -> str:
    """SHA-256 of the table's Arrow IPC stream: what was checked is what is released."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()


def _criterion(
    name: str, value: float | None, threshold: float | None, comparison: str, note: str = "",
    facts: dict[str, Any] | None = None,
) -> Criterion:
    stated = facts or {}
    if threshold is None:
        return Criterion(name, value, None, comparison, True, note=note, facts=stated, state="not_enforced")
    if value is None:
        return Criterion(name, None, threshold, comparison, True, note=note, facts=stated, state="not_applicable")
    passed = value >= threshold if comparison == ">=" else value <= threshold
    return Criterion(name, value, threshold, comparison, passed, note=note, facts=stated)


def _columns(run: Runner, source: str) -> list[str]:
    """The columns of a source query, in order."""
    return list(run.types(f"({source})"))


def _person_column(run: Runner, request: ExportRequest) -> str:
    """The column identifying persons, checked against the source's columns."""
    person = request.person or ""
    if not person.strip():
        raise GateError("no_person_column_stored")
    try:
        columns = _columns(run, _source_sql(request.source))
    except run.errors as error:
        raise GateError("source_fails", error=type(error).__name__) from error
    if person not in columns:
        raise GateError("person_not_selected", person=person, columns=", ".join(columns))
    if person in request.quasi_identifiers or person in request.sensitive:
        raise GateError("person_is_attribute", person=person)
    return person


def _person_view(run: Runner, request: ExportRequest) -> tuple[str, int, int]:
    """The person-level view of a row-level export (SQL, persons, rows): one row per person with its
    quasi-identifiers and sensitive attributes. Refused when they vary within one person, since anonymity is
    counted in persons (a class of 8 rows of one patient is k = 1)."""
    person = quote_ident(_person_column(run, request))
    declared = ", ".join(quote_ident(c) for c in (*request.quasi_identifiers, *request.sensitive))
    source = _source_sql(request.source)
    distinct = f"SELECT DISTINCT {person}, {declared} FROM ({source}) AS __src"  # noqa: S608
    found = run.rows(
        f"SELECT (SELECT count(*) FROM ({source}) AS __a), (SELECT count(DISTINCT {person}) FROM ({source}) AS __b), "  # noqa: S608
        f"(SELECT count(*) FROM ({distinct}) AS __c), (SELECT count(*) FROM ({source}) AS __d WHERE {person} IS NULL)"
    )
    rows, persons, combinations, anonymous = (int(v) for v in found[0]) if found else (0, 0, 0, 0)
    if anonymous:
        raise GateError("rows_without_person", count=anonymous)
    if combinations > persons:
        varying = combinations - persons
        raise GateError("varies_within_person", count=varying)
    return f"SELECT {declared} FROM ({distinct}) AS __persons", persons, rows  # noqa: S608


def _person_table(run: Runner, request: ExportRequest) -> pa.Table:
    """One row per person with every exported column whose value is the same in all the person's rows (the
    person column left out): what the anonymeter attacks measure, in persons."""
    person = quote_ident(_person_column(run, request))
    source = _source_sql(request.source)
    columns = _columns(run, source)
    others = [c for c in columns if quote_ident(c) != person]
    counts = ", ".join(
        f"max(n{i})" for i in range(len(others))
    )
    per_person = ", ".join(
        f"count(DISTINCT coalesce(CAST({quote_ident(c)} AS STRING), chr(0))) AS n{i}" for i, c in enumerate(others)
    )
    found = run.rows(
        f"SELECT {counts} FROM (SELECT {per_person} FROM ({source}) AS __src GROUP BY {person}) AS __per"  # noqa: S608
    )
    constant = [c for c, n in zip(others, found[0] if found else (), strict=True) if n is not None and int(n) <= 1]
    return run.arrow(
        f"SELECT {', '.join(quote_ident(c) for c in constant)} FROM (SELECT DISTINCT {person}, "  # noqa: S608
        f"{', '.join(quote_ident(c) for c in constant)} FROM ({source}) AS __src) AS __per {ORDERED}"
    )


def _released_table(run: Runner, request: ExportRequest, key: bytes | None, k: int) -> pa.Table:
    """The rows that leave: the source's, in canonical order, the column identifying the person replaced by
    pseudonyms of this export (:func:`export_pseudonyms`, under ``key``; left out for a request checked before
    exports had keys); refused, before its rows are fetched, when another column carries identifiers, whatever its
    name, or is computed from one and tells persons apart (fewer than ``k`` a value)
    (:mod:`santegarde.warehouse.lineage`)."""
    source = _source_sql(request.source)
    try:
        columns = run.types(f"({source})")
    except run.errors as error:
        raise GateError("source_fails", error=type(error).__name__) from error
    person = str(request.person) if request.kind == "row" and request.person in columns else None
    # the warehouse's own identifiers first: their refusal names the table and column they come from; measured
    # over the source by the engine, before any row is fetched (nested columns from the rows, below)
    _refuse_identifiers(lineage.warehouse_identifiers_in(run, source, person))
    if person:
        _refuse_identifiers(lineage.keys(run, source, person))
        _refuse_identifiers(lineage.derived_keys(run, source, person, k))
    table = _ordered_table(run, request.source)
    persons = table.column(person) if person else None
    if person:
        table = table.drop_columns([person])
    _refuse_identifiers(lineage.warehouse_identifiers(run, table, nested_only=True))
    if person is None or persons is None:
        return table
    if key is None:
        return table
    table = table.add_column(0, person, export_pseudonyms(persons, key))
    with run.registered(table) as name:  # ordered again: the order of the warehouse's person ids does not show
        return run.arrow(f"SELECT * FROM {name} {ORDERED}")  # noqa: S608


def export_pseudonyms(persons: pa.ChunkedArray, key: bytes) -> pa.Array:
    """The pseudonym of each person in one export: the keyed hash (HMAC-SHA256, 128 bits in hex) of its identifier
    under the export's own key, drawn at random when the export is checked and erased once it is released or
    rejected, so that two exports cannot be joined on their persons, nor an export on the warehouse's."""
    distinct = pc.unique(persons)
    digests = pa.array(
        [None if v is None else hmac.new(key, str(v).encode("utf-8"), hashlib.sha256).hexdigest()[:32]
         for v in distinct.to_pylist()], type=pa.string(),
    )  # fmt: skip
    return pc.take(digests, pc.index_in(persons, value_set=distinct))


def _refuse_identifiers(findings: list[lineage.Finding]) -> None:
    if findings:
        raise IdentifierColumnError(lineage.sentences(findings))


def _metric_criteria(run: Runner, request: ExportRequest, limits: GateThresholds) -> list[Criterion]:
    if not request.quasi_identifiers:
        raise GateError("no_quasi_identifiers")
    view, persons, rows = _person_view(run, request)
    try:
        report = measure(run, Query(view), request.quasi_identifiers, request.sensitive, k_threshold=limits.k)
    except AnonymityError as error:
        raise engine_refusal(error) from error
    no_sensitive = "" if request.sensitive else "no_sensitive"
    return [
        _criterion("k", report.k, limits.k, ">=", "k_persons",
                   {"under": report.records_under_k, "persons": persons, "rows": rows,
                    "smallest": [int(n) for n in report.smallest_classes],
                    "histogram": class_sizes(run, view, request.quasi_identifiers)}),
        _criterion("l_distinct", report.l_distinct, limits.l_distinct, ">=", no_sensitive),
        _criterion("l_entropy", report.l_entropy, limits.l_entropy, ">=", no_sensitive),
        _criterion("t_closeness", report.t_closeness, limits.t, "<=", no_sensitive),
    ]


def class_sizes(engine: duckdb.DuckDBPyConnection | Runner, view: str, qis: Sequence[str]) -> list[list[int]]:
    """The equivalence classes' sizes in persons: ``[size, how many classes]`` pairs, by size (the histogram the
    export's reviewer reads beside k; no value of a quasi-identifier, only counts)."""
    groups = ", ".join(quote_ident(c) for c in qis)
    found = runner_of(engine).rows(
        f"SELECT n, count(*) FROM (SELECT count(*) AS n FROM ({view}) AS __v GROUP BY {groups}) AS __c "  # noqa: S608
        "GROUP BY n ORDER BY n"
    )
    return [[int(n), int(c)] for n, c in found]


def _risk_criteria(
    table: pa.Table, request: ExportRequest, limits: GateThresholds, assessor: RiskAssessor
) -> list[Criterion]:
    """The three G29 criteria measured with anonymeter: the export's rows split into targets and a control set."""
    names = ("singling_out", "linkability", "inference")
    maxima = (limits.max_singling_out, limits.max_linkability, limits.max_inference)
    state = np.random.get_state()  # anonymeter samples targets with numpy's global generator: reproducible reports
    np.random.seed(limits.seed)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            measured = assessor(table, request, limits)
    except AnonymityError as error:
        return [Criterion(n, None, m, "<=", False, note="not_measurable", error=str(error))
                for n, m in zip(names, maxima, strict=True)]
    finally:
        np.random.set_state(state)
    criteria = []
    for name, maximum, (risk, note) in zip(names, maxima, measured, strict=True):
        if risk is None:
            criteria.append(Criterion(name, 0.0, maximum, "<=", True, note=note))
            continue
        facts = {"n": int(risk.n_attacks), "confidence": float(risk.confidence_level), "low": float(risk.ci_low),
                 "high": float(risk.ci_high), "attack": float(risk.attack_rate),
                 "control": None if risk.control_rate is None else float(risk.control_rate)}
        criteria.append(_criterion(name, round(risk.value, 6), maximum, "<=", "attacks", facts))
    return criteria


def measure_risks(table: pa.Table, request: ExportRequest, limits: GateThresholds) -> list[tuple[Any, str]]:
    """Singling-out, linkability and worst inference risks with anonymeter (``None`` and a note: cannot succeed).

    The rows are shuffled with the configured seed; ``control_share`` of them are held out as the control set.
    """
    from santegarde.warehouse.anonymity import risks

    frame = table.to_pandas().sample(frac=1.0, random_state=limits.seed).reset_index(drop=True)
    holdout = int(len(frame) * limits.control_share)
    if holdout < 1 or len(frame) - holdout < 1:
        raise AnonymityError("The export has too few rows to hold out a control sample.")
    control, targets = frame.iloc[:holdout].reset_index(drop=True), frame.iloc[holdout:].reset_index(drop=True)
    if len(targets.columns) < 2:
        raise AnonymityError("The risk attacks need at least two exported columns.")
    attacks = min(limits.n_attacks, len(targets))
    twins = int(targets.groupby(list(targets.columns), dropna=False).size().min())
    if twins >= 2:
        # no predicate singles out one row (the gate passes one row per person): the attack cannot succeed
        singling: tuple[Any, str] = (None, "twins")
    else:
        singling = (risks.singling_out_risk(targets, targets, control, attacks, 3, 0.95, limits.seed), "")
    columns = [str(c) for c in targets.columns]
    halves = (columns[: len(columns) // 2], columns[len(columns) // 2 :])
    linkability = risks.linkability_risk(targets, targets, control, halves, attacks, 0.95)
    secrets = list(request.sensitive) or columns
    inferences = [risks.inference_risk(targets, targets, control, s, attacks, 0.95) for s in secrets]
    worst = max(inferences, key=lambda r: r.value)
    return [singling, (linkability, ""), (worst, "")]


def _indicator(run: Runner, request: ExportRequest, limits: GateThresholds) -> Indicator:
    spec = request.indicator
    if spec is None:
        raise GateError("no_dimensions")
    return indicator(
        run, Query(_source_sql(request.source)), spec.dimensions,
        filters={name: list(values) for name, values in spec.filters},
        aggregates={out: (fn, col) for out, fn, col in spec.aggregates},
        threshold=limits.min_cell, person=spec.person,
    )


def _indicator_table(result: Indicator) -> pa.Table:
    """The indicator as a table: one row per cell or margin, suppressed counts and aggregates empty."""
    columns: dict[str, list[Any]] = {d: [] for d in result.dimensions}
    names = [name for name, _ in result.cells[0].aggregates] if result.cells else []
    columns.update({"count": [], **{n: [] for n in names}, "suppressed": []})
    for cell in result.cells:
        for dim, value in zip(result.dimensions, cell.key, strict=True):
            columns[dim].append("TOTAL" if value is TOTAL else None if value is None else str(value))
        columns["count"].append(cell.count)
        for name, value in cell.aggregates:
            columns[name].append(value)
        columns["suppressed"].append(cell.suppressed)
    types = {d: pa.string() for d in result.dimensions} | {"count": pa.int64(), "suppressed": pa.bool_()}
    types.update({n: pa.float64() for n in names})
    return pa.table({name: pa.array(values, type=types[name]) for name, values in columns.items()})


def _indicator_criteria(result: Indicator, spec: IndicatorSpec, limits: GateThresholds) -> list[Criterion]:
    shown = [c.count for c in result.cells if not c.suppressed and c.count]
    smallest = min(shown) if shown else None
    return [
        Criterion("filters", len(spec.filters), limits.min_cell, ">=", True, note="filters",
                  facts={"count": len(spec.filters), "min_cell": limits.min_cell}),
        _criterion("min_cell", smallest, limits.min_cell, ">=", "min_cell",
                   {"suppressed": len(result.suppressed), "cells": len(result.cells)}),
    ]


def _proposal(
    run: Runner, request: ExportRequest, limits: GateThresholds,
    hierarchies: Mapping[str, Generaliser | Mapping[str, str]] | None,
) -> dict[str, Any]:
    """A generalisation reaching the thresholds, or why none was found."""
    try:
        found = propose(run, Query(_source_sql(request.source)), request.quasi_identifiers, request.sensitive,
                        limits.anonymity(), hierarchies)
    except AnonymityError as error:
        return {"found": False, "reason": str(error)}  # the engine's message, shown as a technical message
    except run.errors as error:  # a hierarchy's SQL the engine does not read (e.g. a DuckDB function on Spark)
        return {"found": False, "reason": _first_line(error)}
    return {
        "found": True,
        "levels": dict(found.levels),
        "sql": found.sql,
        "k": found.report.k,
        "l_distinct": found.report.l_distinct,
        "t_closeness": found.report.t_closeness,
        "loss": asdict(found.loss),
    }


def _first_line(error: BaseException) -> str:
    """The first line of an engine's error (never its stack), or its type's name."""
    lines = str(error).strip().splitlines()
    return lines[0][:200] if lines and lines[0].strip() else type(error).__name__


# ---- writing (release only) -----------------------------------------------------------------------------------


def _data_bytes(table: pa.Table, fmt: str) -> bytes:
    sink = io.BytesIO()
    if fmt == "parquet":
        pq.write_table(table, sink)
    else:
        pacsv.write_csv(table, sink)
    return sink.getvalue()


# ---- the gate -------------------------------------------------------------------------------------------------


class Gate:
    """The export gate over a directory holding its state and its outbox."""

    def __init__(
        self,
        directory: Path,
        trail: AuditTrail,
        reviewers: Reviewers,
        *,
        thresholds: GateThresholds | None = None,
        clock: Clock = utc_now,
        risk_assessor: RiskAssessor | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.outbox = self.directory / OUTBOX
        self.trail = trail
        self.reviewers = reviewers
        self.thresholds = thresholds or GateThresholds()
        self._clock = clock
        self._assessor = risk_assessor or measure_risks
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self._db() as db:
            db.executescript(SCHEMA)
            if "export_key" not in {str(r[1]) for r in db.execute("PRAGMA table_info(requests)")}:
                db.execute("ALTER TABLE requests ADD COLUMN export_key TEXT")  # a state file of before

    # -- state and tracing ------------------------------------------------------------------------------------
    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.directory / STATE_FILE)
        db.row_factory = sqlite3.Row
        try:
            with db:
                yield db
        finally:
            db.close()

    def _now(self) -> str:
        return self._clock().isoformat()

    def _trace(self, actor: str, operation: str, request_id: int | str, outcome: str, rule: str,
               purpose: str = "", profile: str = "") -> None:
        self.trail.append(
            AuditEvent(
                actor=actor, profile=profile, operation=operation, resource_type="export",
                resource_id=str(request_id), purpose=purpose, allowed=outcome == "success", rule=rule,
                section=SECTION, outcome=outcome, referential=REFERENTIAL,
            )
        )

    def _refuse(self, actor: str, operation: str, stored: StoredRequest, rule: str, key: str, **facts: Any) -> None:
        self._trace(actor, operation, stored.id, "denied", rule, stored.request.purpose, PROFILE)
        raise GateError(key, **facts)

    def get(self, request_id: int) -> StoredRequest:
        """The request ``request_id``."""
        with self._db() as db:
            row = db.execute("SELECT * FROM requests WHERE id = ?", (request_id,)).fetchone()
        if row is None:
            raise GateError("no_request", id=request_id)
        return _stored(row)

    def requests(self, status: str | None = None) -> list[StoredRequest]:
        """All requests, or those in ``status``."""
        with self._db() as db:
            rows = db.execute("SELECT * FROM requests ORDER BY id").fetchall()
        found = [_stored(r) for r in rows]
        return [r for r in found if status is None or r.status == status]

    def alerts(self) -> list[Alert]:
        """The alerts raised by failed checks."""
        with self._db() as db:
            rows = db.execute("SELECT * FROM alerts ORDER BY id").fetchall()
        return [Alert(int(r["id"]), int(r["request_id"]), str(r["raised_at"]), tuple(json.loads(r["failed"])))
                for r in rows]

    def decisions(self, request_id: int) -> list[dict[str, Any]]:
        """The managers' decisions on a request."""
        with self._db() as db:
            rows = db.execute("SELECT * FROM decisions WHERE request_id = ? ORDER BY id", (request_id,)).fetchall()
        return [dict(r) for r in rows]

    def _set(self, request_id: int, **values: Any) -> None:
        columns = ", ".join(f"{name} = ?" for name in values)
        with self._db() as db:
            db.execute(f"UPDATE requests SET {columns} WHERE id = ?", (*values.values(), request_id))  # noqa: S608

    # -- training ---------------------------------------------------------------------------------------------
    def record_training(self, login: str, trained_on: date, subject: str, *, by: str = "") -> None:
        """Record that ``login`` was trained on ``trained_on`` (export review, anonymisation, medical secrecy)."""
        if not login.strip() or not subject.strip():
            raise GateError("training_incomplete")
        if trained_on > self._clock().date():
            raise GateError("training_future")
        with self._db() as db:
            db.execute(
                "INSERT INTO trainings (login, trained_on, subject, recorded_by, recorded_at) VALUES (?, ?, ?, ?, ?)",
                (login.strip().lower(), trained_on.isoformat(), subject.strip(), by or login, self._now()),
            )
        self._trace(by or login, "export.training", login.strip().lower(), "success", "EDS-SEC-EXP-3")

    def record_training_as(
        self, login: str, trained_on: date, subject: str, *, by: str, profile: str | None, referential: Referential
    ) -> None:
        """Record a manager's training for the controller: only under a profile of the controller's desk, and never
        by the trained person (a manager attesting their own training would empower themselves); refusals traced."""
        controller = decide_desk(referential, Desk.CONTROLLER, profile)
        allowed = refusals.choices(controller.profiles)
        if login.strip().lower() == by.strip().lower() or not controller.allowed:
            trained = login.strip().lower()[:60]
            self._trace(by, "export.training", trained, "denied", TRAINING_RULE, profile=profile or "")
            if controller.allowed:
                raise GateError("training_own", allowed=allowed)
            raise GateError("training_not_controller", profile=profile or "-", allowed=allowed)
        self.record_training(login, trained_on, subject, by=by)

    def trained(self, login: str) -> bool:
        """Tell whether ``login`` has a training recorded in the last three years."""
        since = (self._clock() - TRAINING_VALIDITY).date().isoformat()
        with self._db() as db:
            row = db.execute("SELECT COUNT(*) FROM trainings WHERE login = ? AND trained_on >= ?",
                             (login.strip().lower(), since)).fetchone()
        return bool(row[0])

    # -- request and check ------------------------------------------------------------------------------------
    def submit_as(self, request: ExportRequest, profile: str | None, referential: Referential) -> int:
        """Record an export request made under ``profile``: only a profile the text lets export anonymous data for
        the request's purpose may (a feeding or reviewing profile may not); a refusal is traced."""
        allowed = export_requesters(referential, request.purpose)
        if profile not in allowed:
            self._trace(request.requested_by, "export.request", "-", "denied", "EDS-SEC-EXP-1", request.purpose)
            none = {"fr": "aucun profil", "en": "no profile"}
            raise GateError(
                "profile_may_not_request",
                profile=profile or none,
                purpose=request.purpose,
                allowed=refusals.choices(allowed) if allowed else none,
            )
        return self.submit(request)

    def submit(self, request: ExportRequest) -> int:
        """Record an export request; it leaves nothing until checked and validated."""
        _validate_request(request)
        with self._db() as db:
            cursor = db.execute("INSERT INTO requests (body, status, created_at) VALUES (?, ?, ?)",
                                (_request_json(request), REQUESTED, self._now()))
            request_id = int(cursor.lastrowid or 0)
        rule = "EDS-SEC-EXP-5" if request.kind == "indicator" else "EDS-SEC-EXP-1"
        self._trace(request.requested_by, "export.request", request_id, "success", rule, request.purpose)
        return request_id

    def check(
        self,
        request_id: int,
        conn: Engine,
        *,
        hierarchies: Mapping[str, Generaliser | Mapping[str, str]] | None = None,
    ) -> StoredRequest:
        """Measure the export; pass → awaiting validation, fail → quarantine, alert and generalisation proposal.

        ``conn``: a DuckDB connection or an engine runner (Spark) where the source query runs."""
        run = runner_of(conn)
        stored = self.get(request_id)
        if stored.status != REQUESTED:
            raise GateError("not_new", id=request_id, status=status_words(stored.status))
        request, limits = stored.request, self.thresholds
        proposal: dict[str, Any] | None = None
        if request.kind == "indicator":
            criteria, table = self._check_indicator(run, request)
        else:
            table = _released_table(run, request, self._export_key(request_id, create=True), limits.k)
            if table.num_rows == 0:
                raise GateError("no_rows")
            criteria = _metric_criteria(run, request, limits) + _risk_criteria(
                _person_table(run, request), request, limits, self._assessor
            )
        failed = [c.name for c in criteria if not c.passed]
        if failed and request.kind == "row":
            proposal = _proposal(run, request, limits, hierarchies)
        status = QUARANTINED if failed else AWAITING
        self._set(
            request_id, status=status, checked_at=self._now(), criteria=json.dumps([asdict(c) for c in criteria]),
            proposal=json.dumps(proposal, default=str) if proposal else None,
            digest=None if table is None else _digest(table), rows=None if table is None else table.num_rows,
        )
        rule = "EDS-SEC-EXP-5" if request.kind == "indicator" else "EDS-SEC-EXP-3"
        self._trace("gate", "export.check", request_id, "success", rule, request.purpose)
        if failed:
            self._alert(request_id, failed, request.purpose)
        return self.get(request_id)

    def _check_indicator(self, run: Runner, request: ExportRequest) -> tuple[list[Criterion], pa.Table | None]:
        spec = request.indicator
        assert spec is not None
        try:
            result = _indicator(run, request, self.thresholds)
        except IndicatorRefused as error:
            facts = {"columns": list(error.columns), "threshold": error.threshold}
            note = "filter_leaves_out" if error.leaves_out else "filters_refused"
            return [Criterion("filters", len(spec.filters), self.thresholds.min_cell, ">=", False, note=note,
                              facts=facts, error=str(error))], None
        except AnonymityError as error:
            raise engine_refusal(error) from error
        table = _indicator_table(result)
        _refuse_identifiers(lineage.warehouse_identifiers(run, table))
        if spec.person:  # a dimension computed from an identifier shows its values, even on suppressed cells
            source = _source_sql(request.source)
            _refuse_identifiers(lineage.derived_keys(run, source, spec.person, self.thresholds.min_cell,
                                                     only=spec.dimensions))  # fmt: skip
        return _indicator_criteria(result, spec, self.thresholds), table

    def _alert(self, request_id: int, failed: Sequence[str], purpose: str) -> None:
        with self._db() as db:
            db.execute("INSERT INTO alerts (request_id, raised_at, failed) VALUES (?, ?, ?)",
                       (request_id, self._now(), json.dumps(list(failed))))
        self._trace("gate", "export.alert", request_id, "success", "EDS-SEC-EXP-3", purpose)

    # -- review -----------------------------------------------------------------------------------------------
    def _check_manager(self, manager: str, stored: StoredRequest, operation: str, *, trained: bool) -> None:
        if manager.strip().lower() == stored.request.requested_by.strip().lower():
            self._refuse(manager, operation, stored, "EDS-SEC-EXP-2", "own_request", manager=manager, id=stored.id)
        if not self.reviewers.empowered(manager):
            self._refuse(manager, operation, stored, "EDS-SEC-EXP-2", "not_empowered", manager=manager, profile=PROFILE)
        if trained and not self.trained(manager):
            self._refuse(manager, operation, stored, "EDS-SEC-EXP-3", "not_trained", manager=manager)

    def _decide(self, stored: StoredRequest, manager: str, decision: str, risk_study: str | None) -> None:
        with self._db() as db:
            db.execute(
                "INSERT INTO decisions (request_id, manager, decision, decided_at, risk_study) VALUES (?, ?, ?, ?, ?)",
                (stored.id, manager, decision, self._now(), risk_study),
            )

    def validate(
        self, request_id: int, manager: str, conn: Engine, *, lang: str = "fr"
    ) -> Release:
        """A manager's prior validation of a passing export, which releases it (its report in ``lang``)."""
        doctext.check_lang(lang)
        stored = self.get(request_id)
        if stored.status != AWAITING:
            self._refuse(manager, "export.validate", stored, "EDS-SEC-EXP-2", "not_awaiting", id=request_id,
                         status=status_words(stored.status))
        self._check_manager(manager, stored, "export.validate", trained=False)
        self._decide(stored, manager, "validate", None)
        self._trace(manager, "export.validate", request_id, "success", "EDS-SEC-EXP-2", stored.request.purpose,
                    PROFILE)
        return self._release(stored, manager, conn, risk_study=None, lang=lang)

    def review_quarantined(
        self,
        request_id: int,
        manager: str,
        decision: str,
        risk_study_text: str,
        conn: Engine | None = None,
        *,
        lang: str = "fr",
    ) -> Release | None:
        """A trained, empowered manager's review of a quarantined export: release with a risk study, or reject.

        The report of a release is written in ``lang`` (French by default).
        """
        doctext.check_lang(lang)
        stored = self.get(request_id)
        if decision not in DECISIONS:
            raise GateError("bad_decision", choices=refusals.choices(DECISIONS), decision=decision)
        if stored.status != QUARANTINED:
            self._refuse(manager, "export.review", stored, "EDS-SEC-EXP-3", "not_quarantined", id=request_id,
                         status=status_words(stored.status))
        self._check_manager(manager, stored, "export.review", trained=True)
        if decision == "reject":
            self._reject(stored, manager, risk_study_text)
            return None
        if len(risk_study_text.strip()) < MIN_RISK_STUDY:
            self._refuse(manager, "export.review", stored, "EDS-SEC-EXP-1", "no_risk_study", min=MIN_RISK_STUDY)
        if stored.digest is None:
            self._refuse(manager, "export.review", stored, "EDS-SEC-EXP-4", "filters_isolate")
        if conn is None:
            raise GateError("needs_source")
        self._decide(stored, manager, "release", risk_study_text.strip())
        self._trace(manager, "export.validate", request_id, "success", "EDS-SEC-EXP-3", stored.request.purpose,
                    PROFILE)
        return self._release(stored, manager, conn, risk_study=risk_study_text.strip(), lang=lang)

    def reject(self, request_id: int, manager: str, reason: str) -> None:
        """Reject an export awaiting validation or quarantined; nothing leaves."""
        stored = self.get(request_id)
        if stored.status not in (AWAITING, QUARANTINED, REQUESTED):
            self._refuse(manager, "export.reject", stored, "EDS-SEC-EXP-2", "cannot_reject", id=request_id,
                         status=status_words(stored.status))
        self._check_manager(manager, stored, "export.reject", trained=stored.status == QUARANTINED)
        self._reject(stored, manager, reason)

    def _reject(self, stored: StoredRequest, manager: str, reason: str) -> None:
        if not reason.strip():
            raise GateError("no_reason")
        self._decide(stored, manager, "reject", reason.strip())
        self._set(stored.id, status=REJECTED, export_key=None)
        self._trace(manager, "export.reject", stored.id, "success", "EDS-SEC-EXP-3", stored.request.purpose, PROFILE)

    # -- release: the only function writing data ---------------------------------------------------------------
    def _release(
        self, stored: StoredRequest, manager: str, conn: Engine, *, risk_study: str | None,
        lang: str = "fr",
    ) -> Release:
        request = stored.request
        table = self._recompute(stored, runner_of(conn))
        if _digest(table) != stored.digest:
            self._refuse(manager, "export.release", stored, "EDS-SEC-EXP-1", "data_changed", id=stored.id)
        final = self.outbox / f"export-{stored.id}"
        if final.exists():
            raise GateError("in_outbox", id=stored.id)
        staging = self.outbox / f".staging-{stored.id}-{uuid.uuid4().hex}"
        staging.mkdir(parents=True, mode=0o700)
        name = f"export-{stored.id}.{request.format}"
        try:
            write_new_bytes(staging / name, _data_bytes(table, request.format))
            self._set(stored.id, status=RELEASED)
            report = self.report(stored.id, released_file=name, risk_study=risk_study, manager=manager, lang=lang)
            write_atomic(staging / "report.json", json.dumps(report, ensure_ascii=False, indent=2, default=str) + "\n")
            write_atomic(staging / "report.html", render_report(report, stored.criteria))
            os.rename(staging, final)
            self._set(stored.id, export_key=None)  # released: nobody can recompute its pseudonyms any more
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            self._set(stored.id, status=stored.status)
            raise
        self._trace(manager, "export.release", stored.id, "success", "EDS-SEC-EXP-1", request.purpose, PROFILE)
        return Release(stored.id, final, final / name, final / "report.html", final / "report.json", table.num_rows)

    def indicator(self, request_id: int, engine: duckdb.DuckDBPyConnection | Runner) -> Indicator:
        """An indicator request's cells as they would leave (small cells suppressed and marked), for its reviewer
        (EDS-SEC-EXP-5); refused for a row-level request. ``engine``: a DuckDB connection or an engine runner."""
        stored = self.get(request_id)
        if stored.request.kind != "indicator":
            raise GateError("no_dimensions")
        try:
            return _indicator(runner_of(engine), stored.request, self.thresholds)
        except AnonymityError as error:
            raise engine_refusal(error, "indicator_gone") from error

    def _recompute(self, stored: StoredRequest, run: Runner) -> pa.Table:
        if stored.request.kind == "indicator":
            try:
                return _indicator_table(_indicator(run, stored.request, self.thresholds))
            except AnonymityError as error:
                raise engine_refusal(error, "indicator_gone") from error
        return _released_table(run, stored.request, self._export_key(stored.id), self.thresholds.k)

    def _export_key(self, request_id: int, *, create: bool = False) -> bytes | None:
        """The export's own pseudonym key (drawn at its first check when ``create``; ``None`` once erased)."""
        with self._db() as db:
            row = db.execute("SELECT export_key FROM requests WHERE id = ?", (request_id,)).fetchone()
            if row is not None and row["export_key"]:
                return bytes.fromhex(str(row["export_key"]))
            if not create:
                return None
            key = secrets.token_bytes(32)
            db.execute("UPDATE requests SET export_key = ? WHERE id = ?", (key.hex(), request_id))
            return key

    # -- report -----------------------------------------------------------------------------------------------
    def report(
        self, request_id: int, *, released_file: str | None = None, risk_study: str | None = None,
        manager: str | None = None, lang: str = "fr",
    ) -> dict[str, Any]:
        """The report of a request: each criterion, its value, its threshold and the decision, with justifications.

        Its text is worded in ``lang`` (French by default, ``en`` as the option) from what the check stored.
        """
        t = export_words(lang)
        stored = self.get(request_id)
        request = stored.request
        limits = asdict(self.thresholds)
        proposal = dict(stored.proposal) if stored.proposal else None
        if proposal is not None:
            proposal["advice"] = t["advice"] if proposal.get("found") else t["no_proposal"]
        return {
            "title": t["title"].format(id=stored.id),
            "lang": lang,
            "request": {"id": stored.id, **asdict(request), "created_at": stored.created_at},
            "purpose": purpose_name(request.purpose, lang),
            "status": stored.status,
            "status_text": t["statuses"].get(stored.status, stored.status),
            "decision": _decision_text(stored.status, manager, lang),
            "criteria": [
                {**asdict(c), "label": criterion_name(c.name, lang), "detail": criterion_text(c, lang)}
                for c in stored.criteria
            ],
            "thresholds": [
                {"name": name, "label": criterion_name(name, lang), "value": limits.get(name),
                 "justification": t["justifications"][name]}
                for name in JUSTIFICATIONS
            ],
            "proposal": proposal,
            "risk_study": risk_study,
            "decisions": self.decisions(request_id),
            "alerts": [asdict(a) for a in self.alerts() if a.request_id == request_id],
            "rows": stored.rows,
            "digest": stored.digest,
            "file": released_file,
            "referential": REFERENTIAL,
            "requirements": ["EDS-6", "EDS-SEC-EXP-1", "EDS-SEC-EXP-2", "EDS-SEC-EXP-3", "EDS-SEC-EXP-4",
                             "EDS-SEC-EXP-5", "EDS-SEC-DAY-1"],
        }


# ---- wording (at render time, from documents_text.yaml) ---------------------------------------------------------


def export_words(lang: str) -> dict[str, Any]:
    """The fixed phrases of the export report in ``lang`` (``fr`` or ``en``)."""
    found: dict[str, Any] = doctext.words(lang)["export"]
    return found


def number(value: Any, lang: str) -> str:
    """A measured value as the reader writes it (decimal comma in French)."""
    if isinstance(value, float):
        text = f"{value:.3f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:g}"
    else:
        text = str(value)
    return text.replace(".", ",") if lang == "fr" else text


def criterion_name(name: str, lang: str) -> str:
    """A criterion's or threshold's name for the reader ("k-anonymat", "t-proximité"…), never its identifier."""
    names: dict[str, str] = export_words(lang)["names"]
    return names.get(name, name.replace("_", " "))


def criterion_text(criterion: Criterion, lang: str, code: Callable[[str], str] = str) -> str:
    """What explains a criterion, worded in ``lang``; ``code`` formats the column names it mentions."""
    t = export_words(lang)
    if not criterion.note and not criterion.state:
        return criterion.detail  # stored before the wording moved to render time
    parts = [t["states"][criterion.state]] if criterion.state else []
    if criterion.note:
        template = t["notes"].get(criterion.note)
        if template is None:  # a note of a custom risk assessor: its own text
            parts.append(criterion.note)
        else:
            parts.append(template.format(**_facts(criterion.facts, lang, code, t)))
    return " ".join(parts)


def _facts(facts: Mapping[str, Any], lang: str, code: Callable[[str], str], t: Mapping[str, Any]) -> dict[str, str]:
    worded: dict[str, str] = {}
    for key, value in facts.items():
        if key == "columns":
            worded[key] = ", ".join(code(str(c)) for c in value)
        elif key == "confidence":
            worded[key] = f"{value:.0%}".replace("%", " %" if lang == "fr" else "%")
        elif value is None:
            worded[key] = t["notes"]["no_control"]
        elif key == "histogram":
            continue  # drawn as a chart by the console, never said in a sentence
        elif isinstance(value, list):
            worded[key] = "[" + ("; " if lang == "fr" else ", ").join(number(v, lang) for v in value) + "]"
        else:
            worded[key] = number(value, lang)
    return worded


def _decision_text(status: str, manager: str | None, lang: str) -> str:
    t = export_words(lang)
    text: str = t["decisions"].get(status, status)
    return text.format(manager=manager or t["a_manager"])


def render_report(report: Mapping[str, Any], criteria: Sequence[Criterion]) -> str:
    """The HTML export report in the report's language: column names and SQL shown as code."""
    lang = str(report["lang"])

    def code(name: str) -> str:
        return f"<code>{escape(name)}</code>"

    t = export_words(lang)
    # A known note is our own wording around numbers and column names, the latter escaped by ``code``.
    details = [Markup(criterion_text(c, lang, code)) if c.note in t["notes"]  # noqa: S704
               else escape(criterion_text(c, lang)) for c in criteria]
    return render_html("export_report.html.j2", title=report["title"], report=report, lang=lang, t=t,
                       details=details, colon=doctext.words(lang)["colon"])


def purpose_name(purpose: str, lang: str) -> str:
    """The export's purpose as the warehouse référentiel names it in ``lang``; free text stays as it is."""
    try:
        return label(REFERENTIAL, "purpose", purpose, lang)
    except VocabularyError:
        return purpose


def export_requesters(referential: Referential, purpose: str) -> tuple[str, ...]:
    """The profiles to which the text grants the export of anonymous (aggregated) data for ``purpose``."""
    return tuple(
        accessor.id
        for accessor in referential.accessors
        if any(
            Operation.EXPORT in rule.operations and rule.granularity == Granularity.AGGREGATED
            and purpose in rule.purposes
            for rule in accessor.access
        )
    )


def _validate_request(request: ExportRequest) -> None:
    """Refuse requests that are incomplete."""
    missing = [n for n in ("source", "recipient", "purpose", "project", "requested_by")
               if not str(getattr(request, n)).strip()]
    if missing:
        said = {lang: doctext.words(lang)["export"]["request_fields"] for lang in doctext.LANGS}
        lacks = {lang: refusals.listing((said[lang][n] for n in missing), lang) for lang in said}
        raise GateError("request_lacks", missing=lacks)
    if request.format not in FORMATS:
        raise GateError("bad_format", choices=refusals.choices(FORMATS), format=request.format)
    if request.kind not in KINDS:
        raise GateError("bad_kind", kind=request.kind)
    if request.kind == "row" and not request.quasi_identifiers:
        raise GateError("no_quasi_identifiers")
    if request.kind == "row" and not str(request.person or "").strip():
        raise GateError("no_person_column")
    if request.kind == "indicator" and (request.indicator is None or not request.indicator.dimensions):
        raise GateError("no_dimensions")
    _one_select(request.source)


def _one_select(source: str) -> None:
    """Refuse a source that is not one SELECT (a second statement after it, or an UPDATE, DROP, ATTACH…): the gate
    only ever reads. A text DuckDB's parser cannot read (another engine's dialect) is left to the engine, which
    runs it inside a subquery, where no second statement can run."""
    try:
        with duckdb.connect() as parser:
            statements = parser.extract_statements(source)
    except duckdb.Error:
        return
    if len(statements) != 1 or statements[0].type.name != "SELECT":
        raise GateError("source_not_one_select", statements=len(statements))


__all__ = [
    "FORMATS",
    "JUSTIFICATIONS",
    "PROFILE",
    "Alert",
    "Criterion",
    "ExportRequest",
    "Gate",
    "GateError",
    "GateThresholds",
    "GrantReviewers",
    "IdentifierColumnError",
    "IndicatorSpec",
    "Release",
    "Reviewers",
    "StoredRequest",
    "measure_risks",
]
