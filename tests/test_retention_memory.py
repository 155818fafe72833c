"""The retention plan and run stream the records patient by patient (issue 18): their memory does not grow with them.

Gathering every record first took about 520 bytes a record (10 MiB for 20 000, 0.5 GiB for a million); streamed,
the plan holds one patient's records and the driver's chunk of rows, whatever the number of records. The run also
kept every verdict, its due list and one event per record moved for its report (about 850 bytes a record); it now
holds one batch and hands its events to the journal."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from identity_fixtures import START
from santegarde.store import retention
from santegarde.store.schema import archive_part, archive_record, record, record_part
from store_fixtures import Workplace, make_workplace

PER_PATIENT = 10  # a Patient and nine Observations


@pytest.fixture
def place(database_url: str, tmp_path: Path) -> Iterator[Workplace]:
    w = make_workplace(database_url, tmp_path)
    yield w
    w.close()


def _load(w: Workplace, patients: int, start: int = 0) -> None:
    """Records' metadata written straight into the table, each with one part (opaque bytes: the engine never opens
    them): even patients last seen ten years before START (due for the archive), odd ones a month before (active)."""
    rows = []
    for i in range(start, start + patients):
        pid = f"mem-p-{i}"
        last = START - (timedelta(days=3653) if i % 2 == 0 else timedelta(days=30))
        for k in range(PER_PATIENT):
            rows.append(
                {
                    "id": pid if k == 0 else f"mem-o-{i}-{k}",
                    "version": 1,
                    "resource_type": "Patient" if k == 0 else "Observation",
                    "patient_id": pid,
                    "current": True,
                    "free_text": False,
                    "created_at": last - timedelta(days=PER_PATIENT - k),
                    "created_by": "test",
                    "purpose": "medical_record",
                }
            )
    parts = [{"record_id": r["id"], "version": 1, "category": "directory", "token": b"t" * 64} for r in rows]
    with w.service.engine.begin() as conn:
        conn.execute(insert(record), rows)
        conn.execute(insert(record_part), parts)


def _planned(w: Workplace) -> tuple[retention.Plan, int]:
    tracemalloc.start()
    try:
        found = retention.plan(w.service.engine, w.service.ref, {}, START)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return found, peak


def test_the_plan_counts_right_in_memory_that_does_not_grow_with_the_records(place: Workplace) -> None:
    _load(place, 500)
    small, small_peak = _planned(place)
    _load(place, 1500, start=500)
    large, large_peak = _planned(place)
    for found, patients in ((small, 500), (large, 2000)):
        assert sum(line.archive_now for line in found.lines) == patients // 2 * PER_PATIENT
        assert sum(line.active for line in found.lines) == patients // 2 * PER_PATIENT
    # Four times the records: gathered, the peak grew fourfold (about 10 MiB at 20 000); streamed, it stays flat.
    assert large_peak < 1.5 * small_peak + 2**20, f"{small_peak / 2**20:.1f} → {large_peak / 2**20:.1f} MiB"
    assert large_peak < 4 * 2**20, f"the plan of 20 000 records peaked at {large_peak / 2**20:.1f} MiB"


class _Counting:
    """A journal that keeps no event, only how many it heard (the trail's cost is not this test's)."""

    def __init__(self) -> None:
        self.intended = self.committed_events = 0

    def intend(self, events: Sequence[retention.RetentionEvent]) -> None:
        self.intended += len(events)

    def committed(self, events: Sequence[retention.RetentionEvent]) -> None:
        self.committed_events += len(events)


def _ran(w: Workplace) -> tuple[retention.RunReport, int, _Counting]:
    journal = _Counting()
    tracemalloc.start()
    try:
        report = retention.run(w.service.engine, w.identity.keyring, w.service.ref, {}, START, journal, batch=500)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return report, peak, journal


def _count(w: Workplace, table: Any) -> int:
    with w.service.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_the_run_moves_right_in_memory_that_does_not_grow_with_the_records(place: Workplace) -> None:
    _load(place, 200)
    small, small_peak, journal = _ran(place)
    assert small.archived == 100 * PER_PATIENT and journal.intended == journal.committed_events == small.archived
    assert small.batches == 2 and _count(place, archive_part) == _count(place, archive_record) == small.archived
    _load(place, 800, start=200)
    large, large_peak, _ = _ran(place)
    assert large.archived == 400 * PER_PATIENT and large.batches == 8
    assert _count(place, record) == _count(place, record_part) == 500 * PER_PATIENT  # the active ones, with parts
    again, _, _ = _ran(place)
    assert (again.archived, again.batches) == (0, 0)  # idempotent
    # Four times the records moved: the run that kept them all grew fourfold; batched and streamed, it stays flat.
    assert large_peak < 1.5 * small_peak + 2**20, f"{small_peak / 2**20:.1f} → {large_peak / 2**20:.1f} MiB"
