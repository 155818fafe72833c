"""Drawing pages: the Jinja2 templates, the CSRF token of every form, and the refused page.

CSRF: each browser holds a random ``sg_csrf`` cookie (HttpOnly, Secure, SameSite=Strict); every form carries
the HMAC of it under a key derived from the organisation's identity key (the same in every worker and after a
restart), and every POST of the console is refused unless the two match. A page from another site can neither
read the cookie nor compute the field.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from santegarde.errors import SantegardeError
from santegarde.referentials.model import Referential
from santegarde.web.french import Refusal, codeable, fr_date, fr_number, referential_name, section_label

TEMPLATES = Path(__file__).parent / "templates"
CSRF_COOKIE = "sg_csrf"
CSRF_FIELD = "csrf"


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


class CsrfRefused(SantegardeError):
    """A console form sent without the token of this browser's page (another site, or a stale page)."""


def set_cookie(response: HTMLResponse | Any, name: str, value: str) -> None:
    response.set_cookie(name, value, httponly=True, secure=True, samesite="strict", path="/")


class Renderer:
    def __init__(self, referential: Referential, key: bytes | None = None) -> None:
        """``key`` signs the forms' tokens: the organisation's (``RecordService.console_key``) in a served console,
        the same in every worker and after a restart; a key of this process only if none is given."""
        self.ref = referential
        self._key = key or secrets.token_bytes(32)
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.menu: list[tuple[str, str]] = []  # (path, French label): the banner's links, from each screen group
        self.env.globals["menu"] = self.menu
        self.env.globals["referentiel"] = referential_name(referential)
        self.env.filters["date_fr"] = fr_date
        self.env.filters["nombre"] = fr_number
        self.env.filters["concept"] = codeable
        self.env.filters["b64"] = lambda text: base64.b64encode(str(text).encode()).decode()

    def _token(self, seed: str) -> str:
        return hmac.new(self._key, seed.encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, request: Request, sent: str) -> None:
        seed = request.cookies.get(CSRF_COOKIE, "")
        if not seed or not hmac.compare_digest(self._token(seed), sent or ""):
            raise CsrfRefused(
                "This form was not sent from the console's own page (missing or stale CSRF token): reload the page."
            )

    def page(self, request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        seed = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
        values.setdefault("user", None)
        values.setdefault("message", None)
        values.setdefault("error", None)
        html = self.env.get_template(template).render(
            csrf=self._token(seed), csrf_field=CSRF_FIELD, ref=self.ref, path=request.url.path, **values
        )
        response = HTMLResponse(html, status_code=status)
        if request.cookies.get(CSRF_COOKIE) != seed:
            set_cookie(response, CSRF_COOKIE, seed)
        return response

    def refused(self, request: Request, refusal: Refusal, **values: Any) -> HTMLResponse:
        """The refused page; to htmx (a part of a page asked for), the refusal alone, answered 200 so that it is
        drawn in place (htmx draws no 4xx), its real status in ``X-Santegarde-Status``."""
        if is_htmx(request):
            response = self.page(
                request, "_refus.html", refusal=refusal, where=section_label(self.ref, refusal.section), **values
            )
            response.headers["X-Santegarde-Status"] = str(refusal.status)
            return response
        return self.page(
            request,
            "refus.html",
            refusal.status,
            refusal=refusal,
            where=section_label(self.ref, refusal.section),
            **values,
        )
