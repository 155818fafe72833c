"""The export gate on a large row-level export (issue 15): seconds and peak memory against pandas and pycanon.

Run: ``python bench/bench_gate.py [--persons 1000000] [--rows-per-person 10] [--memory-limit 1GB]``.

A row-level export of ``--persons`` persons × ``--rows-per-person`` rows (age in ten-year bands, sex, nine postcode
areas, a diagnosis constant per person as the gate requires, and a measured value per row) is written once to a
DuckDB file. Each side then runs in a forked child on the same data, and reports its seconds and the growth of its
peak resident memory:

- **the gate's measurement** (:func:`santegarde.warehouse.gate._metric_criteria`: the person-level view checked
  for values varying within a person, then k, distinct and entropy l and t in DuckDB SQL), on the file, with
  DuckDB's ``memory_limit`` set to ``--memory-limit``;
- **the gate's identifier check** (:mod:`santegarde.warehouse.lineage`: warehouse identifiers, person and row
  keys, columns computed from identifiers, all in DuckDB over the source), on the same file, against the former
  sequence that fetched the released rows into Arrow first;
- **pandas** (the baseline): the export read into a DataFrame, ``drop_duplicates`` per person, ``groupby`` for k
  and distinct l;
- **pycanon**'s k and l on the person-level frame, when there are at most ``--pycanon-max`` persons.

The k and l of every side are checked equal before any time is printed.
"""

# ruff: noqa: S608 - the SQL is built from integers of the command line
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import duckdb
import pandas as pd
from bench_matching import in_child
from rich.console import Console
from rich.table import Table

from santegarde.warehouse import lineage
from santegarde.warehouse.gate import ExportRequest, GateThresholds, _metric_criteria

QIS = ("age", "sex", "zip3")
SENSITIVE = ("diagnosis",)
SOURCE = "SELECT * FROM export"


def write_export(path: Path, persons: int, rows_per_person: int, seed: int = 15) -> None:
    """The export, generated in SQL (reproducible: ``setseed``) into a DuckDB file."""
    with duckdb.connect(str(path)) as conn:
        conn.execute(f"SELECT setseed({seed / 100})")
        conn.execute(
            f"""CREATE TABLE people AS
                SELECT i AS person_id, (18 + floor(random() * 77))::INTEGER // 10 * 10 AS age,
                       ['M', 'F'][1 + floor(random() * 2)::INTEGER] AS sex,
                       (1 + floor(random() * 9))::INTEGER || '00' AS zip3,
                       ['E11', 'I10', 'J45', 'C50', 'F32', 'N18'][1 + floor(random() * 6)::INTEGER] AS diagnosis
                FROM range({persons}) t(i)"""
        )
        conn.execute(
            f"""CREATE TABLE export AS SELECT p.*, random() AS value
                FROM people p, range({rows_per_person}) r(n) ORDER BY p.person_id, r.n"""
        )
        conn.execute("DROP TABLE people")


def _connect(path: Path, memory_limit: str) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect(str(path), read_only=True)
    conn.execute(f"SET memory_limit = '{memory_limit}'")
    conn.execute(f"SET temp_directory = '{path.parent / 'spill'}'")  # as the warehouse's connection spills
    return conn


def run_gate(path: Path, memory_limit: str) -> dict[str, Any]:
    conn = _connect(path, memory_limit)
    request = ExportRequest(SOURCE, "bench", "research", "BENCH", "bench", QIS, SENSITIVE, person="person_id")
    started = time.perf_counter()
    criteria = {c.name: c.value for c in _metric_criteria(conn, request, GateThresholds())}
    return {"seconds": time.perf_counter() - started, "k": int(criteria["k"] or 0),
            "l": int(criteria["l_distinct"] or 0)}  # fmt: skip


def run_lineage(path: Path, memory_limit: str) -> dict[str, Any]:
    """The gate's identifier checks as ``gate._released_table`` runs them, in DuckDB over the source, before any
    row is fetched."""
    conn = _connect(path, memory_limit)
    started = time.perf_counter()
    found = lineage.warehouse_identifiers_in(conn, SOURCE, "person_id")
    found += lineage.keys(conn, SOURCE, "person_id")
    found += lineage.derived_keys(conn, SOURCE, "person_id", GateThresholds().k)
    if found:
        raise SystemExit(f"the generated export was taken for identifiers: {found}")
    return {"seconds": time.perf_counter() - started}


def run_lineage_fetched(path: Path, memory_limit: str) -> dict[str, Any]:
    """The former sequence (the baseline): the released rows fetched into Arrow, the warehouse identifiers looked
    for in them, then the person and row keys over the source."""
    conn = _connect(path, memory_limit)
    started = time.perf_counter()
    found = lineage.keys(conn, SOURCE, "person_id")
    released = conn.execute("SELECT * EXCLUDE (person_id) FROM export").fetch_arrow_table()
    found += lineage.warehouse_identifiers(conn, released)
    if found:
        raise SystemExit(f"the generated export was taken for identifiers: {found}")
    return {"seconds": time.perf_counter() - started}


def _frame(path: Path) -> pd.DataFrame:
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(SOURCE).df()


def run_pandas(path: Path, memory_limit: str) -> dict[str, Any]:
    frame = _frame(path)
    started = time.perf_counter()
    persons = frame.drop_duplicates(["person_id", *QIS, *SENSITIVE])
    if persons["person_id"].duplicated().any():
        raise SystemExit("the generated export varies within a person")
    classes = persons.groupby(list(QIS), sort=False)
    k = int(classes.size().min())
    l_distinct = int(classes[SENSITIVE[0]].nunique().min())
    return {"seconds": time.perf_counter() - started, "k": k, "l": l_distinct}


def run_pycanon(path: Path, memory_limit: str) -> dict[str, Any]:
    from pycanon import anonymity

    frame = _frame(path)
    started = time.perf_counter()
    persons = frame.drop_duplicates(["person_id", *QIS, *SENSITIVE])[[*QIS, *SENSITIVE]].reset_index(drop=True)
    k = int(anonymity.k_anonymity(persons, list(QIS)))
    l_distinct = int(anonymity.l_diversity(persons, list(QIS), list(SENSITIVE)))
    return {"seconds": time.perf_counter() - started, "k": k, "l": l_distinct}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--rows-per-person", type=int, default=10)
    parser.add_argument("--memory-limit", default="1GB")
    parser.add_argument("--pycanon-max", type=int, default=100_000)
    args = parser.parse_args()
    console = Console(width=150)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "export.duckdb"
        started = time.perf_counter()
        write_export(path, args.persons, args.rows_per_person)
        console.print(f"Export written in {time.perf_counter() - started:.1f} s "
                      f"({path.stat().st_size / 2**20:,.0f} MiB on disk).")  # fmt: skip
        sides = {"santegarde gate (person-level k, l, t)": in_child(run_gate, path, args.memory_limit),
                 "pandas drop_duplicates + groupby (k, l)": in_child(run_pandas, path, args.memory_limit)}  # fmt: skip
        if args.persons <= args.pycanon_max:
            sides["pycanon on the person-level frame (k, l)"] = in_child(run_pycanon, path, args.memory_limit)
        values = {(r["k"], r["l"]) for r in sides.values()}
        if len(values) != 1:
            raise SystemExit(f"the sides disagree on k and l: {sides}")
        sides["identifier check, rows fetched into Arrow (before)"] = in_child(run_lineage_fetched, path,
                                                                                  args.memory_limit)
        sides["identifier check in DuckDB over the source (now)"] = in_child(run_lineage, path, args.memory_limit)
    base = sides["pandas drop_duplicates + groupby (k, l)"]["seconds"]
    rows = args.persons * args.rows_per_person
    table = Table(title=f"Export gate: {rows:,} rows, {args.persons:,} persons; k, l = {values.pop()}; "
                        f"DuckDB memory_limit {args.memory_limit}")  # fmt: skip
    for column in ("side", "seconds", "× pandas", "rows/s", "peak RSS +MiB"):
        table.add_column(column, justify="left" if column == "side" else "right")
    for name, r in sides.items():
        table.add_row(name, f"{r['seconds']:.2f}", f"{r['seconds'] / base:.2f}", f"{rows / r['seconds']:,.0f}",
                      f"{r['peak_mib']:.0f}")  # fmt: skip
    console.print(table)
    console.print("pandas' and pycanon's times leave out reading the export into a DataFrame; their memory counts it.")


if __name__ == "__main__":
    main()
