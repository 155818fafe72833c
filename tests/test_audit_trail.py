"""The audit trail in its own database, on SQLite and PostgreSQL: append, verify, tamper, purge, export."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, text, update

from santegarde.audit.tables import entry
from santegarde.audit.trail import AuditEvent, AuditTrail
from santegarde.store.db import make_engine, migrate

KEY = b"s" * 32


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 9, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


def _event(i: int, allowed: bool = True) -> AuditEvent:
    return AuditEvent(
        actor=f"user-{i % 3}",
        profile="practitioner",
        operation="read",
        resource_type="Observation",
        resource_id=f"obs-{i}",
        purpose="medical_record",
        allowed=allowed,
        rule="accessors.practitioner.access[0]",
        section="6.1",
        outcome="success" if allowed else "denied",
        referential="pra-2020-081",
    )


@pytest.fixture
def trail(database_url: str) -> Iterator[AuditTrail]:
    engine = make_engine(database_url)
    migrate(engine, package="santegarde.audit")
    t = AuditTrail(engine, KEY, clock=Clock(), checkpoint_every=5)
    for i in range(12):
        t.append(_event(i))
    yield t
    engine.dispose()


def test_intact_trail(trail: AuditTrail) -> None:
    report = trail.verify()
    assert report.intact and report.entries == 13 and report.checkpoints == 2  # the first entry + 12 events


def test_entries_hold_references_not_contents(trail: AuditTrail) -> None:
    with trail.engine.connect() as conn:
        first = next(trail.entries(conn))
    assert set(first.content) >= {
        "actor",
        "profile",
        "operation",
        "resource_type",
        "resource_id",
        "purpose",
        "allowed",
        "rule",
        "section",
        "outcome",
        "source",
        "at",
    }


def test_edit_is_detected(trail: AuditTrail) -> None:
    with trail.engine.begin() as conn:
        conn.execute(update(entry).where(entry.c.seq == 4).values(content=text("replace(content, 'obs-2', 'obs-X')")))
    assert any(p.seq == 4 and "edited" in p.what for p in trail.verify().problems)


def test_deletion_is_detected(trail: AuditTrail) -> None:
    with trail.engine.begin() as conn:
        conn.execute(delete(entry).where(entry.c.seq == 7))
    assert any("deleted" in p.what for p in trail.verify().problems)


def test_truncation_is_detected(trail: AuditTrail) -> None:
    with trail.engine.begin() as conn:
        conn.execute(delete(entry).where(entry.c.seq > 10))
    assert any("truncated" in p.what for p in trail.verify().problems)


def test_purge_keeps_the_rest_verifiable(trail: AuditTrail) -> None:
    with trail.engine.connect() as conn:
        cutoff = [e for e in trail.entries(conn)][6].content["at"]
    removed = trail.purge(datetime.fromisoformat(cutoff))
    assert removed == 6  # the first entry and 5 events
    report = trail.verify()
    assert report.intact and report.entries == 7
    trail.append(_event(99))
    assert trail.verify().intact


def test_fhir_audit_event_export(trail: AuditTrail) -> None:
    events = list(trail.as_fhir_audit_events())
    assert len(events) == 13 and events[0]["entity"][0]["what"]["reference"] == "AuditTrail/trail"
    first = events[1]
    assert first["resourceType"] == "AuditEvent" and first["action"] == "R"
    assert first["entity"][0]["what"]["reference"] == "Observation/obs-0"
    from fhir.resources.R4B.auditevent import AuditEvent as FhirAuditEvent

    FhirAuditEvent.model_validate(first)


def _long_trail(trail: AuditTrail, n: int, *, legacy: bool = False) -> None:
    """A valid trail of n entries written in bulk (sealed checkpoints, sealed head), as appends leave it (``legacy``:
    as they left it before contents were stored in canonical form)."""
    from dataclasses import asdict

    from santegarde.audit import chain
    from santegarde.audit.tables import checkpoint, head

    at = datetime(2026, 1, 1, 9, tzinfo=UTC)
    contents = [{**asdict(_event(i)), "at": at.isoformat()} for i in range(n)]
    entries = chain.chain(1, chain.GENESIS, contents)
    with trail.engine.begin() as conn:
        for start in range(0, n, 5000):
            rows = [
                {"seq": e.seq, "at": at, "content": json.dumps(e.content, sort_keys=True) if legacy
                 else chain.stored(e.content), "prev_hash": e.prev_hash, "hash": e.hash}
                for e in entries[start : start + 5000]
            ]  # fmt: skip
            conn.execute(entry.insert(), rows)
        marks = [e for e in entries if e.seq % 100 == 0]
        if marks:
            conn.execute(
                checkpoint.insert(),
                [{"seq": e.seq, "hash": e.hash, "seal": chain.seal(KEY, e.seq, e.hash), "anchor": False, "at": at}
                 for e in marks],
            )  # fmt: skip
        last = entries[-1]
        conn.execute(
            update(head).where(head.c.id == 1).values(
                seq=last.seq, hash=last.hash, seal=chain.seal_head(KEY, last.seq, last.hash)
            )
        )  # fmt: skip


@pytest.mark.parametrize("legacy", [False, True], ids=["canonical", "legacy"])
def test_verify_streams_the_trail_in_bounded_memory(database_url: str, legacy: bool) -> None:
    """Verify walks the entries once and keeps none (issue 18): its peak does not grow with the trail. Holding
    5 000 entries, as it did, took about 12 MiB (48 MiB for 20 000); streamed, about 2 MiB at any length (the
    driver's chunk of rows), whether the contents are stored canonically or as they were before."""
    import tracemalloc

    engine = make_engine(database_url)
    migrate(engine, package="santegarde.audit")
    trail = AuditTrail(engine, KEY, clock=Clock())
    _long_trail(trail, 5_000, legacy=legacy)
    tracemalloc.start()
    try:
        report = trail.verify()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        engine.dispose()
    assert report.intact and report.entries == 5_000, report
    assert peak < 6 * 2**20, f"verify peaked at {peak / 2**20:.1f} MiB for 5 000 entries"


def test_contents_are_stored_canonically_and_older_entries_still_verify_and_are_found(trail: AuditTrail) -> None:
    """Appends store the canonical text the hash covers (verify hashes it as read); entries stored before, with
    spaces, still verify and are still found by the request they were written in."""
    from santegarde.audit import chain, request

    OLDER, NEWER = "a" * 32, "b" * 32  # request ids as the server makes them
    with request.answering(OLDER):
        trail.append(_event(1))
    with request.answering(NEWER):
        trail.append(_event(2))
    with trail.engine.begin() as conn:
        rows = conn.execute(entry.select().order_by(entry.c.seq)).all()
        assert all(r.content == chain.stored(json.loads(r.content)) for r in rows)
        older = rows[-2]
        spaced = json.dumps(json.loads(older.content), sort_keys=True)  # as appends stored it before
        conn.execute(update(entry).where(entry.c.seq == older.seq).values(content=spaced))
    assert trail.verify().intact
    with trail.engine.connect() as conn:
        assert [e.content["resource_id"] for e in trail.during(conn, OLDER)] == ["obs-1"]
        assert [e.content["resource_id"] for e in trail.during(conn, NEWER)] == ["obs-2"]
    with trail.engine.begin() as conn:  # the same spaced text with another actor: an edit, whatever the form
        conn.execute(update(entry).where(entry.c.seq == older.seq).values(content=spaced.replace("user-", "usr-")))
    assert any(p.key == "edited" for p in trail.verify().problems)
