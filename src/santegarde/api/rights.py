"""The rights desk over HTTP: register a request, record the identity check, execute, read, print the letter.

Every route needs the handling professional's session (cookie ``sg_session``) and a declared
purpose (header ``X-Purpose``, e.g. ``medical_record`` or ``rights_management``); execution goes
through ``RecordService`` like every other access (COM-RGT-1).
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations inside router().
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Cookie, Depends, Header, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from santegarde.api.errors import responses
from santegarde.api.params import RequestNumber
from santegarde.api.refusals import NOT_LOGGED_IN, BodyTooLarge, OriginRefused
from santegarde.crypto import DecryptionRefused
from santegarde.identity.errors import SessionLocked, SessionRefused, StepRequired
from santegarde.rights import RightsService
from santegarde.rights.requests import RequestNotFound, RightsError
from santegarde.store.service import AccessDenied, NotFound, RecordService
from santegarde.store.service import Request as RecordRequest

# What every rights route may answer besides its success.
REFUSALS = (
    RightsError,
    SessionRefused,
    SessionLocked,
    StepRequired,
    AccessDenied,
    RequestNotFound,
    NotFound,
    DecryptionRefused,
    OriginRefused,
    BodyTooLarge,
)
LETTER: dict[int | str, dict[str, Any]] = {
    200: {"description": "The letter", "content": {"text/html": {}, "application/pdf": {}}}
}


class NewRequest(BaseModel):
    right: str
    patient_id: str
    requester: str = "person"
    purpose: str | None = None
    grounds: str | None = None
    older_than_five_years: bool = False
    received_at: datetime | None = None


class IdentityCheck(BaseModel):
    how: str = Field(description="How the requester's identity (and standing) was checked")


def router(records: RecordService, rights: RightsService) -> APIRouter:
    api = APIRouter(prefix="/rights", tags=["Data-subject rights"], responses=responses(*REFUSALS))

    def context(
        request: Request,
        x_purpose: Annotated[str | None, Header()] = None,
        x_access_reason: Annotated[str | None, Header()] = None,
        sg_session: Annotated[str | None, Cookie()] = None,
    ) -> RecordRequest:
        if not sg_session:
            raise SessionRefused(NOT_LOGGED_IN)
        if not x_purpose:
            raise RightsError("purpose_header")
        # a profile that reaches the data only ad hoc states its written reason here too, as on /fhir (AAC-8)
        source = request.client.host if request.client else "unknown"
        return RecordRequest(sg_session, x_purpose, source=source, reason=x_access_reason)

    Ctx = Annotated[RecordRequest, Depends(context)]

    @api.post("/requests", status_code=201)
    def register(ctx: Ctx, body: NewRequest) -> JSONResponse:
        """Register a request as received; the deadline is computed."""
        created = rights.receive(
            ctx,
            body.right,
            body.patient_id,
            body.requester,
            purpose=body.purpose,
            grounds=body.grounds,
            older_than_five_years=body.older_than_five_years,
            received_at=body.received_at,
        )
        return JSONResponse(created.as_dict(), status_code=201, headers={"Location": f"/rights/requests/{created.id}"})

    @api.post("/requests/{request_id}/identity-check")
    def identity_check(request_id: RequestNumber, ctx: Ctx, body: IdentityCheck) -> JSONResponse:
        return JSONResponse(rights.register.record_identity_check(ctx, request_id, body.how).as_dict())

    @api.post("/requests/{request_id}/extend")
    def extend(request_id: RequestNumber, ctx: Ctx, reason: Annotated[str, Body(embed=True)]) -> JSONResponse:
        return JSONResponse(rights.register.extend(ctx, request_id, reason).as_dict())

    @api.post("/requests/{request_id}/execute")
    def execute(
        request_id: RequestNumber, ctx: Ctx, corrected: Annotated[dict[str, Any] | None, Body(embed=True)] = None
    ) -> JSONResponse:
        """Execute (or refuse, with rule and section); an access or portability answer carries the FHIR Bundle."""
        outcome = rights.execute(ctx, request_id, corrected=corrected)
        return JSONResponse(
            {
                "request": outcome.request.as_dict(),
                "executed": outcome.executed,
                "message": outcome.message,
                "bundle": outcome.bundle,
                "affected": list(outcome.affected),
            }
        )

    @api.get("/requests/{request_id}")
    def read(request_id: RequestNumber, ctx: Ctx) -> JSONResponse:
        rights.register.who(ctx)
        return JSONResponse(rights.get(request_id).as_dict())

    @api.get("/requests/{request_id}/letter", response_model=None, response_class=HTMLResponse, responses=LETTER)
    def letter(request_id: RequestNumber, ctx: Ctx, format: str = "html") -> Response:
        """The answer letter, in French (HTML, or PDF with ?format=pdf)."""
        rights.register.who(ctx)
        document = rights.letter(request_id, format)
        if isinstance(document, bytes):
            return Response(document, media_type="application/pdf")
        return HTMLResponse(document)

    return api
