"""Anonymity metrics (k, distinct l, t) computed by ``santegarde`` in DuckDB SQL against pycanon, in the same run.

Run: ``python bench/bench_anonymity.py [--n 10000000] [--pycanon-n N] [--repeat 3]``.
Datasets: the UCI Adult extract (32 561 rows), a ten-fold copy of it (325 610 rows) and ``--n`` generated rows
(k only). Each dataset is loaded once: into a pandas DataFrame for pycanon and into a DuckDB table for santegarde;
only the metric computation is timed. ``measure`` computes all metrics of a sensitive attribute in one call, so
the l and t rows time the whole ``measure(..., [sensitive])`` call (k, classes, smallest classes, distinct and
entropy l, t) against pycanon's single function: the santegarde side is an upper bound and the ratio a lower one.
``--pycanon-n`` runs pycanon's k on that many generated rows instead of ``--n`` and scales its time linearly;
the table says so.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import duckdb
import numpy as np
import pandas as pd
from pycanon import anonymity as pycanon
from rich.console import Console
from rich.table import Table

from santegarde.warehouse.anonymity import measure

ADULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "adult" / "adult.csv"  # ../shared beside the checkout
ADULT_QIS = ["age", "education", "occupation", "relationship", "sex", "native-country"]
ADULT_SENSITIVE = "salary-class"
GENERATED_QIS = ["age", "sex", "zip", "year"]
T_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Row:
    """One comparison: a metric on a dataset, both timings and both values."""

    dataset: str
    metric: str
    ours: float
    theirs: float
    our_value: float
    their_value: float
    equal: bool
    note: str = ""


def _timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median wall time of ``repeat`` calls of ``fn`` and the value of the last one."""
    times, value = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), value


def _duckdb_table(df: pd.DataFrame, name: str) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB holding ``df`` as a real table (not a view over pandas)."""
    conn = duckdb.connect()
    conn.register("__df", df)
    conn.execute(f'CREATE TABLE "{name}" AS SELECT * FROM __df')  # noqa: S608 - fixed benchmark name
    conn.unregister("__df")
    return conn


def _same(metric: str, ours: float, theirs: float) -> bool:
    """Exact equality for k and l, absolute tolerance for t."""
    return abs(ours - theirs) <= T_TOLERANCE if metric.startswith("t") else ours == theirs


def _klt(name: str, df: pd.DataFrame, repeat: int, pycanon_repeat: int) -> list[Row]:
    """k, distinct l and t of Adult-shaped ``df`` by both libraries."""
    conn = _duckdb_table(df, "data")
    qis, sens = ADULT_QIS, [ADULT_SENSITIVE]
    k_time, k_report = _timed(lambda: measure(conn, "data", qis), repeat)
    full_time, report = _timed(lambda: measure(conn, "data", qis, sens), repeat)
    pk_time, pk = _timed(lambda: pycanon.k_anonymity(df, qis), pycanon_repeat)
    pl_time, pl = _timed(lambda: pycanon.l_diversity(df, qis, sens), pycanon_repeat)
    pt_time, pt = _timed(lambda: pycanon.t_closeness(df, qis, sens), pycanon_repeat)
    note = "santegarde: one measure() call for k+l+t"
    return [
        Row(name, "k", k_time, pk_time, k_report.k, pk, _same("k", k_report.k, pk), "santegarde: measure() with no SA"),
        Row(name, "l (distinct)", full_time, pl_time, report.l_distinct, pl, _same("l", report.l_distinct, pl), note),
        Row(name, "t (equal)", full_time, pt_time, report.t_closeness, pt, _same("t", report.t_closeness, pt), note),
    ]


def _generated(n: int, seed: int = 20240611) -> pd.DataFrame:
    """``n`` fictitious rows: age 0-99, sex, one of 500 postcodes, one of 10 years (integer columns)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(0, 100, n, dtype=np.int16),
            "sex": rng.integers(0, 2, n, dtype=np.int8),
            "zip": rng.integers(0, 500, n, dtype=np.int32),
            "year": rng.integers(2015, 2025, n, dtype=np.int16),
        }
    )


def _k_generated(n: int, pycanon_n: int, repeat: int) -> Row:
    """k on ``n`` generated rows; pycanon on the first ``pycanon_n`` of them, scaled linearly if fewer."""
    df = _generated(n)
    conn = _duckdb_table(df, "gen")
    k_time, report = _timed(lambda: measure(conn, "gen", GENERATED_QIS), repeat)
    if pycanon_n >= n:
        pk_time, pk = _timed(lambda: pycanon.k_anonymity(df, GENERATED_QIS), 1)
        return Row(f"generated {n:,}", "k", k_time, pk_time, report.k, pk, report.k == pk)
    sub = df.head(pycanon_n).copy()
    sub_conn = _duckdb_table(sub, "gen")
    sub_report = measure(sub_conn, "gen", GENERATED_QIS)
    pk_time, pk = _timed(lambda: pycanon.k_anonymity(sub, GENERATED_QIS), 1)
    note = f"pycanon ran on {pycanon_n:,} rows, time ×{n / pycanon_n:g} (linear); values compared on those rows"
    return Row(f"generated {n:,}", "k", k_time, pk_time * n / pycanon_n, sub_report.k, pk, sub_report.k == pk, note)


def _fmt(value: float) -> str:
    """Integers as such, floats to 12 digits."""
    return str(int(value)) if float(value).is_integer() else f"{value:.12g}"


def _print(rows: list[Row], console: Console) -> None:
    """The comparison table."""
    table = Table(title="Anonymity metrics: santegarde (DuckDB SQL) vs pycanon")
    for col in ("dataset", "metric", "santegarde s", "pycanon s", "ratio", "values", "equal?", "note"):
        table.add_column(col)
    for r in rows:
        values = f"{_fmt(r.our_value)} / {_fmt(r.their_value)}"
        table.add_row(
            r.dataset,
            r.metric,
            f"{r.ours:.3f}",
            f"{r.theirs:.3f}",
            f"{r.theirs / r.ours:.1f}×",
            values,
            "yes" if r.equal else "NO",
            r.note,
        )
    console.print(table)


def main() -> None:
    """Parse arguments, run every comparison and print the table; exit 1 if any value differs."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10_000_000, help="generated rows for k")
    parser.add_argument("--pycanon-n", type=int, default=None, help="rows given to pycanon's k (default: --n)")
    parser.add_argument("--repeat", type=int, default=3, help="santegarde repetitions (median)")
    args = parser.parse_args()
    console = Console(width=200)
    adult = pd.read_csv(ADULT)
    tenfold = pd.concat([adult] * 10, ignore_index=True)
    console.print(f"duckdb {duckdb.__version__}, pandas {pd.__version__}, threads={_threads()}")
    rows = _klt(f"adult {len(adult):,}", adult, args.repeat, args.repeat)
    rows += _klt(f"adult ×10 {len(tenfold):,}", tenfold, args.repeat, 1)
    rows.append(_k_generated(args.n, args.pycanon_n or args.n, args.repeat))
    _print(rows, console)
    if not all(r.equal for r in rows):
        sys.exit(1)


def _threads() -> str:
    """DuckDB's default thread count on this machine."""
    row = duckdb.connect().execute("SELECT current_setting('threads')").fetchone()
    return str(row[0]) if row else "?"


if __name__ == "__main__":
    main()
