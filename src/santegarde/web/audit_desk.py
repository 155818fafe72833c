"""The audit desk: search the trail, verify its chain, run the two-monthly review and close its anomalies with a
signed comment (COM-LOG-4), with a chart of the entries per day and profile over the review's period.

Searches go by POST forms (no criterion, hence no patient reference, in a URL). Everything is read and written by
the audit package's own functions (``audit.search``, ``AuditTrail.verify``, ``audit.review``); each route passes
the desk's gate (identity → policy → audit) first.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations inside router().
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from santegarde.audit import operations
from santegarde.audit import review as trace_review
from santegarde.audit.search import Criteria, SearchError, search, volumes
from santegarde.policy.desks import Desk
from santegarde.runtime import Organisation
from santegarde.web.charts import grouped_bars
from santegarde.web.desk_gate import DeskGate, desk_page
from santegarde.web.french import PARIS, Refusal, Said, date_in, labels, name, told
from santegarde.web.render import CSRF_FIELD, Renderer, lang_of, say

TAG = "console"
MIN_COMMENT = 10
DEFAULT_DAYS = 61  # the review's period: two months
Csrf = Annotated[str, Form(alias=CSRF_FIELD, max_length=128)]
Text = Annotated[str, Form(max_length=200)]
OUTCOMES = labels("console", "audit_desk", "outcomes")  # an entry's outcome in the page's language
ANOMALIES = labels("console", "audit_desk", "anomaly_kinds")


def both(key: str, **facts: Any) -> Said:
    """The audit desk's phrase ``key`` in both languages (a template draws the page's)."""
    fr, en = ({k: told(v, lang) for k, v in facts.items()} for lang in ("fr", "en"))
    return Said(say("fr", f"audit_desk.{key}", **fr), say("en", f"audit_desk.{key}", **en))


class DateError(SearchError):
    """A date of the search form that is not a date; ``field`` names which (start or end)."""

    def __init__(self, field: str) -> None:
        super().__init__(f"the {field} date is not a date")
        self.field = field


def _day(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise DateError(field) from None


def _start(day: date) -> datetime:
    """Midnight of ``day`` in Paris, in UTC (the desk thinks in French days; the trail is in UTC)."""
    return datetime.combine(day, time(0), PARIS).astimezone(UTC)


def router(org: Organisation, gate: DeskGate, renderer: Renderer) -> APIRouter:
    web = APIRouter(include_in_schema=False, tags=[TAG])
    ref = org.referential

    def route(method: str, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return web.api_route(path, methods=[method], response_class=HTMLResponse, tags=["reach:desk"])

    def state() -> dict[str, Any]:
        with org.audit.engine.connect() as conn:
            return {"review": trace_review.status(conn, clock=org.audit.now)}

    def profiles() -> list[tuple[str, str]]:
        return [(a.id, name(ref, "accessor", a.id)) for a in ref.accessors]

    def chart(start: datetime, end: datetime, lang: str) -> Any:
        counted = volumes(org.audit, start, end)
        names = {p: told(label, lang) for p, label in profiles()}
        names[""] = say(lang, "audit_desk.no_profile")
        return grouped_bars(
            "volumes",
            say(lang, "audit_desk.chart_title"),
            say(
                lang,
                "audit_desk.chart_desc",
                start=f"{start.astimezone(PARIS):%d/%m/%Y}",
                end=f"{end.astimezone(PARIS):%d/%m/%Y}",
            ),
            counted,
            names,
            {day: date_in(day, lang) for day, _ in counted},
        )

    def desk(request: Request, current: Any, status: int = 200, **values: Any) -> Response:
        now = org.audit.now()
        today = now.astimezone(PARIS).date()
        values.setdefault(
            "form",
            {"debut": (today - timedelta(days=DEFAULT_DAYS)).isoformat(), "fin": today.isoformat()},
        )
        return renderer.page(
            request,
            "audit/bureau.html",
            status,
            user=gate.who(current),
            profiles=profiles(),
            operations=operations.families(lang_of(request)),
            outcomes=OUTCOMES,
            chart=chart(now - timedelta(days=DEFAULT_DAYS), now + timedelta(seconds=1), lang_of(request)),
            **state(),
            **values,
        )

    @route("GET", "/audit")
    def home(request: Request) -> Response:
        return desk_page(
            renderer, gate, request, lambda: desk(request, gate.enter(request, Desk.AUDIT, "desk.audit.open"))
        )

    @route("POST", "/audit/recherche")
    def find(
        request: Request,
        csrf: Csrf,
        debut: Text = "",
        fin: Text = "",
        acteur: Text = "",
        profil: Text = "",
        operation: Text = "",
        issue: Text = "",
        patient: Text = "",
    ) -> Response:
        renderer.check_csrf(request, csrf)
        form = {
            "debut": debut,
            "fin": fin,
            "acteur": acteur,
            "profil": profil,
            "operation": operation,
            "issue": issue,
            "patient": patient,
        }

        def draw() -> Response:
            current = gate.enter(request, Desk.AUDIT, "desk.audit.search")
            try:
                criteria = Criteria(
                    _start(_day(debut, "start")),
                    _start(_day(fin, "end") + timedelta(days=1)),
                    actor=acteur.strip(),
                    profile=profil.strip(),
                    operation=operation.strip(),
                    outcome=issue.strip(),
                    patient=patient.strip(),
                )
                found = search(org.audit, criteria)
            except DateError as exc:
                message = both("bad_date", field=both(f"{exc.field}_field"))
                return desk(request, current, 422, form=form, error=message, searched=True, results=[])
            except SearchError:
                return desk(request, current, 422, form=form, error=both("period_reversed"), searched=True, results=[])
            rows = [_row(e.seq, dict(e.content), ref, lang_of(request)) for e in found.entries]
            return desk(request, current, form=form, searched=True, results=rows, more=found.more)

        return desk_page(renderer, gate, request, draw, keep="/audit")

    @route("POST", "/audit/verification")
    def verify(request: Request, csrf: Csrf) -> Response:
        renderer.check_csrf(request, csrf)

        def draw() -> Response:
            current = gate.enter(request, Desk.AUDIT, "desk.audit.verify")
            result = org.audit.verify()
            return desk(request, current, verified=result)

        return desk_page(renderer, gate, request, draw, keep="/audit")

    @route("POST", "/audit/revue")
    def start(request: Request, csrf: Csrf) -> Response:
        renderer.check_csrf(request, csrf)

        def draw() -> Response:
            current = gate.enter(request, Desk.AUDIT, "desk.audit.review.start")
            number = trace_review.start_review(org.audit, current.login, clock=org.audit.now)
            return RedirectResponse(f"/audit/revue/{number}", status_code=303)

        return desk_page(renderer, gate, request, draw, keep="/audit")

    def review_page(request: Request, current: Any, number: int, status: int = 200, **values: Any) -> Response:
        with org.audit.engine.connect() as conn:
            try:
                found = trace_review.report(conn, number)
            except trace_review.ReviewError:
                return renderer.refused(
                    request,
                    Refusal(both("no_review_title"), both("no_review", n=number), both("no_review_todo"), 404),
                    user=gate.who(current),
                )
        start_at, end_at = (datetime.fromisoformat(t) for t in found["period"])
        anomalies = [{**a, "label": ANOMALIES.get(a["kind"], ANOMALIES["other"])} for a in found["anomalies"]]
        return renderer.page(
            request,
            "audit/revue.html",
            status,
            user=gate.who(current),
            review=found,
            start=start_at,
            end=end_at,
            anomalies=anomalies,
            open_count=sum(1 for a in anomalies if a["status"] == "open"),
            minimum=MIN_COMMENT,
            chart=chart(
                start_at.replace(tzinfo=start_at.tzinfo or UTC),
                end_at.replace(tzinfo=end_at.tzinfo or UTC),
                lang_of(request),
            ),
            **values,
        )

    @route("GET", "/audit/revue/{number}")
    def review(request: Request, number: int) -> Response:
        def draw() -> Response:
            return review_page(request, gate.enter(request, Desk.AUDIT, "desk.audit.review.read", str(number)), number)

        return desk_page(renderer, gate, request, draw)

    @route("POST", "/audit/revue/{number}/anomalies/{anomaly}")
    def close(
        request: Request,
        number: int,
        anomaly: int,
        csrf: Csrf,
        commentaire: Annotated[str, Form(max_length=2000)] = "",
    ) -> Response:
        renderer.check_csrf(request, csrf)

        def draw() -> Response:
            current = gate.enter(request, Desk.AUDIT, "desk.audit.anomaly.close", str(anomaly))
            if len(commentaire.strip()) < MIN_COMMENT:
                message = both("comment_short", min=MIN_COMMENT)
                return review_page(request, current, number, 422, failed=anomaly, comment_error=message)
            try:
                with org.audit.engine.begin() as conn:
                    listed = {a["id"] for a in trace_review.report(conn, number)["anomalies"]}
                    if anomaly not in listed:  # an anomaly of another review, through this review's page
                        raise trace_review.ReviewError(f"anomaly {anomaly} is not in review {number}")
                    trace_review.close_anomaly(conn, anomaly, current.login, commentaire, clock=org.audit.now)
            except trace_review.ReviewError:
                message = both("already_closed")
                return review_page(request, current, number, 409, failed=anomaly, comment_error=message)
            return RedirectResponse(f"/audit/revue/{number}", status_code=303)

        return desk_page(renderer, gate, request, draw, keep=f"/audit/revue/{number}")

    return web


def _row(seq: int, c: dict[str, Any], ref: Any, lang: str) -> dict[str, Any]:
    return {
        "seq": seq,
        "at": c.get("at"),
        "actor": c.get("actor") or "—",
        "profile": name(ref, "accessor", c.get("profile")) if c.get("profile") else "—",
        "operation": operations.name(str(c.get("operation", "")), lang),
        "resource": c.get("resource_type"),
        "patient": c.get("patient") or "",
        "outcome": OUTCOMES.get(str(c.get("outcome")), str(c.get("outcome"))),  # a Said: the page's language
        "denied": c.get("outcome") == "denied",
        "rule": c.get("rule") or "",
        "break_glass": bool(c.get("break_glass")),
        "justification": c.get("justification"),  # its written reason, read at /audit/justifications (traced)
    }
