"""Pharmacovigilance's inbox: every adverse-effect report reaches it at once, until an employee acknowledges it.

The référentiel gives the head of pharmacovigilance and the employees under them the safety data (§8.2); the
issue asks that adverse effects be "routed to the pharmacovigilance profile at once". The report's form adds a row
to :data:`~santegarde.compassionate.tables.aac_vigilance` in the very transaction that stores it (the workflow's
``in_transaction`` hook, :func:`route`): a report stored is a report in the inbox, and a refused one leaves none.

Only the pharmacovigilance profile reads the inbox and acknowledges its rows (deny by default: the policy must give
it the safety data under the purpose, and the inbox is that profile's); any other profile is refused with a
sentence and the refusal is traced. The reports themselves are read through the record path (each read decided
and traced), never from the inbox row, which holds no health datum in clear.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Connection, insert, select, update

from santegarde import refusals
from santegarde.audit.trail import AuditEvent
from santegarde.compassionate.programme import FormKind
from santegarde.compassionate.tables import aac_case, aac_vigilance
from santegarde.errors import SantegardeError, WordedError
from santegarde.identity import sessions
from santegarde.policy import AccessRequest, decide
from santegarde.referentials.model import Operation
from santegarde.store.service import AccessDenied, NotFound, RecordService, Request

if TYPE_CHECKING:
    from santegarde.compassionate.service import CaseState, CompassionateService, Submitted

PROFILE = "pharmacovigilance"  # §8.2: the head of pharmacovigilance and the employees under them
RULE = "AAC-8.vigilance"


class AlertRefused(WordedError, ValueError):
    """An acknowledgement that cannot be made as asked (no such report, already acknowledged)."""


@dataclass(frozen=True)
class Alert:
    """An adverse-effect report waiting in pharmacovigilance's inbox, its case and form read through the path."""

    id: int
    case: CaseState
    report: Submitted


def label(number: int) -> str:
    """What a row's seal is bound to: a row copied onto another case does not open."""
    return f"aac_vigilance/{number}"


def route(records: RecordService, conn: Connection, patient_id: str, programme_id: str, submission: str) -> None:
    """Put a report in the inbox, in the transaction that stores it (``submission``: what its records share)."""
    number = int(conn.execute(select(aac_case.c.number).where(aac_case.c.patient_id == patient_id)).scalar_one())
    sealed = records.seal_derived(conn, patient_id, label(number), {"submission": submission})
    conn.execute(insert(aac_vigilance).values(programme=programme_id, number=number, sealed=sealed))


def _allowed(service: CompassionateService, req: Request, operation: str, what: Operation) -> sessions.SessionContext:
    """The session, if it is pharmacovigilance's and the policy gives it the safety data; else refused and traced."""
    records = service.records
    try:
        ctx = sessions.require(records.identity, req.token, sensitivity=None)
    except SantegardeError:
        records.trace_refusal(req, operation, ("VigilanceAlert", ""), "identity")
        raise
    decision = decide(records.ref, AccessRequest(ctx.profile or "", what, "safety", req.purpose))
    if ctx.profile == PROFILE and decision.allowed:
        return ctx
    records.trace_refusal(req, operation, ("VigilanceAlert", ""), decision.rule if not decision.allowed else RULE)
    from santegarde.compassionate.service import CaseAccessDenied

    raise CaseAccessDenied("vigilance_profile", RULE, "8.2")


def pending(service: CompassionateService, req: Request, programme_id: str) -> list[Alert]:
    """The programme's reports no one in pharmacovigilance has acknowledged yet, oldest first."""
    service.registry.get(programme_id)  # an unknown programme is refused with its sentence
    _allowed(service, req, "aac.vigilance.list", Operation.READ)
    records = service.records
    query = (
        select(aac_vigilance.c.id, aac_vigilance.c.number, aac_vigilance.c.sealed, aac_case.c.patient_id)
        .join(aac_case, aac_case.c.number == aac_vigilance.c.number)
        .where(aac_vigilance.c.programme == programme_id, aac_vigilance.c.acknowledged_at.is_(None))
        .order_by(aac_vigilance.c.id)
    )
    with records.engine.connect() as conn:
        rows = conn.execute(query).all()
        opened = records.open_derived_many(
            conn, [(str(r.patient_id), label(int(r.number)), bytes(r.sealed)) for r in rows]
        )
    cases: dict[str, CaseState | None] = {}
    found = []
    for row, content in zip(rows, opened, strict=True):
        if content is None:  # the patient's keys were destroyed: nothing left to read
            continue
        patient_id = str(row.patient_id)
        if patient_id not in cases:
            try:
                cases[patient_id] = service.state(req, patient_id)  # through the path: decided and traced
            except (AccessDenied, NotFound):
                cases[patient_id] = None
        case = cases[patient_id]
        report = next(
            (f for f in case.of(FormKind.ADVERSE_EFFECT) if f.submission == content["submission"]), None
        ) if case is not None else None  # fmt: skip
        if case is not None and report is not None:
            found.append(Alert(int(row.id), case, report))
    return found


def acknowledge(service: CompassionateService, req: Request, alert_id: int) -> str:
    """Mark a report as taken in hand by this pharmacovigilance employee (once), traced; their login."""
    operation = "aac.vigilance.acknowledge"
    ctx = _allowed(service, req, operation, Operation.WRITE)
    records = service.records
    now = records.identity.now()
    with records.engine.begin() as conn:
        row = conn.execute(
            select(aac_vigilance.c.programme, aac_vigilance.c.acknowledged_at, aac_vigilance.c.acknowledged_by)
            .where(aac_vigilance.c.id == alert_id)
            .with_for_update()
        ).first()
        if row is None:
            records.trace_refusal(req, operation, ("VigilanceAlert", str(alert_id)), "record.not_found")
            raise AlertRefused(refusals.sentences("aac", "vigilance_unknown", id=alert_id))
        if row.acknowledged_at is not None:
            records.trace_refusal(req, operation, ("VigilanceAlert", str(alert_id)), RULE + ".done")
            raise AlertRefused(refusals.sentences("aac", "vigilance_done", id=alert_id, by=row.acknowledged_by))
        conn.execute(
            update(aac_vigilance)
            .where(aac_vigilance.c.id == alert_id)
            .values(acknowledged_at=now, acknowledged_by=ctx.login)
        )
    records.audit.append(
        AuditEvent(
            actor=ctx.login,
            profile=ctx.profile or "",
            operation=operation,
            resource_type="VigilanceAlert",
            resource_id=str(alert_id),
            purpose=req.purpose,
            allowed=True,
            rule=RULE,
            section="8.2",
            outcome="success",
            source=req.source,
            referential=records.ref.id,
        )
    )
    return ctx.login
