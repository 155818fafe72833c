"""The warehouse's export queue at the console (EDS-6, EDS-SEC-EXP-1 to 5): every request with its status, the
quarantined ones with the criteria they failed; a request's page shows its measured k, l, t and anonymeter risks,
its equivalence-class size histogram and risk bars, or an indicator's cells with the suppressed ones marked; an
export reviewer measures a new request, releases or rejects it with a written decision.

Everything is done by the export gate's own functions, with the session's login as the manager, as
``santegarde warehouse export check|release|review|reject|training`` do: the gate refuses (and traces) a manager who
is not empowered (no active ``export_reviewer`` grant), not trained for a quarantined export, or who requested the
export; the page shows that refusal in the page's language. Each route passes the desk's gate first.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations inside router().
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from santegarde.errors import SantegardeError, WordedError
from santegarde.policy.desks import Desk, decide_desk
from santegarde.warehouse.anonymity.indicators import TOTAL, Indicator
from santegarde.warehouse.gate import (
    AWAITING,
    MIN_RISK_STUDY,
    QUARANTINED,
    REQUESTED,
    TRAINING_RULE,
    Criterion,
    StoredRequest,
    criterion_name,
    criterion_text,
    export_words,
    number,
    purpose_name,
)
from santegarde.web.charts import Chart, Measured, grouped_bars, limit_bars
from santegarde.web.desk_gate import DeskGate, desk_page
from santegarde.web.french import Refusal, Said
from santegarde.web.render import CSRF_FIELD, Renderer, lang_of, say
from santegarde.web.warehouse_place import WarehousePlace

TAG = "console"
RISKS = ("singling_out", "linkability", "inference")
# Class sizes grouped for the histogram: (smallest size, largest size or None).
SIZE_BUCKETS = ((1, 1), (2, 2), (3, 4), (5, 9), (10, 19), (20, 49), (50, 99), (100, None))
# The rule a gate's refusal applies (as the gate traces it); the others are the manager's (EDS-SEC-EXP-2).
RULES = {"not_trained": "EDS-SEC-EXP-3", "no_risk_study": "EDS-SEC-EXP-1", "data_changed": "EDS-SEC-EXP-1"}
Csrf = Annotated[str, Form(alias=CSRF_FIELD, max_length=128)]
Long = Annotated[str, Form(max_length=20000)]
Short = Annotated[str, Form(max_length=200)]


def said_error(exc: SantegardeError) -> Said:
    """A warehouse refusal in both languages: its own sentences when it is worded in both (the gate's), else its
    English sentence framed in French (the governance, workspace and objection services word theirs in English)."""
    if isinstance(exc, WordedError):
        return Said(exc.in_language("fr"), exc.in_language("en"))
    return Said(say("fr", "warehouse_desk.service_said", message=str(exc)), str(exc))


def refused(exc: SantegardeError, status: int = 409) -> Refusal:
    """A refusal of the warehouse, in both languages, with what to do."""
    what = said_error(exc)
    todo = Said(say("fr", "warehouse_desk.refused_todo"), say("en", "warehouse_desk.refused_todo"))
    title = Said(say("fr", "warehouse_desk.refused"), say("en", "warehouse_desk.refused"))
    return Refusal(title, what, todo, status, RULES.get(getattr(exc, "key", ""), "EDS-SEC-EXP-2"))


def failed(stored: StoredRequest, lang: str) -> list[str]:
    """The criteria a request failed, by their names in ``lang`` (the reason it is quarantined)."""
    return [criterion_name(c.name, lang) for c in stored.criteria if not c.passed]


def queue_rows(stored: list[StoredRequest], lang: str) -> list[dict[str, Any]]:
    t = export_words(lang)
    return [
        {
            "id": s.id,
            "kind": t["kinds"].get(s.request.kind, s.request.kind),
            "purpose": purpose_name(s.request.purpose, lang),
            "project": s.request.project,
            "by": s.request.requested_by,
            "recipient": s.request.recipient,
            "at": s.created_at,
            "status": s.status,
            "status_text": t["statuses"].get(s.status, s.status),
            "failed": failed(s, lang),
        }
        for s in reversed(stored)
    ]


def criterion_rows(stored: StoredRequest, lang: str) -> list[dict[str, Any]]:
    return [
        {
            "name": criterion_name(c.name, lang),
            "value": "—" if c.value is None else number(c.value, lang),
            "threshold": "—" if c.threshold is None else f"{c.comparison} {number(c.threshold, lang)}",
            "passed": c.passed,
            "detail": criterion_text(c, lang),
        }
        for c in stored.criteria
    ]


def bucket_label(low: int, high: int | None, lang: str) -> str:
    if high is None:
        return say(lang, "warehouse_desk.size_from", low=low)
    if low == high:
        return say(lang, "warehouse_desk.size_one", n=low)
    return say(lang, "warehouse_desk.size_range", low=low, high=high)


def histogram(stored: StoredRequest, lang: str) -> Chart | None:
    """The equivalence classes by size (in persons), grouped; ``None`` for a request measured without it."""
    k = next((c for c in stored.criteria if c.name == "k"), None)
    pairs = (k.facts.get("histogram") if k is not None else None) or []
    if not pairs:
        return None
    counted: dict[tuple[str, str], int] = {}
    names: dict[str, str] = {}
    for low, high in SIZE_BUCKETS:
        n = sum(c for size, c in pairs if size >= low and (high is None or size <= high))
        if n:
            key = f"{low:06d}"
            counted[(key, "classes")] = n
            names[key] = bucket_label(low, high, lang)
    threshold = "—" if k is None or k.threshold is None else number(k.threshold, lang)
    return grouped_bars(
        f"classes-{stored.id}",
        say(lang, "warehouse_desk.histogram_title"),
        say(lang, "warehouse_desk.histogram_desc", k=threshold),
        counted,
        {"classes": say(lang, "warehouse_desk.classes")},
        names,
    )


def percent(value: float, lang: str) -> str:
    text = f"{value * 100:.1f}".rstrip("0").rstrip(".")
    return f"{text.replace('.', ',')} %" if lang == "fr" else f"{text}%"


def risk_bars(stored: StoredRequest, lang: str) -> Chart | None:
    """The anonymeter risks, each against its maximum."""
    measured = [c for c in stored.criteria if c.name in RISKS and c.value is not None]
    if not measured:
        return None
    bars = [
        Measured(
            criterion_name(c.name, lang),
            float(c.value or 0),
            c.threshold,
            percent(float(c.value or 0), lang),
            "—" if c.threshold is None else percent(c.threshold, lang),
            not c.passed,
        )
        for c in measured
    ]
    words = {k: say(lang, f"warehouse_desk.risk_{k}") for k in ("line", "over", "under")}
    return limit_bars(
        f"risques-{stored.id}",
        say(lang, "warehouse_desk.risks_title"),
        say(lang, "warehouse_desk.risks_desc"),
        bars,
        words,
    )


def indicator_rows(result: Indicator, lang: str) -> list[dict[str, Any]]:
    total = say(lang, "warehouse_desk.total")
    return [
        {
            "key": [total if v is TOTAL else "—" if v is None else str(v) for v in cell.key],
            "count": None if cell.count is None else number(cell.count, lang),
            "suppressed": cell.suppressed,
            "reason": cell.reason or "",
        }
        for cell in result.cells
    ]


def k_criterion(stored: StoredRequest) -> Criterion | None:
    return next((c for c in stored.criteria if c.name == "k"), None)


def router(place: WarehousePlace, gate: DeskGate, renderer: Renderer) -> APIRouter:
    web = APIRouter(include_in_schema=False, tags=[TAG])

    def route(method: str, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return web.api_route(path, methods=[method], response_class=HTMLResponse, tags=["reach:desk"])

    def queue(request: Request, current: Any, status: int = 200, **values: Any) -> Response:
        lang = lang_of(request)
        found = place.gate().requests()
        values.setdefault("training", {"login": "", "date": "", "subject": ""})
        return renderer.page(
            request,
            "entrepot/exports.html",
            status,
            user=gate.who(current),
            rows=queue_rows(found, lang),
            quarantined=sum(1 for s in found if s.status == QUARANTINED),
            **values,
        )

    def detail(request: Request, current: Any, request_id: int, status: int = 200, **values: Any) -> Response:
        lang = lang_of(request)
        exports = place.gate()
        try:
            stored = exports.get(request_id)
        except WordedError as exc:
            return renderer.refused(request, refused(exc, 404), user=gate.who(current))
        t = export_words(lang)
        cells = None
        if stored.request.kind == "indicator" and stored.status in (AWAITING, QUARANTINED):
            try:
                with place.source() as conn:
                    cells = indicator_rows(exports.indicator(request_id, conn), lang)
            except WordedError as exc:
                values.setdefault("error", said_error(exc))
        values.setdefault("form", {"decision": "", "text": ""})
        values.setdefault("errors", {})
        return renderer.page(
            request,
            "entrepot/export.html",
            status,
            user=gate.who(current),
            stored=stored,
            kind=t["kinds"].get(stored.request.kind, stored.request.kind),
            purpose=purpose_name(stored.request.purpose, lang),
            status_text=t["statuses"].get(stored.status, stored.status),
            decision_text=t["decisions"].get(stored.status, "").format(manager=t["a_manager"]),
            criteria=criterion_rows(stored, lang),
            failed=failed(stored, lang),
            histogram=histogram(stored, lang),
            risks=risk_bars(stored, lang),
            cells=cells,
            dimensions=stored.request.indicator.dimensions if stored.request.indicator else (),
            decisions=exports.decisions(request_id),
            alerts=[a for a in exports.alerts() if a.request_id == request_id],
            proposal=stored.proposal,
            decidable=stored.status in (AWAITING, QUARANTINED),
            measurable=stored.status == REQUESTED,
            minimum=MIN_RISK_STUDY,
            **values,
        )

    @route("GET", "/entrepot/exports")
    def exports_page(request: Request) -> Response:
        return desk_page(
            renderer,
            gate,
            request,
            lambda: queue(request, gate.enter(request, Desk.WAREHOUSE, "desk.warehouse.exports")),
        )

    @route("GET", "/entrepot/exports/{request_id}")
    def export_page(request: Request, request_id: int) -> Response:
        def draw() -> Response:
            current = gate.enter(request, Desk.WAREHOUSE, "desk.warehouse.export", str(request_id))
            return detail(request, current, request_id)

        return desk_page(renderer, gate, request, draw)

    @route("POST", "/entrepot/exports/{request_id}/mesure")
    def measure(request: Request, request_id: int, csrf: Csrf) -> Response:
        renderer.check_csrf(request, csrf)

        def draw() -> Response:
            current = gate.enter(request, Desk.WAREHOUSE, "desk.warehouse.export.check", str(request_id))
            try:
                with place.source() as conn:
                    place.gate().check(request_id, conn)
            except WordedError as exc:
                return renderer.refused(request, refused(exc), user=gate.who(current))
            return RedirectResponse(f"/entrepot/exports/{request_id}", status_code=303)

        return desk_page(renderer, gate, request, draw, keep=f"/entrepot/exports/{request_id}")

    @route("POST", "/entrepot/exports/{request_id}/decision")
    def decide(request: Request, request_id: int, csrf: Csrf, decision: Short = "", texte: Long = "") -> Response:
        renderer.check_csrf(request, csrf)

        def draw() -> Response:
            current = gate.enter(request, Desk.WAREHOUSE, "desk.warehouse.export.decide", str(request_id))
            lang = lang_of(request)
            exports = place.gate()
            form = {"decision": decision, "text": texte}
            try:
                stored = exports.get(request_id)
            except WordedError as exc:
                return renderer.refused(request, refused(exc, 404), user=gate.who(current))
            errors = decision_errors(decision, texte, stored, lang)
            if errors:
                return detail(request, current, request_id, 422, form=form, errors=errors)
            try:
                if decision == "reject" and stored.status == QUARANTINED:
                    exports.review_quarantined(request_id, current.login, "reject", texte, lang=lang)
                elif decision == "reject":
                    exports.reject(request_id, current.login, texte)
                else:
                    with place.source() as conn:
                        if stored.status == QUARANTINED:
                            exports.review_quarantined(request_id, current.login, "release", texte, conn, lang=lang)
                        else:
                            exports.validate(request_id, current.login, conn, lang=lang)
            except WordedError as exc:
                return renderer.refused(request, refused(exc, 403), user=gate.who(current))
            return RedirectResponse(f"/entrepot/exports/{request_id}", status_code=303)

        return desk_page(renderer, gate, request, draw, keep=f"/entrepot/exports/{request_id}")

    @route("POST", "/entrepot/formations")
    def training(
        request: Request, csrf: Csrf, login: Short = "", date_formation: Short = "", sujet: Long = ""
    ) -> Response:
        renderer.check_csrf(request, csrf)

        def draw() -> Response:
            current = gate.enter(request, Desk.WAREHOUSE, "desk.warehouse.training")
            lang = lang_of(request)
            form = {"login": login, "date": date_formation, "subject": sujet}
            own = login.strip().lower() == current.login.strip().lower()
            if own or not decide_desk(gate.ref, Desk.CONTROLLER, current.profile).allowed:
                # a manager's training is attested by the controller's side, never by the manager (EDS-SEC-EXP-3)
                gate.record(request, current, "desk.warehouse.training", "export", login[:60], TRAINING_RULE,
                            allowed=False)  # fmt: skip
                error = say(lang, "warehouse_desk.training_own" if own else "warehouse_desk.training_controller")
                return queue(request, current, 403, training=form, training_error=error)
            try:
                day = date.fromisoformat(date_formation.strip())
            except ValueError:
                return queue(request, current, 422, training=form, training_error=say(lang, "warehouse_desk.bad_date"))
            try:
                place.gate().record_training_as(
                    login, day, sujet, by=current.login, profile=current.profile, referential=gate.ref
                )
            except WordedError as exc:
                return queue(request, current, 422, training=form, training_error=said_error(exc))
            return queue(request, current, message=say(lang, "warehouse_desk.trained", login=login.strip().lower()))

        return desk_page(renderer, gate, request, draw, keep="/entrepot/exports")

    return web


def decision_errors(decision: str, text: str, stored: StoredRequest, lang: str) -> dict[str, str]:
    """The decision form's mistakes, in the page's language, before the gate is asked."""
    errors: dict[str, str] = {}
    if decision not in ("release", "reject"):
        errors["decision"] = say(lang, "warehouse_desk.choose_decision")
    elif decision == "reject" and not text.strip():
        errors["text"] = say(lang, "warehouse_desk.reason_needed")
    elif decision == "release" and stored.status == QUARANTINED and len(text.strip()) < MIN_RISK_STUDY:
        errors["text"] = say(lang, "warehouse_desk.risk_study_needed", min=MIN_RISK_STUDY)
    return errors
