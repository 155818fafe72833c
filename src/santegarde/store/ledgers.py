"""The objection and care-relationship ledgers of many patients in one statement (issue 17).

A page of search results checks, for every candidate, the patient's objection in force to the declared purpose
(COM-RGT-1, GDPR art. 21.1) and the session's care relationship with the patient: the read path asks for them all at
once, as the page's candidates arrive, instead of once per record. What is read here is used within the request's
transaction only and never kept beyond it; a refusal is still worded and traced one record at a time by the path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BindParameter, Connection, bindparam, literal, select, union_all

from santegarde.store.objections import PATIENT
from santegarde.store.schema import care_relationship, objection_ledger

OBJECTION = "objection"
CARE = "care"


@dataclass(frozen=True, slots=True)
class Standing:
    """Of the patients asked about: those with an objection in force to the purpose, those the login cares for now
    (None when the care relationships were not asked)."""

    objecting: frozenset[str]
    cared: frozenset[str] | None


o, c = objection_ledger.c, care_relationship.c
_PATIENTS: BindParameter[list[str]] = bindparam("patients", expanding=True)
_NOW = bindparam("now", type_=c.since.type)
_OBJECTIONS = select(literal(OBJECTION).label("what"), o.patient_id).where(
    o.patient_id.in_(_PATIENTS), o.purpose == bindparam("purpose"), o.subject == PATIENT, o.lifted_at.is_(None)
)
_CARE = select(literal(CARE).label("what"), c.patient_id).where(
    c.login == bindparam("login"), c.patient_id.in_(_PATIENTS), c.since <= _NOW, (c.until.is_(None)) | (c.until > _NOW)
)
# Built once: a page's statement differs only by its bound values (compiled once, cached by SQLAlchemy).
_BOTH = union_all(_OBJECTIONS, _CARE)


def standing(
    conn: Connection, patient_ids: Sequence[str], purpose: str, login: str, now: datetime, *, care: bool
) -> Standing:
    """The objections in force to ``purpose`` and (``care``) the login's care relationships in force at ``now``, of
    every patient of ``patient_ids``: one statement, on the ledgers' indexes (patient and purpose; login and
    patient)."""
    patients = sorted(set(patient_ids))
    if not patients:
        return Standing(frozenset(), frozenset() if care else None)
    found: dict[str, set[str]] = {OBJECTION: set(), CARE: set()}
    values = {"patients": patients, "purpose": purpose, "login": login, "now": now}
    for row in conn.execute(_BOTH if care else _OBJECTIONS, values):
        found[str(row.what)].add(str(row.patient_id))
    return Standing(frozenset(found[OBJECTION]), frozenset(found[CARE]) if care else None)
