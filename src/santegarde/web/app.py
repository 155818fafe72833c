"""The console on top of the API: one FastAPI app, the API at /fhir, /auth, /rights, the pages everywhere else.

Pages get a strict Content-Security-Policy (no inline script or style, nothing from another site), are never
framed nor cached, and every refusal or failure on a page is answered with a French page that says what
happened and what to do (the API keeps its JSON answers).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client.registry import Collector
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from santegarde.api import create_app
from santegarde.api.errors import http_error, santegarde_error
from santegarde.api.ops import Readiness, route_template
from santegarde.api.origin import STATE_CHANGING, OriginCheck
from santegarde.api.refusals import OriginRefused
from santegarde.compassionate.first_connection import PlatformNotice
from santegarde.compassionate.service import CompassionateService
from santegarde.config.model import Server
from santegarde.errors import SantegardeError
from santegarde.identity.context import IdentityContext
from santegarde.identity.oidc import ProSanteConnect
from santegarde.policy.desks import Desk, desk_profiles
from santegarde.referentials.model import Referential
from santegarde.rights.execute import RightsService
from santegarde.runtime import Organisation
from santegarde.store.service import RecordService
from santegarde.web import (
    access_review_desk,
    audit_desk,
    breach_case,
    breach_desk,
    controller,
    justification_desk,
    measure_desk,
    pages,
    processor_desk,
    retention_acts,
    retention_desk,
    rights_desk,
    transfer_desk,
)
from santegarde.web.desk_gate import DeskGate
from santegarde.web.french import Refusal, refusal, worded
from santegarde.web.render import Renderer

STATIC = Path(__file__).parent / "static"
API_PREFIXES = ("/fhir", "/auth", "/rights", "/aac", "/health", "/metrics", "/docs", "/redoc", "/openapi.json")
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),  # "no-referrer" would make the forms send "Origin: null",
    (b"cache-control", b"no-store"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
log = logging.getLogger(__name__)


def is_page(path: str) -> bool:
    return not path.startswith(API_PREFIXES)


class PageHeaders:
    """ASGI middleware: the console's security headers on every page and static asset (not on the API)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_page(scope["path"]):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(h for h in PAGE_HEADERS if h[0] not in names)]
            await send(message)

        await self.app(scope, receive, with_headers)


class PageOriginCheck(OriginCheck):
    """The API's Origin check, answered on the console's pages with the French refused page (not JSON)."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str], renderer: Renderer, ref: Referential) -> None:
        super().__init__(app, allowed)
        self.renderer = renderer
        self.ref = ref

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_page(scope["path"]) and scope["method"].upper() in STATE_CHANGING:
            headers = dict(scope["headers"])
            sent = headers.get(b"origin") or headers.get(b"referer")
            if sent is not None and not self._accepted(scope, sent.decode("latin-1")):
                answer = self.renderer.refused(Request(scope), refusal(OriginRefused(), self.ref))
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_console(
    identity: IdentityContext,
    *,
    records: RecordService,
    rights: RightsService | None = None,
    psc: ProSanteConnect | None = None,
    server: Server | None = None,
    compassionate: CompassionateService | None = None,
    platform_notice: PlatformNotice | None = None,
    local_http: bool = False,
    readiness: Readiness | None = None,
    metrics_token: str | None = None,
    collectors: tuple[Collector, ...] = (),
    organisation: Organisation | None = None,
    organisation_name: str | None = None,
) -> FastAPI:
    """The API of ``create_app`` with the console's pages at ``/`` (sign-in, practice); with the ``organisation``,
    the governance desks too (the controller's dashboard and documents, the audit desk). ``organisation_name`` heads
    the printed registers (the organisation's configured name by default). Under compassionate access, the
    ``platform_notice`` shown at first connection (AAC-10; the organisation's by default)."""
    app = create_app(
        identity,
        records=records,
        rights=rights,
        psc=psc,
        server=server,
        compassionate=compassionate,
        local_http=local_http,
        home=False,
        readiness=readiness,
        metrics_token=metrics_token,
        collectors=collectors,
    )
    renderer = Renderer(identity.referential, records.console_key)
    gate = DeskGate(identity, organisation.audit) if organisation is not None else None
    app.include_router(
        pages.router(
            identity,
            records,
            renderer,
            psc=psc is not None,
            compassionate=compassionate,
            platform_notice=platform_notice or _platform_notice(organisation, compassionate),
            rights=rights,
            desks=gate.desks if gate else None,
            organisation_name=organisation_name
            or (organisation.config.organisation.name if organisation is not None else ""),
        )
    )
    if organisation is not None and gate is not None:
        app.include_router(controller.router(organisation, rights, gate, renderer))
        app.include_router(breach_desk.router(organisation, gate, renderer))
        app.include_router(breach_case.router(organisation, gate, renderer))
        app.include_router(processor_desk.router(organisation, gate, renderer))
        app.include_router(retention_desk.router(organisation, gate, renderer))
        app.include_router(retention_acts.router(organisation, gate, renderer))
        app.include_router(transfer_desk.router(organisation, gate, renderer))
        app.include_router(access_review_desk.router(organisation, gate, renderer))
        app.include_router(measure_desk.router(organisation, gate, renderer))
        if rights is not None:
            app.include_router(rights_desk.router(organisation, rights, gate, renderer))
        app.include_router(audit_desk.router(organisation, gate, renderer))
        app.include_router(justification_desk.router(organisation, gate, renderer))
        if desk_profiles(organisation.referential, Desk.WAREHOUSE):  # a text with a warehouse: its desk
            from santegarde.web import warehouse_desks  # the warehouse extra's libraries, only then

            for router in warehouse_desks.routers(organisation, identity, gate, renderer):
                app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    def page_or_api(
        api: Callable[[Request, Exception], Awaitable[Response]],
    ) -> Callable[[Request, Exception], Awaitable[Response]]:
        async def handle(request: Request, exc: Exception) -> Response:
            if not is_page(request.url.path):
                return await api(request, exc)
            if isinstance(exc, SantegardeError):
                return renderer.refused(request, refusal(exc, identity.referential))
            assert isinstance(exc, HTTPException)
            return renderer.refused(request, _http_refusal(exc.status_code))

        return handle

    async def crashed(request: Request, exc: Exception) -> Response:
        # the route's template, never the path: /patients/{pid} carries a patient's id (api/ops.py does the same)
        log.exception("request failed: %s %s", request.method, route_template(request.scope))
        if not is_page(request.url.path):
            message = "The server failed on this request; nothing was changed. Try again, or tell the administrator."
            return JSONResponse({"error": "ServerError", "message": message}, status_code=500)
        return renderer.refused(request, worded("server_error", 500))

    app.add_exception_handler(SantegardeError, page_or_api(santegarde_error))
    app.add_exception_handler(HTTPException, page_or_api(http_error))
    app.add_exception_handler(Exception, crashed)
    app.add_middleware(
        PageOriginCheck, allowed=(server or Server()).allowed_origins, renderer=renderer, ref=identity.referential
    )
    app.add_middleware(PageHeaders)
    return app


def _platform_notice(
    organisation: Organisation | None, compassionate: CompassionateService | None
) -> PlatformNotice | None:
    """The organisation's platform notice (§10.6): its configuration, programmes and transfer register."""
    if organisation is None or compassionate is None:
        return None
    from santegarde.governance import transfers
    from santegarde.referentials import loader

    engine, config = organisation.engine, organisation.config
    return PlatformNotice(
        config, loader.get(config.referential), compassionate.registry, lambda: transfers.entries(engine)
    )


def _http_refusal(status: int) -> Refusal:
    if status == 404:
        return worded("page_not_found", 404)
    if status == 405:
        return worded("method", 405)
    return worded("unreadable_request", status)
