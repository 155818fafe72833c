"""The processors' register at the controller's desk (COM-SUB-1): each processor with what is not in order, the
form that records one (art. 28 clauses, HDS certificate), its activation — refused, with every reason, while a
clause or a valid certificate is missing — and its end.

Each route passes the desk's gate (identity → policy → audit); every change is traced as ``santegarde processor``
traces it (``processor.add``, ``processor.activate``, ``processor.end``).
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations inside router().
from collections.abc import Callable
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from santegarde.governance import doctext, processors
from santegarde.governance.processors import ProcessorError
from santegarde.policy.desks import Desk
from santegarde.runtime import Organisation
from santegarde.web.controller import processor_problems
from santegarde.web.desk_gate import DeskGate, desk_page
from santegarde.web.french import labels, name
from santegarde.web.render import CSRF_FIELD, Renderer, lang_of

TAG = "console"
STATUSES = labels("console", "controller_desk", "processors", "statuses")  # each in both languages
FIELDS = ("nom", "service", "numero_hds", "certificateur", "expiration", "pays")


def words(lang: str) -> dict[str, Any]:
    """The processors' page wording in ``lang`` (documents_text.yaml, ``console.controller_desk.processors``)."""
    table: dict[str, Any] = doctext.words(lang)["console"]["controller_desk"]["processors"]
    return table


def form_errors(form: dict[str, Any], lang: str = "fr") -> dict[str, str]:
    """The form's mistakes, field by field, in ``lang``."""
    wrong = [key for key in ("nom", "service") if not form[key].strip()]
    if not form["categories"]:
        wrong.append("categories")
    if form["expiration"].strip():
        try:
            date.fromisoformat(form["expiration"].strip())
        except ValueError:
            wrong.append("expiration")
    country = form["pays"].strip().upper()
    if not (len(country) == 2 and country.isalpha()):
        wrong.append("pays")
    said = words(lang)["errors"]
    return {key: str(said[key]) for key in wrong}


def router(org: Organisation, gate: DeskGate, renderer: Renderer) -> APIRouter:
    web = APIRouter(include_in_schema=False, tags=[TAG])
    ref = org.referential

    def route(method: str, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return web.api_route(path, methods=[method], response_class=HTMLResponse, tags=["reach:desk"])

    def listing(request: Request, current: Any, status: int = 200, **values: Any) -> Response:
        today, lang = org.audit.now().date(), lang_of(request)
        rows = [
            {
                "id": p.id,
                "name": p.name,
                "service": p.service,
                "status": STATUSES.get(p.status, p.status),
                "draft": p.status == "draft",
                "ended": p.status == "ended",
                "problems": [] if p.status == "ended" else processor_problems(p, ref, today, lang),
            }
            for p in processors.entries(org.engine)
        ]
        values.setdefault("form", {"categories": [], "clauses": [], "hds": "", "pays": "FR"})
        values.setdefault("errors", {})
        return renderer.page(
            request,
            "controle/sous_traitants.html",
            status,
            user=gate.who(current),
            rows=rows,
            clauses=[(c, doctext.words(lang)["registers"]["clauses"][c]) for c in processors.CLAUSES],
            categories=[(c.id, name(ref, "category", c.id)) for c in ref.categories if not c.forbidden],
            **values,
        )

    def found(number: int) -> processors.Processor | None:
        return next((p for p in processors.entries(org.engine) if p.id == number), None)

    @route("GET", "/controle/sous-traitants")
    def register(request: Request) -> Response:
        return desk_page(
            renderer,
            gate,
            request,
            lambda: listing(request, gate.enter(request, Desk.CONTROLLER, "desk.controller.processors")),
        )

    @route("POST", "/controle/sous-traitants")
    async def add(request: Request) -> Response:
        sent = await request.form()
        renderer.check_csrf(request, str(sent.get(CSRF_FIELD, "")))
        form: dict[str, Any] = {key: str(sent.get(key, ""))[:300] for key in FIELDS}
        form["categories"] = [str(c) for c in sent.getlist("categories") if str(c) in {c.id for c in ref.categories}]
        form["clauses"] = [str(c) for c in sent.getlist("clauses") if str(c) in processors.CLAUSES]
        form["hds"] = str(sent.get("hds", ""))

        def draw() -> Response:
            current = gate.enter(request, Desk.CONTROLLER, "desk.controller.processor.add")
            errors = form_errors(form, lang_of(request))
            if errors:
                return listing(request, current, 422, form=form, errors=errors)
            try:
                added = processors.add(
                    org.engine,
                    name=form["nom"].strip(),
                    service=form["service"].strip(),
                    data_categories=form["categories"],
                    hosts_health_data=form["hds"] == "1",
                    clauses=form["clauses"],
                    country=form["pays"].strip().upper(),
                    recorded_by=current.login,
                    hds_number=form["numero_hds"].strip() or None,
                    hds_certifier=form["certificateur"].strip() or None,
                    hds_expires=date.fromisoformat(form["expiration"].strip()) if form["expiration"].strip() else None,
                    now=org.audit.now(),
                )
            except ProcessorError as exc:
                return listing(request, current, 422, form=form, error=exc.in_language(lang_of(request)))
            gate.record(request, current, "processor.add", "Processor", str(added.id), "COM-SUB-1")
            return RedirectResponse(f"/controle/sous-traitants#sous-traitant-{added.id}", status_code=303)

        return desk_page(renderer, gate, request, draw, keep="/controle/sous-traitants")

    @route("POST", "/controle/sous-traitants/{number}/{action}")
    async def change(request: Request, number: int, action: str) -> Response:
        sent = await request.form()
        renderer.check_csrf(request, str(sent.get(CSRF_FIELD, "")))

        def draw() -> Response:
            current = gate.enter(request, Desk.CONTROLLER, "desk.controller.processor.change", str(number))
            processor, lang = found(number), lang_of(request)
            if processor is None or action not in ("activation", "fin"):
                return listing(request, current, 404, error=words(lang)["not_found"])
            if action == "activation":
                problems = processor_problems(processor, ref, org.audit.now().date(), lang)
                if problems and processor.status == "draft":
                    refused = words(lang)["cannot_activate"].format(name=processor.name, problems=" ".join(problems))
                    return listing(request, current, 422, error=refused)
            try:
                if action == "activation":
                    processors.activate(org.engine, processor.name, referential=ref, today=org.audit.now().date())
                else:
                    processors.end(org.engine, processor.name)
            except ProcessorError as exc:
                return listing(request, current, 409, error=exc.in_language(lang_of(request)))
            operation = "processor.activate" if action == "activation" else "processor.end"
            gate.record(request, current, operation, "Processor", str(number), "COM-SUB-1")
            return RedirectResponse(f"/controle/sous-traitants#sous-traitant-{number}", status_code=303)

        return desk_page(renderer, gate, request, draw, keep="/controle/sous-traitants")

    return web
