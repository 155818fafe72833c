"""Refusals the HTTP layer makes itself, before any route runs (answered through api/errors.py)."""

from __future__ import annotations

from santegarde.errors import SantegardeError

# The answer to a request that came without a session cookie: it says why a cookie may not have been sent.
NOT_LOGGED_IN = (
    "You are not logged in: no session cookie (sg_session) came with this request. Log in first (POST /auth/login) "
    "and send back the cookie it sets; it is marked Secure, so clients send it only over https: serve behind a TLS "
    "reverse proxy, or, on this machine over plain http, with santegarde serve --dev."
)


class PreconditionFailed(SantegardeError):
    """A conditional request whose condition names more than one resource."""


class BodyTooLarge(SantegardeError):
    """A request body over the configured limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"The request body is larger than this server accepts ({limit} bytes): send a smaller one "
            "(a document goes as a DocumentReference, one resource per request), or ask the administrator to "
            "raise server.max_body_bytes."
        )


class OriginRefused(SantegardeError):
    """A state-changing request sent from another site."""

    def __init__(self) -> None:
        super().__init__(
            "This request comes from another site (its Origin or Referer is not this server): state-changing "
            "requests are only accepted from this server's own pages or from the origins the administrator "
            "lists in server.allowed_origins."
        )
