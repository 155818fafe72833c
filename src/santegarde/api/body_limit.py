"""The request body limit (config ``server.max_body_bytes``): a larger body is answered 413 with a sentence.

The limit holds on the bytes actually received, not only on the announced ``Content-Length``: a
chunked body without one is read up to the limit and no further. The body is buffered (at most the
limit) before the application sees it, so no route ever holds more.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from santegarde.api.errors import santegarde_error
from santegarde.api.refusals import BodyTooLarge


class BodyLimit:
    """ASGI middleware enforcing ``limit`` bytes per request body."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        announced = dict(scope["headers"]).get(b"content-length")
        if announced is not None and (not announced.isdigit() or int(announced) > self.limit):
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay([], message, receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(chunks, None, receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await santegarde_error(Request(scope), BodyTooLarge(self.limit))
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


def _replay(chunks: list[bytes], last: Message | None, receive: Receive) -> Receive:
    """A ``receive`` that gives the buffered body in one message, then defers to the server's."""
    pending: list[Message] = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]
    if last is not None:
        pending = [last]

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
