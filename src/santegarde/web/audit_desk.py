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
from santegarde.web.french import PARIS, Refusal, fr_date, name
from santegarde.web.render import CSRF_FIELD, Renderer

TAG = "console"
MIN_COMMENT = 10
DEFAULT_DAYS = 61  # the review's period: two months
Csrf = Annotated[str, Form(alias=CSRF_FIELD, max_length=128)]
Text = Annotated[str, Form(max_length=200)]
OUTCOMES = {"success": "accordé", "denied": "refusé", "error": "erreur", "intent": "annoncé"}
ANOMALIES = {
    "outside_working_hours": "Accès en dehors des heures ouvrées",
    "break_the_glass": "Accès en bris de glace",
    "care_declared": "Relation de soin déclarée (à rapprocher des rendez-vous ou de l'adressage)",
    "justified_access": "Accès sur justification écrite",
    "no_care_relationship": "Accès sans relation de soin",
    "refusal": "Accès refusé",
    "volume_spike": "Volume inhabituel d'opérations dans la journée",
    "many_patients": "Nombreux patients ouverts dans la journée",
    "refusal_burst": "Série de refus rapprochés",
}


def _day(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise SearchError(f"La date {field} n'est pas une date (jj/mm/aaaa) : corrigez-la.") from None


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

    def chart(start: datetime, end: datetime) -> Any:
        counted = volumes(org.audit, start, end)
        names = {p: label for p, label in profiles()}
        names[""] = "sans profil (système)"
        return grouped_bars(
            "volumes",
            "Entrées du journal par jour et par profil",
            f"Nombre d'entrées du journal d'audit, du {start.astimezone(PARIS):%d/%m/%Y} au "
            f"{end.astimezone(PARIS):%d/%m/%Y}, pour chaque jour et chaque profil.",
            counted,
            names,
            {day: fr_date(day) for day, _ in counted},
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
            operations=operations.families("fr"),
            outcomes=OUTCOMES,
            chart=chart(now - timedelta(days=DEFAULT_DAYS), now + timedelta(seconds=1)),
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
                    _start(_day(debut, "de début")),
                    _start(_day(fin, "de fin") + timedelta(days=1)),
                    actor=acteur.strip(),
                    profile=profil.strip(),
                    operation=operation.strip(),
                    outcome=issue.strip(),
                    patient=patient.strip(),
                )
                found = search(org.audit, criteria)
            except SearchError as exc:
                message = str(exc) if str(exc).startswith("La date") else "La période se termine avant de commencer."
                return desk(request, current, 422, form=form, error=message, searched=True, results=[])
            rows = [_row(e.seq, dict(e.content), ref) for e in found.entries]
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
                    Refusal(
                        "Revue introuvable",
                        f"Il n'y a pas de revue des traces n° {number}.",
                        "Revenez au bureau d'audit et choisissez la dernière revue.",
                        404,
                    ),
                    user=gate.who(current),
                )
        start_at, end_at = (datetime.fromisoformat(t) for t in found["period"])
        anomalies = [{**a, "label": ANOMALIES.get(a["kind"], "Autre anomalie")} for a in found["anomalies"]]
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
            chart=chart(start_at.replace(tzinfo=start_at.tzinfo or UTC), end_at.replace(tzinfo=end_at.tzinfo or UTC)),
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
                message = f"Écrivez ce que vous avez vérifié et conclu, en au moins {MIN_COMMENT} caractères."
                return review_page(request, current, number, 422, failed=anomaly, comment_error=message)
            try:
                with org.audit.engine.begin() as conn:
                    listed = {a["id"] for a in trace_review.report(conn, number)["anomalies"]}
                    if anomaly not in listed:  # an anomaly of another review, through this review's page
                        raise trace_review.ReviewError(f"anomaly {anomaly} is not in review {number}")
                    trace_review.close_anomaly(conn, anomaly, current.login, commentaire, clock=org.audit.now)
            except trace_review.ReviewError:
                message = "Cette anomalie est déjà close ou n'existe pas : rechargez la revue."
                return review_page(request, current, number, 409, failed=anomaly, comment_error=message)
            return RedirectResponse(f"/audit/revue/{number}", status_code=303)

        return desk_page(renderer, gate, request, draw, keep=f"/audit/revue/{number}")

    return web


def _row(seq: int, c: dict[str, Any], ref: Any) -> dict[str, Any]:
    return {
        "seq": seq,
        "at": c.get("at"),
        "actor": c.get("actor") or "—",
        "profile": name(ref, "accessor", c.get("profile")) if c.get("profile") else "—",
        "operation": operations.name(str(c.get("operation", ""))),
        "resource": c.get("resource_type"),
        "patient": c.get("patient") or "",
        "outcome": OUTCOMES.get(str(c.get("outcome")), str(c.get("outcome"))),
        "denied": c.get("outcome") == "denied",
        "rule": c.get("rule") or "",
        "break_glass": bool(c.get("break_glass")),
    }
