"""The FHIR R4 REST API over the record store: read, search, create, update, history, CapabilityStatement.

Every route goes through ``RecordService`` (identity → policy → store → audit). The purpose is
declared on every request in the ``X-Purpose`` header; break-the-glass reasons, recorded consent
and research formalities travel in headers too. Searching takes its criteria in the body
(``POST [type]/_search``): identifiers, names and birth dates never appear in a URL.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations inside router().
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Cookie, Depends, Header, Request
from fastapi.responses import JSONResponse

from santegarde.api.params import FhirId
from santegarde.identity.errors import SessionRefused
from santegarde.store.mapping import RESOURCES, MappingError
from santegarde.store.service import RecordService
from santegarde.store.service import Request as RecordRequest

FHIR_JSON = "application/fhir+json"


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
    api = APIRouter(prefix="/fhir", tags=["FHIR R4"])

    def context(
        request: Request,
        x_purpose: Annotated[str | None, Header()] = None,
        x_break_glass: Annotated[str | None, Header()] = None,
        x_consent_recorded: Annotated[bool, Header()] = False,
        x_formality: Annotated[str | None, Header()] = None,
        sg_session: Annotated[str | None, Cookie()] = None,
    ) -> RecordRequest:
        if not sg_session:
            raise SessionRefused("You are not logged in; log in first (POST /auth/login).")
        if not x_purpose:
            raise MappingError(
                "Declare the purpose of this request in the X-Purpose header (e.g. X-Purpose: medical_record); "
                "see santegarde referential show for the purposes of your organisation."
            )
        return RecordRequest(
            sg_session,
            x_purpose,
            source=request.client.host if request.client else "unknown",
            break_glass=x_break_glass,
            consent_recorded=x_consent_recorded,
            formality=x_formality,
        )

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

    @api.post("/{resource_type}")
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

    @api.post("/Patient/{rid}/$declare-care")
    def declare_care(rid: FhirId, ctx: Ctx, basis: Annotated[str, Body(embed=True)]) -> JSONResponse:
        """A practitioner takes this patient in care (the basis is recorded and traced)."""
        records.declare_care(ctx, rid, basis)
        return fhir(_outcome("information", "informational", "Care relationship recorded."))

    return api


def _outcome(severity: str, code: str, message: str) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [{"severity": severity, "code": code, "diagnostics": message}]}
