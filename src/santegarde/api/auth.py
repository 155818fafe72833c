"""Login, second factor, charter, profile, password, unlock, logout and Pro Santé Connect, over HTTP.

The session token travels only in a cookie (HttpOnly, Secure, SameSite=Strict): never in a URL,
never in a response body.
"""

# No `from __future__ import annotations` here: FastAPI reads the routes' annotations when they are
# defined inside router(), and postponed (string) annotations of a closure cannot be resolved.
import secrets
import time
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Cookie, Depends, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict

from santegarde.api.errors import responses
from santegarde.api.refusals import NOT_LOGGED_IN
from santegarde.identity import sessions, totp
from santegarde.identity.charter import charter_text
from santegarde.identity.context import IdentityContext
from santegarde.identity.errors import (
    AccountError,
    GrantError,
    LoginRefused,
    SessionLocked,
    SessionRefused,
    StepRequired,
)
from santegarde.identity.oidc import AuthorisationRequest, OidcError, ProSanteConnect
from santegarde.identity.passwords import WeakPassword
from santegarde.identity.throttle import Blocked
from santegarde.identity.totp import InvalidCode

COOKIE = "sg_session"
PSC_COOKIE = "sg_psc"
PSC_TTL_SECONDS = 600

# The refusals of a route that needs the session cookie, then each route's own (see api/errors.py).
SESSION = (SessionRefused, SessionLocked)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginBody(Body):
    login: str
    password: str
    workstation_class: str = "office"


class CodeBody(Body):
    code: str


class EnrolBody(Body):
    secret: str
    code: str


class CharterBody(Body):
    version: str


class ProfileBody(Body):
    profile: str


class PasswordBody(Body):
    current: str
    new: str


class UnlockBody(Body):
    password: str


@dataclass
class PendingPsc:
    """Authorisation requests waiting for Pro Santé Connect's answer, kept server-side for ten minutes."""

    requests: dict[str, tuple[float, AuthorisationRequest, str]] = field(default_factory=dict)

    def put(self, request: AuthorisationRequest, workstation_class: str) -> str:
        self._expire()
        handle = secrets.token_urlsafe(24)
        self.requests[handle] = (time.monotonic() + PSC_TTL_SECONDS, request, workstation_class)
        return handle

    def take(self, handle: str | None) -> tuple[AuthorisationRequest, str]:
        self._expire()
        entry = self.requests.pop(handle or "", None)
        if entry is None:
            raise OidcError("The Pro Santé Connect login expired or was not started here; start it again.")
        return entry[1], entry[2]

    def _expire(self) -> None:
        now = time.monotonic()
        for key in [k for k, (until, _, _) in self.requests.items() if until < now]:
            del self.requests[key]


def _state(result: sessions.SessionContext | sessions.LoginResult) -> dict[str, object]:
    if isinstance(result, sessions.LoginResult):
        return {"pending": list(result.pending), "profiles": list(result.profiles)}
    return {
        "login": result.login,
        "profile": result.profile,
        "project": result.project,
        "factors": result.factors,
        "method": result.method,
        "pending": list(result.pending),
    }


def _source(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def router(ctx: IdentityContext, psc: ProSanteConnect | None, *, local_http: bool = False) -> APIRouter:
    """The /auth routes; ``local_http`` (santegarde serve --dev, on 127.0.0.1 only) drops the cookie's Secure flag."""
    api = APIRouter(prefix="/auth", tags=["authentication"])
    pending_psc = PendingPsc()

    def _set_cookie(response: Response, token: str) -> None:
        response.set_cookie(COOKIE, token, httponly=True, secure=not local_http, samesite="strict", path="/")

    def token(sg_session: Annotated[str | None, Cookie()] = None) -> str:
        if not sg_session:
            raise SessionRefused(NOT_LOGGED_IN)
        return sg_session

    Token = Annotated[str, Depends(token)]

    @api.post("/login", responses=responses(LoginRefused, Blocked, AccountError))
    def login(body: LoginBody, request: Request, response: Response) -> dict[str, object]:
        """First factor: the password. Opens a session and says which steps remain."""
        result = sessions.login(
            ctx, body.login, body.password, source=_source(request), workstation_class=body.workstation_class
        )
        _set_cookie(response, result.token)
        return _state(result)

    @api.get("/session", responses=responses(*SESSION))
    def session(tok: Token) -> dict[str, object]:
        """The session's state and pending steps (counts as activity)."""
        return _state(sessions.state(ctx, tok))

    def rotated(tok: str, response: Response) -> str:
        """The session's new token, in the cookie: the one used before this step no longer works."""
        fresh = sessions.rotate(ctx, tok)
        _set_cookie(response, fresh)
        return fresh

    @api.post("/second-factor", responses=responses(*SESSION, InvalidCode, Blocked))
    def second_factor(body: CodeBody, tok: Token, response: Response) -> dict[str, object]:
        """A TOTP code or a single-use recovery code; the session gets a new token."""
        sessions.second_factor(ctx, tok, body.code)
        return _state(sessions.state(ctx, rotated(tok, response)))

    @api.post("/totp/start", responses=responses(*SESSION, StepRequired))
    def totp_start(tok: Token) -> dict[str, object]:
        """Start enrolling an authenticator app: the QR code to scan (its secret is only shown to you)."""
        current = sessions.state(ctx, tok)
        enrolment = totp.start_enrolment(current.login)
        return {"secret": enrolment.secret, "qr_svg": enrolment.qr_svg}

    @api.post("/totp/confirm", responses=responses(*SESSION, InvalidCode, StepRequired, Blocked))
    def totp_confirm(body: EnrolBody, tok: Token, response: Response) -> dict[str, object]:
        """Prove the app works with one code; returns the single-use recovery codes, once (the session gets a new
        token: it now has two factors)."""
        codes = sessions.enrol_second_factor(ctx, tok, body.secret, body.code)
        rotated(tok, response)
        return {"recovery_codes": codes}

    @api.get("/charter")
    def charter() -> dict[str, str]:
        version = ctx.settings.charter_version
        return {"version": version, "text": charter_text(version)}

    @api.post("/charter", responses=responses(*SESSION, StepRequired))
    def accept_charter(body: CharterBody, tok: Token) -> dict[str, object]:
        return _state(sessions.accept_charter(ctx, tok, body.version))

    @api.post("/profile", responses=responses(*SESSION, StepRequired, GrantError))
    def choose_profile(body: ProfileBody, tok: Token) -> dict[str, object]:
        return _state(sessions.choose_profile(ctx, tok, body.profile))

    @api.post("/password", responses=responses(*SESSION, LoginRefused, WeakPassword, AccountError))
    def change_password(body: PasswordBody, tok: Token, response: Response) -> dict[str, object]:
        """Change the password; the session gets a new token."""
        sessions.change_password(ctx, tok, body.current, body.new)
        return _state(sessions.state(ctx, rotated(tok, response)))

    @api.post("/unlock", responses=responses(*SESSION, LoginRefused, Blocked))
    def unlock(body: UnlockBody, tok: Token) -> dict[str, object]:
        return _state(sessions.unlock(ctx, tok, body.password))

    @api.post("/logout", responses=responses(*SESSION))
    def logout(tok: Token, response: Response) -> dict[str, str]:
        sessions.logout(ctx, tok)
        response.delete_cookie(COOKIE, path="/")
        return {"message": "Logged out."}

    @api.get("/psc/start", status_code=302, responses=responses(OidcError))
    def psc_start(workstation_class: str = "office") -> RedirectResponse:
        """Go to Pro Santé Connect (e-CPS or CPS card)."""
        if psc is None:
            raise OidcError("Pro Santé Connect is not configured for this organisation.")
        request = psc.begin()
        redirect = RedirectResponse(request.url, status_code=302)
        handle = pending_psc.put(request, workstation_class)
        redirect.set_cookie(
            PSC_COOKIE, handle, httponly=True, secure=True, samesite="lax", path="/auth/psc", max_age=PSC_TTL_SECONDS
        )
        return redirect

    @api.get("/psc/callback", status_code=303, responses=responses(OidcError, LoginRefused, Blocked))
    def psc_callback(request: Request, sg_psc: Annotated[str | None, Cookie()] = None) -> RedirectResponse:
        """Pro Santé Connect's answer: a two-factor session for the professional's account."""
        if psc is None:
            raise OidcError("Pro Santé Connect is not configured for this organisation.")
        started, workstation_class = pending_psc.take(sg_psc)
        identity = psc.finish(started, dict(request.query_params))
        result = sessions.psc_login(ctx, identity, source=_source(request), workstation_class=workstation_class)
        redirect = RedirectResponse("/", status_code=303)
        redirect.delete_cookie(PSC_COOKIE, path="/auth/psc")
        _set_cookie(redirect, result.token)
        return redirect

    return api
