"""The written justifications of exceptional accesses, as the trace reviewer reads them (COM-LOG-4).

The record path keeps them (``RecordService._justify``) in the records database; the audit entry of the access
points to one by its number. This module only reads them back, one at a time, for the reviewer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select

from santegarde import refusals
from santegarde.errors import WordedError
from santegarde.store.schema import access_justification


class JustificationNotFound(WordedError, LookupError):
    """No justification has this number (French by default, English as the option)."""

    def __init__(self, number: int) -> None:
        super().__init__(refusals.sentences("justifications", "not_found", number=number))


@dataclass(frozen=True, slots=True)
class Justification:
    number: int
    at: datetime
    login: str
    kind: str
    resource: str
    patient: str | None
    text: str


def read(engine: Engine, number: int) -> Justification:
    with engine.connect() as conn:
        row = conn.execute(select(access_justification).where(access_justification.c.id == number)).first()
    if row is None:
        raise JustificationNotFound(number)
    return Justification(
        row.id, row.at, row.login, row.kind, f"{row.resource_type}/{row.record_id}", row.patient_id, row.text
    )
