"""Memory and speed of ``AuditTrail.verify()`` on a long trail, against a plain streamed read of the same rows.

Run: ``python bench/bench_audit_verify.py [--entries 100000]``. A valid trail (sealed checkpoints every 100 entries,
sealed head, no anchor file) is written in bulk into a temporary SQLite file, as appends would leave it; then,
in the same run: the baseline reads every row back in chunks and ``json.loads`` its content (what any verifier must
at least do), and ``verify()`` walks the chain. Peak memory is tracemalloc's peak during one pass (a separate,
untimed pass); entries/s from a timed pass without tracemalloc. The machine is shared: compare the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from sqlalchemy import select, update

from santegarde.audit import chain
from santegarde.audit.tables import checkpoint, entry, head
from santegarde.audit.trail import AuditEvent, AuditTrail
from santegarde.store.db import make_engine, migrate

KEY = b"s" * 32


def _event(i: int) -> AuditEvent:
    return AuditEvent(
        actor=f"user-{i % 3}", profile="practitioner", operation="read", resource_type="Observation",
        resource_id=f"obs-{i}", purpose="medical_record", allowed=True, rule="accessors.practitioner",
        section="6.1", outcome="success", referential="pra-2020-081", patient=f"p-{i // 10}",
    )  # fmt: skip


def write_trail(trail: AuditTrail, n: int) -> None:
    """n valid entries in bulk, sealed checkpoints every 100, sealed head."""
    at = datetime(2026, 1, 1, 9, tzinfo=UTC)
    prev, seq = chain.GENESIS, 0
    with trail.engine.begin() as conn:
        for start in range(0, n, 5000):
            contents = [{**asdict(_event(i)), "at": at.isoformat()} for i in range(start, min(n, start + 5000))]
            entries = chain.chain(seq + 1, prev, contents)
            conn.execute(
                entry.insert(),
                [{"seq": e.seq, "at": at, "content": json.dumps(e.content, sort_keys=True), "prev_hash": e.prev_hash,
                  "hash": e.hash} for e in entries],
            )  # fmt: skip
            marks = [e for e in entries if e.seq % 100 == 0]
            if marks:
                conn.execute(
                    checkpoint.insert(),
                    [{"seq": e.seq, "hash": e.hash, "seal": chain.seal(KEY, e.seq, e.hash), "anchor": False, "at": at}
                     for e in marks],
                )  # fmt: skip
            seq, prev = entries[-1].seq, entries[-1].hash
        sealed = chain.seal_head(KEY, seq, prev)
        conn.execute(update(head).where(head.c.id == 1).values(seq=seq, hash=prev, seal=sealed))


def measure(action: Callable[[], object]) -> tuple[float, int]:
    """(seconds of one untraced pass, tracemalloc peak bytes of a second pass)."""
    start = time.perf_counter()
    action()
    seconds = time.perf_counter() - start
    tracemalloc.start()
    try:
        action()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=100_000)
    args = parser.parse_args()
    n = args.entries
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load}, "
          f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {n} entries, SQLite temp file")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="santegarde-bench-") as directory:
        engine = make_engine(f"sqlite:///{Path(directory) / 'audit.db'}")
        migrate(engine, package="santegarde.audit")
        trail = AuditTrail(engine, KEY)
        write_trail(trail, n)

        def plain() -> None:
            with engine.connect() as conn:
                query = select(entry.c.content).order_by(entry.c.seq).execution_options(yield_per=2000)
                count = sum(1 for r in conn.execute(query) if json.loads(r.content))
            assert count == n

        def verify() -> None:
            report = trail.verify()
            assert report.intact and report.entries == n, report

        base_s, base_peak = measure(plain)
        verify_s, verify_peak = measure(verify)
        engine.dispose()
    print(f"{'operation':<40} {'entries/s':>10} {'× baseline time':>16} {'peak MiB':>9}")
    print(f"{'plain streamed SELECT + json.loads':<40} {n / base_s:>10,.0f} {1.0:>16.1f} {base_peak / 2**20:>9.1f}")
    print(f"{'AuditTrail.verify()':<40} {n / verify_s:>10,.0f} {verify_s / base_s:>16.1f} {verify_peak / 2**20:>9.1f}")


if __name__ == "__main__":
    main()
