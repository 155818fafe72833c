"""Drawing pages: the Jinja2 templates, their wording in the page's language, the CSRF token of every form, and the
refused page.

Wording: every fixed phrase of a page is ``t("group.key", **facts)`` in its template, read from the ``console``
section of ``governance/data/documents_text.yaml`` (``doctext.words(lang)``, as every document and desk of the
CLI), in French by default or in English when the person chose it (the ``sg_lang`` cookie, set by the switch in the
banner); dates and numbers follow the same language.

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
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context

from santegarde.errors import SantegardeError
from santegarde.governance.doctext import words
from santegarde.referentials.model import Referential
from santegarde.web.french import (
    Refusal,
    codeable,
    date_in,
    number_in,
    referential_name,
    section_label,
    told,
)

TEMPLATES = Path(__file__).parent / "templates"
CSRF_COOKIE = "sg_csrf"
CSRF_FIELD = "csrf"
LANG_COOKIE = "sg_lang"
LANGS = ("fr", "en")  # French by default


def lang_of(request: Request) -> str:
    """The language the person chose for the console (French unless they switched to English)."""
    chosen = request.cookies.get(LANG_COOKIE, "fr")
    return chosen if chosen in LANGS else "fr"


def say(lang: str, key: str, **facts: Any) -> str:
    """The console's phrase ``key`` (``group.name``) in ``lang``; an unknown key fails loudly (a test reads every
    key the templates use in both languages)."""
    node: Any = words(lang)["console"]
    for part in key.split("."):
        node = node[part]
    return str(node).format(**facts) if facts else str(node)


@pass_context
def _date(context: Context, value: Any) -> str:
    return date_in(value, context.get("lang", "fr"))


@pass_context
def _told(context: Context, value: Any) -> Any:
    """Every value a template draws: a sentence held in both languages (``Said``) in the page's language."""
    return told(value, context.get("lang", "fr"))


@pass_context
def _number(context: Context, value: Any) -> str:
    return number_in(value, context.get("lang", "fr"))


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
            finalize=_told,
        )
        self.menu: list[tuple[str, str]] = []  # (path, wording key): the banner's links, from each screen group
        self.env.globals["menu"] = self.menu
        self.env.globals["referentiel"] = referential_name(referential)
        self.env.filters["date_fr"] = _date  # the page's language (French by default)
        self.env.filters["nombre"] = _number
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
        lang = lang_of(request)
        html = self.env.get_template(template).render(
            csrf=self._token(seed),
            csrf_field=CSRF_FIELD,
            ref=self.ref,
            path=request.url.path,
            lang=lang,
            t=lambda key, **facts: say(lang, key, **{k: told(v, lang) for k, v in facts.items()}),
            **values,
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
