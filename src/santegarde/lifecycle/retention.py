"""Automatic retention for the CLI and jobs (COM-RET-1, COM-ARC-1): plan, run, events, holds, all audited.

The engine itself lives in :mod:`santegarde.store.retention` (it moves ciphertext between the live
store and the intermediate archive); this module opens it on an organisation and appends every
operation to the audit trail, by references only, write-ahead: a batch's entries (outcome
``intent``: what will be archived, deleted or anonymised, which keys destroyed, under which rule and
section) are committed in the trail before the batch commits, and a ``retention.batch`` entry
follows its commit. A run happens now: a date in the future is for the plan only.
"""

from __future__ import annotations

import uuid
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
from santegarde.store.writeahead import INTENT, trace_ahead

ACTOR = "retention-engine"
PURPOSE = "retention"

__all__ = [
    "ANONYMISATION_METHOD",
    "AuditJournal",
    "Plan",
    "RetentionError",
    "RunReport",
    "add_hold",
    "assign_rule",
    "plan",
    "record_event",
    "release_hold",
    "run",
]


def _event(
    org: Organisation,
    operation: str,
    resource_type: str,
    resource_id: str,
    rule: str,
    by: str,
    outcome: str = "success",
    source: str = "local",
) -> AuditEvent:
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
        outcome=outcome,
        source=source,
        referential=org.referential.id,
        patient=resource_id if resource_type == "Patient" else "",
    )


class AuditJournal:
    """The engine's journal on the organisation's trail: a batch's entries are committed before the batch.

    Every entry of one run carries ``source`` ``retention:<run id>/<batch>``, so a reader ties the intents
    of a batch to the ``retention.batch`` entry written once it committed; an intent without its batch
    entry is a batch interrupted before its commit (nothing of it deleted), redone by the next run.
    """

    def __init__(self, org: Organisation, by: str = ACTOR) -> None:
        self.org, self.by = org, by
        self.run_id = uuid.uuid4().hex[:12]
        self.batches = 0

    def _source(self) -> str:
        return f"retention:{self.run_id}/{self.batches}"

    def intend(self, events: Sequence[RetentionEvent]) -> None:
        self.batches += 1
        entries = [
            _event(self.org, e.operation, e.resource_type, e.record_id, e.rule, self.by, INTENT, self._source())
            for e in events
        ]
        trace_ahead(self.org.audit, entries, "retention.intent")

    def committed(self, events: Sequence[RetentionEvent]) -> None:
        if events:
            self.org.audit.append(
                _event(
                    self.org,
                    "retention.batch",
                    "RetentionBatch",
                    f"{self.run_id}/{self.batches}",
                    "COM-RET-1",
                    self.by,
                    source=self._source(),
                )
            )


def plan(org: Organisation, now: datetime) -> Plan:
    """What a run at ``now`` would archive, end, hold or leave waiting, per rule."""
    return engine.plan(org.engine, org.referential, org.config.choices, now)


def run(
    org: Organisation, now: datetime, batch: int = 500, progress: Progress | None = None, by: str = ACTOR
) -> RunReport:
    """Archive and end what is due now, each batch traced before it commits; then purge traces, trace the run.

    ``now`` may lie in the past of the trail's clock (a run that catches up), never in its future: deleting
    today what is only due later would destroy data still to be kept; a future date is for :func:`plan`.
    """
    if now > org.audit.now():
        raise RetentionError(
            f"A retention run happens now: {now:%Y-%m-%d %H:%M} UTC is in the future and would destroy data that "
            "must still be kept. Use 'santegarde retention plan --at' to see what a later date would do; run "
            "without --at."
        )
    journal = AuditJournal(org, by)
    report = engine.run(org.engine, org.keyring, org.referential, org.config.choices, now, journal, batch, progress)
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
    """Record when an event happened; an event of the future has not happened and is refused."""
    if at > now:
        raise engine.refused("future_event", event=event, at=f"{at:%Y-%m-%d %H:%M}")
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
