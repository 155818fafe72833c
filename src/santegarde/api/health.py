"""The readiness of an opened organisation: databases reachable, keys open, schemas at their head, room for the trail.

Each check answers None when it passes, or a sentence saying what to do. The sentences name no path, no URL, no
version and no datum: ``/health/ready`` is reachable without a session (a load balancer asks it).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime

from prometheus_client import Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy import Connection, or_, select
from sqlalchemy.exc import SQLAlchemyError

from santegarde.audit.tables import entry, head
from santegarde.audit.trail import content_names
from santegarde.crypto import KeyFamily
from santegarde.lifecycle.upgrade import outdated
from santegarde.runtime import Organisation
from santegarde.store.reach import MIN_FREE_BYTES, free_bytes, reachable


def readiness(org: Organisation, *, min_free_bytes: int = MIN_FREE_BYTES) -> Callable[[], Mapping[str, str | None]]:
    """The checks ``/health/ready`` runs for ``org``, each time it is asked."""
    upgrade = "run 'santegarde upgrade --config santegarde.yaml' (after a backup), then restart the server"

    def check() -> dict[str, str | None]:
        found: dict[str, str | None] = {}
        records_up, audit_up = reachable(org.engine), reachable(org.audit.engine)
        found["records_database"] = (
            None
            if records_up
            else (
                "The records database does not answer: check that it runs and that database_url in santegarde.yaml "
                "points to it."
            )
        )
        found["audit_database"] = (
            None
            if audit_up
            else (
                "The audit database does not answer: check that it runs and that audit_database_url in "
                "santegarde.yaml points to it."
            )
        )
        try:
            org.keyring.key(KeyFamily.AUDIT_SEAL)
            found["keys"] = None
        except Exception:  # any failure to give a key means no service (COM-CRY-1)
            found["keys"] = "The keyring does not give its keys: restart the server with the keystore passphrase."
        if records_up and audit_up:
            try:
                behind = outdated(org.engine, org.audit.engine)
                found["migrations"] = (
                    None if not behind else f"The databases' schemas are older than the code: {upgrade}."
                )
            except SQLAlchemyError:
                found["migrations"] = f"The databases' schema versions cannot be read: {upgrade}."
        else:
            found["migrations"] = "The schema versions cannot be checked until both databases answer."
        try:
            free = free_bytes(org.audit.engine)
        except OSError:
            free = 0  # the trail's directory cannot even be read: no room for a trace
        found["audit_disk"] = (
            None
            if free is None or free >= min_free_bytes
            else (
                f"Less than {min_free_bytes // (1024 * 1024)} MiB is free on the audit trail's disk: free some "
                "space or move the trail, or accesses will soon be refused for want of a trace."
            )
        )
        return found

    return check


# What the lifecycle writes in the trail when a run succeeds: the gauge, its help, the entry's operation.
LAST_SUCCESS = (
    (
        "santegarde_retention_last_success_timestamp_seconds",
        "When the last retention run ended (Unix time, from its retention.run audit entry; 0: never).",
        "retention.run",
    ),
    (
        "santegarde_backup_last_verified_timestamp_seconds",
        "When a backup was last verified without a problem (Unix time, from its backup.verify audit entry; 0: never).",
        "backup.verify",
    ),
)


class AuditCollector(Collector):
    """The trail's own gauges, read from the trail when scraped (never from what this process happens to remember).

    ``santegarde_audit_entries``: the head's sequence. The last-success gauges: the time of the last successful
    ``retention.run`` and ``backup.verify`` entries, whichever process (a timer, a CLI command) wrote them. The
    trail is read once from the start, then only the entries appended since the previous scrape.
    """

    def __init__(self, org: Organisation) -> None:
        self.org = org
        self._scanned = 0  # the entries up to this sequence number have been looked at
        self._last: dict[str, float] = {}  # operation → Unix time of its last successful entry

    def _catch_up(self, conn: Connection, upto: int) -> None:
        wanted = [operation for _, _, operation in LAST_SUCCESS]
        query = (
            select(entry.c.seq, entry.c.content)
            .where(entry.c.seq > self._scanned, entry.c.seq <= upto)
            .where(or_(*(content_names("operation", op) for op in wanted)))
            .order_by(entry.c.seq)
        )
        for row in conn.execute(query):
            content = json.loads(row.content)
            if content.get("operation") in wanted and content.get("outcome") == "success":
                self._last[content["operation"]] = datetime.fromisoformat(content["at"]).timestamp()
        self._scanned = upto

    def collect(self) -> Iterator[Metric]:
        try:
            with self.org.audit.engine.connect() as conn:
                seq = int(conn.execute(select(head.c.seq).where(head.c.id == 1)).scalar() or 0)
                if seq < self._scanned:  # another trail was put back (a restore): read it again from the start
                    self._scanned, self._last = 0, {}
                self._catch_up(conn, seq)
        except SQLAlchemyError:
            return  # an unreachable trail is /health/ready's to report, not a scrape error
        entries = GaugeMetricFamily("santegarde_audit_entries", "Entries in the audit trail (its head's sequence).")
        entries.add_metric([], float(seq))
        yield entries
        for name, help_text, operation in LAST_SUCCESS:
            gauge = GaugeMetricFamily(name, help_text)
            gauge.add_metric([], self._last.get(operation, 0.0))
            yield gauge


def append_latency() -> Histogram:
    """``santegarde_audit_append_duration_seconds``, for one application's registry (``ops.mount``'s collectors)."""
    return Histogram(
        "santegarde_audit_append_duration_seconds",
        "Time to append one entry to the audit trail (lock of its head, write, seal; the commit when it is its own).",
        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        registry=None,
    )
