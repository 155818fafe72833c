"""The breach register at the controller's desk (COM-BRE-1): every breach with its 72-hour clock, and the form that
documents a new one, checked field by field (in the page's language) before ``governance.breaches.record``
(which checks again).

Each route passes the desk's gate (identity → policy → audit); a breach recorded here is traced as ``breach.add``,
as ``santegarde breach add`` traces it.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations inside router().
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from santegarde.governance import breaches, doctext
from santegarde.governance.breaches import BreachError
from santegarde.policy.desks import Desk
from santegarde.runtime import Organisation
from santegarde.web.desk_gate import DeskGate, desk_page
from santegarde.web.french import PARIS, labels, name
from santegarde.web.render import CSRF_FIELD, Renderer, lang_of

TAG = "console"
NATURES = labels("console", "controller_desk", "breaches", "natures")  # each in both languages
REPORTERS = labels("console", "controller_desk", "breaches", "reporters")
Csrf = Annotated[str, Form(alias=CSRF_FIELD, max_length=128)]
Long = Annotated[str, Form(max_length=4000)]
Short = Annotated[str, Form(max_length=200)]


def form_errors(form: dict[str, Any], now: datetime, lang: str = "fr") -> dict[str, str]:
    """The form's mistakes, field by field, in ``lang``."""
    said: dict[str, str] = doctext.words(lang)["console"]["controller_desk"]["breaches"]["errors"]
    wrong = [key for key in ("description", "consequences", "mesures") if len(form[key].strip()) < breaches.MIN_TEXT]
    if not form["nature"] or any(n not in NATURES for n in form["nature"]):
        wrong.append("nature")
    if not form["categories"]:
        wrong.append("categories")
    if not form["personnes"].strip():
        wrong.append("personnes")
    if form["signalee_par"] not in REPORTERS:
        wrong.append("signalee_par")
    elif form["signalee_par"] == "processor" and not form["sous_traitant"].strip():
        wrong.append("sous_traitant")
    errors = {key: said[key].format(n=breaches.MIN_TEXT) for key in wrong}
    try:
        if discovered(form["constatee"], now) > now:
            errors["constatee"] = said["future"]
    except ValueError:
        errors["constatee"] = said["constatee"]
    if form["nombre"].strip() and not (form["nombre"].strip().isdigit()):
        errors["nombre"] = said["nombre"]
    return errors


def discovered(text: str, now: datetime) -> datetime:
    """The moment written in the form (Paris time), or now when left empty."""
    if not text.strip():
        return now
    return datetime.fromisoformat(text.strip()).replace(tzinfo=PARIS)


def router(org: Organisation, gate: DeskGate, renderer: Renderer) -> APIRouter:
    web = APIRouter(include_in_schema=False, tags=[TAG])
    ref = org.referential

    def route(method: str, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return web.api_route(path, methods=[method], response_class=HTMLResponse, tags=["reach:desk"])

    def listing(request: Request, current: Any, status: int = 200, **values: Any) -> Response:
        now, lang = org.audit.now(), lang_of(request)
        short = doctext.words(lang)["console"]["controller_desk"]["breaches"]["natures_short"]
        rows = [
            {
                "id": b.id,
                "discovered": b.discovered_at,
                "natures": [short[n] for n in b.nature if n in short],
                "clock": breaches.clock_status(b, clock=lambda: now, lang=lang),
            }
            for b in reversed(breaches.entries(org.engine))
        ]
        values.setdefault("form", {"nature": [], "categories": [], "signalee_par": "staff"})
        values.setdefault("errors", {})
        return renderer.page(
            request,
            "controle/violations.html",
            status,
            user=gate.who(current),
            rows=rows,
            natures=NATURES,
            reporters=REPORTERS,
            categories=[(c.id, name(ref, "category", c.id)) for c in ref.categories if not c.forbidden],
            **values,
        )

    @route("GET", "/controle/violations")
    def register(request: Request) -> Response:
        return desk_page(
            renderer,
            gate,
            request,
            lambda: listing(request, gate.enter(request, Desk.CONTROLLER, "desk.controller.breaches")),
        )

    @route("POST", "/controle/violations")
    async def add(request: Request) -> Response:
        sent = await request.form()
        renderer.check_csrf(request, str(sent.get(CSRF_FIELD, "")))
        known = {c.id for c in ref.categories}
        form: dict[str, Any] = {
            key: str(sent.get(key, ""))[:4000]
            for key in (
                "description",
                "consequences",
                "mesures",
                "prevues",
                "personnes",
                "constatee",
                "signalee_par",
                "sous_traitant",
                "nombre",
            )
        }
        form["nature"] = [str(n) for n in sent.getlist("nature")][:3]
        form["categories"] = [str(c) for c in sent.getlist("categories") if str(c) in known]

        def draw() -> Response:
            current = gate.enter(request, Desk.CONTROLLER, "desk.controller.breach.add")
            now = org.audit.now()
            errors = form_errors(form, now, lang_of(request))
            if errors:
                return listing(request, current, 422, form=form, errors=errors)
            try:
                breach = breaches.record(
                    org.engine,
                    nature=form["nature"],
                    description=form["description"],
                    data_categories=form["categories"],
                    person_categories=[p.strip() for p in form["personnes"].split(",") if p.strip()],
                    likely_consequences=form["consequences"],
                    measures_taken=form["mesures"],
                    measures_planned=form["prevues"],
                    approx_persons=int(form["nombre"]) if form["nombre"].strip() else None,
                    discovered_at=discovered(form["constatee"], now),
                    reported_by=form["signalee_par"],
                    processor_name=form["sous_traitant"].strip() or None,
                    recorded_by=current.login,
                    clock=lambda: now,
                )
            except BreachError as exc:
                return listing(request, current, 422, form=form, errors={}, error=exc.in_language(lang_of(request)))
            gate.record(request, current, "breach.add", "Breach", str(breach.id), "COM-BRE-1")
            return RedirectResponse(f"/controle/violations#violation-{breach.id}", status_code=303)

        return desk_page(renderer, gate, request, draw, keep="/controle/violations")

    return web
