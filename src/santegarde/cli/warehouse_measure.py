"""santegarde warehouse measure anonymity | indicator: k, l, t and anonymous indicators of the warehouse's tables.

The query runs where the configured engine keeps the health tables: the warehouse's encrypted DuckDB store, or the
Parquet tables Spark published under ``warehouse.storage`` (issue 22), each table by its OMOP name on both engines.
The measurement is the same SQL on both (:mod:`santegarde.warehouse.anonymity`, through the engine's runner), so the
same rows give the same k, l, t and the same suppressed cells. The thresholds are the export gate's
(``warehouse/export-thresholds.yaml``). Needs your session (santegarde login) under a feeding profile; each
measurement is traced.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import duckdb
import typer
from rich.table import Table

from santegarde.cli.common import ReportJson, console, friendly_errors
from santegarde.cli.organisation import ConfigOption
from santegarde.cli.warehouse_core import _session_warehouse
from santegarde.cli.warehouse_engine import spark_store
from santegarde.cli.warehouse_export import Lang, _filters, load_thresholds
from santegarde.config import CONFIG_NAME
from santegarde.governance import doctext
from santegarde.warehouse.access import FEED_RULE, feed_profiles
from santegarde.warehouse.anonymity import TOTAL, AnonymityError, Indicator, Query, indicator, measure
from santegarde.warehouse.anonymity.metrics import AnonymityReport
from santegarde.warehouse.gate import engine_refusal
from santegarde.warehouse.spark.session import SparkEngineError

app = typer.Typer(help="Measure k, l, t or an anonymous indicator of the warehouse's tables.", no_args_is_help=True)

Source = Annotated[
    str, typer.Option("--source", help="The SELECT query producing the rows, over the OMOP tables by their names")
]
OPERATION = "warehouse.measure"
T = TypeVar("T")


def _words(lang: str) -> dict[str, Any]:
    found: dict[str, Any] = doctext.words(lang)["warehouse_measure"]
    return found


@contextmanager
def _engine(config: Path) -> Iterator[tuple[str, Callable[..., Any]]]:
    """The configured engine's name, and how to run a measurement on it (the source query over the OMOP tables),
    once the session's operator was checked (feeding profile) and the measurement traced."""
    with _session_warehouse(config) as (s, operator, warehouse):
        guard = warehouse.guard_for(operator, OPERATION)
        guard.require(operator, feed_profiles(guard.referential), operation=OPERATION, resource="omop",
                      rule=FEED_RULE, what="measure the warehouse's tables")  # fmt: skip
        settings = s.org.config.warehouse

        def run(measurement: Callable[[Any, Query], T], sql: str) -> T:
            if settings.engine == "spark":
                result = _on_spark(config, settings, measurement, sql)
            else:
                result = _on_duckdb(warehouse.omop, measurement, sql)
            guard.trace(operator, OPERATION, "omop", "success", FEED_RULE)
            return result

        yield settings.engine, run


def _on_duckdb(conn: duckdb.DuckDBPyConnection, measurement: Callable[[Any, Query], T], sql: str) -> T:
    """Measure on the warehouse's own store, opened for writing: only one SELECT may run there (the text is parsed
    first, so that "SELECT …; DROP TABLE person" never reaches it)."""
    conn.execute("USE omop")
    try:
        statements = duckdb.extract_statements(sql)
        kinds = [str(statement.type.name) for statement in statements]
        if kinds != ["SELECT"]:
            raise SparkEngineError("not_one_select", found=", ".join(kinds) or "0")
        return measurement(conn, Query(sql))
    except AnonymityError as exc:
        raise engine_refusal(exc) from None
    except duckdb.Error as exc:
        raise SparkEngineError("query_failed", engine="duckdb", error=str(exc).splitlines()[0][:200]) from None


def _on_spark(config: Path, settings: Any, measurement: Callable[[Any, Query], T], sql: str) -> T:
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    from santegarde.warehouse.spark.sql import SparkRunner

    store = spark_store(config, settings)
    with store.views() as tables:
        if not tables:
            raise SparkEngineError("nothing_published", storage=store.storage)
        try:
            return measurement(SparkRunner(store.spark), Query(sql))
        except AnonymityError as exc:
            raise engine_refusal(exc) from None
        except (PySparkException, Py4JJavaError) as exc:
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise SparkEngineError("query_failed", engine="spark", error=first) from None


@app.command("anonymity")
@friendly_errors
def anonymity(
    source: Source,
    qi: Annotated[list[str], typer.Option("--qi", help="A quasi-identifier column (repeat)")],
    sensitive: Annotated[list[str] | None, typer.Option("--sensitive", help="A sensitive column (repeat)")] = None,
    config: ConfigOption = Path(CONFIG_NAME),
    lang: Lang = "fr",
    as_json: ReportJson = False,
) -> None:
    """k-anonymity, l-diversity and t-closeness of the query's rows, on the configured engine (DuckDB or Spark).

    k is counted against the export gate's threshold. Needs your session (santegarde login) under a feeding
    profile; the measurement is traced.
    """
    t = _words(lang)
    k = load_thresholds(config).k
    with _engine(config) as (engine, run):
        report: AnonymityReport = run(lambda on, query: measure(on, query, qi, sensitive or (), k_threshold=k), source)
    if as_json:
        print(json.dumps(anonymity_document(report, engine), ensure_ascii=False, indent=2))
        return
    _print_anonymity(report, engine, t)


def anonymity_document(report: AnonymityReport, engine: str) -> dict[str, Any]:
    """What ``measure anonymity --json`` prints: the facts of the report under stable English keys."""
    return {
        "engine": engine,
        "rows": report.rows,
        "classes": report.classes,
        "quasi_identifiers": list(report.quasi_identifiers),
        "k": report.k,
        "k_threshold": report.k_threshold,
        "smallest_classes": list(report.smallest_classes),
        "records_under_k": report.records_under_k,
        "sensitive": [
            {
                "name": s.name,
                "ordered": s.ordered,
                "distinct_values": s.distinct_values,
                "l_distinct": s.l_distinct,
                "l_entropy": s.l_entropy,
                "t_closeness": s.t_closeness,
                "alpha": s.alpha,
                "beta_basic": s.beta_basic,
                "beta_enhanced": s.beta_enhanced,
                "delta": s.delta,
                "recursive_c": s.recursive_c,
            }
            for s in report.sensitive
        ],
        "recursive_c_l": {"c": report.recursive_c, "l": report.l_distinct},
        "alpha_k": {"alpha": report.alpha, "k": report.k},
        "beta_basic": report.beta_basic,
        "beta_enhanced": report.beta_enhanced,
        "delta": report.delta,
    }


def _print_anonymity(report: AnonymityReport, engine: str, t: dict[str, Any]) -> None:
    table = Table(t["measure"], t["value"], title=t["anonymity_title"])
    table.add_row(t["rows"], str(report.rows))
    table.add_row(t["classes"], str(report.classes))
    table.add_row(t["k"], str(report.k))
    table.add_row(t["smallest"], ", ".join(str(n) for n in report.smallest_classes))
    table.add_row(t["under_k"].format(k=report.k_threshold), str(report.records_under_k))
    console.print(table)
    if report.sensitive:
        attributes = Table(t["attribute"], t["kind"], t["distinct_values"], t["l_distinct"], t["l_entropy"], t["t"],
                           title=t["sensitive_title"])  # fmt: skip
        for s in report.sensitive:
            attributes.add_row(s.name, t["ordered"] if s.ordered else t["categorical"], str(s.distinct_values),
                               str(s.l_distinct), f"{s.l_entropy:.4f}", f"{s.t_closeness:.4f}")  # fmt: skip
        console.print(attributes)
        likeness = Table(t["measure"], t["value"])
        c = report.recursive_c
        likeness.add_row(t["recursive_c"], t["not_computable"] if c is None else f"{c} (l = {report.l_distinct})")
        likeness.add_row(t["alpha"], f"{report.alpha:.4f} (k = {report.k})")
        for key in ("beta_basic", "beta_enhanced", "delta"):
            likeness.add_row(t[key], f"{getattr(report, key):.4f}")
        console.print(likeness)
    console.print(t["engine"].format(engine=engine), markup=False)


@app.command("indicator")
@friendly_errors
def indicator_command(
    source: Source,
    dimension: Annotated[list[str], typer.Option("--dimension", help="A column to count by (repeat)")],
    filters: Annotated[list[str] | None, typer.Option("--filter", help="column=value[,value] (repeat)")] = None,
    person: Annotated[str | None, typer.Option("--person", help="Column identifying persons (distinct count)")] = None,
    config: ConfigOption = Path(CONFIG_NAME),
    lang: Lang = "fr",
    as_json: ReportJson = False,
) -> None:
    """Counts by the dimensions with margins, small cells and their complements hidden, on the configured engine.

    The small-cell threshold is the export gate's. Needs your session (santegarde login) under a feeding profile;
    the measurement is traced.
    """
    t = _words(lang)
    threshold = load_thresholds(config).min_cell
    wanted = {name: list(values) for name, values in _filters(filters or [])}
    with _engine(config) as (engine, run):
        result: Indicator = run(
            lambda on, query: indicator(on, query, dimension, filters=wanted, threshold=threshold, person=person),
            source,
        )
    if as_json:
        print(json.dumps(indicator_document(result, engine), ensure_ascii=False, indent=2, default=str))
        return
    _print_indicator(result, engine, t)


def indicator_document(result: Indicator, engine: str) -> dict[str, Any]:
    """What ``measure indicator --json`` prints: every cell (margins as "TOTAL"), hidden ones without their count."""
    return {
        "engine": engine,
        "dimensions": list(result.dimensions),
        "threshold": result.threshold,
        "cells": [
            {
                "key": ["TOTAL" if value is TOTAL else value for value in cell.key],
                "count": cell.count,
                "suppressed": cell.suppressed,
                "reason": cell.reason,
            }
            for cell in result.cells
        ],
        "suppressed": len(result.suppressed),
    }


def _print_indicator(result: Indicator, engine: str, t: dict[str, Any]) -> None:
    table = Table(*result.dimensions, t["count"], title=t["indicator_title"].format(threshold=result.threshold))
    for cell in result.cells:
        key = [t["total"] if value is TOTAL else "—" if value is None else str(value) for value in cell.key]
        shown = t["hidden"] + f" ({t['reasons'].get(cell.reason, cell.reason)})" if cell.suppressed else str(cell.count)
        table.add_row(*key, shown)
    console.print(table)
    console.print(t["suppressed"].format(n=len(result.suppressed)), markup=False)
    console.print(t["engine"].format(engine=engine), markup=False)
