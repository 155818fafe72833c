"""Domain refusals as HTTP answers: a status and the sentence the refusal carries (never a traceback)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

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
    405: "not-supported",
    409: "conflict",
    413: "too-long",
    422: "invalid",
    423: "lock-error",
    429: "throttled",
}


def _answer(request: Request, status: int, message: str) -> JSONResponse | None:
    """A FHIR OperationOutcome under /fhir; None elsewhere (the caller answers JSON)."""
    if not request.url.path.startswith("/fhir"):
        return None
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": ISSUE_CODE.get(status, "processing"), "diagnostics": message}],
    }
    return JSONResponse(outcome, status_code=status, media_type="application/fhir+json")


async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """A body, header or parameter of the wrong shape (FastAPI's validation): 422 with a sentence, not a list."""
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "not valid"}
    where = ".".join(str(p) for p in first.get("loc", ())) or "the request"
    message = f"The request is not valid: at {where}, {first.get('msg', 'not valid')}. Fix it and send it again."
    return _answer(request, 422, message) or JSONResponse(
        {"error": "RequestNotValid", "message": message}, status_code=422
    )


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    """No such route (404) or method (405): a sentence pointing to the API's documentation."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"There is no route {request.url.path} in this API; see /docs for its routes."
    elif exc.status_code == 405:
        message = f"{request.url.path} does not accept {request.method}; see /docs for what it accepts."
    else:
        message = f"{exc.detail}."
    answer = _answer(request, exc.status_code, message) or JSONResponse(
        {"error": "HttpError", "message": message}, status_code=exc.status_code
    )
    for name, value in (exc.headers or {}).items():
        answer.headers[name] = value
    return answer


async def santegarde_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SantegardeError)
    status = status_of(exc)
    fhir = _answer(request, status, str(exc))
    if fhir is not None:
        return fhir
    body: dict[str, object] = {"error": type(exc).__name__, "message": str(exc)}
    if isinstance(exc, StepRequired):
        body["step"] = exc.step
    headers = {}
    if isinstance(exc, Blocked):
        headers["Retry-After"] = str(max(1, int((exc.until - datetime.now(UTC)).total_seconds())))
    return JSONResponse(body, status_code=status, headers=headers)
