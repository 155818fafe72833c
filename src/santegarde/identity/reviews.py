"""Authorisation reviews (COM-ACC-2, EDS-SEC-HAB-5): every grant re-approved, the others ended, a report kept.

A campaign runs at least yearly (and, for the warehouse, at the end of each project: then it covers
that project's grants). Starting it lists every active grant as pending; each is confirmed or
ended by a named person; closing it ends every grant still pending.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select, update

from santegarde.identity import grants
from santegarde.identity.clock import aware
from santegarde.identity.context import IdentityContext
from santegarde.identity.errors import GrantError
from santegarde.identity.tables import grant, review, review_item

REASONS = ("yearly", "project_end")
UNCONFIRMED = "review closed unconfirmed"  # who "decided" a grant the closing of its review ended


@dataclass(frozen=True)
class ReviewLine:
    grant_id: int
    login: str
    profile: str
    project: str | None
    validated_by: str
    decision: str
    decided_by: str | None


@dataclass(frozen=True)
class ReviewReport:
    id: int
    reason: str
    project: str | None
    started_by: str
    started_at: datetime
    closed_by: str | None
    closed_at: datetime | None
    lines: tuple[ReviewLine, ...]

    def count(self, decision: str) -> int:
        return sum(1 for line in self.lines if line.decision == decision)


def start(ctx: IdentityContext, *, reason: str, by: str, project: str | None = None) -> ReviewReport:
    if reason not in REASONS:
        raise GrantError("review_reason", first=REASONS[0], second=REASONS[1], reason=reason)
    if reason == "project_end" and not project:
        raise GrantError("review_project")
    now = ctx.now()
    with ctx.engine.begin() as conn:
        if conn.execute(select(review.c.id).where(review.c.closed_at.is_(None))).first():
            raise GrantError("review_open")
        review_id = conn.execute(
            insert(review).values(reason=reason, project=project, started_by=by, started_at=now).returning(review.c.id)
        ).scalar_one()
        for g in grants.all_grants_in(conn):
            if g.active(now) and (project is None or g.project == project):
                conn.execute(insert(review_item).values(review_id=review_id, grant_id=g.id, decision="pending"))
    ctx.trace("review.start", "success", actor=by, source="admin", rule="COM-ACC-2", detail=f"review {review_id}")
    return report(ctx, review_id)


def decide(ctx: IdentityContext, review_id: int, grant_id: int, *, confirm: bool, by: str) -> None:
    with ctx.engine.begin() as conn:
        _open_review(conn, review_id)
        done = conn.execute(
            update(review_item)
            .where(review_item.c.review_id == review_id, review_item.c.grant_id == grant_id)
            .values(decision="confirmed" if confirm else "ended", decided_by=by, decided_at=ctx.now())
        ).rowcount
        if not done:
            raise GrantError("not_in_review", grant=grant_id, review=review_id)
        if not confirm:
            conn.execute(
                update(grant)
                .where(grant.c.id == grant_id, grant.c.revoked_at.is_(None))
                .values(revoked_at=ctx.now(), revoked_reason=f"ended in review {review_id} by {by}")
            )
    ctx.trace(
        "review.decide",
        "success",
        actor=by,
        source="admin",
        rule="COM-ACC-2",
        detail=f"review {review_id}: grant {grant_id} {'confirmed' if confirm else 'ended'}",
    )


def close(ctx: IdentityContext, review_id: int, *, by: str) -> ReviewReport:
    """Close the campaign: every grant nobody confirmed is ended now."""
    now = ctx.now()
    with ctx.engine.begin() as conn:
        _open_review(conn, review_id)
        pending = [
            r.grant_id
            for r in conn.execute(
                select(review_item.c.grant_id).where(
                    review_item.c.review_id == review_id, review_item.c.decision == "pending"
                )
            )
        ]
        for grant_id in pending:
            conn.execute(
                update(grant)
                .where(grant.c.id == grant_id, grant.c.revoked_at.is_(None))
                .values(revoked_at=now, revoked_reason=f"not confirmed in review {review_id}")
            )
        conn.execute(
            update(review_item)
            .where(review_item.c.review_id == review_id, review_item.c.decision == "pending")
            .values(decision="ended", decided_by=UNCONFIRMED, decided_at=now)
        )
        conn.execute(update(review).where(review.c.id == review_id).values(closed_by=by, closed_at=now))
    ctx.trace(
        "review.close",
        "success",
        actor=by,
        source="admin",
        rule="COM-ACC-2",
        detail=f"review {review_id}: {len(pending)} unconfirmed grant(s) ended",
    )
    return report(ctx, review_id)


def _open_review(conn, review_id: int) -> None:  # type: ignore[no-untyped-def]
    row = conn.execute(select(review.c.closed_at).where(review.c.id == review_id)).first()
    if row is None:
        raise GrantError("no_review", review=review_id)
    if row.closed_at is not None:
        raise GrantError("review_closed", review=review_id)


def latest_id(ctx: IdentityContext) -> int | None:
    with ctx.engine.connect() as conn:
        value = conn.execute(select(func.max(review.c.id))).scalar()
    return int(value) if value is not None else None


def report(ctx: IdentityContext, review_id: int) -> ReviewReport:
    with ctx.engine.connect() as conn:
        head = conn.execute(select(review).where(review.c.id == review_id)).first()
        if head is None:
            raise GrantError("no_review", review=review_id)
        by_id = {g.id: g for g in grants.all_grants_in(conn)}
        lines = tuple(
            ReviewLine(
                r.grant_id,
                by_id[r.grant_id].login,
                by_id[r.grant_id].profile,
                by_id[r.grant_id].project,
                by_id[r.grant_id].validated_by,
                r.decision,
                r.decided_by,
            )
            for r in conn.execute(
                select(review_item).where(review_item.c.review_id == review_id).order_by(review_item.c.grant_id)
            )
        )
    return ReviewReport(
        head.id,
        head.reason,
        head.project,
        head.started_by,
        aware(head.started_at),
        head.closed_by,
        aware(head.closed_at) if head.closed_at else None,
        lines,
    )
