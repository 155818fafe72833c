"""The Origin check on state-changing requests (POST, PUT, PATCH, DELETE): no cross-site writes.

A request that carries an ``Origin`` header — or, without one, a ``Referer`` — must come from the
server's own origin or from one of the configured ``server.allowed_origins``; otherwise it is refused
403 with a sentence, before any route runs. A request with neither header (curl, a server-to-server
call) is let through: a browser always sends ``Origin`` on a cross-site POST, and the session cookie
is SameSite=Strict anyway.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from santegarde.api.errors import santegarde_error
from santegarde.api.refusals import OriginRefused

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise(origin: str) -> str | None:
    """``scheme://host[:port]`` in lower case, the default port left out; None if it is not an origin."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    shown = "" if port is None or port == DEFAULT_PORTS[scheme] else f":{port}"
    return f"{scheme}://{parts.hostname.lower()}{shown}"


class OriginCheck:
    """ASGI middleware refusing cross-site state-changing requests."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str] = ()) -> None:
        self.app = app
        self.allowed = {n for n in (normalise(o) for o in allowed) if n is not None}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"].upper() in STATE_CHANGING:
            headers = dict(scope["headers"])
            sent = headers.get(b"origin") or headers.get(b"referer")
            if sent is not None and not self._accepted(scope, sent.decode("latin-1")):
                response = await santegarde_error(Request(scope), OriginRefused())
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _accepted(self, scope: Scope, sent: str) -> bool:
        origin = normalise(sent)  # "null" (sandboxed pages, some redirects) is no origin: refused
        if origin is None:
            return False
        request = Request(scope)
        own = normalise(f"{request.url.scheme}://{request.url.netloc}")
        return origin == own or origin in self.allowed
