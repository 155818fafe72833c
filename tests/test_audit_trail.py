"""The audit trail in its own database, on SQLite and PostgreSQL: append, verify, tamper, purge, export."""

from __future__ import annotations

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
