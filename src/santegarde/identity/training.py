"""Sensitisation and training of the persons who handle the data (AAC-SEC-SEN-1), checked at login.

Each person authorised to access the data is trained to respect professional secrecy and regularly made aware of
the risks of processing health data (référentiel 2022-106 §13.3, SEC-SEN-1). An administrator records each
training a person attended (``santegarde user training``); when the organisation sets how long a training stays
valid (``access.training_months``), a person with no training, or whose last one is older, opens no session and
is told why, with the date of the last training (sentences of ``data/refusals.yaml``). The confidentiality charter
(SEC-SEN-2) is the other half: accepted at first login and again for each new version (``sessions``).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, func, insert, select
from sqlalchemy.engine import Row

from santegarde import refusals
from santegarde.errors import WordedError
from santegarde.identity import accounts
from santegarde.identity.context import IdentityContext
from santegarde.identity.errors import LoginRefused
from santegarde.identity.tables import charter_acceptance, training

SUBJECT_MIN = 10
RULE = "AAC-SEC-SEN-1"


class TrainingError(WordedError, ValueError):
    """A training cannot be recorded as given."""


class TrainingRequired(WordedError, LoginRefused):
    """The person's training is missing or no longer valid: no session is opened."""


@dataclass(frozen=True)
class Standing:
    """What is recorded of a person's sensitisation: the last training and the charter versions accepted."""

    login: str
    last_training: date | None
    subject: str | None
    charters: tuple[tuple[str, datetime], ...]  # (version, accepted at)


def _day(day: date) -> dict[str, str]:
    return {"fr": f"{day:%d/%m/%Y}", "en": day.isoformat()}


def record(ctx: IdentityContext, login: str, trained_on: date, subject: str, *, by: str) -> None:
    """Record that ``login`` attended a training on ``trained_on`` (never in the future), covering ``subject``."""
    if len(subject.strip()) < SUBJECT_MIN:
        raise TrainingError(refusals.sentences("users", "training_subject", min=SUBJECT_MIN))
    now = ctx.now()
    if trained_on > now.date():
        raise TrainingError(refusals.sentences("users", "training_future", date=_day(trained_on)))
    with ctx.engine.begin() as conn:
        row = accounts.find(conn, login)
        if row is None:
            raise TrainingError(refusals.sentences("users", "no_account", login=login))
        conn.execute(
            insert(training).values(
                user_id=row.id, trained_on=trained_on, subject=subject.strip()[:200], recorded_by=by, recorded_at=now
            )
        )
    ctx.trace("training.record", "success", actor=by, source="admin", rule=RULE, detail=f"account {row.id}")


def last(conn: Connection, user_id: int) -> date | None:
    """The date of the person's latest training, if any."""
    found = conn.execute(select(func.max(training.c.trained_on)).where(training.c.user_id == user_id)).scalar()
    return found if isinstance(found, date) else None


def check(ctx: IdentityContext, conn: Connection, row: Row, now: datetime) -> None:
    """Refuse the session (TrainingRequired) when the organisation asks for a valid training and ``row``'s person
    has none, or only one older than the validity; does nothing when no validity is set."""
    months = ctx.settings.training_months
    if months is None:
        return
    trained = last(conn, int(row.id))
    if trained is None:
        raise TrainingRequired(refusals.sentences("session", "training_missing"))
    until = valid_until(trained, months)
    if now.date() >= until:
        facts = {"date": _day(trained), "until": _day(until), "months": months}
        raise TrainingRequired(refusals.sentences("session", "training_expired", **facts))


def valid_until(day: date, months: int) -> date:
    """The day a training of ``day`` stops being valid: the same day ``months`` later (or that month's last)."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def standing(ctx: IdentityContext, login: str) -> Standing:
    """What is recorded of ``login``'s sensitisation: the last training and every charter version accepted."""
    with ctx.engine.connect() as conn:
        row = accounts.find(conn, login)
        if row is None:
            raise TrainingError(refusals.sentences("users", "no_account", login=login))
        latest = conn.execute(
            select(training.c.trained_on, training.c.subject)
            .where(training.c.user_id == row.id)
            .order_by(training.c.trained_on.desc(), training.c.id.desc())
            .limit(1)
        ).first()
        charters = conn.execute(
            select(charter_acceptance.c.version, charter_acceptance.c.accepted_at)
            .where(charter_acceptance.c.user_id == row.id)
            .order_by(charter_acceptance.c.accepted_at)
        ).all()
    return Standing(
        row.login,
        latest.trained_on if latest else None,
        latest.subject if latest else None,
        tuple((c.version, c.accepted_at) for c in charters),
    )
