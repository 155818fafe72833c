"""Cost of the identity gate, ``sessions.require``, against a bare database round trip, on SQLite and PostgreSQL.

Run: ``python bench/bench_sessions.py [--n 2000]``. Everything is measured in the same run and on the same
engine: a bare ``SELECT 1`` round trip (pool checkout included) is the baseline, and a primary-key lookup of
the session row is the second reference. The clock of the context is fixed, so the session never idles out.
PostgreSQL is used if it answers at ``SANTEGARDE_BENCH_POSTGRES_URL`` (default
postgresql://postgres@127.0.0.1:5432/postgres): a fresh database is created and dropped; otherwise it is skipped.
Memory: tracemalloc, in a separate pass of n calls (tracemalloc slows the calls down, so it is not timed).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import psycopg
import pyotp
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, event, select, text

from santegarde.crypto import ScryptParams, create_keyring, create_keystore
from santegarde.identity import accounts, grants, sessions, totp
from santegarde.identity.context import IdentityContext, IdentitySettings, no_trace
from santegarde.identity.hashing import FAST_TEST_PARAMS
from santegarde.identity.tables import session
from santegarde.referentials import loader
from santegarde.referentials.model import Sensitivity
from santegarde.store.db import make_engine, migrate

POSTGRES_URL = os.environ.get("SANTEGARDE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PASSWORD = "Tisane-Violette-7-Horloge!"  # noqa: S105 - fictitious, benchmark input
WARM_UP = 50


@dataclass(frozen=True)
class Timing:
    """Median and 95th percentile of one operation, in seconds, and the SQL statements it runs."""

    name: str
    median: float
    p95: float
    statements: int


@dataclass(frozen=True)
class Memory:
    """tracemalloc figures across n calls of the gate, in bytes."""

    retained: int
    peak: int
    retained_second_half: int


def _fixed_clock(moment: datetime) -> Callable[[], datetime]:
    """A clock that always answers ``moment``."""
    return lambda: moment


def _context(url: str, keyring_dir: Path) -> IdentityContext:
    """A migrated identity database with fast argon2 parameters and a fixed clock."""
    engine = make_engine(url)
    migrate(engine, package="santegarde.identity")
    master = create_keystore(keyring_dir, "correct horse battery staple", ScryptParams(n=2**10, r=8, p=1))
    ring = create_keyring(master, keyring_dir)
    settings = IdentitySettings(hash_params=FAST_TEST_PARAMS)
    now = datetime.now(UTC).replace(microsecond=0)
    return IdentityContext(engine, loader.get("pra-2020-081"), ring, no_trace, settings, clock=_fixed_clock(now))


def _ready_session(ctx: IdentityContext) -> str:
    """One person with a grant, a changed password, the charter accepted and TOTP enrolled; returns the token."""
    _, temporary = accounts.add(ctx, "dr.martin", "Claire Martin", person_ref="10001234567", by="admin")
    assert temporary is not None
    grants.give(
        ctx, "dr.martin", "practitioner", validated_by="Dr Admin", validator_role="controller",
        reason="practice staff", by="admin",
    )  # fmt: skip
    first = sessions.login(ctx, "dr.martin", temporary, source="10.0.0.1", workstation_class="office")
    sessions.change_password(ctx, first.token, temporary, PASSWORD)
    sessions.logout(ctx, first.token)
    result = sessions.login(ctx, "dr.martin", PASSWORD, source="10.0.0.1", workstation_class="office")
    sessions.accept_charter(ctx, result.token, ctx.settings.charter_version)
    secret = totp.new_secret()
    sessions.enrol_second_factor(ctx, result.token, secret, pyotp.TOTP(secret).at(ctx.now()))
    state = sessions.require(ctx, result.token, sensitivity=Sensitivity.SPECIAL)
    assert not state.pending, state.pending
    return result.token


def _statements(engine: Engine, action: Callable[[], object]) -> int:
    """How many SQL statements one call of ``action`` sends."""
    count = 0

    def counter(*_args: Any) -> None:
        nonlocal count
        count += 1

    event.listen(engine, "before_cursor_execute", counter)
    try:
        action()
    finally:
        event.remove(engine, "before_cursor_execute", counter)
    return count


def _time(name: str, engine: Engine, action: Callable[[], object], n: int) -> Timing:
    """Median and p95 of ``n`` calls after a warm-up."""
    for _ in range(WARM_UP):
        action()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    p95 = statistics.quantiles(samples, n=20, method="inclusive")[18]
    return Timing(name, statistics.median(samples), p95, _statements(engine, action))


def _memory(action: Callable[[], object], n: int) -> Memory:
    """Memory still allocated after n calls, its peak above the start, and the growth over the second half alone."""
    for _ in range(WARM_UP):
        action()
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for _ in range(n // 2):
            action()
        half, _ = tracemalloc.get_traced_memory()
        for _ in range(n - n // 2):
            action()
        end, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return Memory(end - start, peak - start, end - half)


def _measure(ctx: IdentityContext, token: str, n: int) -> tuple[list[Timing], Memory]:
    """The baseline, the session-row lookup and the gate, all on ``ctx.engine``."""
    engine = ctx.engine
    token_hash = hashlib.sha256(token.encode()).hexdigest()  # as the session table stores it

    def select_one() -> object:
        with engine.connect() as conn:
            return conn.execute(text("SELECT 1")).scalar_one()

    def session_row() -> object:
        with engine.connect() as conn:
            return conn.execute(select(session).where(session.c.token_hash == token_hash)).one()

    def gate() -> object:
        return sessions.require(ctx, token, sensitivity=Sensitivity.SPECIAL)

    timings = [
        _time("SELECT 1 (baseline)", engine, select_one, n),
        _time("session row by primary key", engine, session_row, n),
        _time("sessions.require (SPECIAL)", engine, gate, n),
    ]
    return timings, _memory(gate, n)


@contextmanager
def _sqlite_url() -> Iterator[str]:
    """A SQLite database in a temporary file."""
    with tempfile.TemporaryDirectory(prefix="santegarde-bench-") as directory:
        yield f"sqlite:///{Path(directory) / 'bench.db'}"


@contextmanager
def _postgres_url() -> Iterator[str | None]:
    """A fresh PostgreSQL database, dropped afterwards; None if the server does not answer."""
    try:
        psycopg.connect(POSTGRES_URL, connect_timeout=3).close()
    except psycopg.OperationalError:
        yield None
        return
    name = f"santegarde_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _run(label: str, url: str, n: int, console: Console) -> None:
    """Set up, measure and print one engine."""
    with tempfile.TemporaryDirectory(prefix="santegarde-bench-keys-") as keys:
        ctx = _context(url, Path(keys) / "keyring")
        try:
            token = _ready_session(ctx)
            timings, memory = _measure(ctx, token, n)
            server = _server_version(ctx.engine)
        finally:
            ctx.engine.dispose()
    _print(label, server, timings, memory, n, console)


def _server_version(engine: Engine) -> str:
    """The database server's version string, short."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            return "SQLite " + str(conn.execute(text("select sqlite_version()")).scalar_one())
        version = str(conn.execute(text("show server_version")).scalar_one())
        return "PostgreSQL " + version.split()[0]


def _print(label: str, server: str, timings: list[Timing], memory: Memory, n: int, console: Console) -> None:
    """One table per engine, ratios to the SELECT 1 baseline, then the memory line."""
    baseline = timings[0].median
    table = Table(title=f"{label} ({server}), n={n}")
    for column in ("operation", "median µs", "p95 µs", "× SELECT 1", "statements"):
        table.add_column(column, justify="left" if column == "operation" else "right")
    for timing in timings:
        table.add_row(
            timing.name,
            f"{timing.median * 1e6:.1f}",
            f"{timing.p95 * 1e6:.1f}",
            f"{timing.median / baseline:.1f}",
            str(timing.statements),
        )
    console.print(table)
    console.print(
        f"tracemalloc over {n} calls of sessions.require: retained {memory.retained / 1024:+.1f} KiB "
        f"(second half alone {memory.retained_second_half / 1024:+.1f} KiB), peak {memory.peak / 1024:+.1f} KiB"
    )


def main() -> None:
    """Measure SQLite, then PostgreSQL if it answers."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2000, help="timed calls per operation (default 2000)")
    n = parser.parse_args().n
    if n < 20:
        parser.error("--n must be at least 20 to give a p95.")
    console = Console(width=max(Console().width, 100))
    console.print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; medians and p95 of {n} calls")
    with _sqlite_url() as url:
        _run("SQLite, temp file", url, n, console)
    with _postgres_url() as pg_url:
        if pg_url is None:
            console.print(f"PostgreSQL skipped: nothing answers at {POSTGRES_URL}.")
        else:
            _run("PostgreSQL, local TCP", pg_url, n, console)


if __name__ == "__main__":
    main()
