"""The maintenance logbook (COM-MNT-1, PHA-PRO-30/31, PRA-PRO-26/27): every intervention recorded.

The référentiels ask to "record maintenance interventions in a daybook" and to have third parties
supervised by someone of the practice or pharmacy. Each entry says who intervened, for which
company, on what, what was done, who supervised, and whether the intervention could reach data
(it never can in clear: the maintenance profile has no access and the data is encrypted).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Engine, insert, select

from santegarde.errors import SantegardeError
from santegarde.governance.tables import maintenance_log

KINDS = ("maintenance", "update", "repair", "installation", "disposal", "other")
DataAccess = Literal["none", "encrypted_only"]


class LogbookError(SantegardeError, ValueError):
    """A logbook entry is incomplete."""


@dataclass(frozen=True)
class Intervention:
    id: int
    at: datetime
    operator: str
    company: str
    kind: str
    equipment: str
    description: str
    data_access: str
    supervised_by: str
    recorded_by: str


def record(
    engine: Engine,
    *,
    at: datetime,
    operator: str,
    company: str,
    kind: str,
    equipment: str,
    description: str,
    supervised_by: str,
    recorded_by: str,
    data_access: DataAccess = "none",
) -> Intervention:
    if kind not in KINDS:
        raise LogbookError(f"The kind of intervention must be one of {', '.join(KINDS)}, not '{kind}'.")
    missing = [
        name
        for name, value in (
            ("operator", operator),
            ("company", company),
            ("equipment", equipment),
            ("supervised-by", supervised_by),
        )
        if not value.strip()
    ]
    if missing:
        raise LogbookError(f"A logbook entry names {', '.join(missing)}: give --{' --'.join(missing)}.")
    if len(description.strip()) < 10:
        raise LogbookError("Describe what was done (--description, at least 10 characters).")
    values: dict[str, Any] = {
        "at": at,
        "operator": operator.strip(),
        "company": company.strip(),
        "kind": kind,
        "equipment": equipment.strip(),
        "description": description.strip(),
        "data_access": data_access,
        "supervised_by": supervised_by.strip(),
        "recorded_by": recorded_by,
    }
    with engine.begin() as conn:
        new_id = conn.execute(insert(maintenance_log).values(**values).returning(maintenance_log.c.id)).scalar_one()
    return Intervention(id=new_id, **values)


def entries(engine: Engine) -> list[Intervention]:
    with engine.connect() as conn:
        rows = conn.execute(select(maintenance_log).order_by(maintenance_log.c.id)).all()
    return [Intervention(**row._asdict()) for row in rows]
