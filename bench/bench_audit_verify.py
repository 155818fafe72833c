"""Memory and speed of ``AuditTrail.verify()`` on a long trail, against a plain streamed read of the same rows.

Run: ``python bench/bench_audit_verify.py [--entries 100000]``. A valid trail (sealed checkpoints every 100 entries,
sealed head, no anchor file) is written in bulk into a temporary SQLite file, as appends leave it (contents stored in
canonical form); then, in the same run, two baselines: a plain streamed read of every row's four columns with the
DB-API cursor (no check at all), and the same read plus one SHA-256 over each stored text (the least any hash-chain
verifier does); then ``verify()``. A second trail holds the same entries stored as appends wrote them before the
canonical form (``json.dumps(sort_keys=True)``): ``verify()`` decodes and re-encodes each of those. Peak memory is
tracemalloc's peak during one pass (a separate, untimed pass); entries/s from a timed pass without tracemalloc. The
machine is shared: compare the ratios. ``--src DIR`` runs another checkout's code on the same trails (e.g. the commit
before, unpacked with ``git archive``).
"""

from __future__ import annotations

import argparse
import hashlib
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

_source = argparse.ArgumentParser(add_help=False)
_source.add_argument("--src", type=Path, default=Path(__file__).resolve().parent.parent / "src")
SRC = _source.parse_known_args()[0].src
sys.path.insert(0, str(SRC))

# The code measured comes from --src: imported once the path is set.
from sqlalchemy import Engine, update  # noqa: E402

from santegarde.audit import chain  # noqa: E402
from santegarde.audit.tables import checkpoint, entry, head  # noqa: E402
from santegarde.audit.trail import AuditEvent, AuditTrail  # noqa: E402
from santegarde.store.db import make_engine, migrate  # noqa: E402

KEY = b"s" * 32


def _event(i: int) -> AuditEvent:
    return AuditEvent(
        actor=f"user-{i % 3}", profile="practitioner", operation="read", resource_type="Observation",
        resource_id=f"obs-{i}", purpose="medical_record", allowed=True, rule="accessors.practitioner",
        section="6.1", outcome="success", referential="pra-2020-081", patient=f"p-{i // 10}",
    )  # fmt: skip


def write_trail(trail: AuditTrail, n: int, *, legacy: bool = False) -> None:
    """n valid entries in bulk, sealed checkpoints every 100, sealed head (``legacy``: contents as stored before)."""
    at = datetime(2026, 1, 1, 9, tzinfo=UTC)
    prev, seq = chain.GENESIS, 0
    with trail.engine.begin() as conn:
        for start in range(0, n, 5000):
            contents = [{**asdict(_event(i)), "at": at.isoformat()} for i in range(start, min(n, start + 5000))]
            entries = chain.chain(seq + 1, prev, contents)
            conn.execute(
                entry.insert(),
                [{"seq": e.seq, "at": at, "prev_hash": e.prev_hash, "hash": e.hash,
                  "content": json.dumps(e.content, sort_keys=True) if legacy else chain.canonical(e.content).decode()}
                 for e in entries],
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
    parser.add_argument("--src", type=Path, default=SRC, help="the santegarde sources to run (default: this checkout)")
    parser.add_argument(
        "--stored", choices=("both", "canonical"), default="both", help="canonical: skip the trail stored as before"
    )
    args = parser.parse_args()
    n = args.entries
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load}, "
          f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {n} entries, SQLite temp file; code {args.src}")  # fmt: skip
    rows: list[tuple[str, float, int]] = []
    with tempfile.TemporaryDirectory(prefix="santegarde-bench-") as directory:
        for legacy in (False, True) if args.stored == "both" else (False,):
            engine = make_engine(f"sqlite:///{Path(directory) / f'audit-{legacy}.db'}")
            migrate(engine, package="santegarde.audit")
            trail = AuditTrail(engine, KEY)
            write_trail(trail, n, legacy=legacy)

            def read(hashing: bool, engine: Engine = engine) -> None:
                with engine.connect() as conn:
                    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
                    cursor.execute("SELECT seq, prev_hash, hash, content FROM audit_entry ORDER BY seq")
                    count = 0
                    while chunk := cursor.fetchmany(5000):
                        for seq, prev, _digest, text in chunk:
                            if hashing:
                                hashlib.sha256(f"{seq}|{prev}|{text}".encode()).hexdigest()
                            count += 1
                assert count == n

            def verify(trail: AuditTrail = trail) -> None:
                report = trail.verify()
                assert report.intact and report.entries == n, report

            stored = "before the canonical form" if legacy else "canonical"
            if not legacy:
                rows.append(("plain streamed read (DB-API cursor)", *measure(lambda: read(False))))
                rows.append(("the same + one SHA-256 per entry", *measure(lambda: read(True))))
            rows.append((f"AuditTrail.verify(), {stored}", *measure(verify)))
            engine.dispose()
    base = rows[1][1]
    print(f"{'operation':<48} {'entries/s':>10} {'× SHA-256 floor':>16} {'peak MiB':>9}")
    for name, seconds, peak in rows:
        print(f"{name:<48} {n / seconds:>10,.0f} {seconds / base:>16.1f} {peak / 2**20:>9.1f}")


if __name__ == "__main__":
    main()
