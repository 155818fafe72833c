"""Memory and speed of ``retention.plan`` alone, on records' metadata inserted straight into a SQLite store.

Run: ``python bench/bench_retention_plan.py [--records 100000] [--src DIR]``. The plan reads only the records'
metadata (never a part), so rows are inserted directly, 10 per patient, their dates spread over 25 years; the plan is
timed once, then run again under tracemalloc for its peak. ``--src`` runs another checkout's code (e.g. the commit
before, unpacked with ``git archive``) on the same data, for a before/after pair; run the two interleaved, the
machine is shared.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
PER_PATIENT = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000, help="records (default 100 000)")
    parser.add_argument("--src", type=Path, default=Path(__file__).resolve().parent.parent / "src")
    args = parser.parse_args()
    sys.path.insert(0, str(args.src))
    from sqlalchemy import insert

    from santegarde.referentials import loader
    from santegarde.store import retention
    from santegarde.store.db import make_engine, migrate
    from santegarde.store.schema import record

    with tempfile.TemporaryDirectory(prefix="santegarde-bench-") as directory:
        engine = make_engine(f"sqlite:///{Path(directory) / 'records.db'}")
        migrate(engine, package="santegarde.identity")
        migrate(engine)
        rows: list[dict[str, Any]] = []
        for i in range(args.records // PER_PATIENT):
            pid, last = f"p-{i}", NOW - timedelta(days=(i * 37) % 9000)
            for k in range(PER_PATIENT):
                rows.append(
                    {
                        "id": pid if k == 0 else f"o-{i}-{k}",
                        "version": 1,
                        "resource_type": "Patient" if k == 0 else "Observation",
                        "patient_id": pid,
                        "current": True,
                        "free_text": False,
                        "created_at": last - timedelta(days=PER_PATIENT - k),
                        "created_by": "bench",
                        "purpose": "medical_record",
                    }
                )
        with engine.begin() as conn:
            for offset in range(0, len(rows), 20_000):
                conn.execute(insert(record), rows[offset : offset + 20_000])
        n = len(rows)
        del rows
        ref = loader.get("pra-2020-081")
        start = time.perf_counter()
        plan = retention.plan(engine, ref, {}, NOW)
        elapsed = time.perf_counter() - start
        tracemalloc.start()
        retention.plan(engine, ref, {}, NOW)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        engine.dispose()
    line = plan.line("medical_record")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"{args.src}: {n:,} records, load average {load}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: plan {elapsed:.2f} s "
        f"({n / elapsed:,.0f} records/s), tracemalloc peak {peak / 2**20:.1f} MiB ({peak / n:.0f} bytes a record), "
        f"archive now {line.archive_now if line else 0:,}"
    )


if __name__ == "__main__":
    main()
