"""Automatic retention for the CLI and jobs (COM-RET-1, COM-ARC-1): plan, run, events, holds, all audited.

The engine itself lives in :mod:`santegarde.store.retention` (it moves ciphertext between the live
store and the intermediate archive); this module opens it on an organisation and appends every
operation to the audit trail, by references only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from santegarde.audit.trail import AuditEvent
from santegarde.referentials.model import Duration
from santegarde.runtime import Organisation
from santegarde.store import retention as engine
from santegarde.store.retention import (
    ANONYMISATION_METHOD,
    Plan,
    Progress,
    RetentionError,
    RetentionEvent,
    RunReport,
)

ACTOR = "retention-engine"
PURPOSE = "retention"

__all__ = [
    "ANONYMISATION_METHOD",
    "Plan",
    "RetentionError",
    "RunReport",
    "add_hold",
    "assign_rule",
    "audit_events",
    "plan",
    "record_event",
    "release_hold",
    "run",
]


def _event(org: Organisation, operation: str, resource_type: str, resource_id: str, rule: str, by: str) -> AuditEvent:
    found = org.referential.retention_rule(rule)
    return AuditEvent(
        actor=by,
        profile="",
        operation=operation,
        resource_type=resource_type,
        resource_id=resource_id,
        purpose=PURPOSE,
        allowed=True,
        rule=rule,
        section=found.section if found else "",
        outcome="success",
        referential=org.referential.id,
        patient=resource_id if resource_type == "Patient" else "",
    )


def audit_events(org: Organisation, events: Sequence[RetentionEvent], by: str = ACTOR) -> None:
    """Append the engine's operations to the audit trail (references only)."""
    for e in events:
        org.audit.append(_event(org, e.operation, e.resource_type, e.record_id, e.rule, by))


def plan(org: Organisation, now: datetime) -> Plan:
    """What a run at ``now`` would archive, end, hold or leave waiting, per rule."""
    return engine.plan(org.engine, org.referential, org.config.choices, now)


def run(
    org: Organisation, now: datetime, batch: int = 500, progress: Progress | None = None, by: str = ACTOR
) -> RunReport:
    """Archive and end what is due, then trace every operation and the run itself."""
    report = engine.run(org.engine, org.keyring, org.referential, org.config.choices, now, batch, progress)
    audit_events(org, report.events, by)
    purge_traces(org, by)
    org.audit.append(
        _event(
            org,
            "retention.run",
            "RetentionRun",
            now.isoformat(),
            "COM-RET-1",
            by,
        )
    )
    return report


def trace_retention(org: Organisation) -> Duration:
    """How long the audit trail keeps entries: the référentiel's trace rule as the organisation set it.

    See :func:`santegarde.store.retention.trace_duration` (the register states the same duration).
    """
    return engine.trace_duration(org.referential, org.config.choices)


def purge_traces(org: Organisation, by: str = ACTOR) -> int:
    """Purge audit entries past the trace retention; the rest stays verifiable (a sealed anchor).

    Counted from the trail's own clock, never from a simulated date: planning a run ahead of time
    (``retention run --at``) must not destroy traces that are still due to be kept.
    """
    keep = trace_retention(org)
    cutoff = org.audit.now() - timedelta(days=keep.total_days())
    purged = org.audit.purge(cutoff)
    if purged:
        org.audit.append(_event(org, "audit.purge", "AuditTrail", cutoff.date().isoformat(), "COM-LOG-3", by))
    return purged


def record_event(
    org: Organisation, scope: str, scope_id: str, event: str, at: datetime, now: datetime, by: str
) -> None:
    engine.record_event(org.engine, scope, scope_id, event, at, by, now)
    org.audit.append(_event(org, f"retention.event.{event}"[:60], scope.title(), scope_id, "COM-RET-1", by))


def add_hold(
    org: Organisation, scope: str, scope_id: str, reason: str, now: datetime, by: str, until: datetime | None = None
) -> int:
    number = engine.add_hold(org.engine, scope, scope_id, reason, now, until)
    org.audit.append(_event(org, "retention.hold", scope.title(), scope_id, "COM-RET-1", by))
    return number


def release_hold(org: Organisation, hold_id: int, now: datetime, by: str) -> None:
    engine.release_hold(org.engine, hold_id, now)
    org.audit.append(_event(org, "retention.release", "RetentionHold", str(hold_id), "COM-RET-1", by))


def assign_rule(org: Organisation, record_id: str, rule: str, by: str) -> None:
    engine.assign_rule(org.engine, org.referential, record_id, rule)
    org.audit.append(_event(org, "retention.assign", "Record", record_id, rule, by))
