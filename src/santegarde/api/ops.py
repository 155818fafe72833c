"""What operations teams run a server with: liveness, readiness, Prometheus metrics and one JSON log line per request.

Nothing here carries personal data. Metric labels and log fields are the route *template* (``/fhir/Patient/{rid}``,
never the path a client sent), the method, the status, a refusal's rule and durations; a request id is made here
(never taken from the client, who could put anything in it) and returned in ``X-Request-ID`` so that a complaint can
be matched with its log line, and written into every audit entry appended while the request is answered
(``audit/request.py``), so that a log line leads to its audit entries and back. ``/metrics`` is off unless the
server was given a bearer token (deny by default).
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from santegarde.api.errors import PROBLEM_JSON, problem
from santegarde.audit import request as audit_request
from santegarde.errors import SantegardeError

ACCESS_LOGGER = "santegarde.access"
METRICS_TOKEN_ENV = "SANTEGARDE_METRICS_TOKEN"  # noqa: S105 (the name of the variable, not a secret)
MIN_TOKEN_LENGTH = 32
REQUEST_ID_HEADER = "X-Request-ID"
# Set by 'serve --workers N' for its workers: where each writes its counts, summed when any of them is scraped.
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Set by the error handler on a refused request: the rule (or kind of refusal) the metrics count it under.
REFUSAL_KEY = "santegarde.refusal"
REQUEST_ID_KEY = "santegarde.request_id"
UNROUTED = "unrouted"  # a request answered before or without a route (404, a refused origin): never its path
_RULE = re.compile(r"[A-Za-z0-9._:-]{1,64}")

# Readiness: check name → None when it passes, else the sentence saying what to do (no path, no version, no datum).
Readiness = Callable[[], Mapping[str, str | None]]


class LogLevelError(SantegardeError, ValueError):
    """A log level that is not one of debug, info, warning, error."""


class MetricsTokenTooShort(SantegardeError):
    def __init__(self) -> None:
        super().__init__(
            f"{METRICS_TOKEN_ENV} is shorter than {MIN_TOKEN_LENGTH} characters: a bearer token that short can be "
            "guessed; set a random one, e.g. from 'python -c \"import secrets; print(secrets.token_urlsafe(32))\"'."
        )


class Metrics:
    """The server's own registry (one per application, so that two apps in one process never mix their counts)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.read_when_scraped: list[Collector] = []  # collectors that read the organisation (the trail's gauges)
        self.requests = Counter(
            "santegarde_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "santegarde_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template.",
            ["method", "route"],
            registry=self.registry,
        )
        self.refusals = Counter(
            "santegarde_refusals",
            "Requests refused, by the rule of the référentiel (or the kind of refusal) that refused them.",
            ["rule"],
            registry=self.registry,
        )


    def exposed(self) -> CollectorRegistry:
        """What a scrape sees: this registry, or with several workers (``serve --workers``) the counts of every
        worker summed from the metrics directory, and the gauges read from the organisation once."""
        directory = os.environ.get(MULTIPROCESS_ENV)
        if not directory:
            return self.registry
        merged = CollectorRegistry()
        MultiProcessCollector(merged, path=directory)
        for collector in self.read_when_scraped:
            merged.register(collector)
        return merged


def safe_rule(value: str) -> str:
    """A rule id or an error class name as a label; anything else (which could carry a datum) counts as 'other'."""
    return value if _RULE.fullmatch(value) else "other"


def route_template(scope: Scope) -> str:
    """The template of the route that answered (``/fhir/Patient/{rid}``), never the path that was asked."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNROUTED


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's ``fields`` (set by this module)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = record.exc_info[0].__name__  # the class only: a message or traceback may hold data
        return json.dumps(line, ensure_ascii=False, sort_keys=True)


def configure_logging(level: str = "info") -> None:
    """Send santegarde's logs to standard error as JSON lines, at ``level`` (debug, info, warning, error)."""
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise LogLevelError(f"'{level}' is not a log level: use debug, info, warning or error.")
    logger = logging.getLogger("santegarde")
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logger.handlers = [handler]
    logger.setLevel(numeric)
    logger.propagate = False


class Observe:
    """ASGI middleware: a request id, the metrics and one access log line for every HTTP request."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self.log = logging.getLogger(ACCESS_LOGGER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        scope[REQUEST_ID_KEY] = request_id
        status = 500  # what the server answers if the application fails before starting its answer
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (REQUEST_ID_HEADER.lower().encode(), request_id.encode())]
            await send(message)

        try:
            with audit_request.answering(request_id):  # every audit entry of this request carries its id
                await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route, method = route_template(scope), str(scope.get("method", ""))
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(elapsed)
            rule = scope.get(REFUSAL_KEY)
            if isinstance(rule, str):
                self.metrics.refusals.labels(safe_rule(rule)).inc()
            self.log.info(
                "request",
                extra={
                    "fields": {
                        "request_id": request_id,
                        "method": method,
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 3),
                    }
                },
            )


def router(metrics: Metrics, readiness: Readiness | None, metrics_token: str | None) -> APIRouter:
    """``/health/live``, ``/health/ready`` and ``/metrics`` (kept out of the OpenAPI of the health-data API)."""
    if metrics_token is not None and len(metrics_token) < MIN_TOKEN_LENGTH:
        raise MetricsTokenTooShort()
    ops = APIRouter(include_in_schema=False)

    @ops.get("/health/live")
    def live() -> JSONResponse:
        """The process answers: for a load balancer or systemd's watchdog; touches no database and no key."""
        return JSONResponse({"status": "live"}, headers={"Cache-Control": "no-store"})

    @ops.get("/health/ready")
    def ready() -> JSONResponse:
        """Whether this server can serve: its databases, its keys, its migrations and room for the audit trail."""
        if readiness is None:
            failures: dict[str, str | None] = {
                "organisation": "This server was started without an organisation to check: serve it with "
                "'santegarde serve --config santegarde.yaml'."
            }
        else:
            failures = dict(readiness())
        failing = {name: why for name, why in failures.items() if why is not None}
        body = {
            "status": "not ready" if failing else "ready",
            "checks": {name: ("failing" if why else "ok") for name, why in failures.items()},
            **({"todo": failing} if failing else {}),
        }
        return JSONResponse(body, status_code=503 if failing else 200, headers={"Cache-Control": "no-store"})

    @ops.get("/metrics")
    def exposition(request: Request) -> Response:
        """The Prometheus exposition, to a scraper that presents the bearer token the server was given."""
        if metrics_token is None:
            return _refused(
                404,
                f"Metrics are off on this server: start it with {METRICS_TOKEN_ENV} set to a random token of "
                f"{MIN_TOKEN_LENGTH} characters or more, and have Prometheus send it as a bearer token.",
            )
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), metrics_token.encode()):
            return _refused(
                401,
                "The metrics need the bearer token this server was started with (Authorization: Bearer …, "
                f"the value of {METRICS_TOKEN_ENV}): set it as the scrape job's bearer token.",
            )
        return Response(generate_latest(metrics.exposed()), media_type=CONTENT_TYPE_LATEST)

    return ops


def _refused(status: int, message: str) -> JSONResponse:
    return JSONResponse(problem(status, message, "MetricsRefused"), status_code=status, media_type=PROBLEM_JSON)


def mount(
    app: FastAPI, readiness: Readiness | None, metrics_token: str | None, collectors: tuple[Collector, ...] = ()
) -> None:
    """Add the health and metrics routes to ``app``, and the middleware that observes every request.

    Call it last: the middleware added last is the outermost, so even a request refused by another middleware
    (a body too large, a foreign origin) is counted and logged."""
    metrics = Metrics()
    for collector in collectors:
        metrics.registry.register(collector)
        if not isinstance(collector, MetricWrapperBase):  # read when scraped, not counted by each worker
            metrics.read_when_scraped.append(collector)
    app.include_router(router(metrics, readiness, metrics_token))
    app.add_middleware(Observe, metrics=metrics)
