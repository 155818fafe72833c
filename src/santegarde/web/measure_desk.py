"""The security measures' statuses and the DPIA of reference at the controller's desk (COM-SEC-1): what
``santegarde measure set`` and ``santegarde dpia generate`` do, from the console.

A status is recorded by ``governance.measures.record`` (validated, then the configuration file rewritten atomically
in the audit trail's transaction, the person signed in as its author); the DPIA by ``governance.dpia.generate``
(the document in the chosen format, downloaded, and the snapshot later changes are compared with). Each route passes
the desk's gate (identity → policy → audit) first; the form's fields are checked before anything is written.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations inside router().
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from santegarde.config import is_justified, load
from santegarde.config.model import MEASURE_STATES
from santegarde.errors import WordedError
from santegarde.governance import catalogue, doctext, dpia, measures
from santegarde.policy.desks import Desk
from santegarde.runtime import Organisation
from santegarde.web.controller import file_name
from santegarde.web.desk_gate import DeskGate, desk_page, worded_refusal
from santegarde.web.french import Said, told
from santegarde.web.render import CSRF_FIELD, Renderer, lang_of, say

TAG = "console"
PAGE = "controle/mesures.html"
DPIA_FORMATS = ("pdf", "html", "json")
Csrf = Annotated[str, Form(alias=CSRF_FIELD, max_length=128)]
Short = Annotated[str, Form(max_length=60)]
Long = Annotated[str, Form(max_length=2000)]


def both(key: str, **facts: Any) -> Said:
    """The measures desk's phrase ``key`` in both languages, its facts in each language too."""
    fr, en = ({k: told(v, lang) for k, v in facts.items()} for lang in ("fr", "en"))
    return Said(say("fr", f"measure_desk.{key}", **fr), say("en", f"measure_desk.{key}", **en))


def worded(exc: WordedError) -> Said:
    return Said(exc.in_language("fr"), exc.in_language("en"))


def router(org: Organisation, gate: DeskGate, renderer: Renderer) -> APIRouter:
    web = APIRouter(include_in_schema=False, tags=[TAG])
    ref = org.referential

    def route(method: str, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return web.api_route(path, methods=[method], response_class=HTMLResponse, tags=["reach:desk"])

    def page(request: Request, current: Any, status: int = 200, **values: Any) -> Response:
        lang = lang_of(request)
        found = measures.rows(org.config, ref)
        rows = [
            {
                "code": r.measure.code,
                "title": doctext.measure_title(r.measure, ref, lang),
                "section": r.measure.section,
                "status": measures.state_words(r.status.status, lang) if r.status else None,
                "evidence": r.status.evidence if r.status else "",
                "by": r.status.set_by if r.status else "",
                "at": r.status.set_at if r.status else None,
            }
            for r in found
        ]
        values.setdefault("form", {})
        values.setdefault("errors", {})
        return renderer.page(
            request,
            PAGE,
            status,
            user=gate.who(current),
            rid=ref.id,
            rows=rows,
            missing=sum(1 for r in found if r.status is None),
            states=[(s, measures.state_words(s, lang)) for s in MEASURE_STATES],
            formats=DPIA_FORMATS,
            minimum=measures.MIN_EVIDENCE,
            **values,
        )

    @route("GET", "/controle/mesures")
    def measures_page(request: Request) -> Response:
        def draw() -> Response:
            return page(request, gate.enter(request, Desk.CONTROLLER, "desk.controller.measures"))

        return desk_page(renderer, gate, request, draw)

    @route("POST", "/controle/mesures")
    def set_status(
        request: Request,
        csrf: Csrf,
        mesure: Short = "",
        statut: Short = "",
        preuve: Long = "",
        justification: Long = "",
    ) -> Response:
        renderer.check_csrf(request, csrf)
        form = {"mesure": mesure, "statut": statut, "preuve": preuve, "justification": justification}

        def draw() -> Response:
            current = gate.enter(request, Desk.CONTROLLER, "desk.controller.measure.set", mesure[:60] or "console")
            errors: dict[str, Said] = {}
            if not mesure.strip():
                errors["mesure"] = both("no_measure")
            if statut not in MEASURE_STATES:
                errors["statut"] = both("no_state")
            if len(preuve.strip()) < measures.MIN_EVIDENCE:
                errors["preuve"] = both("evidence_short", n=measures.MIN_EVIDENCE)
            if statut in MEASURE_STATES and statut != "implemented" and not is_justified(justification):
                state = Said(measures.state_words(statut, "fr"), measures.state_words(statut, "en"))
                errors["justification"] = both("justification_needed", status=state)
            if errors:
                return page(request, current, 422, form=form, errors=errors, error=both("form_errors"))
            try:
                entry = measures.record(
                    org.config_path,
                    mesure,
                    statut,
                    evidence=preuve,
                    by=current.login,
                    justification=justification.strip() or None,
                    trail=org.audit,
                )
            except measures.MeasureError as exc:  # a code the référentiel does not have: nothing written
                return page(request, current, 422, form=form, error=worded(exc))
            org.config = load(org.config_path)  # the dashboard, the report and the DPIA read the new status
            at = f"{entry.set_at:%d/%m/%Y %H:%M} UTC" if entry.set_at else ""
            done = Said(
                *(
                    measures.said(
                        "recorded",
                        lang,
                        code=entry.code,
                        status=measures.state_words(entry.status, lang),
                        by=entry.set_by,
                        at=at,
                    )
                    for lang in ("fr", "en")
                )
            )
            return page(request, current, message=done)

        return desk_page(renderer, gate, request, draw, keep="/controle/mesures")

    @route("POST", "/controle/aipd")
    def generate(request: Request, csrf: Csrf, format: Short = "pdf") -> Response:
        renderer.check_csrf(request, csrf)

        def draw() -> Response:
            current = gate.enter(request, Desk.CONTROLLER, "desk.controller.dpia.generate", format[:8])
            if format not in DPIA_FORMATS:
                return page(request, current, 422, error=both("bad_format", fmt=format[:8]))
            with tempfile.TemporaryDirectory() as folder:
                out = Path(folder) / file_name("dpia", format)
                try:
                    dpia.generate(org.config_path, out, lang_of(request))
                except WordedError as exc:
                    return renderer.refused(request, worded_refusal(exc), user=gate.who(current))
                content = out.read_bytes()
            headers = {"content-disposition": f'attachment; filename="{out.name}"'}
            return Response(content, media_type=catalogue.MEDIA[format], headers=headers)

        return desk_page(renderer, gate, request, draw, keep="/controle/mesures")

    return web
