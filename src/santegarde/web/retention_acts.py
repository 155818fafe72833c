"""The retention's events, rules and holds at the controller's desk (COM-RET-1): what ``santegarde retention event``,
``retention assign``, ``retention hold add`` and ``retention hold release`` do, from the console.

Each act is done by the lifecycle's own function (``lifecycle.retention.record_event``, ``assign_rule``,
``add_hold``, ``release_hold``: written, then traced with the person signed in as its author) after the desk's gate
(identity → policy → audit); the form's fields are checked before anything is written, and a refusal of the
retention engine is shown in its catalogue's sentence (``retention_records``).
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations inside router().
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from santegarde.governance import doctext
from santegarde.lifecycle import retention
from santegarde.policy.desks import Desk
from santegarde.runtime import Organisation
from santegarde.store.retention import RetentionRefused, holds_in_force
from santegarde.web.desk_gate import DeskGate, desk_page
from santegarde.web.french import PARIS, Said, name, told
from santegarde.web.render import CSRF_FIELD, Renderer, say

TAG = "console"
PAGE = "controle/conservation_actes.html"
HOME = "/controle/conservation/actes"
SCOPES = ("patient", "record")
NOT_EVENTS = ("end_of_active_phase", "set_by_controller")  # computed by the engine, never recorded by hand
MIN_REASON = 5
Csrf = Annotated[str, Form(alias=CSRF_FIELD, max_length=128)]
Short = Annotated[str, Form(max_length=120)]
Long = Annotated[str, Form(max_length=300)]


def both(key: str, **facts: Any) -> Said:
    """The page's phrase ``key`` in both languages, its facts in each language too."""
    fr, en = ({k: told(v, lang) for k, v in facts.items()} for lang in ("fr", "en"))
    return Said(say("fr", f"retention_acts.{key}", **fr), say("en", f"retention_acts.{key}", **en))


def cli_said(key: str, **facts: Any) -> Said:
    """What the CLI command prints once done (documents_text.yaml, retention_desk), in both languages."""
    fr, en = (
        str(doctext.words(lang)["retention_desk"][key]).format(**{k: told(v, lang) for k, v in facts.items()})
        for lang in ("fr", "en")
    )
    return Said(fr, en)


def day(text: str) -> datetime | None:
    """Midnight of a day typed in the form, Paris time, in UTC; None if it is not a date."""
    try:
        return datetime.combine(date.fromisoformat(text.strip()), time(0), PARIS).astimezone(UTC)
    except ValueError:
        return None


def router(org: Organisation, gate: DeskGate, renderer: Renderer) -> APIRouter:
    web = APIRouter(include_in_schema=False, tags=[TAG])
    ref = org.referential
    rules = [r.id for r in ref.retention]
    events = sorted(
        {
            e
            for r in ref.retention
            for phase in (r.active, r.archive)
            if phase is not None
            for e in (phase.start_event, phase.until_event)
            if e and e not in NOT_EVENTS
        }
    )

    def route(method: str, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return web.api_route(path, methods=[method], response_class=HTMLResponse, tags=["reach:desk"])

    def page(request: Request, current: Any, status: int = 200, **values: Any) -> Response:
        values.setdefault("form", {})
        values.setdefault("errors", {})
        if values["errors"]:
            values.setdefault("error", both("form_errors"))
        return renderer.page(
            request,
            PAGE,
            status,
            user=gate.who(current),
            scopes=SCOPES,
            events=[(e, name(ref, "event", e)) for e in events],
            rules=[(r, name(ref, "retention", r)) for r in rules],
            holds=holds_in_force(org.engine, org.audit.now()),
            **values,
        )

    def scoped(portee: str, identifiant: str, errors: dict[str, Said]) -> None:
        if portee not in SCOPES:
            errors["portee"] = both("no_scope")
        if not identifiant.strip() or len(identifiant.strip()) > 64:
            errors["identifiant"] = both("no_ident")

    def refused(request: Request, current: Any, form: dict[str, str], exc: RetentionRefused) -> Response:
        return page(request, current, 422, form=form, error=Said(exc.in_language("fr"), exc.in_language("en")))

    @route("GET", HOME)
    def acts(request: Request) -> Response:
        def draw() -> Response:
            return page(request, gate.enter(request, Desk.CONTROLLER, "desk.controller.retention.acts"))

        return desk_page(renderer, gate, request, draw)

    @route("POST", "/controle/conservation/evenements")
    def event(
        request: Request,
        csrf: Csrf,
        portee: Short = "",
        identifiant: Short = "",
        evenement: Short = "",
        jour: Short = "",
    ) -> Response:
        renderer.check_csrf(request, csrf)
        form = {"portee": portee, "identifiant": identifiant, "evenement": evenement, "jour": jour}

        def draw() -> Response:
            current = gate.enter(request, Desk.CONTROLLER, "desk.controller.retention.event", evenement[:60])
            errors: dict[str, Said] = {}
            scoped(portee, identifiant, errors)
            if evenement not in events:
                errors["evenement"] = both("no_event")
            at = day(jour)
            if at is None:
                errors["jour"] = both("bad_date")
            if errors or at is None:
                return page(request, current, 422, form=form, errors=errors)
            ident = identifiant.strip()
            try:
                retention.record_event(org, portee, ident, evenement, at, org.audit.now(), current.login)
            except RetentionRefused as exc:  # an event of the future: nothing written
                return refused(request, current, form, exc)
            scope = Said(*(str(doctext.words(lang)["retention_desk"]["scopes"][portee]) for lang in ("fr", "en")))
            done = cli_said("event", name=name(ref, "event", evenement), scope=scope, id=ident)
            return page(request, current, message=done)

        return desk_page(renderer, gate, request, draw, keep=HOME)

    @route("POST", "/controle/conservation/regles")
    def assign(request: Request, csrf: Csrf, dossier: Short = "", regle: Short = "") -> Response:
        renderer.check_csrf(request, csrf)
        form = {"dossier": dossier, "regle": regle}

        def draw() -> Response:
            current = gate.enter(request, Desk.CONTROLLER, "desk.controller.retention.assign", dossier[:60])
            errors: dict[str, Said] = {}
            if not dossier.strip() or len(dossier.strip()) > 64:
                errors["dossier"] = both("no_record")
            if regle not in rules:
                errors["regle"] = both("no_rule")
            if errors:
                return page(request, current, 422, form=form, errors=errors)
            try:
                retention.assign_rule(org, dossier.strip(), regle, current.login)
            except RetentionRefused as exc:
                return refused(request, current, form, exc)
            done = cli_said("assigned", record=dossier.strip(), rule=name(ref, "retention", regle))
            return page(request, current, message=done)

        return desk_page(renderer, gate, request, draw, keep=HOME)

    @route("POST", "/controle/conservation/gels")
    def hold(
        request: Request, csrf: Csrf, portee: Short = "", identifiant: Short = "", motif: Long = "", fin: Short = ""
    ) -> Response:
        renderer.check_csrf(request, csrf)
        form = {"portee": portee, "identifiant": identifiant, "motif": motif, "fin": fin}

        def draw() -> Response:
            current = gate.enter(request, Desk.CONTROLLER, "desk.controller.retention.hold", identifiant[:60])
            errors: dict[str, Said] = {}
            scoped(portee, identifiant, errors)
            if len(motif.strip()) < MIN_REASON:
                errors["motif"] = both("short_reason")
            now = org.audit.now()
            until = day(fin) if fin.strip() else None
            if fin.strip() and until is None:
                errors["fin"] = both("bad_date")
            elif until is not None and until <= now:
                errors["fin"] = both("past_until")
            if errors:
                return page(request, current, 422, form=form, errors=errors)
            ident = identifiant.strip()
            try:
                number = retention.add_hold(org, portee, ident, motif, now, current.login, until)
            except RetentionRefused as exc:
                return refused(request, current, form, exc)
            scope = Said(*(str(doctext.words(lang)["retention_desk"]["scopes"][portee]) for lang in ("fr", "en")))
            return page(request, current, message=cli_said("held", number=number, scope=scope, id=ident))

        return desk_page(renderer, gate, request, draw, keep=HOME)

    @route("POST", "/controle/conservation/gels/{number}/levee")
    def release(request: Request, number: int, csrf: Csrf) -> Response:
        renderer.check_csrf(request, csrf)

        def draw() -> Response:
            current = gate.enter(request, Desk.CONTROLLER, "desk.controller.retention.release", str(number))
            try:
                retention.release_hold(org, number, org.audit.now(), current.login)
            except RetentionRefused as exc:  # no such hold in force (released already, or another number)
                return refused(request, current, {}, exc)
            return page(request, current, message=cli_said("released", number=number))

        return desk_page(renderer, gate, request, draw, keep=HOME)

    return web
