"""Retention plan and run over many synthetic records (throughput, peak memory), SQLite and PostgreSQL.

Run: ``python bench/bench_retention.py [--records 1000000] [--engine sqlite|postgresql|both]``. Writing a million
records through ``RecordService`` would take hours, so the tables are loaded DIRECTLY (``executemany`` in batches
on SQLite, ``COPY`` on PostgreSQL) with rows shaped like real ones: patients × 10 records (one Patient and nine
Observations) under the purpose ``medical_record``, created over the last 25 years, one part per record. Each
patient's part token is real ciphertext: ``vault.seal_part`` with ``vault.PatientKeys`` (so a real wrapped patient
key exists), and the same token bytes are reused for the patient's other records (the engine never decrypts:
archiving re-wraps tokens under the archive key, deletion removes them and destroys the patient's keys).

Measured, in the same run and on the same rows: ``retention.plan`` and ``retention.run`` (archive + delete, in
transactional batches of ``--batch``, traced by the product's journal on a real audit trail in its own database: one
intent entry per record moved, committed before its batch) against two floors: ``SELECT count(*) ... WHERE
created_at < :cutoff`` and a full fetch of the columns the engine reads (for the plan); ``UPDATE record SET current
= current`` over exactly the ids the run moves, in batches of the same size, one transaction each (for the run).
Peak memory: the process peak RSS (VmHWM, reset through /proc/self/clear_refs before each phase) in the timed pass,
and tracemalloc's peak in an untimed pass (plan: again on the same rows when there are at most ``--memory-records``,
and on a fresh database of that size; run: on a fresh database of ``--memory- records``), since tracemalloc slows
Python down. PostgreSQL is used if it answers at ``SANTEGARDE_BENCH_POSTGRES_URL`` (default
postgresql://postgres@127.0.0.1:5432/postgres): a fresh database is created and dropped; otherwise it is skipped.
``--src DIR`` runs another checkout's code on the same rows (e.g. the commit before, unpacked with ``git archive``).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

_source = argparse.ArgumentParser(add_help=False)
_source.add_argument("--src", type=Path, default=Path(__file__).resolve().parent.parent / "src")
SRC = _source.parse_known_args()[0].src
sys.path.insert(0, str(SRC))

# The code measured comes from --src: imported once the path is set.
import psycopg  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from sqlalchemy import Engine, bindparam, func, insert, select, text, update  # noqa: E402

from santegarde.audit.tables import entry  # noqa: E402
from santegarde.audit.trail import AuditTrail  # noqa: E402
from santegarde.crypto import KeyFamily, Keyring, ScryptParams, create_keyring, create_keystore  # noqa: E402
from santegarde.lifecycle.retention import AuditJournal  # noqa: E402
from santegarde.referentials import loader  # noqa: E402
from santegarde.referentials.model import Duration, Referential  # noqa: E402
from santegarde.store import retention, vault  # noqa: E402
from santegarde.store.db import make_engine, migrate  # noqa: E402
from santegarde.store.schema import record, record_part  # noqa: E402

POSTGRES_URL = os.environ.get("SANTEGARDE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PURPOSE = "medical_record"
RECORDS_PER_PATIENT = 10
SPAN_DAYS = int(25 * 365.25)
ACTIVE_YEARS = 5  # medical_record: archived 5 years after the last intervention, deleted 15 years later
LOAD_BATCH = 20_000
SEED = 20261125
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Phase:
    """One timed pass: seconds, records it went over, and the peak RSS it reached (bytes)."""

    name: str
    seconds: float
    records: int
    peak_rss: int
    baseline: str = ""  # the name of the phase this one is compared with

    @property
    def per_second(self) -> float:
        return self.records / self.seconds


@dataclass(frozen=True)
class Memory:
    """tracemalloc peaks (bytes) of an untimed pass."""

    name: str
    records: int
    peak: int


@dataclass(frozen=True)
class Loaded:
    """What the loader wrote and which record ids are due (the patient's last record is 5+ years old)."""

    records: int
    patients: int
    due_ids: list[str]
    seconds: float


@dataclass(frozen=True)
class Result:
    label: str
    server: str
    loaded: Loaded
    phases: list[Phase]
    memory: list[Memory]
    report: retention.RunReport


# -- memory -----------------------------------------------------------------------------------------


def _reset_peak_rss() -> None:
    """Reset the kernel's peak RSS of this process (VmHWM) to the current RSS."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def _peak_rss() -> int:
    """VmHWM of this process, in bytes (ru_maxrss if /proc is missing)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class _Untraced:
    """The journal of the untimed memory passes: nothing traced (the timed run traces for real, ``_journal``)."""

    def intend(self, events: Sequence[retention.RetentionEvent]) -> None:
        pass

    def committed(self, events: Sequence[retention.RetentionEvent]) -> None:
        pass


UNTRACED = _Untraced()


@contextmanager
def _journal(kind: str, ring: Keyring, ref: Referential) -> Iterator[tuple[Any, AuditTrail]]:
    """The product's journal (``lifecycle.retention.AuditJournal``: one intent entry per record moved, appended as
    one batch and committed before the batch, one batch entry after) on a real audit trail in its own fresh
    database, as in production; and that trail."""
    with _database(kind) as url:
        engine = make_engine(url)
        try:
            migrate(engine, package="santegarde.audit")
            _, seal = ring.key(KeyFamily.AUDIT_SEAL)
            trail = AuditTrail(engine, seal)
            yield AuditJournal(SimpleNamespace(referential=ref, audit=trail)), trail  # type: ignore[arg-type]
        finally:
            engine.dispose()


def _entries(trail: AuditTrail) -> int:
    with trail.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(entry)).scalar_one())


def _timed(name: str, records: int, action: Callable[[], Any], baseline: str = "") -> tuple[Phase, Any]:
    """Time one call of ``action`` with the peak RSS it reaches."""
    _reset_peak_rss()
    start = time.perf_counter()
    value = action()
    seconds = time.perf_counter() - start
    phase = Phase(name, seconds, records, _peak_rss(), baseline)
    print(f"  … {name}: {records:,} records in {seconds:.2f} s, peak RSS {phase.peak_rss / 2**20:,.0f} MiB", flush=True)
    return phase, value


def _traced(action: Callable[[], Any]) -> tuple[int, Any]:
    """tracemalloc's peak (bytes above the start) during one call of ``action``."""
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        value = action()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - base, value


# -- synthetic data ---------------------------------------------------------------------------------


def _category(ref: Referential) -> str:
    """A category of the purpose, as the tests pick it."""
    allowed = ref.purpose(PURPOSE).categories or []  # type: ignore[union-attr]
    return next(c.id for c in ref.categories if c.id in allowed)


def _patient_dates(rng: random.Random) -> list[datetime]:
    """Ten creation dates of one patient's file: a first visit over 25 years, the others within ten years of it."""
    first = NOW - timedelta(days=rng.randrange(SPAN_DAYS), seconds=rng.randrange(86_400))
    span = min(int(rng.expovariate(1 / 900)), 3650, max((NOW - first).days, 0))
    later = sorted(first + timedelta(days=rng.randrange(span + 1), seconds=rng.randrange(86_400)) for _ in range(9))
    return [first, *later]


def _rows(
    engine: Engine, ring: Keyring, ref: Referential, patients: int, category: str
) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]]:
    """Batches of (record rows, part rows, due ids); one real token sealed per patient, keys created for real."""
    rng = random.Random(SEED)  # noqa: S311 - seeded synthetic dates and ids, not secrets
    keys = vault.PatientKeys(ring)
    per_batch = max(1, LOAD_BATCH // RECORDS_PER_PATIENT)
    for start in range(0, patients, per_batch):
        records: list[dict[str, Any]] = []
        parts: list[dict[str, Any]] = []
        due: list[str] = []
        with engine.begin() as conn:
            for _ in range(start, min(start + per_batch, patients)):
                pid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
                dates = _patient_dates(rng)
                v = vault.Version(pid, 1, "Patient", pid, dates[0], "bench", PURPOSE, False, (category,))
                token = vault.seal_part(keys, conn, ref, v, category, {"valueString": "fictitious"})
                for k, at in enumerate(dates):
                    rid = pid if k == 0 else str(uuid.UUID(int=rng.getrandbits(128), version=4))
                    records.append(
                        {
                            "id": rid, "version": 1, "resource_type": "Patient" if k == 0 else "Observation",
                            "patient_id": pid, "current": True, "free_text": False, "created_at": at,
                            "created_by": "bench", "purpose": PURPOSE,
                        }
                    )  # fmt: skip
                    parts.append({"record_id": rid, "version": 1, "category": category, "token": token})
                if retention.add_duration(dates[-1], Duration(years=ACTIVE_YEARS)) <= NOW:
                    due.extend(r["id"] for r in records[-RECORDS_PER_PATIENT:])
        yield records, parts, due


def _copy(engine: Engine, records: list[dict[str, Any]], parts: list[dict[str, Any]]) -> None:
    """PostgreSQL: COPY both batches in one transaction."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for table, rows in ((record, records), (record_part, parts)):
            names = [c.name for c in table.columns]
            with cursor.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row([row[n] for n in names])
        raw.commit()
    finally:
        raw.close()


def load(engine: Engine, ring: Keyring, ref: Referential, records: int) -> Loaded:
    """Load ``records`` synthetic records (rounded to whole patients) directly into the tables."""
    start = time.perf_counter()
    patients = max(1, records // RECORDS_PER_PATIENT)
    category = _category(ref)
    due_ids: list[str] = []
    for rows, parts, due in _rows(engine, ring, ref, patients, category):
        if engine.dialect.name == "postgresql":
            _copy(engine, rows, parts)
        else:
            with engine.begin() as conn:
                conn.execute(insert(record), rows)
                conn.execute(insert(record_part), parts)
        due_ids.extend(due)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    return Loaded(patients * RECORDS_PER_PATIENT, patients, due_ids, time.perf_counter() - start)


# -- baselines --------------------------------------------------------------------------------------


def baseline_count(engine: Engine) -> int:
    """SELECT count(*) of the rows created before the active-phase cutoff."""
    cutoff = NOW - timedelta(days=int(ACTIVE_YEARS * 365.25))
    query = select(func.count()).select_from(record).where(record.c.created_at < cutoff)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def baseline_fetch(engine: Engine) -> int:
    """Fetch every row's id, version, type, patient, purpose and date, as the engine's gather does (no objects)."""
    query = select(
        record.c.id, record.c.version, record.c.resource_type, record.c.patient_id, record.c.purpose,
        record.c.created_at,
    ).order_by(record.c.id, record.c.version)  # fmt: skip
    count = 0
    with engine.connect() as conn:
        for _row in conn.execute(query):
            count += 1
    return count


def baseline_update(engine: Engine, ids: list[str], batch: int) -> int:
    """UPDATE record SET current = current over ``ids``, ``batch`` ids per statement and transaction."""
    statement = update(record).where(record.c.id.in_(bindparam("ids", expanding=True))).values(current=record.c.current)
    done = 0
    for start in range(0, len(ids), batch):
        with engine.begin() as conn:
            done += conn.execute(statement, {"ids": ids[start : start + batch]}).rowcount
    return done


# -- databases --------------------------------------------------------------------------------------


def _postgres_answers() -> bool:
    try:
        psycopg.connect(POSTGRES_URL, connect_timeout=3).close()
    except psycopg.OperationalError:
        return False
    return True


@contextmanager
def _database(kind: str) -> Iterator[str]:
    """A fresh SQLite file or PostgreSQL database, removed afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="santegarde-bench-") as directory:
            yield f"sqlite:///{Path(directory) / 'retention.db'}"
        return
    name = f"santegarde_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def _store(kind: str, ring: Keyring) -> Iterator[Engine]:
    """A migrated record store on a fresh database."""
    with _database(kind) as url:
        engine = make_engine(url)
        try:
            migrate(engine, package="santegarde.identity")
            migrate(engine)
            yield engine
        finally:
            engine.dispose()


def _server_version(engine: Engine) -> str:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            return "SQLite " + str(conn.execute(text("select sqlite_version()")).scalar_one())
        version = str(conn.execute(text("show server_version")).scalar_one()).split()[0]
        return f"PostgreSQL {version}, autovacuum {conn.execute(text('show autovacuum')).scalar_one()}"


# -- the measurement --------------------------------------------------------------------------------


def _memory_pass(kind: str, ring: Keyring, ref: Referential, records: int, batch: int) -> list[Memory]:
    """tracemalloc peaks of plan and run on a fresh database of ``records`` (untimed)."""
    with _store(kind, ring) as engine:
        loaded = load(engine, ring, ref, records)
        plan_peak, _ = _traced(lambda: retention.plan(engine, ref, {}, NOW))
        run_peak, report = _traced(lambda: retention.run(engine, ring, ref, {}, NOW, UNTRACED, batch=batch))
    moved = report.archived + report.deleted
    assert moved == len(loaded.due_ids), (moved, len(loaded.due_ids))
    return [
        Memory(f"retention.plan (fresh db of {loaded.records:,})", loaded.records, plan_peak),
        Memory(f"retention.run, batch {batch} (fresh db of {loaded.records:,})", loaded.records, run_peak),
    ]


def measure(kind: str, label: str, ring: Keyring, records: int, memory_records: int, batch: int) -> Result:
    """Load, then the baselines, plan and run on the same rows; then the tracemalloc passes."""
    ref = loader.get("pra-2020-081")
    with _store(kind, ring) as engine:
        server = _server_version(engine)
        loaded = load(engine, ring, ref, records)
        n, due = loaded.records, len(loaded.due_ids)
        print(f"  … loaded {n:,} records ({due:,} due) in {loaded.seconds:.0f} s", flush=True)
        count_floor, _ = _timed("SELECT count(*) WHERE created_at < cutoff (floor)", n, lambda: baseline_count(engine))
        fetch_floor, fetched = _timed("SELECT the 6 columns, fetch all (floor)", n, lambda: baseline_fetch(engine))
        assert fetched == n
        plan_phase, p = _timed("retention.plan", n, lambda: retention.plan(engine, ref, {}, NOW), count_floor.name)
        line = p.line(PURPOSE)
        assert line is not None and line.archive_now + line.end_now == due, (line, due)
        plan_peak = _traced(lambda: retention.plan(engine, ref, {}, NOW))[0] if n <= memory_records else None
        update_floor, updated = _timed(
            f"UPDATE SET current = current, batches of {batch} (floor)", due,
            lambda: baseline_update(engine, loaded.due_ids, batch),
        )  # fmt: skip
        assert updated == due
        with _journal(kind, ring, ref) as (journal, trail):
            run_phase, report = _timed(
                f"retention.run (archive + delete, traced), batch {batch}", due,
                lambda: retention.run(engine, ring, ref, {}, NOW, journal, batch=batch), update_floor.name,
            )  # fmt: skip
            traced = _entries(trail)
        assert report.archived + report.deleted == due, (report.archived, report.deleted, due)
        assert traced >= due + report.batches, (traced, due, report.batches)  # an intent per record, one per batch
        phases = [count_floor, fetch_floor, plan_phase, update_floor, run_phase]
    memory = [Memory(f"retention.plan (same {n:,} rows)", n, plan_peak)] if plan_peak is not None else []
    memory += _memory_pass(kind, ring, ref, min(memory_records, records), batch)
    return Result(label, server, loaded, phases, memory, report)


# -- output -----------------------------------------------------------------------------------------


def _mib(value: int) -> str:
    return f"{value / 2**20:,.0f}"


def _print(result: Result, batch: int, console: Console) -> None:
    loaded, report = result.loaded, result.report
    console.print(
        f"[bold]{result.label} ({result.server})[/bold]: loaded {loaded.records:,} records of {loaded.patients:,} "
        f"patients in {loaded.seconds:.0f} s; due {len(loaded.due_ids):,} — run archived {report.archived:,}, "
        f"deleted {report.deleted:,}, destroyed the keys of {report.keys_destroyed:,} patients in {report.batches:,} "
        f"batches of {batch}"
    )
    table = Table(title=f"{result.label}: retention over {loaded.records:,} synthetic records")
    for column in ("pass", "records", "seconds", "records/s", "× floor time", "peak RSS MiB"):
        table.add_column(column, justify="left" if column == "pass" else "right")
    seconds = {phase.name: phase.seconds for phase in result.phases}
    for phase in result.phases:
        ratio = f"{phase.seconds / seconds[phase.baseline]:.0f}" if phase.baseline else "1"
        table.add_row(
            phase.name, f"{phase.records:,}", f"{phase.seconds:.2f}", f"{phase.per_second:,.0f}", ratio,
            _mib(phase.peak_rss),
        )  # fmt: skip
    console.print(table)
    plan, fetch = result.phases[2], result.phases[1]
    console.print(f"retention.plan / full fetch of the same columns: {plan.seconds / fetch.seconds:.1f}×")
    memory = Table(title=f"{result.label}: tracemalloc peak (Python objects), untimed passes")
    for column in ("pass", "records", "peak MiB", "bytes per record"):
        memory.add_column(column, justify="left" if column == "pass" else "right")
    for item in result.memory:
        memory.add_row(item.name, f"{item.records:,}", _mib(item.peak), f"{item.peak / item.records:,.0f}")
    console.print(memory)


def main() -> None:
    """Measure SQLite and/or PostgreSQL."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000, help="synthetic records (default 1 000 000)")
    parser.add_argument("--postgres-records", type=int, default=None, help="records on PostgreSQL (default --records)")
    parser.add_argument("--memory-records", type=int, default=100_000, help="records of the tracemalloc run pass")
    parser.add_argument("--batch", type=int, default=500, help="records per transaction of the run (default 500)")
    parser.add_argument("--engine", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--src", type=Path, default=SRC, help="the santegarde sources to run (default: this checkout)")
    args = parser.parse_args()
    if args.records < RECORDS_PER_PATIENT * 10:
        parser.error(f"--records must be at least {RECORDS_PER_PATIENT * 10}.")
    console = Console(width=max(Console().width, 120))
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    console.print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load}, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; seed {SEED}, clock {NOW.isoformat()}; code {args.src}"
    )
    with tempfile.TemporaryDirectory(prefix="santegarde-bench-keys-") as keys:
        master = create_keystore(Path(keys) / "ring", "correct horse battery staple", ScryptParams(n=2**10, r=8, p=1))
        ring = create_keyring(master, Path(keys) / "ring")
        if args.engine in ("sqlite", "both"):
            result = measure("sqlite", "SQLite, temp file", ring, args.records, args.memory_records, args.batch)
            _print(result, args.batch, console)
        if args.engine in ("postgresql", "both"):
            if not _postgres_answers():
                console.print(f"PostgreSQL skipped: nothing answers at {POSTGRES_URL}.")
                return
            records = args.postgres_records or args.records
            result = measure("postgresql", "PostgreSQL, local TCP", ring, records, args.memory_records, args.batch)
            _print(result, args.batch, console)


if __name__ == "__main__":
    main()
