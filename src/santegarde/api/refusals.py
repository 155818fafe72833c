"""Refusals the HTTP layer makes itself, before any route runs (answered through api/errors.py)."""

from __future__ import annotations

from santegarde.errors import SantegardeError


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
