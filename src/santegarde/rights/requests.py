"""The register of data-subject requests: who asked what, how their identity was checked, and by when (COM-RGT-1).

A request is received (right, patient, requester), its identity check is recorded (nothing is
executed before), its deadline is computed — one calendar month (GDPR art. 12.3), extendable once
by two months with a written reason; for access to a medical record under the practice référentiel,
eight days, or two months when the information is more than five years old (public health code,
art. L. 1111-7) — and every step is traced in the audit trail.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, insert, select, update

from santegarde import refusals
from santegarde.audit.trail import AuditEvent, AuditTrail
from santegarde.errors import WordedError
from santegarde.governance import doctext, rights_text
from santegarde.identity import sessions
from santegarde.identity.clock import aware
from santegarde.identity.context import IdentityContext
from santegarde.referentials.model import Referential, Right
from santegarde.rights.tables import rights_request
from santegarde.store.service import Request

MIN_IDENTITY_CHECK = 10
MIN_EXTENSION_REASON = 15
# How an answer letter leaves: by post, by the health professionals' secure messaging, handed over, by e-mail.
LETTER_CHANNELS = ("post", "secure_messaging", "in_person", "email")
MEDICAL_RECORD = "medical_record"
CSP_ACCESS = "code de la santé publique, art. L. 1111-7"
EXERCISABLE = (
    Right.ACCESS,
    Right.RECTIFICATION,
    Right.ERASURE,
    Right.RESTRICTION,
    Right.OBJECTION,
    Right.PORTABILITY,
)
NEEDS_PURPOSE = (Right.OBJECTION, Right.PORTABILITY)


class RightsError(WordedError, ValueError):
    """A rights request cannot be registered or moved on as asked; the message says what to do; ``on`` names
    the detail of the registration at fault (right, requester, purpose, grounds), for a form to show it there.

    Worded in French and English from the catalogue (``data/refusals.yaml``, ``rights``).
    """

    def __init__(self, key: str, /, *, on: str | None = None, **facts: Any) -> None:
        self.key = key
        self.field = on
        super().__init__(refusals.sentences("rights", key, **facts))


class RequestNotFound(RightsError, LookupError):
    """No such request in the register."""


class Requester(StrEnum):
    PERSON = "person"
    LEGAL_REPRESENTATIVE = "legal_representative"
    RELATED_PERSON = "related_person"  # family, relatives (AAC: "proches")


class Status(StrEnum):
    RECEIVED = "received"
    IDENTITY_CHECKED = "identity_checked"
    EXTENDED = "extended"
    EXECUTED = "executed"
    REFUSED = "refused"


OPEN = (Status.RECEIVED, Status.IDENTITY_CHECKED, Status.EXTENDED)


@dataclass(frozen=True)
class RightsRequest:
    """One request as registered; ``deadline`` is the due date in force (extended or not)."""

    id: int
    referential: str
    right: Right
    patient_id: str
    requester: Requester
    purpose: str | None
    grounds: str | None
    older_than_five_years: bool
    received_at: datetime
    received_by: str
    due_at: datetime
    deadline_rule: str
    extended_due_at: datetime | None
    extension_reason: str | None
    identity_check: str | None
    identity_checked_at: datetime | None
    status: Status
    outcome: str | None
    rule: str | None
    section: str | None
    answered_at: datetime | None
    answered_by: str | None
    lifted_at: datetime | None
    letter_sent_at: datetime | None = None
    letter_sent_by: str | None = None
    letter_channel: str | None = None

    @property
    def deadline(self) -> datetime:
        return self.extended_due_at or self.due_at

    def overdue(self, now: datetime) -> bool:
        return self.status in OPEN and now > self.deadline

    def as_dict(self) -> dict[str, Any]:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        data["deadline"] = self.deadline
        return {
            k: v.isoformat() if isinstance(v, datetime) else (str(v) if v is not None else None)
            for k, v in data.items()
            if k != "older_than_five_years"
        } | {"older_than_five_years": self.older_than_five_years}


def add_months(when: datetime, months: int) -> datetime:
    """The same day ``months`` calendar months later (the last day of the month when it has fewer days)."""
    index = when.month - 1 + months
    year, month = when.year + index // 12, index % 12 + 1
    return when.replace(year=year, month=month, day=min(when.day, calendar.monthrange(year, month)[1]))


def deadline_for(
    ref: Referential, right: Right, purpose: str | None, received_at: datetime, *, older_than_five_years: bool
) -> tuple[datetime, str]:
    """(due date, the rule that sets it)."""
    if right is Right.ACCESS and ref.id.startswith("pra-") and purpose == MEDICAL_RECORD:
        if older_than_five_years:
            return add_months(received_at, 2), f"{CSP_ACCESS} : deux mois, les informations datant de plus de cinq ans"
        return received_at + timedelta(days=8), f"{CSP_ACCESS} : huit jours pour l'accès au dossier médical"
    return add_months(received_at, 1), "un mois à compter de la réception de la demande (art. 12.3 du RGPD)"


def _row_to_request(row: Any) -> RightsRequest:
    def when(value: datetime | None) -> datetime | None:
        return aware(value) if value is not None else None

    return RightsRequest(
        id=row.id,
        referential=row.referential,
        right=Right(row.right),
        patient_id=row.patient_id,
        requester=Requester(row.requester),
        purpose=row.purpose,
        grounds=row.grounds,
        older_than_five_years=bool(row.older_than_five_years),
        received_at=aware(row.received_at),
        received_by=row.received_by,
        due_at=aware(row.due_at),
        deadline_rule=row.deadline_rule,
        extended_due_at=when(row.extended_due_at),
        extension_reason=row.extension_reason,
        identity_check=row.identity_check,
        identity_checked_at=when(row.identity_checked_at),
        status=Status(row.status),
        outcome=row.outcome,
        rule=row.rule,
        section=row.section,
        answered_at=when(row.answered_at),
        answered_by=row.answered_by,
        lifted_at=when(row.lifted_at),
        letter_sent_at=when(row.letter_sent_at),
        letter_sent_by=row.letter_sent_by,
        letter_channel=row.letter_channel,
    )


class RightsRegister:
    """Registering requests, recording identity checks and extensions, finding overdue requests."""

    def __init__(
        self,
        engine: Engine,
        referential: Referential,
        identity: IdentityContext,
        audit: AuditTrail,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.engine = engine
        self.ref = referential
        self.identity = identity
        self.audit = audit
        self._clock = clock or identity.now

    def now(self) -> datetime:
        return self._clock()

    def who(self, req: Request) -> sessions.SessionContext:
        """The handling professional: a live session with every step done."""
        return sessions.require(self.identity, req.token, sensitivity=None)

    def trace(
        self,
        ctx: sessions.SessionContext,
        req: Request,
        operation: str,
        request: RightsRequest,
        *,
        allowed: bool = True,
        rule: str = "COM-RGT-1",
        section: str = "",
        outcome: str = "success",
    ) -> None:
        self.audit.append(
            AuditEvent(
                actor=ctx.login,
                profile=ctx.profile or "",
                operation=operation,
                resource_type="RightsRequest",
                resource_id=str(request.id),
                purpose=req.purpose,
                allowed=allowed,
                rule=rule,
                section=section,
                outcome=outcome,
                source=req.source,
                referential=self.ref.id,
                patient=request.patient_id,
            )
        )

    def register(
        self,
        req: Request,
        right: Right | str,
        patient_id: str,
        requester: Requester | str,
        *,
        received_at: datetime | None = None,
        purpose: str | None = None,
        grounds: str | None = None,
        older_than_five_years: bool = False,
    ) -> RightsRequest:
        """Record a request as received, with its deadline; traced."""
        ctx = self.who(req)
        right = _right(right)
        requester = _requester(requester)
        if right in NEEDS_PURPOSE and not purpose:
            examples = refusals.choices(p.id for p in self.ref.purposes[:3])
            raise RightsError("needs_purpose", right=right_words(right), examples=examples, on="purpose")
        if purpose is not None and self.ref.purpose(purpose) is None:
            choices = refusals.choices(p.id for p in self.ref.purposes)
            raise RightsError(
                "unknown_purpose", purpose=purpose, referential=self.ref.id, choices=choices, on="purpose"
            )
        if right is Right.RESTRICTION and len((grounds or "").strip()) < 5:
            raise RightsError("needs_grounds", on="grounds")
        received = received_at or self.now()
        due, rule = deadline_for(self.ref, right, purpose, received, older_than_five_years=older_than_five_years)
        with self.engine.begin() as conn:
            new_id = conn.execute(
                insert(rights_request)
                .values(
                    referential=self.ref.id,
                    right=str(right),
                    patient_id=patient_id,
                    requester=str(requester),
                    purpose=purpose,
                    grounds=(grounds or "").strip()[:300] or None,
                    older_than_five_years=older_than_five_years,
                    received_at=received,
                    received_by=ctx.login,
                    due_at=due,
                    deadline_rule=rule,
                    status=str(Status.RECEIVED),
                )
                .returning(rights_request.c.id)
            ).scalar_one()
        request = self.get(int(new_id))
        self.trace(ctx, req, "rights.register", request)
        return request

    def get(self, request_id: int) -> RightsRequest:
        with self.engine.connect() as conn:
            row = conn.execute(select(rights_request).where(rights_request.c.id == request_id)).first()
        if row is None:
            raise RequestNotFound("not_found", number=request_id)
        return _row_to_request(row)

    def all(self) -> list[RightsRequest]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(rights_request).order_by(rights_request.c.id)).all()
        return [_row_to_request(r) for r in rows]

    def overdue(self) -> list[RightsRequest]:
        """Open requests past their deadline (by the injectable clock)."""
        now = self.now()
        return [r for r in self.all() if r.overdue(now)]

    def record_identity_check(self, req: Request, request_id: int, how: str) -> RightsRequest:
        """Record how the requester's identity (and standing) was checked; required before execution."""
        ctx = self.who(req)
        request = self.get(request_id)
        if len(how.strip()) < MIN_IDENTITY_CHECK:
            raise RightsError("identity_how", min=MIN_IDENTITY_CHECK)
        _still_open(request)
        self._set(
            request_id,
            identity_check=how.strip(),
            identity_checked_at=self.now(),
            identity_checked_by=ctx.login,
            status=str(Status.IDENTITY_CHECKED),
        )
        request = self.get(request_id)
        self.trace(ctx, req, "rights.identity_check", request)
        return request

    def extend(self, req: Request, request_id: int, reason: str) -> RightsRequest:
        """Extend the deadline once, by two months, with a written reason (GDPR art. 12.3)."""
        ctx = self.who(req)
        request = self.get(request_id)
        _still_open(request)
        if request.extended_due_at is not None:
            raise RightsError("already_extended", id=request_id, due=day(request.extended_due_at))
        if request.deadline_rule.startswith(CSP_ACCESS):
            raise RightsError("fixed_deadline", id=request_id)
        if len(reason.strip()) < MIN_EXTENSION_REASON:
            raise RightsError("extension_reason", min=MIN_EXTENSION_REASON)
        self._set(
            request_id,
            extended_due_at=add_months(request.due_at, 2),
            extension_reason=reason.strip(),
            status=str(Status.EXTENDED),
        )
        request = self.get(request_id)
        self.trace(ctx, req, "rights.extend", request, rule="GDPR art. 12.3")
        return request

    def letter_sent(self, req: Request, request_id: int, channel: str) -> RightsRequest:
        """Record that the answer letter of an answered request was sent, by which channel (once); traced, and so is
        a refusal (the request not answered yet, or its letter already sent)."""
        ctx = self.who(req)
        request = self.get(request_id)
        if channel not in LETTER_CHANNELS:
            raise RightsError("letter_channel", value=channel, choices=refusals.choices(LETTER_CHANNELS), on="channel")
        refused: RightsError | None = None
        if request.status in OPEN:
            refused = RightsError("letter_before_answer", id=request_id)
        elif request.letter_sent_at is not None:
            refused = RightsError("letter_already_sent", id=request_id, day=day(request.letter_sent_at))
        if refused is not None:
            self.trace(ctx, req, "rights.letter_sent", request, allowed=False, outcome="denied")
            raise refused
        self._set(request_id, letter_sent_at=self.now(), letter_sent_by=ctx.login, letter_channel=channel)
        request = self.get(request_id)
        self.trace(ctx, req, "rights.letter_sent", request)
        return request

    def answer(
        self, request_id: int, status: Status, outcome: str, by: str, *, rule: str = "", section: str = ""
    ) -> RightsRequest:
        """Record the answer (executed or refused) with the rule and section that decided it."""
        self._set(
            request_id,
            status=str(status),
            outcome=outcome,
            rule=rule[:120] or None,
            section=section[:40] or None,
            answered_at=self.now(),
            answered_by=by,
        )
        return self.get(request_id)

    def mark_lifted(self, request_id: int) -> RightsRequest:
        self._set(request_id, lifted_at=self.now())
        return self.get(request_id)

    def _set(self, request_id: int, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(rights_request).where(rights_request.c.id == request_id).values(**values))


def _right(value: Right | str) -> Right:
    try:
        right = Right(str(value))
    except ValueError:
        right = None
    if right not in EXERCISABLE:
        raise RightsError("bad_right", value=value, choices=refusals.choices(str(r) for r in EXERCISABLE), on="right")
    assert right is not None
    return right


def _requester(value: Requester | str) -> Requester:
    try:
        return Requester(str(value))
    except ValueError:
        raise RightsError(
            "bad_requester", value=value, choices=refusals.choices(str(r) for r in Requester), on="requester"
        ) from None


def _still_open(request: RightsRequest) -> None:
    if request.status not in OPEN:
        raise RightsError("closed", id=request.id, status=status_words(request.status), outcome=request.outcome or "—")


def right_words(right: Right) -> dict[str, str]:
    """A right's name inside a sentence, in every language ("droit d'opposition", "right to object")."""
    return {lang: (n := rights_text.right_name(right, lang))[0].lower() + n[1:] for lang in refusals.LANGS}


def status_words(status: Status) -> dict[str, str]:
    """A request's state in words, in every language ("exécutée", "executed")."""
    return {lang: str(doctext.words(lang)["rights_desk"]["statuses"][str(status)]) for lang in refusals.LANGS}


def day(moment: datetime) -> dict[str, str]:
    """A date as each language writes it (31/12/2026, 2026-12-31)."""
    return {lang: moment.strftime(str(doctext.words(lang)["rights_desk"]["date"])) for lang in refusals.LANGS}
