"""Review of the traces (COM-LOG-4): anomalies found, closed with a comment, overdue warning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from santegarde.audit.review import ReviewError, close_anomaly, overdue_warning, report, start_review
from santegarde.audit.trail import AuditEvent, AuditTrail
from santegarde.store.db import make_engine, migrate


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def _event(actor: str, *, allowed: bool = True, patient: str = "p1", **extra: object) -> AuditEvent:
    return AuditEvent(
        actor=actor,
        profile="practitioner",
        operation="read",
        resource_type="Observation",
        resource_id="o1",
        purpose="medical_record",
        allowed=allowed,
        rule="r",
        section="6",
        outcome="success" if allowed else "denied",
        patient=patient,
        **extra,
    )  # type: ignore[arg-type]


def test_review_finds_each_kind_and_is_closed(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine, package="santegarde.audit")
    clock = Clock(datetime(2026, 3, 2, 10, tzinfo=UTC))  # a Monday
    trail = AuditTrail(engine, b"k" * 32, clock=clock)
    trail.append(_event("alice"))  # ordinary
    clock.now = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)
    trail.append(_event("bob"))  # at night
    clock.now = datetime(2026, 3, 3, 11, tzinfo=UTC)
    trail.append(_event("carol", break_glass=True))
    trail.append(_event("dave", care_relationship=False))
    for _ in range(5):
        clock.now += timedelta(minutes=1)
        trail.append(_event("eve", allowed=False))
    for i in range(45):
        trail.append(_event("frank", patient=f"p{i}"))
    clock.now = datetime(2026, 3, 4, 12, tzinfo=UTC)
    review_id = start_review(trail, "dpo", clock=clock)
    with engine.begin() as conn:
        found = report(conn, review_id)
        assert found["by_kind"] == {
            "outside_working_hours": 1,
            "break_the_glass": 1,
            "no_care_relationship": 1,
            "refusal_burst": 1,
            "many_patients": 1,
        }
        assert not found["closed"]
        with pytest.raises(ReviewError, match="needs a comment"):
            close_anomaly(conn, found["anomalies"][0]["id"], "dpo", "  ")
        for item in found["anomalies"]:
            close_anomaly(conn, item["id"], "dpo", "Checked with the person: legitimate.", clock=clock)
        assert report(conn, review_id)["closed"]
        with pytest.raises(ReviewError, match="no open anomaly"):
            close_anomaly(conn, found["anomalies"][0]["id"], "dpo", "again")
        assert overdue_warning(conn, clock=clock) is None
        clock.now += timedelta(days=70)
        assert "more than two months ago" in (overdue_warning(conn, clock=clock) or "")
    engine.dispose()


def test_never_reviewed_warns(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine, package="santegarde.audit")
    with engine.connect() as conn:
        assert "has ever been run" in (overdue_warning(conn) or "")
    engine.dispose()
