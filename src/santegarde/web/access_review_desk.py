"""The yearly review of the grants at the controller's desk (COM-ACC-2): open a campaign, confirm or end each grant
by name, close it (every grant nobody confirmed ends then), the report kept.

Everything is done by ``identity.reviews`` (``start``, ``decide``, ``close``, ``report``), as ``santegarde review``
does, and traced by it; each route passes the desk's gate (identity → policy → audit) first.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations inside router().
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from santegarde.governance import doctext
from santegarde.identity import reviews
from santegarde.identity.errors import GrantError
from santegarde.policy.desks import Desk
from santegarde.runtime import Organisation
from santegarde.web.desk_gate import DeskGate, desk_page
from santegarde.web.french import Said, labels, name
from santegarde.web.render import CSRF_FIELD, Renderer

TAG = "console"
DECISIONS = labels("console", "controller_desk", "access_review", "decisions")  # each in both languages
ACTIONS = {"confirmer": True, "retirer": False}
Csrf = Annotated[str, Form(alias=CSRF_FIELD, max_length=128)]


def both(key: str, **facts: Any) -> Said:
    """The access review page's sentence ``key`` in both languages (a template draws the page's)."""
    said = (doctext.words(lang)["console"]["controller_desk"]["access_review"][key] for lang in ("fr", "en"))
    return Said(*(str(text).format(**facts) for text in said))


def router(org: Organisation, gate: DeskGate, renderer: Renderer) -> APIRouter:
    web = APIRouter(include_in_schema=False, tags=[TAG])
    ctx = gate.identity
    ref = org.referential

    def route(method: str, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return web.api_route(path, methods=[method], response_class=HTMLResponse, tags=["reach:desk"])

    def page(request: Request, current: Any, status: int = 200, **values: Any) -> Response:
        latest = reviews.latest_id(ctx)
        found = reviews.report(ctx, latest) if latest is not None else None
        lines = [
            {
                "grant": line.grant_id,
                "login": line.login,
                "profile": name(ref, "accessor", line.profile),
                "project": line.project,
                "validated_by": line.validated_by,
                "decision": DECISIONS.get(line.decision, line.decision),
                "pending": line.decision == "pending",
                "decided_by": both("closing") if line.decided_by == reviews.UNCONFIRMED else line.decided_by,
                "own": line.login == current.login,
            }
            for line in (found.lines if found else ())
        ]
        counts = {d: found.count(d) for d in DECISIONS} if found else {}
        return renderer.page(
            request,
            "controle/habilitations.html",
            status,
            user=gate.who(current),
            review=found,
            lines=lines,
            counts=counts,
            **values,
        )

    @route("GET", "/controle/habilitations")
    def home(request: Request) -> Response:
        return desk_page(
            renderer,
            gate,
            request,
            lambda: page(request, gate.enter(request, Desk.CONTROLLER, "desk.controller.access_review")),
        )

    @route("POST", "/controle/habilitations")
    def start(request: Request, csrf: Csrf) -> Response:
        renderer.check_csrf(request, csrf)

        def draw() -> Response:
            current = gate.enter(request, Desk.CONTROLLER, "desk.controller.access_review.start")
            try:
                reviews.start(ctx, reason="yearly", by=current.login)
            except GrantError:
                return page(request, current, 409, error=both("already_open"))
            return RedirectResponse("/controle/habilitations", status_code=303)

        return desk_page(renderer, gate, request, draw, keep="/controle/habilitations")

    @route("POST", "/controle/habilitations/{number}/{grant}/{action}")
    def decide(request: Request, number: int, grant: int, action: str, csrf: Csrf) -> Response:
        renderer.check_csrf(request, csrf)

        def draw() -> Response:
            current = gate.enter(request, Desk.CONTROLLER, "desk.controller.access_review.decide", str(grant))
            if action not in ACTIONS:
                return page(request, current, 404, error=both("no_action"))
            try:
                reviews.decide(ctx, number, grant, confirm=ACTIONS[action], by=current.login)
            except GrantError:
                return page(request, current, 409, error=both("not_in_review", grant=grant, number=number))
            return RedirectResponse(f"/controle/habilitations#habilitation-{grant}", status_code=303)

        return desk_page(renderer, gate, request, draw, keep="/controle/habilitations")

    @route("POST", "/controle/habilitations/{number}/cloture")
    def close(request: Request, number: int, csrf: Csrf) -> Response:
        renderer.check_csrf(request, csrf)

        def draw() -> Response:
            current = gate.enter(request, Desk.CONTROLLER, "desk.controller.access_review.close", str(number))
            try:
                reviews.close(ctx, number, by=current.login)
            except GrantError:
                return page(request, current, 409, error=both("no_review", n=number))
            return RedirectResponse("/controle/habilitations", status_code=303)

        return desk_page(renderer, gate, request, draw, keep="/controle/habilitations")

    return web
