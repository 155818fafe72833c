"""One breach at the controller's desk (COM-BRE-1): its 72-hour clock, the seriousness assessment that decides the
notification to the CNIL (art. 33) and the communication to the persons (art. 34), the drafts of both previewed in
the page, and the dates they were made.

Everything is decided and written by ``governance.breaches`` (``assess``, ``mark``, ``notification_draft``,
``communication_draft``), as the ``santegarde breach`` commands do; each route passes the desk's gate (identity →
policy → audit) first, and each change is traced as the command traces it (``breach.assess``, ``breach.notified``,
``breach.communicated``); a refused change is traced too.
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
from santegarde.web.breach_desk import NATURES, REPORTERS
from santegarde.web.desk_gate import DOCUMENT_HEADERS, DeskGate, desk_page, page_with_frames
from santegarde.web.french import PARIS, Refusal, Said, labels, name
from santegarde.web.render import CSRF_FIELD, Renderer, lang_of

TAG = "console"
CHOICES_SAID = labels("console", "controller_desk", "breach", "choices")
RULE = "COM-BRE-1"
DRAFTS = labels("console", "controller_desk", "breach", "drafts")  # each in both languages
MARKS = {"notification": "notified", "communication": "communicated"}
RISKS = labels("console", "controller_desk", "breach", "risks")
CHOICES = {"" if code == "computed" else code: said for code, said in CHOICES_SAID.items()}
Csrf = Annotated[str, Form(alias=CSRF_FIELD, max_length=128)]
Level = Annotated[str, Form(max_length=20)]
Text = Annotated[str, Form(max_length=4000)]


def words(lang: str) -> dict[str, Any]:
    """The breach page's wording in ``lang`` (documents_text.yaml, ``console.controller_desk.breach``)."""
    table: dict[str, Any] = doctext.words(lang)["console"]["controller_desk"]["breach"]
    return table


def both(key: str, **facts: Any) -> Said:
    """The breach page's sentence ``key`` in both languages (a template draws the page's)."""
    return Said(*(str(words(lang)[key]).format(**facts) for lang in ("fr", "en")))


def moment(text: str, now: datetime) -> datetime:
    """The moment written in the form (Paris time), or now when left empty; ValueError when unreadable."""
    if not text.strip():
        return now
    return datetime.fromisoformat(text.strip()).replace(tzinfo=PARIS)


def router(org: Organisation, gate: DeskGate, renderer: Renderer) -> APIRouter:
    web = APIRouter(include_in_schema=False, tags=[TAG])
    ref = org.referential

    def route(method: str, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return web.api_route(path, methods=[method], response_class=HTMLResponse, tags=["reach:desk"])

    def found(number: int) -> breaches.Breach | None:
        try:
            return breaches.get(org.engine, number)
        except BreachError:
            return None

    def missing(request: Request, current: Any, number: int) -> Response:
        return renderer.refused(
            request,
            Refusal(both("missing_title"), both("missing", n=number), both("missing_todo"), 404),
            user=gate.who(current),
        )

    def page(request: Request, current: Any, number: int, status: int = 200, **values: Any) -> Response:
        breach = found(number)
        if breach is None:
            return missing(request, current, number)
        now, lang = org.audit.now(), lang_of(request)
        decision = (
            breaches.decide(breach.likelihood, breach.severity) if breach.likelihood and breach.severity else None
        )
        values.setdefault("form", {"vraisemblance": "", "gravite": "", "notifier": "", "communiquer": ""})
        values.setdefault("errors", {})
        return page_with_frames(
            renderer.page(
                request,
                "controle/violation.html",
                status,
                user=gate.who(current),
                b=breach,
                natures=[NATURES[n] for n in breach.nature if n in NATURES],
                reporter=REPORTERS.get(breach.reported_by, breach.reported_by),
                categories=[name(ref, "category", c) for c in breach.data_categories],
                clock=breaches.clock_status(breach, clock=lambda: now, lang=lang),
                levels=doctext.words(lang)["breach"]["levels"],
                risk=RISKS[decision.risk] if decision else None,
                choices=CHOICES,
                drafts=DRAFTS,
                drafts_lower=labels("console", "controller_desk", "breach", "drafts_lower"),
                **values,
            )
        )

    @route("GET", "/controle/violations/{number}")
    def one(request: Request, number: int) -> Response:
        def draw() -> Response:
            current = gate.enter(request, Desk.CONTROLLER, "desk.controller.breach.read", str(number))
            return page(request, current, number)

        return desk_page(renderer, gate, request, draw)

    @route("POST", "/controle/violations/{number}/evaluation")
    def assess(
        request: Request,
        number: int,
        csrf: Csrf,
        likelihood: Annotated[str, Form(alias="vraisemblance", max_length=20)] = "",
        severity: Annotated[str, Form(alias="gravite", max_length=20)] = "",
        reasoning: Annotated[str, Form(alias="raisonnement", max_length=4000)] = "",
        notify: Annotated[str, Form(alias="notifier", max_length=20)] = "",
        communicate: Annotated[str, Form(alias="communiquer", max_length=20)] = "",
        justification: Text = "",
    ) -> Response:
        renderer.check_csrf(request, csrf)
        form = {
            "vraisemblance": likelihood,
            "gravite": severity,
            "raisonnement": reasoning,
            "notifier": notify,
            "communiquer": communicate,
            "justification": justification,
        }

        def draw() -> Response:
            current = gate.enter(request, Desk.CONTROLLER, "desk.controller.breach.assess", str(number))
            if found(number) is None:
                return missing(request, current, number)
            said = words(lang_of(request))
            errors = {
                key: said["choose_level"].format(what=said[what])
                for key, what in (("vraisemblance", "the_likelihood"), ("gravite", "the_severity"))
                if form[key] not in breaches.LEVELS
            }
            errors |= {key: said["choose_decision"] for key in ("notifier", "communiquer") if form[key] not in CHOICES}
            if errors:
                return page(request, current, number, 422, form=form, errors=errors)
            try:
                breaches.assess(
                    org.engine,
                    number,
                    likelihood=likelihood,
                    severity=severity,
                    reasoning=reasoning,
                    assessed_by=current.login,
                    notify=None if not notify else notify == "oui",
                    communicate=None if not communicate else communicate == "oui",
                    justification=justification,
                    clock=org.audit.now,
                )
            except BreachError as exc:
                gate.record(request, current, "breach.assess", "Breach", str(number), RULE, allowed=False)
                return page(request, current, number, 422, form=form, error=exc.in_language(lang_of(request)))
            gate.record(request, current, "breach.assess", "Breach", str(number), RULE)
            return RedirectResponse(f"/controle/violations/{number}", status_code=303)

        return desk_page(renderer, gate, request, draw, keep=f"/controle/violations/{number}")

    @route("POST", "/controle/violations/{number}/{kind}/faite")
    def mark(request: Request, number: int, kind: str, csrf: Csrf, le: Level = "") -> Response:
        renderer.check_csrf(request, csrf)

        def draw() -> Response:
            current = gate.enter(request, Desk.CONTROLLER, "desk.controller.breach.mark", str(number))
            if found(number) is None or kind not in MARKS:
                return missing(request, current, number)
            now = org.audit.now()
            try:
                at = moment(le, now)
            except ValueError:
                return page(request, current, number, 422, error=both("bad_moment"))
            if at > now:
                return page(request, current, number, 422, error=both("future"))
            operation = f"breach.{MARKS[kind]}"
            try:
                breaches.mark(org.engine, number, what=MARKS[kind], at=at)
            except BreachError as exc:
                gate.record(request, current, operation, "Breach", str(number), RULE, allowed=False)
                return page(request, current, number, 422, error=exc.in_language(lang_of(request)))
            gate.record(request, current, operation, "Breach", str(number), RULE)
            return RedirectResponse(f"/controle/violations/{number}", status_code=303)

        return desk_page(renderer, gate, request, draw, keep=f"/controle/violations/{number}")

    @route("GET", "/controle/violations/{number}/{kind}")
    def draft(request: Request, number: int, kind: str) -> Response:
        def draw() -> Response:
            current = gate.enter(request, Desk.CONTROLLER, "desk.controller.breach.draft", str(number))
            breach = found(number)
            if breach is None or kind not in DRAFTS:
                return missing(request, current, number)
            config, now = org.config, org.audit.now()
            lang = lang_of(request)  # the draft previewed in the page's language (the CLI's --lang)
            data = (
                breaches.notification_draft(breach, config, ref, clock=lambda: now, lang=lang)
                if kind == "notification"
                else breaches.communication_draft(breach, config, ref, clock=lambda: now, lang=lang)
            )
            return HTMLResponse(breaches.render(data), headers={"content-disposition": "inline", **DOCUMENT_HEADERS})

        return desk_page(renderer, gate, request, draw)

    return web
