"""Warehouse pseudonyms per second (HMAC-SHA256) against Python and OpenSSL, and OMOP CSV feed rows/s.

Run: ``python bench/bench_warehouse.py [--n 10000000] [--python-sample 1000000] [--persons 100000]
[--measurements 1000000]``. Everything is measured in the same run, on a real warehouse in a temp directory:

1. Arrow: ``pseudonyms()`` (the compiled kernel over an Arrow column, on every core) over n identifiers
   ``person|<9 digits>`` (16 bytes, the size OpenSSL is run on); building the column is not timed.
   SQL: ``hmac_sql`` (the ``sg_hmac`` function feeds use) over the same identifiers stored in a DuckDB table,
   reduced with ``max()`` so nothing is sent back to Python. The floors are the same query without the HMAC
   (messages only) and with one plain ``sha256``; the RFC 2104 formula written in plain SQL (what the
   warehouse used before the kernel) is measured too. Samples of both are checked against Python ``hmac``.
2. Python: ``hmac.digest(key, msg, 'sha256')`` in a plain loop over a sample of prebuilt messages; the rate is
   extrapolated to n.
3. OpenSSL: ``openssl speed -mr -elapsed -seconds 3 -hmac sha256 -bytes 16`` (one core), then the same with
   ``-multi 2`` (two processes). ``-elapsed`` makes the single run use wall-clock time like ``-multi`` does.
4. Feed: ``Warehouse.feed_omop`` over generated person.csv and measurement.csv; the floor is a plain DuckDB
   ``read_csv`` of the same files into a temp table.
"""

# ruff: noqa: S608 - SQL is assembled from constants, ints and temp paths only; values go as $parameters

from __future__ import annotations

import argparse
import hmac
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import duckdb
from rich.console import Console
from rich.table import Table

from santegarde.audit.trail import AuditTrail
from santegarde.crypto import Keyring, ScryptParams, create_keyring, create_keystore
from santegarde.identity import accounts, grants
from santegarde.identity.context import IdentityContext, IdentitySettings
from santegarde.identity.hashing import FAST_TEST_PARAMS
from santegarde.referentials import loader
from santegarde.store.db import make_engine, migrate
from santegarde.warehouse import Warehouse
from santegarde.warehouse.access import Operator, WarehouseGuard
from santegarde.warehouse.feed import DataList
from santegarde.warehouse.omop import OMOP_TABLES
from santegarde.warehouse.pseudonym import hmac_sql, pseudonyms

GOAL = 0.40
MESSAGE_SQL = "printf('person|%09d', i)"
FULL = {f"{t}.{c.name}": "needed by the warehouse purposes" for t, cols in OMOP_TABLES.items() for c in cols}
_RESULT = re.compile(r"^\+R:(\d+):hmac\(sha256\):([0-9.]+)$", re.MULTILINE)


@dataclass(frozen=True)
class Rate:
    """An operation count over a duration, with a note on how it was obtained."""

    name: str
    count: int
    seconds: float
    note: str = ""

    @property
    def per_second(self) -> float:
        return self.count / self.seconds


def _keyring(directory: Path) -> Keyring:
    """A fresh keyring with cheap scrypt parameters (the bench does not measure key derivation)."""
    master = create_keystore(directory, "correct horse battery staple", ScryptParams(n=2**10, r=8, p=1))
    return create_keyring(master, directory)


PLAIN_SQL_HMAC = "sha256($pad_o || unhex(sha256($pad_i || encode(m))))"  # RFC 2104 in SQL, for comparison


FEEDER = Operator("bench.feeder", "feeding")


def _guard(directory: Path, ring: Keyring) -> WarehouseGuard:
    """Identity and audit databases with one account holding the feeding profile (feeds need it, EDS-SEC-LOG-6)."""
    identity_db = make_engine(f"sqlite:///{directory / 'identity.db'}")
    migrate(identity_db, package="santegarde.identity")
    migrate(identity_db)  # the records database: the objection ledger the feeds read (EDS-9)
    settings = IdentitySettings(hash_params=FAST_TEST_PARAMS)
    ctx = IdentityContext(identity_db, loader.get("eds-2021-118"), ring, lambda *a, **k: None, settings)
    accounts.add(ctx, FEEDER.login, "Bench Feeder", person_ref="bench", by="bench")
    grants.give(ctx, FEEDER.login, FEEDER.profile or "", validated_by="bench", validator_role="governance_body",
                reason="benchmark run", by="bench")  # fmt: skip
    audit_db = make_engine(f"sqlite:///{directory / 'audit.db'}")
    migrate(audit_db, package="santegarde.audit")
    return WarehouseGuard(ctx, AuditTrail(audit_db, os.urandom(32)))


def _sql_rates(wh: Warehouse, n: int) -> list[Rate]:
    """The floors (messages only, one sha256), the RFC 2104 formula in plain SQL, and ``sg_hmac``, over n rows."""
    threads = wh.omop.execute("SELECT current_setting('threads')").fetchone()
    note = f"DuckDB {duckdb.__version__}, {threads[0] if threads else '?'} threads"
    wh.sql(f"CREATE OR REPLACE TEMP TABLE bench_messages AS SELECT {MESSAGE_SQL} AS m FROM range($n) t(i)", {"n": n})
    padded = wh.keys.pseudonym.ljust(64, b"\0")
    pads = {"pad_i": bytes(b ^ 0x36 for b in padded), "pad_o": bytes(b ^ 0x5C for b in padded)}
    rates = []
    passes = (
        ("messages only (floor)", "m"),
        ("one plain sha256(message) (floor)", "sha256(m)"),
        ("RFC 2104 in plain SQL (before)", PLAIN_SQL_HMAC),
        ("SQL sg_hmac (hmac_sql, feeds)", hmac_sql("m")),
    )
    for name, expr in passes:
        start = time.perf_counter()
        wh.sql(f"SELECT max({expr}) FROM bench_messages", pads).fetchone()
        rates.append(Rate(name, n, time.perf_counter() - start, note))
    return rates


def _arrow_rate(wh: Warehouse, n: int) -> Rate:
    """``pseudonyms()`` over an Arrow column of the n identifiers (building the column is not timed)."""
    column = wh.omop.execute("SELECT m FROM bench_messages").fetch_arrow_table().column(0)
    pseudonyms(wh.pseudonym_key, column.slice(0, 1000))  # compiled already; this warms the thread pool path
    start = time.perf_counter()
    digests = pseudonyms(wh.pseudonym_key, column)
    seconds = time.perf_counter() - start
    for i in range(0, n, max(1, n // 1000)):
        if digests[i].as_py() != wh.pseudonym_key.hexdigest(column[i].as_py()):
            raise SystemExit("The Arrow pseudonyms differ from Python's hmac: the benchmark is meaningless.")
    return Rate("Arrow pseudonyms() (kernel, every core)", n, seconds, f"{os.cpu_count()} threads")


def _check_sample(wh: Warehouse, count: int = 1000) -> None:
    """Abort if the SQL HMAC differs from Python's on the first ``count`` identifiers."""
    sql = f"SELECT {MESSAGE_SQL}, {hmac_sql(MESSAGE_SQL)} FROM range($n) t(i)"
    for message, digest in wh.sql(sql, {"n": count}).fetchall():
        if wh.pseudonym_key.hexdigest(message) != digest:
            raise SystemExit(f"The SQL HMAC of {message!r} differs from Python's: the benchmark is meaningless.")


def _python_rate(key: bytes, sample: int, n: int) -> Rate:
    """A plain ``hmac.digest`` loop over ``sample`` prebuilt messages (building them is not timed)."""
    messages = [f"person|{i:09d}".encode() for i in range(sample)]
    start = time.perf_counter()
    for message in messages:
        hmac.digest(key, message, "sha256")
    return Rate(
        "Python hmac.digest loop", sample, time.perf_counter() - start, f"sample of {sample:,}, × {n / sample:g}"
    )


def _openssl(extra: list[str], seconds: int) -> Rate:
    """HMAC-SHA256 on 16-byte blocks from ``openssl speed -mr``; several processes are summed."""
    command = ["openssl", "speed", "-mr", "-elapsed", "-seconds", str(seconds), *extra, "-hmac", "sha256"]
    command += ["-bytes", "16"]
    done = subprocess.run(command, capture_output=True, text=True, check=True)  # noqa: S603 - fixed argv
    out = done.stdout + done.stderr  # the '+R:' lines go to stderr
    results = [(int(c), float(s)) for c, s in _RESULT.findall(out)]
    if not results:
        raise SystemExit(f"No '+R:' line in the output of {' '.join(command)}: cannot read OpenSSL's rate.")
    rate = sum(c / s for c, s in results)
    label = "OpenSSL, 2 processes (-multi 2)" if extra else "OpenSSL, 1 process"
    return Rate(label, round(rate * seconds), seconds, " ".join(command))


def _write_omop(directory: Path, persons: int, measurements: int) -> None:
    """person.csv and measurement.csv with fictitious values, generated by DuckDB."""
    directory.mkdir()
    con = duckdb.connect()
    con.execute(
        f"""COPY (SELECT 1000000 + i AS person_id, CASE WHEN i % 2 = 0 THEN 8507 ELSE 8532 END AS gender_concept_id,
                   1930 + i % 90 AS year_of_birth, 1 + i % 12 AS month_of_birth, 0 AS race_concept_id,
                   0 AS ethnicity_concept_id, 'SRC-' || lpad(i::VARCHAR, 9, '0') AS person_source_value
            FROM range({int(persons)}) t(i)) TO '{directory / "person.csv"}' (HEADER)"""
    )
    con.execute(
        f"""COPY (SELECT 5000000000 + i AS measurement_id, 1000000 + (i * 7919) % {int(persons)} AS person_id,
                   3004410 AS measurement_concept_id, DATE '2020-01-01' + (i % 1800)::INTEGER AS measurement_date,
                   32817 AS measurement_type_concept_id, round(3.5 + (i % 400) / 100.0, 2) AS value_as_number,
                   8554 AS unit_concept_id, 'HBA1C' AS measurement_source_value, '%' AS unit_source_value
            FROM range({int(measurements)}) t(i)) TO '{directory / "measurement.csv"}' (HEADER)"""
    )
    con.close()


def _feed_rates(wh: Warehouse, directory: Path) -> tuple[list[Rate], dict[str, int]]:
    """The read_csv floor and ``feed_omop`` over the files of ``directory``."""
    rows: dict[str, int] = {}
    start = time.perf_counter()
    for path in sorted(directory.glob("*.csv")):
        quoted = str(path).replace("'", "''")
        wh.omop.execute(
            f"CREATE OR REPLACE TEMP TABLE floor_{path.stem} AS "
            f"SELECT * FROM read_csv('{quoted}', header = true, all_varchar = true)"
        )
        count = wh.omop.execute(f"SELECT count(*) FROM floor_{path.stem}").fetchone()
        rows[path.stem] = int(count[0]) if count else 0
        wh.omop.execute(f"DROP TABLE floor_{path.stem}")
    floor = Rate("read_csv into a temp table (floor)", sum(rows.values()), time.perf_counter() - start)
    start = time.perf_counter()
    report = wh.feed_omop(directory, DataList.from_mapping(FULL), source_name="bench", operator=FEEDER)
    seconds = time.perf_counter() - start
    written = dict(report.rows)
    feed = Rate("Warehouse.feed_omop", sum(rows.values()), seconds, f"rows written: {written}")
    return [floor, feed], written


def _pseudonym_table(n: int, rates: list[Rate], arrow: Rate, sql: Rate, goal_base: Rate) -> Table:
    table = Table(title=f"Pseudonyms (HMAC-SHA256, 16-byte messages), n={n:,}")
    for column in ("method", "count", "seconds", "per second", "÷ OpenSSL 2 proc.", "note"):
        table.add_column(column, justify="left" if column in ("method", "note") else "right")
    for rate in rates:
        table.add_row(
            rate.name, f"{rate.count:,}", f"{rate.seconds:.2f}", f"{rate.per_second:,.0f}",
            f"{rate.per_second / goal_base.per_second:.0%}", rate.note,
        )  # fmt: skip
    verdicts = [
        f"{rate.name} = {rate.per_second / goal_base.per_second:.0%} "
        f"({'met' if rate.per_second >= GOAL * goal_base.per_second else 'NOT met'})"
        for rate in (arrow, sql)
    ]
    table.caption = f"Goal ≥ {GOAL:.0%} of OpenSSL's two-process rate: " + "; ".join(verdicts)
    return table


def _feed_table(rates: list[Rate], written: dict[str, int]) -> Table:
    table = Table(title="OMOP CSV feed")
    for column in ("pass", "rows read", "seconds", "rows/s", "× floor time"):
        table.add_column(column, justify="left" if column == "pass" else "right")
    for rate in rates:
        table.add_row(
            rate.name, f"{rate.count:,}", f"{rate.seconds:.2f}", f"{rate.per_second:,.0f}",
            f"{rate.seconds / rates[0].seconds:.1f}",
        )  # fmt: skip
    table.caption = f"rows written per table: {written}"
    return table


def main() -> None:
    """Parse arguments, run the four measurements, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10_000_000, help="identifiers pseudonymised in SQL")
    parser.add_argument("--python-sample", type=int, default=1_000_000, help="messages in the Python loop")
    parser.add_argument("--openssl-seconds", type=int, default=3)
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--measurements", type=int, default=1_000_000)
    args = parser.parse_args()
    console = Console(width=max(Console().width, 120))
    console.print(f"Python {sys.version.split()[0]}, DuckDB {duckdb.__version__}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="santegarde-bench-") as tmp:
        root = Path(tmp)
        ring = _keyring(root / "keyring")
        with Warehouse.open(root / "warehouse", ring, guard=_guard(root, ring)) as wh:
            _check_sample(wh)
            *floors, sql = _sql_rates(wh, args.n)
            arrow = _arrow_rate(wh, args.n)
            python = _python_rate(wh.keys.pseudonym, args.python_sample, args.n)
            one = _openssl([], args.openssl_seconds)
            two = _openssl(["-multi", "2"], args.openssl_seconds)
            console.print(_pseudonym_table(args.n, [*floors, sql, arrow, python, one, two], arrow, sql, two))
            _write_omop(root / "omop", args.persons, args.measurements)
            feed, written = _feed_rates(wh, root / "omop")
            console.print(_feed_table(feed, written))


if __name__ == "__main__":
    main()
