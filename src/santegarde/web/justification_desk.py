"""The written reason of an exceptional access at the audit desk (COM-LOG-4): what ``santegarde audit justification``
prints, read by its number (from the review report or the trail entry).

The justification is read by the store's own function (``store.justifications.read``) after the desk's gate
(identity → policy → audit); each reading is traced as the CLI traces it (``audit.justification.read``, the
patient's reference in the entry), so that who read which reason stays in the trail.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations inside router().
from datetime import UTC
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from santegarde.governance import doctext
from santegarde.policy.desks import Desk
from santegarde.runtime import Organisation
from santegarde.store import justifications
from santegarde.web.desk_gate import DeskGate, desk_page
from santegarde.web.french import Said
from santegarde.web.render import Renderer, lang_of, say

TAG = "console"
PAGE = "audit/justification.html"


def kind_words(kind: str, lang: str) -> str:
    """ "motif d'accès en urgence (bris de glace) et formalité de recherche": the CLI's words for the kinds."""
    said: dict[str, Any] = doctext.words(lang)["audit_desk"]
    return str(said["kinds_and"]).join(said["kinds"].get(k, k) for k in kind.split("+"))


def router(org: Organisation, gate: DeskGate, renderer: Renderer) -> APIRouter:
    web = APIRouter(include_in_schema=False, tags=[TAG])

    @web.api_route("/audit/justifications", methods=["GET"], response_class=HTMLResponse, tags=["reach:desk"])
    def justification(request: Request, numero: str = "") -> Response:
        asked = numero.strip()[:20]

        def draw() -> Response:
            current = gate.enter(request, Desk.AUDIT, "desk.audit.justification", asked or "console")
            values: dict[str, Any] = {"user": gate.who(current), "numero": asked}
            if not asked:
                return renderer.page(request, PAGE, **values)
            if not asked.isdigit():
                error = Said(*(say(lang, "justification_desk.bad_number", value=asked) for lang in ("fr", "en")))
                return renderer.page(request, PAGE, 422, error=error, **values)
            try:
                found = justifications.read(org.engine, int(asked))
            except justifications.JustificationNotFound as exc:
                return renderer.page(
                    request, PAGE, 404, error=Said(exc.in_language("fr"), exc.in_language("en")), **values
                )
            gate.record(
                request,
                current,
                "audit.justification.read",
                "Justification",
                str(found.number),
                "COM-LOG-4",
                purpose="trace_review",
                patient=found.patient or "",
            )
            at = found.at if found.at.tzinfo else found.at.replace(tzinfo=UTC)
            return renderer.page(
                request, PAGE, found=found, at=at, kind=kind_words(found.kind, lang_of(request)), **values
            )

        return desk_page(renderer, gate, request, draw)

    return web
