"""The patient's consent, recorded from the chart (COM-MIN-1, consent part): for a category the référentiel collects
only with the person's consent (e.g. the practice's lifestyle data), under a purpose that collects it.

The consent is a FHIR ``Consent`` written through ``RecordService.create`` (the store keeps its ledger row in the
same transaction, store/consents.py); the chart then shows it in the patient's consents. The person withdraws a
consent from the chart: ``RecordService.withdraw_consent`` (a new, inactive version; the earlier data stay), refused
for a consent that is not this patient's or no longer in force.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations inside routes().
from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response

from santegarde.store.consents import CATEGORY_SYSTEM, PURPOSE_SYSTEM
from santegarde.store.mapping import MappingError
from santegarde.store.service import AccessDenied, NotFound, RecordService
from santegarde.web.desk import Desk
from santegarde.web.french import Refusal, Said, name, refusal, sentence, title, worded
from santegarde.web.render import CSRF_FIELD

PURPOSE = "medical_record"


def routes(desk: Desk, records: RecordService) -> None:
    route, renderer, ref = desk.route, desk.renderer, desk.ref
    needing = [c.id for c in ref.categories if c.requires_consent and not c.forbidden]
    if not needing:
        return
    purposes_of = {c: [p.id for p in ref.purposes if c in p.categories] for c in needing}

    def form_page(request: Request, patient: dict[str, Any], status: int = 200, **values: Any) -> Response:
        first = (patient.get("name") or [{}])[0]
        values.setdefault("form", {"categorie": needing[0], "finalite": ""})
        values.setdefault("errors", {})
        return renderer.page(
            request,
            "consentement.html",
            status,
            user=desk.who(desk.ready(request)),
            pid=patient["id"],
            patient=f"{' '.join(first.get('given') or [])} {first.get('family', '')}".strip(),
            categories=[(c, name(ref, "category", c)) for c in needing],
            purposes=sorted({(p, name(ref, "purpose", p)) for c in needing for p in purposes_of[c]}),
            **values,
        )

    def refused(request: Request, exc: AccessDenied) -> Response:
        current = desk.ready(request)
        return renderer.refused(request, refusal(exc, ref, current.profile, PURPOSE), user=desk.who(current))

    @route("GET", "/patients/{pid}/consentement", "records")
    def consent_form(request: Request, pid: str) -> Response:
        def draw() -> Response:
            try:
                patient = records.read(desk.record_request(request, PURPOSE), "Patient", _id(pid))
            except AccessDenied as exc:
                return refused(request, exc)
            return form_page(request, patient)

        return desk.guarded(request, draw)

    @route("POST", "/patients/{pid}/consentement", "records")
    def consent(
        request: Request,
        pid: str,
        csrf: Annotated[str, Form(alias=CSRF_FIELD, max_length=128)],
        categorie: Annotated[str, Form(max_length=80)] = "",
        finalite: Annotated[str, Form(max_length=80)] = "",
    ) -> Response:
        renderer.check_csrf(request, csrf)
        form = {"categorie": categorie, "finalite": finalite}

        def draw() -> Response:
            req = desk.record_request(request, PURPOSE)
            try:
                patient = records.read(req, "Patient", _id(pid))
            except AccessDenied as exc:
                return refused(request, exc)
            errors = {}
            if categorie not in purposes_of:
                errors["categorie"] = sentence("field_category")
            elif finalite not in purposes_of[categorie]:
                errors["finalite"] = sentence("field_purpose_category")
            if errors:
                return form_page(request, patient, 422, form=form, errors=errors)
            body = _consent(patient["id"], categorie, finalite, records.identity.now().isoformat())
            try:
                records.create(req, body)
            except AccessDenied as exc:
                return refused(request, exc)
            except MappingError as exc:
                return form_page(request, patient, 422, form=form, error=refusal(exc, ref))
            return RedirectResponse(f"/patients/{patient['id']}", status_code=303)

        return desk.guarded(request, draw)

    @route("POST", "/patients/{pid}/consentement/{cid}/retrait", "records")
    def withdraw(
        request: Request, pid: str, cid: str, csrf: Annotated[str, Form(alias=CSRF_FIELD, max_length=128)]
    ) -> Response:
        renderer.check_csrf(request, csrf)

        def draw() -> Response:
            req = desk.record_request(request, PURPOSE)
            rid, consent_id = _id(pid), _id(cid)
            try:
                consent = records.read(req, "Consent", consent_id)
                if (consent.get("patient") or {}).get("reference") != f"Patient/{rid}":
                    return renderer.refused(request, NOT_THIS_PATIENT, user=desk.who(desk.ready(request)))
                records.withdraw_consent(req, consent_id)
            except AccessDenied as exc:
                if exc.rule:  # the policy's refusal (profile, care relationship), with its rule
                    return refused(request, exc)
                what = Said(exc.in_language("fr"), exc.in_language("en"))
                said = Refusal(title("withdrawal"), what, sentence("withdrawal_todo"), 409)
                return renderer.refused(request, said, user=desk.who(desk.ready(request)))
            except NotFound as exc:
                return renderer.refused(request, refusal(exc, ref), user=desk.who(desk.ready(request)))
            return RedirectResponse(f"/patients/{rid}", status_code=303)

        return desk.guarded(request, draw)


NOT_THIS_PATIENT = worded("not_this_patient", 404)


def _id(pid: str) -> str:
    from santegarde.api.params import fhir_id

    return fhir_id(pid)


def _consent(patient_id: str, category: str, purpose: str, now: str) -> dict[str, Any]:
    """The FHIR Consent the ledger reads: the category and the purpose coded, active from now, opt-in."""
    return {
        "resourceType": "Consent",
        "status": "active",
        "scope": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{patient_id}"},
        "dateTime": now,
        "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]},
        "provision": {
            "code": [{"coding": [{"system": CATEGORY_SYSTEM, "code": category}]}],
            "purpose": [{"system": PURPOSE_SYSTEM, "code": purpose}],
        },
    }
