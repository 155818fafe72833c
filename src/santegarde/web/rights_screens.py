"""The rights desk at the practice (COM-RGT-*): a person's request, received at the desk, registered with its
deadline (8 days or 2 months for an access request, as the référentiel sets it).

The patient is read through ``RecordService`` under the desk's purpose (the secretariat's appointments, the
practitioner's medical record), so a desk that may not see the patient registers nothing for them; the request is
``RightsService.receive`` as ``POST /rights/requests`` does it (the register traces it). A detail the register
refuses is said in French next to its field.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations inside routes().
from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import Response

from santegarde.governance.rights_text import right_name
from santegarde.rights import RightsService
from santegarde.rights.requests import EXERCISABLE, NEEDS_PURPOSE, Requester, RightsError
from santegarde.store.service import AccessDenied, RecordService
from santegarde.web.desk import SEARCH_PURPOSE, Desk
from santegarde.web.french import in_words, name, refusal, sentence
from santegarde.web.render import CSRF_FIELD

FIELD_NAMES = {"right": "droit", "requester": "demandeur", "purpose": "finalite", "grounds": "motif"}
FIELD_ERRORS = {
    "right": "field_right",
    "requester": "field_requester",
    "purpose": "field_rights_purpose",
    "grounds": "field_grounds",
}


def routes(desk: Desk, records: RecordService, rights: RightsService) -> None:
    route, renderer, ref = desk.route, desk.renderer, desk.ref

    def patient_of(request: Request, pid: str) -> tuple[Any, dict[str, Any]]:
        current = desk.ready(request)
        req = desk.record_request(request, SEARCH_PURPOSE.get(current.profile or "", "medical_record"))
        return req, records.read(req, "Patient", pid)

    def form_page(request: Request, patient: dict[str, Any], status: int = 200, **values: Any) -> Response:
        names = (patient.get("name") or [{}])[0]
        values.setdefault("form", {"droit": "", "demandeur": "person", "finalite": "", "motif": ""})
        values.setdefault("errors", {})
        return renderer.page(
            request,
            "droits.html",
            status,
            user=desk.who(desk.ready(request)),
            pid=patient["id"],
            patient=f"{' '.join(names.get('given') or [])} {names.get('family', '')}".strip(),
            rights=[(str(r), right_name(r)) for r in EXERCISABLE],
            with_purpose=", ".join(right_name(r).lower() for r in NEEDS_PURPOSE),
            requesters=[(str(r), in_words("requester", str(r))) for r in Requester],
            purposes=[(p.id, name(ref, "purpose", p.id)) for p in ref.purposes],
            **values,
        )

    def refused(request: Request, exc: AccessDenied) -> Response:
        current = desk.ready(request)
        purpose = SEARCH_PURPOSE.get(current.profile or "", "medical_record")
        return renderer.refused(request, refusal(exc, ref, current.profile, purpose), user=desk.who(current))

    @route("GET", "/patients/{pid}/droits", "records")
    def rights_form(request: Request, pid: str) -> Response:
        def draw() -> Response:
            try:
                _, patient = patient_of(request, _id(pid))
            except AccessDenied as exc:
                return refused(request, exc)
            return form_page(request, patient)

        return desk.guarded(request, draw)

    @route("POST", "/patients/{pid}/droits", "records")
    def register(
        request: Request,
        pid: str,
        csrf: Annotated[str, Form(alias=CSRF_FIELD, max_length=128)],
        droit: Annotated[str, Form(max_length=40)] = "",
        demandeur: Annotated[str, Form(max_length=40)] = "person",
        finalite: Annotated[str, Form(max_length=80)] = "",
        motif: Annotated[str, Form(max_length=500)] = "",
    ) -> Response:
        renderer.check_csrf(request, csrf)
        form = {"droit": droit, "demandeur": demandeur, "finalite": finalite, "motif": motif}

        def draw() -> Response:
            try:
                req, patient = patient_of(request, _id(pid))
            except AccessDenied as exc:
                return refused(request, exc)
            try:
                created = rights.receive(
                    req,
                    droit,
                    patient["id"],
                    demandeur,
                    purpose=finalite or None,
                    grounds=motif.strip() or None,
                )
            except RightsError as exc:
                field = exc.field or ""
                errors = {FIELD_NAMES[field]: sentence(FIELD_ERRORS[field])} if field in FIELD_ERRORS else {}
                error = None if errors else refusal(exc, ref)
                return form_page(request, patient, 422, form=form, errors=errors, error=error)
            return renderer.page(
                request,
                "droits_ok.html",
                user=desk.who(desk.ready(request)),
                pid=patient["id"],
                number=created.id,
                right=right_name(created.right),
                due=created.due_at,
                received=created.received_at,
            )

        return desk.guarded(request, draw)


def _id(pid: str) -> str:
    from santegarde.api.params import fhir_id

    return fhir_id(pid)
