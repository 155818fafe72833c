"""What every screen of the console shares: its route declaration, the session, the lock screen, the record request.

``pages.router`` builds one ``Desk`` and hands it to each group of screens (pharmacy, compassionate access), so that
they all sign in, lock, refuse and reach records the same way (identity → policy → store → audit).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from santegarde.identity.sessions import SessionContext
from santegarde.referentials.model import Referential
from santegarde.store.service import Request as RecordRequest
from santegarde.web.render import Renderer

# The purpose a profile reads a patient's identity under at the desk: the secretariat books appointments; the
# practitioners keep the medical record.
SEARCH_PURPOSE = {"secretariat": "appointments"}
Route = Callable[[str, str, str], Callable[[Callable[..., Any]], Callable[..., Any]]]


@dataclass(frozen=True)
class Desk:
    route: Route  # route(method, path, reach): reach is "records" (calls the store service) or "public"
    guarded: Callable[..., Response]  # guarded(request, draw, keep=None): lock screen, pending step, signed out
    user: Callable[[Request], SessionContext]  # the session of the request (SessionRefused if none)
    ready: Callable[[Request], SessionContext]  # the session, past every sign-in step (StepRequired otherwise)
    who: Callable[[SessionContext], dict[str, str]]  # the banner's login and profile name
    record_request: Callable[..., RecordRequest]  # record_request(request, purpose, glass=None)
    renderer: Renderer
    ref: Referential
    chart: Callable[..., Response]  # chart(request, pid, glass, **values): the chart, or its refusal (care, glass)
