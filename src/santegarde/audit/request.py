"""The id of the HTTP request being answered, written into every audit entry appended while it is answered.

The server makes the id (``api/ops.py``: 32 hexadecimal characters, never taken from the client) and returns it in
``X-Request-ID`` and in its access log line; an entry written during that request carries it as ``request_id``, so an
operator goes from a log line to the entries (``santegarde audit export --request-id``) and from an entry back to
its log line. The id is random: it says nothing about the patient, the person or the record.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from santegarde.errors import SantegardeError

_FORMAT = re.compile(r"[0-9a-f]{32}")
_current: ContextVar[str | None] = ContextVar("santegarde_request_id", default=None)


class RequestIdError(SantegardeError, ValueError):
    """Not a request id the server makes."""


def check(request_id: str) -> str:
    """``request_id`` if it is one the server makes (32 lower-case hexadecimal characters), else a sentence."""
    if not _FORMAT.fullmatch(request_id):
        raise RequestIdError(
            f"'{request_id[:40]}' is not a request id: copy the 32 hexadecimal characters of the request_id field "
            "of the log line (or of the X-Request-ID header of the answer)."
        )
    return request_id


@contextmanager
def answering(request_id: str) -> Iterator[None]:
    """Every audit entry appended in this context (and the threads it starts a request in) carries ``request_id``."""
    token = _current.set(check(request_id))
    try:
        yield
    finally:
        _current.reset(token)


def current() -> str | None:
    """The id of the request being answered, or None outside a request (a CLI command, a timer)."""
    return _current.get()
