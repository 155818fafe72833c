"""Review of the traces (COM-LOG-4, AAC-SEC-JOU-4): find anomalies, let an operator close each one.

The detectors read only the trail's references. Thresholds come from ``ReviewRules`` (defaults
documented there); a review covers a period, records what it found, and is closed when every
anomaly has been closed with a comment. A warning is due when the last review is older than two
months.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from santegarde.audit.chain import Entry
from santegarde.audit.tables import anomaly, review
from santegarde.audit.trail import AuditTrail, Clock, utc_now
from santegarde.errors import SantegardeError

REVIEW_INTERVAL = timedelta(days=61)  # "at least every two months"


@dataclass(frozen=True, slots=True)
class ReviewRules:
    working_hours: tuple[int, int] = (7, 20)  # local hours in which access is ordinary
    working_days: frozenset[int] = frozenset(range(5))  # Monday..Friday
    daily_volume: int = 200  # reads by one person in one day above which it is a spike
    patients_per_day: int = 40  # distinct patients opened by one person in one day
    refusal_burst: int = 5  # refusals by one person ...
    refusal_window: timedelta = timedelta(minutes=10)  # ... within this window


@dataclass(frozen=True, slots=True)
class Anomaly:
    kind: str
    actor: str
    detail: str
    first_seq: int


class ReviewError(SantegardeError):
    pass


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes for timezone-aware columns; they were written in UTC."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def detect(entries: Iterable[Entry], rules: ReviewRules = ReviewRules()) -> list[Anomaly]:
    found: list[Anomaly] = []
    per_day: dict[tuple[str, str], list[Entry]] = defaultdict(list)
    refusals: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    for e in entries:
        c: Mapping[str, Any] = e.content
        at = datetime.fromisoformat(c["at"])
        actor = c["actor"]
        start, end = rules.working_hours
        if at.weekday() not in rules.working_days or not start <= at.hour < end:
            found.append(
                Anomaly(
                    "outside_working_hours",
                    actor,
                    f"{c['operation']} of {c['resource_type']}/{c['resource_id']} at {at:%Y-%m-%d %H:%M}",
                    e.seq,
                )
            )
        if c.get("break_glass"):
            why = f" (reason no. {c['justification']})" if c.get("justification") else ""
            found.append(
                Anomaly(
                    "break_the_glass", actor, f"emergency access to {c['resource_type']}/{c['resource_id']}{why}", e.seq
                )
            )
        if c["operation"] == "care.declare" and c.get("allowed"):
            found.append(
                Anomaly(
                    "care_declared",
                    actor,
                    f"care relationship declared with patient {c.get('patient') or c['resource_id']} "
                    f"({str(c['rule']).rsplit('.', 1)[-1]}): check it against the appointment book or the referral",
                    e.seq,
                )
            )
        if c.get("justification") and not c.get("break_glass"):
            found.append(
                Anomaly(
                    "justified_access",
                    actor,
                    f"{c['operation']} of {c['resource_type']}/{c['resource_id']} on a written justification "
                    f"(no. {c['justification']}): read it with santegarde audit justification {c['justification']}",
                    e.seq,
                )
            )
        if c.get("care_relationship") is False and c.get("allowed"):
            found.append(
                Anomaly(
                    "no_care_relationship",
                    actor,
                    f"access to patient {c.get('patient') or c['resource_id']} without a care relationship",
                    e.seq,
                )
            )
        if not c.get("allowed"):
            refusals[actor].append((at, e.seq))
        per_day[(actor, at.date().isoformat())].append(e)
    for (actor, day), items in sorted(per_day.items()):
        if len(items) > rules.daily_volume:
            found.append(Anomaly("volume_spike", actor, f"{len(items)} operations on {day}", items[0].seq))
        patients = {i.content.get("patient") for i in items if i.content.get("patient")}
        if len(patients) > rules.patients_per_day:
            found.append(Anomaly("many_patients", actor, f"{len(patients)} patients opened on {day}", items[0].seq))
    for actor, times in sorted(refusals.items()):
        start_index = 0
        for end_index in range(len(times)):
            while times[end_index][0] - times[start_index][0] > rules.refusal_window:
                start_index += 1
            if end_index - start_index + 1 == rules.refusal_burst:
                found.append(
                    Anomaly(
                        "refusal_burst",
                        actor,
                        f"{rules.refusal_burst} refusals within {rules.refusal_window}",
                        times[start_index][1],
                    )
                )
    return sorted(found, key=lambda a: (a.first_seq, a.kind))


def start_review(
    trail: AuditTrail,
    reviewer: str,
    since: datetime | None = None,
    *,
    rules: ReviewRules = ReviewRules(),
    clock: Clock = utc_now,
) -> int:
    """Run the detectors over the trail since ``since`` (default: the end of the last review)."""
    now = clock()
    with trail.engine.begin() as conn:
        last_end = _aware(conn.execute(select(func.max(review.c.period_end))).scalar())
        start = since or last_end or datetime.fromtimestamp(0, UTC)
        entries = [e for e in trail.entries(conn) if start <= datetime.fromisoformat(e.content["at"]) < now]
        review_id = int(
            conn.execute(
                insert(review)
                .values(started_at=now, period_start=start, period_end=now, reviewer=reviewer, entries=len(entries))
                .returning(review.c.id)
            ).scalar_one()
        )
        for a in detect(entries, rules):
            conn.execute(
                insert(anomaly).values(
                    review_id=review_id,
                    kind=a.kind,
                    actor=a.actor,
                    detail=a.detail,
                    first_seq=a.first_seq,
                    status="open",
                )
            )
    return review_id


def close_anomaly(conn: Connection, anomaly_id: int, operator: str, comment: str, *, clock: Clock = utc_now) -> None:
    if not comment.strip():
        raise ReviewError("closing an anomaly needs a comment saying what was checked and concluded")
    done = conn.execute(
        update(anomaly)
        .where(anomaly.c.id == anomaly_id, anomaly.c.status == "open")
        .values(status="closed", closed_by=operator, comment=comment.strip(), closed_at=clock())
    )
    if done.rowcount != 1:
        raise ReviewError(f"there is no open anomaly {anomaly_id}")
    review_id = conn.execute(select(anomaly.c.review_id).where(anomaly.c.id == anomaly_id)).scalar_one()
    still_open = conn.execute(
        select(func.count()).select_from(anomaly).where(anomaly.c.review_id == review_id, anomaly.c.status == "open")
    ).scalar_one()
    if not still_open:
        conn.execute(update(review).where(review.c.id == review_id).values(closed_at=clock()))


def report(conn: Connection, review_id: int) -> dict[str, Any]:
    row = conn.execute(select(review).where(review.c.id == review_id)).first()
    if row is None:
        raise ReviewError(f"there is no review {review_id}")
    items = conn.execute(select(anomaly).where(anomaly.c.review_id == review_id).order_by(anomaly.c.id)).all()
    return {
        "review": review_id,
        "reviewer": row.reviewer,
        "period": [row.period_start.isoformat(), row.period_end.isoformat()],
        "entries": row.entries,
        "closed": row.closed_at is not None,
        "by_kind": dict(Counter(i.kind for i in items)),
        "anomalies": [
            {
                "id": i.id,
                "kind": i.kind,
                "actor": i.actor,
                "detail": i.detail,
                "status": i.status,
                "comment": i.comment,
                "first_seq": i.first_seq,
                "closed_by": i.closed_by,
            }
            for i in items
        ],
    }


@dataclass(frozen=True, slots=True)
class ReviewStatus:
    """The last review of the traces and whether one is due (none in the last two months)."""

    last_id: int | None
    last_started: datetime | None
    last_closed: bool
    due: bool


def status(conn: Connection, *, clock: Clock = utc_now) -> ReviewStatus:
    row = conn.execute(select(review).order_by(review.c.started_at.desc(), review.c.id.desc()).limit(1)).first()
    if row is None:
        return ReviewStatus(None, None, False, True)
    started = _aware(row.started_at)
    assert started is not None
    return ReviewStatus(row.id, started, row.closed_at is not None, clock() - started > REVIEW_INTERVAL)


def overdue_warning(conn: Connection, *, clock: Clock = utc_now) -> str | None:
    """A sentence when no review ran in the last two months, else None."""
    found = status(conn, clock=clock)
    last = found.last_started
    if last is None:
        return "No review of the traces has ever been run; run 'santegarde audit review' (at least every two months)."
    if found.due:
        return (
            f"The last review of the traces was on {last:%Y-%m-%d}, more than two months ago; "
            "run 'santegarde audit review'."
        )
    return None


def to_json(data: Mapping[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2)
