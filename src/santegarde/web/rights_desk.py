"""The rights desk at the controller's desk (COM-RGT-1): register a request, record how the requester's identity was
checked, extend its deadline once by two months with a written reason (GDPR art. 12.3; not a deadline the public
health code fixes), execute it through the record path (``RightsService``: the right applies or is refused with the
text's reason), then preview and download the answer letter.

Each route passes the desk's gate (identity → policy → audit) before ``RightsService``, which checks the session
again and traces every step itself. Requests are named by their number in URLs, never by the patient.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations inside router().
import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from santegarde.api.auth import COOKIE
from santegarde.governance import doctext
from santegarde.governance.rights_text import right_name
from santegarde.identity.errors import SessionRefused
from santegarde.policy.desks import Desk
from santegarde.referentials.model import Right
from santegarde.rights.execute import RightsService
from santegarde.rights.requests import (
    CSP_ACCESS,
    EXERCISABLE,
    MIN_EXTENSION_REASON,
    MIN_IDENTITY_CHECK,
    NEEDS_PURPOSE,
    OPEN,
    Requester,
    RightsError,
)
from santegarde.runtime import Organisation
from santegarde.store.service import AccessDenied
from santegarde.store.service import Request as RecordRequest
from santegarde.web.controller import deadline_rule
from santegarde.web.desk_gate import DOCUMENT_HEADERS, DeskGate, desk_page, page_with_frames
from santegarde.web.french import Refusal, Said, labels, name
from santegarde.web.render import CSRF_FIELD, Renderer, lang_of

TAG = "console"
RIGHTS_PURPOSE = "rights_management"  # the purpose of handling the persons' rights, where the text names one
WORDS = ("console", "controller_desk", "rights")
STATUSES = labels(*WORDS, "statuses")  # each in both languages
REQUESTERS = labels(*WORDS, "requesters")
CHANNELS = labels(*WORDS, "channels")
MAX_CORRECTED = 20000  # a corrected FHIR resource, pasted
Csrf = Annotated[str, Form(alias=CSRF_FIELD, max_length=128)]
Short = Annotated[str, Form(max_length=200)]


def words(lang: str) -> dict[str, Any]:
    """The rights desk's wording in ``lang`` (documents_text.yaml, ``console.controller_desk.rights``)."""
    table: dict[str, Any] = doctext.words(lang)["console"]["controller_desk"]["rights"]
    return table


def both(key: str, **facts: Any) -> Said:
    """The rights desk's sentence ``key`` in both languages (a template draws the page's)."""
    return Said(*(str(words(lang)[key]).format(**facts) for lang in ("fr", "en")))


def refused(exc: RightsError) -> Said:
    """The register's refusal in both languages."""
    return Said(exc.in_language("fr"), exc.in_language("en"))


def router(org: Organisation, rights: RightsService, gate: DeskGate, renderer: Renderer) -> APIRouter:
    web = APIRouter(include_in_schema=False, tags=[TAG])
    ref = org.referential
    purposes = [(p.id, name(ref, "purpose", p.id)) for p in ref.purposes if not (p.forbidden or p.out_of_scope)]

    def route(method: str, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return web.api_route(path, methods=[method], response_class=HTMLResponse, tags=["reach:desk"])

    def record_request(request: Request, purpose: str | None) -> RecordRequest:
        """The handling professional's request on the record path, under the purpose of the rights' handling."""
        token = request.cookies.get(COOKIE)
        if not token:
            raise SessionRefused("You are not logged in; log in first.")
        known = {p for p, _ in purposes}
        chosen = RIGHTS_PURPOSE if RIGHTS_PURPOSE in known else (purpose or purposes[0][0])
        return RecordRequest(token, chosen, source=request.client.host if request.client else "unknown")

    def rows(lang: str) -> list[dict[str, Any]]:
        return [
            {
                "id": r.id,
                "right": right_name(r.right, lang),
                "status": STATUSES.get(str(r.status), str(r.status)),
                "deadline": r.deadline,
                "late": r.overdue(org.audit.now()),
                "open": r.status in OPEN,
            }
            for r in reversed(rights.register.all())
        ]

    def desk(request: Request, current: Any, status: int = 200, **values: Any) -> Response:
        values.setdefault("form", {"droit": "access", "demandeur": "person", "finalite": ""})
        values.setdefault("errors", {})
        lang = lang_of(request)
        return renderer.page(
            request,
            "controle/droits.html",
            status,
            user=gate.who(current),
            requests=rows(lang),
            rights=[(str(r), right_name(r, lang)) for r in EXERCISABLE],
            requesters=[(str(r), REQUESTERS[str(r)]) for r in Requester],
            purposes=purposes,
            **values,
        )

    def not_found(request: Request, current: Any, number: int) -> Response:
        return renderer.refused(
            request,
            Refusal(both("missing_title"), both("missing", n=number), both("missing_todo"), 404),
            user=gate.who(current),
        )

    def detail(request: Request, current: Any, number: int, status: int = 200, **values: Any) -> Response:
        try:
            found = rights.get(number)
        except RightsError:
            return not_found(request, current, number)
        lang = lang_of(request)
        response = renderer.page(
            request,
            "controle/demande.html",
            status,
            user=gate.who(current),
            r=found,
            right=right_name(found.right, lang),
            requester=REQUESTERS[str(found.requester)],
            purpose=name(ref, "purpose", found.purpose) if found.purpose else None,
            status_words=STATUSES.get(str(found.status), str(found.status)),
            deadline_rule=deadline_rule(found.deadline_rule, lang),
            late=found.overdue(org.audit.now()),
            open=found.status in OPEN,
            executable=found.right is not Right.RECTIFICATION,
            extensible=found.extended_due_at is None and not found.deadline_rule.startswith(CSP_ACCESS),
            minimum=MIN_IDENTITY_CHECK,
            minimum_reason=MIN_EXTENSION_REASON,
            channels=CHANNELS,
            **values,
        )
        return page_with_frames(response)

    @route("GET", "/controle/droits")
    def listing(request: Request) -> Response:
        return desk_page(
            renderer,
            gate,
            request,
            lambda: desk(request, gate.enter(request, Desk.CONTROLLER, "desk.controller.rights")),
        )

    @route("POST", "/controle/droits")
    def register(
        request: Request,
        csrf: Csrf,
        droit: Short = "",
        dossier: Short = "",
        demandeur: Short = "person",
        finalite: Short = "",
        motif: Annotated[str, Form(max_length=300)] = "",
        ancien: Short = "",
    ) -> Response:
        renderer.check_csrf(request, csrf)
        form = {"droit": droit, "dossier": dossier, "demandeur": demandeur, "finalite": finalite, "motif": motif}

        def draw() -> Response:
            current = gate.enter(request, Desk.CONTROLLER, "desk.controller.rights.register")
            said = words(lang_of(request))["errors"]
            errors: dict[str, str] = {}
            if droit not in {str(r) for r in EXERCISABLE}:
                errors["droit"] = said["droit"]
            elif Right(droit) in NEEDS_PURPOSE and not finalite:
                errors["finalite"] = said["needs_purpose"]
            elif Right(droit) is Right.RESTRICTION and len(motif.strip()) < 5:
                errors["motif"] = said["motif"]
            if not dossier.strip():
                errors["dossier"] = said["dossier"]
            if demandeur not in {str(r) for r in Requester}:
                errors["demandeur"] = said["demandeur"]
            if finalite and finalite not in {p for p, _ in purposes}:
                errors["finalite"] = said["finalite"]
            if errors:
                return desk(request, current, 422, form=form, errors=errors)
            created = rights.receive(
                record_request(request, finalite or None),
                droit,
                dossier.strip(),
                demandeur,
                purpose=finalite or None,
                grounds=motif.strip() or None,
                older_than_five_years=ancien == "1",
            )
            return RedirectResponse(f"/controle/droits/{created.id}", status_code=303)

        return desk_page(renderer, gate, request, draw, keep="/controle/droits")

    @route("GET", "/controle/droits/{number}")
    def one(request: Request, number: int) -> Response:
        def draw() -> Response:
            current = gate.enter(request, Desk.CONTROLLER, "desk.controller.rights.read", str(number))
            return detail(request, current, number)

        return desk_page(renderer, gate, request, draw)

    @route("POST", "/controle/droits/{number}/identite")
    def identity(
        request: Request,
        number: int,
        csrf: Csrf,
        comment: Annotated[str, Form(alias="verification", max_length=500)] = "",
    ) -> Response:
        renderer.check_csrf(request, csrf)

        def draw() -> Response:
            current = gate.enter(request, Desk.CONTROLLER, "desk.controller.rights.identity", str(number))
            if len(comment.strip()) < MIN_IDENTITY_CHECK:
                message = both("identity_short", n=MIN_IDENTITY_CHECK)
                return detail(request, current, number, 422, identity_error=message, check=comment)
            try:
                rights.register.record_identity_check(record_request(request, None), number, comment.strip())
            except RightsError:
                return detail(request, current, number, 409, error=both("answered"))
            return RedirectResponse(f"/controle/droits/{number}", status_code=303)

        return desk_page(renderer, gate, request, draw, keep=f"/controle/droits/{number}")

    @route("POST", "/controle/droits/{number}/prolongation")
    def extend(
        request: Request,
        number: int,
        csrf: Csrf,
        reason: Annotated[str, Form(alias="motif", max_length=1000)] = "",
    ) -> Response:
        renderer.check_csrf(request, csrf)

        def draw() -> Response:
            current = gate.enter(request, Desk.CONTROLLER, "desk.controller.rights.extend", str(number))
            if len(reason.strip()) < MIN_EXTENSION_REASON:
                message = both("reason_short", n=MIN_EXTENSION_REASON)
                return detail(request, current, number, 422, reason_error=message, reason=reason)
            try:
                rights.register.extend(record_request(request, None), number, reason)
            except RightsError as exc:
                gate.record(
                    request, current, "rights.extend", "RightsRequest", str(number), "GDPR art. 12.3", allowed=False
                )
                return detail(request, current, number, 409, error=refused(exc))
            return RedirectResponse(f"/controle/droits/{number}", status_code=303)

        return desk_page(renderer, gate, request, draw, keep=f"/controle/droits/{number}")

    @route("POST", "/controle/droits/{number}/execution")
    def execute(
        request: Request,
        number: int,
        csrf: Csrf,
        corrected: Annotated[str, Form(alias="corrigee", max_length=MAX_CORRECTED)] = "",
    ) -> Response:
        renderer.check_csrf(request, csrf)

        def draw() -> Response:
            current = gate.enter(request, Desk.CONTROLLER, "desk.controller.rights.execute", str(number))
            body: dict[str, Any] | None = None
            try:
                found = rights.get(number)
                if found.right is Right.RECTIFICATION:
                    body = _resource(corrected)
                    if body is None:
                        message = both("corrected_unreadable")
                        return detail(request, current, number, 422, corrected_error=message, corrected=corrected)
                outcome = rights.execute(record_request(request, found.purpose), number, corrected=body)
            except AccessDenied:
                message = both("path_refused")
                return detail(request, current, number, 403, error=message)
            except RightsError as exc:
                if body is not None and exc.key.startswith("corrected"):
                    return detail(request, current, number, 422, corrected_error=refused(exc), corrected=corrected)
                message = both("not_executable")
                return detail(request, current, number, 409, error=message)
            if outcome.bundle is not None:
                # The person's copy (access, portability) is handed over once, as the CLI writes it once: a file to
                # remit by a secure channel; it is not kept by the console.
                copy = json.dumps(outcome.bundle, ensure_ascii=False, indent=2).encode()
                filename = f"copie-des-donnees-demande-{number}.json"
                headers = {"content-disposition": f'attachment; filename="{filename}"'}
                return Response(copy, media_type="application/fhir+json", headers=headers)
            return RedirectResponse(f"/controle/droits/{number}", status_code=303)

        return desk_page(renderer, gate, request, draw, keep=f"/controle/droits/{number}")

    @route("POST", "/controle/droits/{number}/envoi")
    def sent(
        request: Request,
        number: int,
        csrf: Csrf,
        channel: Annotated[str, Form(alias="moyen", max_length=40)] = "",
    ) -> Response:
        renderer.check_csrf(request, csrf)

        def draw() -> Response:
            current = gate.enter(request, Desk.CONTROLLER, "desk.controller.rights.sent", str(number))
            if channel not in CHANNELS:
                return detail(request, current, number, 422, error=both("choose_channel"))
            try:
                rights.register.letter_sent(record_request(request, None), number, channel)
            except RightsError as exc:  # traced by the register
                return detail(request, current, number, 409, error=refused(exc))
            return RedirectResponse(f"/controle/droits/{number}", status_code=303)

        return desk_page(renderer, gate, request, draw, keep=f"/controle/droits/{number}")

    @route("GET", "/controle/droits/{number}/lettre/{fmt}")
    def letter(request: Request, number: int, fmt: str) -> Response:
        def draw() -> Response:
            current = gate.enter(request, Desk.CONTROLLER, "desk.controller.rights.letter", str(number))
            if fmt not in ("html", "pdf"):
                return not_found(request, current, number)
            try:
                found = rights.get(number)
            except RightsError:
                return not_found(request, current, number)
            if found.status in OPEN:
                return detail(request, current, number, 409, error=both("letter_after"))
            content = rights.letter(number, fmt)
            if fmt == "html":
                return HTMLResponse(str(content), headers={"content-disposition": "inline", **DOCUMENT_HEADERS})
            body = content if isinstance(content, bytes) else content.encode()
            filename = f"reponse-demande-{number}.pdf"
            return Response(
                body,
                media_type="application/pdf",
                headers={"content-disposition": f'attachment; filename="{filename}"'},
            )

        return desk_page(renderer, gate, request, draw)

    return web


def _resource(text: str) -> dict[str, Any] | None:
    """The corrected resource pasted in the form, or None when it is not one JSON object with a type and an id."""
    try:
        found = json.loads(text)
    except ValueError:
        return None
    if not isinstance(found, dict) or not found.get("resourceType") or not found.get("id"):
        return None
    return found
