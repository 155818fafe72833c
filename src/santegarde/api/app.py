"""The santegarde web application: one FastAPI app per opened organisation."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from prometheus_client.registry import Collector
from starlette.exceptions import HTTPException

from santegarde.api import aac, auth, bulk, docs, fhir, ops
from santegarde.api import rights as rights_api
from santegarde.api.body_limit import BodyLimit
from santegarde.api.errors import http_error, santegarde_error, validation_error
from santegarde.api.origin import OriginCheck
from santegarde.compassionate.service import CompassionateService
from santegarde.config.model import Server
from santegarde.errors import SantegardeError
from santegarde.identity.context import IdentityContext
from santegarde.identity.oidc import ProSanteConnect
from santegarde.rights.execute import RightsService
from santegarde.store.bulk import BulkExports
from santegarde.store.service import RecordService


def create_app(
    identity: IdentityContext,
    *,
    records: RecordService | None = None,
    rights: RightsService | None = None,
    psc: ProSanteConnect | None = None,
    server: Server | None = None,
    compassionate: CompassionateService | None = None,
    local_http: bool = False,
    home: bool = True,
    exports_dir: Path | None = None,
    readiness: ops.Readiness | None = None,
    metrics_token: str | None = None,
    collectors: tuple[Collector, ...] = (),
) -> FastAPI:
    """The application; ``server`` (the organisation's ``server`` settings) bounds bodies and allows origins;
    ``local_http`` (santegarde serve --dev, on 127.0.0.1) sets a session cookie a plain-http client sends back;
    ``home``: the root leads to the documentation (the web console serves its own root instead);
    ``exports_dir`` holds the bulk exports' encrypted files (a private temporary directory if None);
    ``readiness``, ``metrics_token`` and ``collectors``: /health/ready's checks, /metrics' bearer token (None: off)
    and the metrics the organisation adds (api/ops.py)."""
    server = server or Server()
    app = FastAPI(
        title="santegarde",
        description="Health data under the CNIL référentiels: identity → policy → store → audit.",
        version="0.1.0",
        docs_url=None,  # served from the package's own Swagger UI (api/docs.py), not from a CDN
        redoc_url=None,
    )
    docs.mount(app)
    app.add_exception_handler(SantegardeError, santegarde_error)

    if home:  # the API alone: its root is the documentation; the web console serves its own root page

        @app.get("/", include_in_schema=False)
        def root() -> RedirectResponse:
            return RedirectResponse("/docs")

    app.add_exception_handler(HTTPException, http_error)
    app.include_router(auth.router(identity, psc, local_http=local_http))
    if records is None:
        app.add_exception_handler(RequestValidationError, validation_error)
    else:
        app.state.exports = BulkExports(records, exports_dir)
        app.include_router(bulk.router(app.state.exports))  # before the FHIR router's /{type}/{id}
        app.router.on_shutdown.append(app.state.exports.close)  # the files go with their key, in memory
        app.include_router(fhir.router(records))
        app.add_exception_handler(RequestValidationError, fhir.refused_input(records))
        if rights is not None:
            app.include_router(rights_api.router(records, rights))
        if compassionate is not None:
            app.include_router(aac.router(compassionate))
    # The last added runs first: cross-site writes are refused before their body is even read.
    app.add_middleware(BodyLimit, limit=server.max_body_bytes)
    app.add_middleware(OriginCheck, allowed=server.allowed_origins)
    ops.mount(app, readiness, metrics_token, collectors)  # outermost: every request is counted and logged
    return app
