"""Domain refusals as HTTP answers: a status and the sentence the refusal carries (never a traceback).

One shape per surface: an OperationOutcome under /fhir; elsewhere an RFC 9457 problem (``application/problem+json``)
whose ``detail`` is the sentence, with the kind of refusal in ``error`` (and the sentence again in ``message``, the
name it had before the problem shape). Never FastAPI's default ``detail`` list.

A refusal worded in several languages (``WordedError``) is answered in French unless the request's
``Accept-Language`` prefers English (``Accept-Language: en``), as the CLI's ``--lang en``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from santegarde.api.refusals import BodyTooLarge, OriginRefused, PreconditionFailed
from santegarde.compassionate.forms import SubmissionRefused
from santegarde.compassionate.registry import UnknownProgramme
from santegarde.compassionate.service import WorkflowRefused
from santegarde.crypto import DecryptionRefused
from santegarde.errors import SantegardeError, WordedError
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
from santegarde.store.bulk import ExportBusy
from santegarde.store.service import AccessDenied, NotFound, VersionConflict, WriteConflict

# Most specific first: the first class the error is an instance of decides the status.
STATUS: list[tuple[type[SantegardeError], int]] = [
    (NotFound, 404),
    (UnknownProgramme, 404),
    (SubmissionRefused, 422),
    (WorkflowRefused, 409),
    (RequestNotFound, 404),
    (AccessDenied, 403),
    (OriginRefused, 403),
    (BodyTooLarge, 413),
    (DecryptionRefused, 409),
    (WriteConflict, 409),
    (VersionConflict, 412),
    (PreconditionFailed, 412),
    (Blocked, 429),
    (ExportBusy, 429),
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
    return status_for(type(exc))


def status_for(kind: type[SantegardeError]) -> int:
    """The HTTP status that answers errors of this class (400 when no more specific class maps it)."""
    return next((code for mapped, code in STATUS if issubclass(kind, mapped)), 400)


# FHIR issue type codes (http://hl7.org/fhir/issue-type) by HTTP status.
ISSUE_CODE = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    409: "conflict",
    412: "conflict",
    413: "too-long",
    422: "invalid",
    423: "lock-error",
    429: "throttled",
}


FHIR_JSON = "application/fhir+json"
PROBLEM_JSON = "application/problem+json"

# What the API answers besides the SantegardeError classes above: FastAPI's own refusals of a request
# it cannot read (a body that is not JSON: 400; parameters or body of the wrong shape: 422).
MALFORMED = "The body could not be read (it must be JSON in UTF-8)"
INVALID = "A parameter or the body does not have the declared shape; the answer says which"

ERROR_BODY: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "required": ["type", "title", "status", "detail", "error", "message"],
    "properties": {
        "type": {"type": "string", "description": "about:blank: the status says what kind of problem"},
        "title": {"type": "string", "description": "The status's phrase"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "What is wrong and what to do, as a sentence"},
        "error": {"type": "string", "description": "The kind of refusal"},
        "message": {"type": "string", "description": "The same sentence as detail"},
        "step": {"type": "string", "description": "The login step still to do (403 StepRequired)"},
    },
}
OUTCOME_BODY: dict[str, Any] = {
    "title": "OperationOutcome",
    "type": "object",
    "required": ["resourceType", "issue"],
    "properties": {
        "resourceType": {"const": "OperationOutcome"},
        "issue": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["severity", "code", "diagnostics"],
                "properties": {
                    "severity": {"type": "string"},
                    "code": {"type": "string"},
                    "diagnostics": {"type": "string", "description": "What is wrong and what to do, as a sentence"},
                },
            },
        },
    },
}


def _summary(kind: type) -> str:
    return (kind.__doc__ or kind.__name__).strip().splitlines()[0].rstrip(".")


def responses(*kinds: type[SantegardeError], fhir: bool = False) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` for the refusals a route (or router) answers, from the classes it may raise.

    Each class is declared under the status ``STATUS`` gives it, with the class's own summary; the
    answers of malformed (400) and ill-shaped (422) requests are always declared. On FHIR routes
    every refusal is an OperationOutcome (``application/fhir+json``).
    """
    described: dict[int, list[str]] = {400: [MALFORMED], 422: [INVALID]}
    for kind in kinds:
        summary = f"{_summary(kind)} ({kind.__name__})"
        described.setdefault(status_for(kind), []).append(summary)
    declared: dict[int | str, dict[str, Any]] = {}
    for status in sorted(described):
        schema = OUTCOME_BODY if fhir else ERROR_BODY
        media = FHIR_JSON if fhir else PROBLEM_JSON
        declared[status] = {"description": "; ".join(described[status]) + ".", "content": {media: {"schema": schema}}}
    return declared


def outcome(status: int, message: str) -> dict[str, Any]:
    """The OperationOutcome of a refusal under /fhir (the answer's body, or a batch entry's outcome)."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": ISSUE_CODE.get(status, "processing"), "diagnostics": message}],
    }


def _outcome(status: int, message: str) -> JSONResponse:
    return JSONResponse(outcome(status, message), status_code=status, media_type=FHIR_JSON)


def language(accept: str | None) -> str:
    """The language a person reads a refusal in: the first of fr and en their ``Accept-Language`` prefers; fr
    when it names neither (or when there is no header)."""
    best, best_q = "fr", 0.0
    for part in (accept or "").split(","):
        tag, _, params = part.strip().partition(";")
        lang = tag.strip().lower().split("-")[0]
        if lang not in ("fr", "en"):
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > best_q:
            best, best_q = lang, q
    return best


def sentence(request: Request, exc: SantegardeError) -> str:
    """The refusal's sentence, in the request's language when it is worded in several."""
    if isinstance(exc, WordedError):
        return exc.in_language(language(request.headers.get("accept-language")))
    return str(exc)


def _is_fhir(request: Request) -> bool:
    return request.url.path.startswith("/fhir")


def problem(status: int, message: str, error: str, **extra: object) -> dict[str, object]:
    """The RFC 9457 problem of a refusal outside /fhir."""
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body: dict[str, object] = {"type": "about:blank", "title": phrase, "status": status, "detail": message}
    return {**body, "error": error, "message": message, **extra}


def _answer(request: Request, status: int, message: str, error: str) -> JSONResponse:
    """An OperationOutcome under /fhir; elsewhere an RFC 9457 problem."""
    if _is_fhir(request):
        return _outcome(status, message)
    return JSONResponse(problem(status, message, error), status_code=status, media_type=PROBLEM_JSON)


async def validation_error(request: Request, exc: Exception) -> Response:
    """A body, header or parameter of the wrong shape (FastAPI's validation): 422 with a sentence, not a list."""
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "not valid"}
    where = ".".join(str(p) for p in first.get("loc", ())) or "the request"
    message = f"The request is not valid: at {where}, {first.get('msg', 'not valid')}. Fix it and send it again."
    return _answer(request, 422, message, "RequestNotValid")


async def http_error(request: Request, exc: Exception) -> Response:
    """FastAPI's and Starlette's own refusals (unreadable body, no such route or method): sentences."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"There is no route {request.url.path} in this API; see /docs for its routes."
    elif exc.status_code == 405:
        message = f"{request.url.path} does not accept {request.method}; see /docs for what it accepts."
    else:
        message = f"{str(exc.detail).rstrip('.')}."
    answer = _answer(request, exc.status_code, message, "HttpError")
    for name, value in (exc.headers or {}).items():
        answer.headers[name] = value
    return answer


async def santegarde_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SantegardeError)
    # The rule the metrics count this refusal under (api/ops.py): the référentiel's rule, else the kind of refusal.
    request.scope["santegarde.refusal"] = getattr(exc, "rule", "") or type(exc).__name__
    message = sentence(request, exc)
    if _is_fhir(request):
        return _outcome(status_of(exc), message)
    extra = {"step": exc.step} if isinstance(exc, StepRequired) else {}
    headers = {}
    if isinstance(exc, Blocked):
        headers["Retry-After"] = str(max(1, int((exc.until - datetime.now(UTC)).total_seconds())))
    body = problem(status_of(exc), message, type(exc).__name__, **extra)
    return JSONResponse(body, status_code=status_of(exc), headers=headers, media_type=PROBLEM_JSON)
