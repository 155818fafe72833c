"""Write-ahead tracing of deletions: a deletion's audit entries are durable before the deletion commits.

The audit trail lives in its own database, so one transaction cannot hold both a deletion and its entries. Every
path that deletes records, archive rows or patient keys (retention, erasure) does it in this order: stage the
deletion in the records transaction (nothing visible yet), append the entries that say what will be deleted and why
— all in one transaction of the trail, outcome :data:`INTENT`, appended as one batch (one head move, one multi-row
insert) — and commit them, then commit the deletion, then append an outcome entry. A crash at any point leaves
either nothing deleted, or entries for everything deleted; at worst an intent without its outcome, which the re-run
completes (the staged work is recomputed from the records).
"""

from __future__ import annotations

from collections.abc import Sequence

from santegarde.audit.trail import AuditEvent, AuditTrail
from santegarde.faults import crash_point

INTENT = "intent"  # outcome of an entry written ahead of the deletion it announces


def trace_ahead(trail: AuditTrail, events: Sequence[AuditEvent], point: str) -> None:
    """Append ``events`` in one transaction of the trail and commit it; call it before the deletion commits.

    ``point`` names the crash point right after the entries are durable (see :mod:`santegarde.faults`).
    """
    if events:
        with trail.transaction() as conn:
            trail.append_many(events, conn)  # one head move and one multi-row insert for the whole batch
    crash_point(point)
