"""The register of transfers outside the EU at the controller's desk (COM-TRF-1, AAC-12, EDS-12): each transfer with
its basis in words, and the form that records one — checked field by field in the page's language, then by
``governance.transfers.record`` against GDPR chapter V and the référentiel's own rule (the warehouse refuses every
transfer; compassionate access only some data, strictly necessary, persons informed), whose refusal is shown as
its sentence.

Each route passes the desk's gate (identity → policy → audit); a transfer recorded here is traced as
``transfer.add``, as ``santegarde transfer add`` traces it.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations inside router().
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from santegarde.governance import doctext, transfers
from santegarde.governance.transfers import TransferError, TransferRequest
from santegarde.policy.desks import Desk
from santegarde.runtime import Organisation
from santegarde.web.desk_gate import DeskGate, desk_page
from santegarde.web.french import labels, name
from santegarde.web.render import CSRF_FIELD, Renderer, lang_of

TAG = "console"
WORDS = ("console", "controller_desk", "transfers")
# The bases of a transfer, each in both languages ("": the country decides).
BASES = {"" if code == "country" else code: said for code, said in labels(*WORDS, "bases").items()}
TEXTS = ("pays", "destinataire", "base", "garantie", "derogation", "finalite")
BOXES = ("distance", "necessaire", "informees", "certifie")


def form_errors(form: dict[str, Any], lang: str = "fr") -> dict[str, str]:
    """The form's mistakes, field by field, in ``lang`` (the rules themselves are checked by the register)."""
    said: dict[str, str] = doctext.words(lang)["console"]["controller_desk"]["transfers"]["errors"]
    errors: dict[str, str] = {}
    if not form["pays"].strip():
        errors["pays"] = said["pays"]
    else:
        try:
            transfers.country_code(form["pays"])
        except TransferError:
            errors["pays"] = said["unknown_country"]
    if not form["destinataire"].strip():
        errors["destinataire"] = said["destinataire"]
    if not form["categories"]:
        errors["categories"] = said["categories"]
    if form["base"] not in BASES:
        errors["base"] = said["base"]
    elif form["base"] == "safeguards" and form["garantie"] not in transfers.SAFEGUARDS:
        errors["garantie"] = said["garantie"]
    elif form["base"] == "derogation" and form["derogation"] not in transfers.DEROGATIONS:
        errors["derogation"] = said["derogation"]
    if len(form["finalite"].strip()) < 10:
        errors["finalite"] = said["finalite"]
    return errors


def router(org: Organisation, gate: DeskGate, renderer: Renderer) -> APIRouter:
    web = APIRouter(include_in_schema=False, tags=[TAG])
    ref = org.referential

    def route(method: str, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return web.api_route(path, methods=[method], response_class=HTMLResponse, tags=["reach:desk"])

    def listing(request: Request, current: Any, status: int = 200, **values: Any) -> Response:
        lang = lang_of(request)
        said = doctext.words(lang)["registers"]
        rows = [
            {
                "id": t.id,
                "country": transfers.country_name(t.country, lang),
                "recipient": t.recipient,
                "categories": [name(ref, "category", c) for c in t.data_categories],
                "basis": transfers.basis_sentence(t, lang),
                "remote": t.remote_access,
                "purpose": t.purpose,
                "at": t.recorded_at,
                "by": t.recorded_by,
            }
            for t in reversed(transfers.entries(org.engine))
        ]
        values.setdefault("form", {"categories": [], "base": ""})
        values.setdefault("errors", {})
        return renderer.page(
            request,
            "controle/transferts.html",
            status,
            user=gate.who(current),
            rows=rows,
            rule=transfers.profile_rule(ref.organisation_profile, lang),
            bases=BASES,
            safeguards=said["safeguards"],
            derogations=said["derogations"],
            categories=[(c.id, name(ref, "category", c.id)) for c in ref.categories if not c.forbidden],
            **values,
        )

    @route("GET", "/controle/transferts")
    def register(request: Request) -> Response:
        return desk_page(
            renderer,
            gate,
            request,
            lambda: listing(request, gate.enter(request, Desk.CONTROLLER, "desk.controller.transfers")),
        )

    @route("POST", "/controle/transferts")
    async def add(request: Request) -> Response:
        sent = await request.form()
        renderer.check_csrf(request, str(sent.get(CSRF_FIELD, "")))
        known = {c.id for c in ref.categories}
        form: dict[str, Any] = {key: str(sent.get(key, ""))[:500] for key in TEXTS}
        form |= {key: sent.get(key) == "1" for key in BOXES}
        form["categories"] = [str(c) for c in sent.getlist("categories") if str(c) in known]

        def draw() -> Response:
            current = gate.enter(request, Desk.CONTROLLER, "desk.controller.transfer.add")
            errors = form_errors(form, lang_of(request))
            if errors:
                return listing(request, current, 422, form=form, errors=errors)
            asked = TransferRequest(
                country=form["pays"],
                recipient=form["destinataire"],
                data_categories=tuple(form["categories"]),
                basis=form["base"] or None,
                safeguard=form["garantie"] or None,
                derogation=form["derogation"] or None,
                remote_access=form["distance"],
                strictly_necessary=form["necessaire"],
                persons_informed=form["informees"],
                dpf_certified=form["certifie"],
                purpose=form["finalite"],
            )
            try:
                recorded = transfers.record(
                    org.engine,
                    asked,
                    profile=ref.organisation_profile,
                    recorded_by=current.login,
                    now=org.audit.now(),
                )
            except TransferError as exc:
                gate.record(request, current, "transfer.add", "Transfer", "-", "COM-TRF-1", allowed=False)
                return listing(request, current, 422, form=form, error=exc.in_language(lang_of(request)))
            gate.record(request, current, "transfer.add", "Transfer", str(recorded.id), "COM-TRF-1")
            return RedirectResponse(f"/controle/transferts#transfert-{recorded.id}", status_code=303)

        return desk_page(renderer, gate, request, draw, keep="/controle/transferts")

    return web
