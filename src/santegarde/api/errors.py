"""Domain refusals as HTTP answers: a status and the sentence the refusal carries (never a traceback)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import Request
from fastapi.responses import JSONResponse

from santegarde.api.refusals import BodyTooLarge, OriginRefused
from santegarde.crypto import DecryptionRefused
from santegarde.errors import SantegardeError
from santegarde.identity.errors import (
    AccountError,
    GrantError,
    LoginRefused,
    SessionLocked,
    SessionRefused,
    StepRequired,
)
from santegarde.identity.oidc import OidcError
from santegarde.identity.passwords import WeakPassword
from santegarde.identity.throttle import Blocked
from santegarde.identity.totp import InvalidCode
from santegarde.rights.requests import RequestNotFound
from santegarde.store.service import AccessDenied, NotFound

# Most specific first: the first class the error is an instance of decides the status.
STATUS: list[tuple[type[SantegardeError], int]] = [
    (NotFound, 404),
    (RequestNotFound, 404),
    (AccessDenied, 403),
    (OriginRefused, 403),
    (BodyTooLarge, 413),
    (DecryptionRefused, 409),
    (Blocked, 429),
    (SessionLocked, 423),
    (SessionRefused, 401),
    (LoginRefused, 401),
    (InvalidCode, 401),
    (OidcError, 401),
    (StepRequired, 403),
    (WeakPassword, 422),
    (AccountError, 400),
    (GrantError, 403),
]


def status_of(exc: SantegardeError) -> int:
    return next((code for kind, code in STATUS if isinstance(exc, kind)), 400)


# FHIR issue type codes (http://hl7.org/fhir/issue-type) by HTTP status.
ISSUE_CODE = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    409: "conflict",
    413: "too-long",
    422: "invalid",
    423: "lock-error",
    429: "throttled",
}


async def santegarde_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SantegardeError)
    if request.url.path.startswith("/fhir"):
        status = status_of(exc)
        outcome = {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": ISSUE_CODE.get(status, "processing"), "diagnostics": str(exc)}],
        }
        return JSONResponse(outcome, status_code=status, media_type="application/fhir+json")
    body: dict[str, object] = {"error": type(exc).__name__, "message": str(exc)}
    if isinstance(exc, StepRequired):
        body["step"] = exc.step
    headers = {}
    if isinstance(exc, Blocked):
        headers["Retry-After"] = str(max(1, int((exc.until - datetime.now(UTC)).total_seconds())))
    return JSONResponse(body, status_code=status_of(exc), headers=headers)
