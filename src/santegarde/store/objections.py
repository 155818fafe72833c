"""The objection ledger (COM-RGT-1, GDPR art. 21.1): a patient's objection to a purpose, obeyed by the path.

An objection is recorded only for a purpose where the right applies (``policy.rights.right_applies``: a task in
the public interest or a legitimate interest); from then on, every request for that purpose and that patient is
refused with the date of the objection. The controller lifts it (the person withdrew it) or overrides it on
compelling legitimate grounds, whose written justification is kept apart and flagged in the trace review.

The warehouse's durable objection (EDS-9) is this ledger seen from the warehouse: a person known to the warehouse
only by name and birth date is recorded under its keyed pseudonym (subject :data:`PSEUDONYM`), and every feed skips
the pseudonyms, and the store's patients, whose objection to a re-use purpose is in force (:func:`objecting`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from santegarde.identity.clock import aware
from santegarde.store.schema import objection_ledger

LIFTED = "lifted"
COMPELLING_GROUNDS = "compelling_grounds"
LIFT_KINDS = (LIFTED, COMPELLING_GROUNDS)
PATIENT = "patient"  # patient_id is the store's patient id
PSEUDONYM = "pseudonym"  # patient_id is the warehouse's keyed pseudonym of the person (EDS-9)


@dataclass(frozen=True, slots=True)
class Objection:
    number: int
    patient_id: str
    purpose: str
    recorded_at: datetime
    recorded_by: str
    lifted_at: datetime | None
    lifted_by: str | None
    lift_kind: str | None
    justification: int | None


def _of(row: object) -> Objection:
    r = row
    return Objection(
        r.id,  # type: ignore[attr-defined]
        r.patient_id,  # type: ignore[attr-defined]
        r.purpose,  # type: ignore[attr-defined]
        aware(r.recorded_at),  # type: ignore[attr-defined]
        r.recorded_by,  # type: ignore[attr-defined]
        aware(r.lifted_at) if r.lifted_at else None,  # type: ignore[attr-defined]
        r.lifted_by,  # type: ignore[attr-defined]
        r.lift_kind,  # type: ignore[attr-defined]
        r.justification,  # type: ignore[attr-defined]
    )


def in_force(conn: Connection, patient_id: str, purpose: str, subject: str = PATIENT) -> Objection | None:
    """The patient's objection to this purpose that is in force (neither lifted nor overridden): one lookup."""
    c = objection_ledger.c
    row = conn.execute(
        select(objection_ledger)
        .where(c.patient_id == patient_id, c.purpose == purpose, c.subject == subject, c.lifted_at.is_(None))
        .order_by(c.id)
    ).first()
    return _of(row) if row is not None else None


def add(conn: Connection, patient_id: str, purpose: str, now: datetime, login: str, subject: str = PATIENT) -> int:
    return int(
        conn.execute(
            insert(objection_ledger)
            .values(patient_id=patient_id, purpose=purpose, recorded_at=now, recorded_by=login, subject=subject)
            .returning(objection_ledger.c.id)
        ).scalar_one()
    )


def lift(conn: Connection, number: int, now: datetime, login: str, kind: str, justification: int | None = None) -> None:
    conn.execute(
        update(objection_ledger)
        .where(objection_ledger.c.id == number)
        .values(lifted_at=now, lifted_by=login, lift_kind=kind, justification=justification)
    )


def of_patient(conn: Connection, patient_id: str) -> list[Objection]:
    c = objection_ledger.c
    rows = conn.execute(select(objection_ledger).where(c.patient_id == patient_id, c.subject == PATIENT).order_by(c.id))
    return [_of(r) for r in rows]


def objecting(conn: Connection, purposes: Iterable[str], subject: str = PATIENT) -> set[str]:
    """The subjects (store patients, or warehouse pseudonyms) whose objection to any of ``purposes`` is in force."""
    c = objection_ledger.c
    wanted = list(dict.fromkeys(purposes))
    if not wanted:
        return set()
    found = conn.execute(
        select(c.patient_id).where(c.subject == subject, c.purpose.in_(wanted), c.lifted_at.is_(None)).distinct()
    ).scalars()
    return set(found)


def oppose(conn: Connection, subject_id: str, purpose: str, at: datetime, login: str, subject: str) -> bool:
    """Record an objection unless one is in force for this subject and purpose; whether one was added."""
    if in_force(conn, subject_id, purpose, subject) is not None:
        return False
    add(conn, subject_id, purpose, at, login, subject)
    return True
