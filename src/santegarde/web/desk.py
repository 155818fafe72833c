"""What every screen of the console shares: its route declaration, the session, the lock screen, the record request.

``pages.router`` builds one ``Desk`` and hands it to each group of screens (pharmacy, compassionate access), so that
they all sign in, lock, refuse and reach records the same way (identity → policy → store → audit). ``guarded`` is
the one way a page of the console runs — the practice's screens and the governance desks (``desk_gate.desk_page``)
alike: a locked session shows the lock screen in place, a pending sign-in step leads to it, no session to sign-in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from santegarde.identity.errors import SessionLocked, SessionRefused, StepRequired
from santegarde.identity.sessions import SessionContext
from santegarde.referentials.model import Referential
from santegarde.store.service import Request as RecordRequest
from santegarde.web.render import Renderer, is_htmx

# The purpose a profile reads a patient's identity under at the desk: the secretariat books appointments; the
# practitioners keep the medical record.
SEARCH_PURPOSE = {"secretariat": "appointments"}
STEP_PAGES = {
    "second_factor": "/connexion/code",
    "password_change": "/connexion/mot-de-passe",
    "charter": "/connexion/charte",
    "profile": "/connexion/profil",
}
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


def local(path: str) -> str:
    """A path of this console to go back to (never another site)."""
    return path if path.startswith("/") and not path.startswith("//") and "\\" not in path else "/accueil"


def go(request: Request, url: str) -> Response:
    """To another page: a redirect, or for htmx (which would draw the target inside the page) its HX-Redirect."""
    if is_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def guarded(renderer: Renderer, request: Request, draw: Callable[[], Response], *, keep: str | None = None) -> Response:
    """Run a page: a locked session shows the lock screen in place (``keep``: the page to come back to), a pending
    sign-in step leads to it, no session leads to sign-in."""
    try:
        return draw()
    except SessionLocked:
        if is_htmx(request):  # a part of the page was asked for: the whole page reloads, on its lock screen
            return Response(status_code=200, headers={"HX-Refresh": "true"})
        return renderer.page(request, "verrou.html", 423, suite=local(_back(request, keep)))
    except StepRequired as exc:
        return go(request, STEP_PAGES.get(exc.step, "/connexion"))
    except SessionRefused:
        return go(request, "/connexion")


def _back(request: Request, keep: str | None) -> str:
    """The page the lock screen comes back to: a page shown is kept whole, with what it was asked (the day, the
    period, never personal data: COM-CRY-1); a form sent leads back to its page (``keep``)."""
    if request.method == "GET" and keep in (None, request.url.path) and request.url.query:
        return f"{request.url.path}?{request.url.query}"
    return keep or request.url.path
