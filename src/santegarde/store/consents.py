"""The consent ledger (COM-MIN-1, consent part): what a stored FHIR ``Consent`` covers, as one indexed lookup.

A category the référentiel collects only with the person's consent (``requires_consent``, e.g. the practice's
lifestyle data, pra-2020-081 §5) is written only while a stored, active Consent covers the patient, the category
and the purpose. The Consent resource is the record (encrypted like any other, written through the one path);
this module reads its scope and keeps one ledger row per category × purpose, in the transaction that stores it:

- ``provision.code``: the référentiel categories, coded in :data:`CATEGORY_SYSTEM`;
- ``provision.purpose``: the purposes, coded in :data:`PURPOSE_SYSTEM`;
- ``provision.period``: from when until when (default: from ``dateTime``, or now, without end);
- ``status``: ``active``; ``inactive`` withdraws it from that moment (earlier data stay);
- ``performer``/``organization`` say who collected it, ``sourceReference``/``policyRule`` how.

A Consent naming none of these codes (e.g. a privacy preference) authorises nothing and is only stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from santegarde.identity.clock import aware
from santegarde.referentials.model import Referential
from santegarde.store.mapping import MappingError
from santegarde.store.schema import consent_ledger

CATEGORY_SYSTEM = "https://santegarde.fr/CodeSystem/referential-category"
PURPOSE_SYSTEM = "https://santegarde.fr/CodeSystem/referential-purpose"


class ConsentScopeError(MappingError):
    """The Consent names a category or purpose it cannot cover; the message says which and what to do."""


@dataclass(frozen=True, slots=True)
class Scope:
    categories: tuple[str, ...]
    purposes: tuple[str, ...]
    start: datetime | None
    end: datetime | None
    active: bool


@dataclass(frozen=True, slots=True)
class Entry:
    consent_id: str
    category: str
    purpose: str
    start: datetime
    end: datetime | None
    withdrawn_at: datetime | None
    recorded_by: str


def _codes(items: Any, system: str) -> list[str]:
    codings: list[Any] = []
    for item in items or []:
        if not isinstance(item, dict):
            continue
        codings += item.get("coding", [item]) if "coding" in item else [item]
    return [str(c.get("code")) for c in codings if isinstance(c, dict) and c.get("system") == system]


def _instant(value: Any) -> datetime | None:
    if not value:
        return None
    return aware(datetime.fromisoformat(str(value).replace("Z", "+00:00")))


def scope(body: dict[str, Any]) -> Scope:
    provision = body.get("provision") or {}
    period = provision.get("period") or {}
    return Scope(
        tuple(dict.fromkeys(_codes(provision.get("code"), CATEGORY_SYSTEM))),
        tuple(dict.fromkeys(_codes(provision.get("purpose"), PURPOSE_SYSTEM))),
        _instant(period.get("start")) or _instant(body.get("dateTime")),
        _instant(period.get("end")),
        body.get("status") == "active",
    )


def check(ref: Referential, body: dict[str, Any]) -> Scope:
    """The Consent's scope, refused (before anything is stored) when it names what no consent can cover."""
    found = scope(body)
    if bool(found.categories) != bool(found.purposes):
        raise ConsentScopeError(
            "A Consent covers categories for purposes: give both provision.code (system "
            f"{CATEGORY_SYSTEM}) and provision.purpose (system {PURPOSE_SYSTEM}), or neither."
        )
    for category_id in found.categories:
        category = ref.category(category_id)
        if category is None or not category.requires_consent:
            needing = ", ".join(c.id for c in ref.categories if c.requires_consent) or "none"
            raise ConsentScopeError(
                f"'{category_id}' is not a category of {ref.id} collected on consent (§5); categories that need "
                f"consent: {needing}. Correct provision.code."
            )
    for purpose_id in found.purposes:
        purpose = ref.purpose(purpose_id)
        if purpose is None or purpose.forbidden or purpose.out_of_scope:
            raise ConsentScopeError(
                f"'{purpose_id}' is not a purpose of {ref.id} that may be pursued (§3); correct provision.purpose."
            )
        unused = [c for c in found.categories if c not in purpose.categories]
        if unused:
            raise ConsentScopeError(
                f"The purpose '{purpose_id}' does not use {', '.join(unused)} under {ref.id} (§3, data "
                "minimisation): a consent cannot widen it. Name a purpose that uses the category."
            )
    if found.start and found.end and found.end <= found.start:
        raise ConsentScopeError("The Consent's provision.period ends before it starts; correct the period.")
    return found


def record(conn: Connection, consent_id: str, patient_id: str, found: Scope, now: datetime, login: str) -> None:
    """Bring the ledger to the stored version: a new scope replaces the old; an inactive Consent is withdrawn."""
    current = conn.execute(
        select(consent_ledger.c.id).where(
            consent_ledger.c.consent_id == consent_id, consent_ledger.c.withdrawn_at.is_(None)
        )
    ).scalars()
    ids = list(current)
    if ids:
        conn.execute(update(consent_ledger).where(consent_ledger.c.id.in_(ids)).values(withdrawn_at=now))
    if not found.active:
        return
    for category in found.categories:
        for purpose in found.purposes:
            conn.execute(
                insert(consent_ledger).values(
                    consent_id=consent_id,
                    patient_id=patient_id,
                    category=category,
                    purpose=purpose,
                    start=found.start or now,
                    end=found.end,
                    recorded_by=login,
                )
            )


@dataclass(frozen=True, slots=True)
class Standing:
    """Whether a stored Consent covers a scope now; if none does, when and how the latest one ended."""

    active: bool
    ended_at: datetime | None = None
    ended: str | None = None  # WITHDRAWN or EXPIRED


WITHDRAWN = "withdrawn"
EXPIRED = "expired"


def standing(conn: Connection, patient_id: str, category: str, purpose: str, now: datetime) -> Standing:
    """The patient's consent for this category and purpose now, in one indexed lookup (``ix_consent_ledger_scope``):
    active when an entry has started, has not reached its end and was not withdrawn; otherwise the latest end —
    a withdrawal, or a period that ran out — so that the refusal can give the rule and the date."""
    c = consent_ledger.c
    rows = conn.execute(
        select(c.start, c.end, c.withdrawn_at).where(
            c.patient_id == patient_id, c.category == category, c.purpose == purpose
        )
    ).all()
    return _standing_of(rows, now)


_STANDINGS = select(
    consent_ledger.c.patient_id,
    consent_ledger.c.category,
    consent_ledger.c.start,
    consent_ledger.c.end,
    consent_ledger.c.withdrawn_at,
).where(
    consent_ledger.c.patient_id.in_(bindparam("patients", expanding=True)),
    consent_ledger.c.category.in_(bindparam("categories", expanding=True)),
    consent_ledger.c.purpose == bindparam("purpose"),
)


def standings(
    conn: Connection, patient_ids: Sequence[str], categories: Sequence[str], purpose: str, now: datetime
) -> dict[tuple[str, str], Standing]:
    """``standing`` of every (patient, category) of these patients and categories for the purpose, in one statement
    (a page of search results asks for all its candidates at once)."""
    if not patient_ids or not categories:
        return {}
    values = {"patients": sorted(set(patient_ids)), "categories": sorted(set(categories)), "purpose": purpose}
    rows = conn.execute(_STANDINGS, values).all()
    grouped: dict[tuple[str, str], list[Any]] = {}
    for row in rows:
        grouped.setdefault((str(row.patient_id), str(row.category)), []).append(row)
    return {
        (patient, category): _standing_of(grouped.get((patient, category), []), now)
        for patient in patient_ids
        for category in categories
    }


def _standing_of(rows: Sequence[Any], now: datetime) -> Standing:
    """A scope's standing from its ledger rows (start, end, withdrawn_at)."""
    ends: list[tuple[datetime, str]] = []
    for row in rows:
        start, end = aware(row.start), aware(row.end) if row.end else None
        withdrawn = aware(row.withdrawn_at) if row.withdrawn_at else None
        if withdrawn is None and start <= now and (end is None or now < end):
            return Standing(True)
        if withdrawn is not None and (end is None or withdrawn < end):
            ends.append((withdrawn, WITHDRAWN))
        elif end is not None and end <= now:
            ends.append((end, EXPIRED))
    if not ends:
        return Standing(False)
    at, how = max(ends)
    return Standing(False, at, how)


def active(conn: Connection, patient_id: str, category: str, purpose: str, now: datetime) -> bool:
    """Whether a stored, active Consent covers this patient, category and purpose now."""
    return standing(conn, patient_id, category, purpose, now).active


def entries(conn: Connection, patient_id: str) -> list[Entry]:
    """The patient's ledger, newest first (``santegarde consent show``)."""
    c = consent_ledger.c
    rows = conn.execute(select(consent_ledger).where(c.patient_id == patient_id).order_by(c.id.desc()))
    return [
        Entry(
            r.consent_id,
            r.category,
            r.purpose,
            aware(r.start),
            aware(r.end) if r.end else None,
            aware(r.withdrawn_at) if r.withdrawn_at else None,
            r.recorded_by,
        )
        for r in rows
    ]
