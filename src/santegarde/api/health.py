"""The readiness of an opened organisation: databases reachable, keys open, schemas at their head, room for the trail.

Each check answers None when it passes, or a sentence saying what to do. The sentences name no path, no URL, no
version and no datum: ``/health/ready`` is reachable without a session (a load balancer asks it).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import SQLAlchemyError

from santegarde.audit.tables import head
from santegarde.crypto import KeyFamily
from santegarde.lifecycle.upgrade import outdated
from santegarde.runtime import Organisation

# Below this, the audit trail's disk is about to refuse appends, and with them every access to a record.
MIN_FREE_BYTES = 256 * 1024 * 1024


def _reachable(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except SQLAlchemyError:
        return False


def _free_bytes(engine: Engine) -> int | None:
    """Free space where a SQLite trail lives (None for a server database, whose disk is its operator's)."""
    if engine.dialect.name != "sqlite" or not engine.url.database or engine.url.database == ":memory:":
        return None
    return shutil.disk_usage(Path(engine.url.database).resolve().parent).free


def readiness(org: Organisation, *, min_free_bytes: int = MIN_FREE_BYTES) -> Callable[[], Mapping[str, str | None]]:
    """The checks ``/health/ready`` runs for ``org``, each time it is asked."""
    upgrade = "run 'santegarde upgrade --config santegarde.yaml' (after a backup), then restart the server"

    def check() -> dict[str, str | None]:
        found: dict[str, str | None] = {}
        records_up, audit_up = _reachable(org.engine), _reachable(org.audit.engine)
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
            free = _free_bytes(org.audit.engine)
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


class AuditCollector(Collector):
    """``santegarde_audit_entries``: the number of entries in the trail, read from its head when scraped."""

    def __init__(self, org: Organisation) -> None:
        self.org = org

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily("santegarde_audit_entries", "Entries in the audit trail (its head's sequence).")
        try:
            with self.org.audit.engine.connect() as conn:
                seq = conn.execute(select(head.c.seq).where(head.c.id == 1)).scalar()
        except SQLAlchemyError:
            return  # an unreachable trail is /health/ready's to report, not a scrape error
        gauge.add_metric([], float(seq or 0))
        yield gauge
