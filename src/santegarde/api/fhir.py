"""The FHIR R4 REST API over the record store: read, search, create, update, history, CapabilityStatement.

Every route goes through ``RecordService`` (identity → policy → store → audit). The purpose is
declared on every request in the ``X-Purpose`` header; break-the-glass reasons and research formalities
travel in headers too. Consent is never a header: it is a stored ``Consent`` the path looks up
(created with ``POST /fhir/Consent``, withdrawn with ``POST /fhir/Consent/{id}/$withdraw`` or an update to
``inactive``, found with ``POST /fhir/Consent/_search {"patient": id}``). A patient's objections (GDPR art. 21.1)
are recorded, shown and lifted with ``/fhir/Patient/{id}/$objection`` and ``$lift-objection``. Searching takes
its criteria in the body (``POST [type]/_search``): identifiers, names and birth dates never appear in a URL.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations inside router().
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Cookie, Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from santegarde.api.errors import FHIR_JSON, responses, validation_error
from santegarde.api.params import FhirId
from santegarde.api.refusals import BodyTooLarge, OriginRefused
from santegarde.crypto import DecryptionRefused
from santegarde.identity.errors import SessionLocked, SessionRefused, StepRequired
from santegarde.store.mapping import RESOURCES, MappingError
from santegarde.store.objections import Objection
from santegarde.store.service import AccessDenied, NotFound, RecordService
from santegarde.store.service import Request as RecordRequest

# What every FHIR route may answer besides its success (its own status is declared on the route).
REFUSALS = (
    MappingError,
    SessionRefused,
    SessionLocked,
    StepRequired,
    AccessDenied,
    NotFound,
    DecryptionRefused,
    OriginRefused,
    BodyTooLarge,
)


class FhirJSONResponse(JSONResponse):
    """JSON under FHIR's own media type: how the OpenAPI declares every FHIR answer."""

    media_type = FHIR_JSON


def _bundle(kind: str, resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": kind,
        "total": len(resources),
        "entry": [{"resource": r, "fullUrl": f"{r['resourceType']}/{r['id']}"} for r in resources],
    }


def capability_statement() -> dict[str, Any]:
    interactions = [{"code": c} for c in ("read", "search-type", "create", "update", "history-instance")]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": datetime.now(UTC).date().isoformat(),
        "kind": "instance",
        "software": {"name": "santegarde", "version": "0.1.0"},
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "documentation": (
                    "Every request needs a session (cookie sg_session, from /auth/login) and a declared purpose "
                    "(header X-Purpose). Search with POST [type]/_search: personal data never goes in a URL."
                ),
                "security": {"description": "Two-factor sessions for health data; every access is traced."},
                "resource": [
                    {
                        "type": name,
                        "interaction": interactions,
                        "searchParam": [
                            {"name": p, "type": "date" if p == "birthdate" else "string"}
                            for p in ("identifier", "family", "given", "birthdate")
                        ]
                        if name in ("Patient", "Practitioner", "Organization")
                        else [],
                    }
                    for name in sorted(RESOURCES)
                ],
            }
        ],
    }


def router(records: RecordService) -> APIRouter:
    api = APIRouter(
        prefix="/fhir",
        tags=["FHIR R4"],
        default_response_class=FhirJSONResponse,
        responses=responses(*REFUSALS, fhir=True),
    )

    def context(
        request: Request,
        x_purpose: Annotated[str | None, Header()] = None,
        x_break_glass: Annotated[str | None, Header()] = None,
        x_formality: Annotated[str | None, Header()] = None,
        sg_session: Annotated[str | None, Cookie()] = None,
    ) -> RecordRequest:
        made = RecordRequest(
            sg_session or "",
            x_purpose or "",
            source=request.client.host if request.client else "unknown",
            break_glass=x_break_glass,
            formality=x_formality,
        )
        if not sg_session:
            records.trace_refusal(made, *_attempt(request), "identity")
            raise SessionRefused("You are not logged in; log in first (POST /auth/login).")
        if not x_purpose:
            records.trace_refusal(made, *_attempt(request), "purpose.missing")
            raise MappingError(
                "Declare the purpose of this request in the X-Purpose header (e.g. X-Purpose: medical_record); "
                "see santegarde referential show for the purposes of your organisation."
            )
        return made

    Ctx = Annotated[RecordRequest, Depends(context)]

    def fhir(body: dict[str, Any], status: int = 200, location: str | None = None) -> JSONResponse:
        headers = {"Location": location} if location else {}
        if "meta" in body and "versionId" in body["meta"]:
            headers["ETag"] = f'W/"{body["meta"]["versionId"]}"'
        return JSONResponse(body, status_code=status, media_type=FHIR_JSON, headers=headers)

    @api.get("/metadata")
    def metadata() -> JSONResponse:
        """The CapabilityStatement: what this server does, and how to call it."""
        return fhir(capability_statement())

    @api.post("/{resource_type}/_search")
    def search(resource_type: str, ctx: Ctx, criteria: Annotated[dict[str, str], Body()]) -> JSONResponse:
        """Search by identifier ("system|value"), family, given, birthdate — in the body, never the URL."""
        return fhir(_bundle("searchset", records.search(ctx, resource_type, criteria)))

    @api.get("/{resource_type}")
    def search_in_url(resource_type: str, request: Request) -> JSONResponse:
        raise MappingError(
            f"Search {resource_type} with POST /fhir/{resource_type}/_search and the criteria in the body: "
            "identifiers, names and birth dates must never appear in a URL."
        )

    @api.post("/{resource_type}", status_code=201)
    def create(resource_type: str, ctx: Ctx, body: Annotated[dict[str, Any], Body()]) -> JSONResponse:
        if body.get("resourceType") != resource_type:
            raise MappingError(f"The body is a {body.get('resourceType')}, not a {resource_type}.")
        created = records.create(ctx, body)
        return fhir(created, 201, f"/fhir/{resource_type}/{created['id']}/_history/{created['meta']['versionId']}")

    @api.get("/{resource_type}/{rid}")
    def read(resource_type: str, rid: FhirId, ctx: Ctx) -> JSONResponse:
        return fhir(records.read(ctx, resource_type, rid))

    @api.put("/{resource_type}/{rid}")
    def update(resource_type: str, rid: FhirId, ctx: Ctx, body: Annotated[dict[str, Any], Body()]) -> JSONResponse:
        return fhir(records.update(ctx, resource_type, rid, body))

    @api.get("/{resource_type}/{rid}/_history")
    def history(resource_type: str, rid: FhirId, ctx: Ctx) -> JSONResponse:
        return fhir(_bundle("history", records.history(ctx, resource_type, rid)))

    @api.post("/Consent/{rid}/$withdraw")
    def withdraw_consent(rid: FhirId, ctx: Ctx) -> JSONResponse:
        """The person withdraws this consent: inactive from now on; the data collected before stay."""
        return fhir(records.withdraw_consent(ctx, rid))

    @api.post("/Patient/{rid}/$objection", status_code=201)
    def record_objection(
        rid: FhirId, ctx: Ctx, against: Annotated[str, Body(embed=True, max_length=60, description="The purpose")]
    ) -> JSONResponse:
        """The patient objects to a purpose (GDPR art. 21.1, where the right applies): every later request for it is
        refused. Refused, with the article, for a purpose based on a legal obligation."""
        return fhir(_objections([records.record_objection(ctx, rid, against)]), 201)

    @api.get("/Patient/{rid}/$objection")
    def show_objections(rid: FhirId, ctx: Ctx) -> JSONResponse:
        """The patient's objections, in force or lifted (traced)."""
        return fhir(_objections(records.objections_of(ctx, rid)))

    @api.post("/Patient/{rid}/$lift-objection")
    def lift_objection(
        rid: FhirId,
        ctx: Ctx,
        against: Annotated[str, Body(max_length=60, description="The purpose of the objection")],
        compelling_grounds: Annotated[
            str | None, Body(max_length=1000, description="Override it: the grounds, written (flagged for review)")
        ] = None,
    ) -> JSONResponse:
        """The controller lifts an objection (the person withdrew it) or overrides it on compelling legitimate
        grounds; any other profile is refused (traced)."""
        return fhir(_objections([records.lift_objection(ctx, rid, against, grounds=compelling_grounds)]))

    @api.post("/Patient/{rid}/$declare-care")
    def declare_care(
        rid: FhirId,
        ctx: Ctx,
        basis: Annotated[str, Body(description="consultation, referral, replacement, care_team or home_visit")],
        note: Annotated[str, Body(max_length=200)] = "",
    ) -> JSONResponse:
        """A practitioner takes this patient in care: a coded basis, recorded, traced and flagged for review."""
        records.declare_care(ctx, rid, basis, note=note)
        return fhir(_outcome("information", "informational", "Care relationship recorded."))

    return api


def refused_input(records: RecordService) -> Callable[[Request, Exception], Awaitable[Response]]:
    """A malformed /fhir request (FastAPI's 422) is traced like any refusal, then answered as an OperationOutcome."""

    async def handle(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/fhir"):
            made = RecordRequest(
                request.cookies.get("sg_session", ""),
                request.headers.get("x-purpose", ""),
                source=request.client.host if request.client else "unknown",
            )
            operation, resource = _attempt(request)
            await run_in_threadpool(records.trace_refusal, made, operation, resource, "request.invalid")
        return await validation_error(request, exc)

    return handle


def _attempt(request: Request) -> tuple[str, tuple[str, str]]:
    """The operation and (type, id) a /fhir request aimed at, to trace it when it is refused before the path."""
    parts = request.url.path.removeprefix("/fhir/").split("/")
    kind = parts[0][:40] if parts and parts[0] else ""
    rid = parts[1][:64] if len(parts) > 1 and not parts[1].startswith(("_", "$")) else ""
    last = parts[-1]
    if last == "_search":
        operation = "search"
    elif last == "_history":
        operation = "history"
    elif last.startswith("$"):
        operation = last[1:][:40]
    else:
        operation = {"GET": "read", "POST": "create", "PUT": "update"}.get(request.method, request.method.lower())
    return operation, (kind, rid)


def _objections(found: list[Objection]) -> dict[str, Any]:
    """Objections as the output of a FHIR operation: a ``Parameters`` resource, one ``objection`` part each."""

    def part(o: Objection) -> list[dict[str, Any]]:
        values: list[tuple[str, str, Any]] = [
            ("number", "valueInteger", o.number),
            ("patient", "valueReference", {"reference": f"Patient/{o.patient_id}"}),
            ("purpose", "valueCode", o.purpose),
            ("recorded", "valueDateTime", o.recorded_at.isoformat()),
            ("recordedBy", "valueString", o.recorded_by),
            ("inForce", "valueBoolean", o.lifted_at is None),
        ]
        if o.lifted_at is not None:
            values += [("lifted", "valueDateTime", o.lifted_at.isoformat()), ("liftedBy", "valueString", o.lifted_by)]
            values.append(("how", "valueCode", o.lift_kind))
        if o.justification is not None:
            values.append(("justification", "valueInteger", o.justification))
        return [{"name": name, kind: value} for name, kind, value in values]

    return {"resourceType": "Parameters", "parameter": [{"name": "objection", "part": part(o)} for o in found]}


def _outcome(severity: str, code: str, message: str) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [{"severity": severity, "code": code, "diagnostics": message}]}
