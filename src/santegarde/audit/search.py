"""Searching the trail (COM-LOG-4): entries of a period, filtered by actor, profile, operation, outcome or patient
reference, newest first; and the accesses per day and profile over a period (the review's chart).

The period is selected in the database (the ``at`` column is indexed); the other criteria are matched on each
entry's references. A search returns at most ``limit`` entries and says whether there were more.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from santegarde.audit.chain import Entry
from santegarde.audit.tables import entry
from santegarde.audit.trail import AuditTrail
from santegarde.errors import SantegardeError

MAX_RESULTS = 200
CRITERIA = ("actor", "profile", "operation", "outcome", "patient")


class SearchError(SantegardeError, ValueError):
    """The search cannot be run as asked (e.g. a period that ends before it starts)."""


@dataclass(frozen=True)
class Criteria:
    start: datetime
    end: datetime
    actor: str = ""
    profile: str = ""
    operation: str = ""  # an operation, or its beginning ("record." finds every record operation)
    outcome: str = ""
    patient: str = ""

    def matches(self, content: dict[str, Any]) -> bool:
        if self.operation and not str(content.get("operation", "")).startswith(self.operation):
            return False
        return all(
            not wanted or str(content.get(name, "")) == wanted
            for name, wanted in (
                ("actor", self.actor),
                ("profile", self.profile),
                ("outcome", self.outcome),
                ("patient", self.patient),
            )
        )


@dataclass(frozen=True)
class Found:
    entries: tuple[Entry, ...]
    more: bool  # other entries matched beyond the limit


def _period(trail: AuditTrail, criteria: Criteria) -> list[Entry]:
    if criteria.end <= criteria.start:
        raise SearchError("The period ends before it starts: give a start date before the end date.")
    query = select(entry).where(entry.c.at >= criteria.start, entry.c.at < criteria.end).order_by(entry.c.seq.desc())
    with trail.engine.connect() as conn:
        return [Entry(r.seq, r.prev_hash, r.hash, json.loads(r.content)) for r in conn.execute(query)]


def search(trail: AuditTrail, criteria: Criteria, limit: int = MAX_RESULTS) -> Found:
    """The entries of the period matching every criterion given, newest first, at most ``limit``."""
    matched = [e for e in _period(trail, criteria) if criteria.matches(dict(e.content))]
    return Found(tuple(matched[:limit]), len(matched) > limit)


def volumes(trail: AuditTrail, start: datetime, end: datetime) -> dict[tuple[str, str], int]:
    """How many entries each profile wrote each day of the period: {(day, profile): count} (day as YYYY-MM-DD,
    an entry without profile under "")."""
    counted: Counter[tuple[str, str]] = Counter()
    for e in _period(trail, Criteria(start, end)):
        counted[(str(e.content["at"])[:10], str(e.content.get("profile") or ""))] += 1
    return dict(counted)
