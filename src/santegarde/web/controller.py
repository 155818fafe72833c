"""The controller's desk: the dashboard of what is due, late or wrong, and the documents (preview and download).

Every value drawn here comes from the governance, rights and lifecycle functions the CLI commands use (the
conformity checks, the DPIA's state, the rights register's deadlines, the breaches' 72-hour clock, the processors'
refusals and warnings, the retention plan); the page only groups and draws them. Each route passes the desk's gate
(identity → policy → audit) first.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations inside router().
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from santegarde.governance import breaches, catalogue, doctext, dpia, processors
from santegarde.governance.conformity import NO_STATUS, ConformityReport, Evidence, build_report, run_checks
from santegarde.governance.documents import DocumentError
from santegarde.governance.notices import COMPASSIONATE, ProgrammeFacts
from santegarde.governance.rights_text import right_name
from santegarde.lifecycle import retention
from santegarde.policy.desks import Desk
from santegarde.referentials.model import Referential
from santegarde.rights.execute import RightsService
from santegarde.rights.requests import OPEN
from santegarde.runtime import Organisation
from santegarde.web.charts import Chart, grouped_bars
from santegarde.web.desk_gate import DOCUMENT_HEADERS, DeskGate, desk_page, page_with_frames, worded_refusal
from santegarde.web.french import date_in, labels, name
from santegarde.web.render import Renderer, lang_of

TAG = "console"
END_ACTIONS = labels("console", "controller_desk", "board", "end_actions")  # in the page's language
FILE_NAMES = {
    "register": "registre-des-traitements",
    "dpia": "aipd",
    "dpia-pia": "aipd-outil-pia",
    "conformity": "rapport-de-conformite",
}


def board(lang: str) -> dict[str, Any]:
    """The dashboard's wording in ``lang`` (documents_text.yaml, ``console.controller_desk.board``)."""
    table: dict[str, Any] = doctext.words(lang)["console"]["controller_desk"]["board"]
    return table


def docs(lang: str) -> dict[str, Any]:
    table: dict[str, Any] = doctext.words(lang)["console"]["controller_desk"]["docs"]
    return table


def title(key: str, lang: str = "fr") -> str:
    if key.startswith(catalogue.NOTICE):
        fmt = key[len(catalogue.NOTICE) :]
        return str(docs(lang)["notice"]).format(format=doctext.words(lang)["cli"]["notice_formats"].get(fmt, fmt))
    return str(docs(lang)["titles"][key])


def formats(key: str, listed: Any, lang: str) -> list[tuple[str, str, str]]:
    """Each format of a document: its code, its name in ``lang``, the file's name."""
    names = docs(lang)["formats"]
    return [(f, str(names[f]), file_name(key, f)) for f in listed]


def file_name(key: str, fmt: str) -> str:
    return f"{FILE_NAMES.get(key, key)}.{fmt}"


def notice_programmes(org: Organisation) -> list[ProgrammeFacts]:
    """The compassionate-access programmes registered beside the configuration, which the notices name."""
    if org.referential.id != COMPASSIONATE:
        return []
    from santegarde.compassionate.registry import Registry

    return Registry.beside(org.config_path, org.referential).notice_facts()


# -- the dashboard's parts, from the packages' own functions ------------------------------------------


def conformity_areas(report: ConformityReport, lang: str = "fr") -> list[dict[str, Any]]:
    """Per theme: how many measures carry each status, and what is missing (no status, unjustified, contradicted),
    in ``lang``."""
    said = board(lang)
    areas: dict[str, dict[str, Any]] = {}
    for line in report.lines:
        m = line.measure
        area = areas.setdefault(
            m.area,
            {"title": doctext.security_area(m.area, lang)["title"], "counts": {}, "missing": [], "measures": 0},
        )
        area["measures"] += 1
        area["counts"][line.status] = area["counts"].get(line.status, 0) + 1
        what = doctext.measure_title(m, report.referential, lang)
        if line.status == NO_STATUS:
            area["missing"].append(said["no_status"].format(code=m.code, what=what))
        elif line.contradicted:
            area["missing"].append(said["contradicted"].format(code=m.code, what=what))
        elif line.needs_justification:
            area["missing"].append(said["unjustified"].format(code=m.code, what=what))
    for area in areas.values():
        area["ok"] = not area["missing"]
        statuses = said["statuses"]
        area["summary"] = ", ".join(
            f"{n} {statuses.get('none' if s == NO_STATUS else s, s)}" for s, n in sorted(area["counts"].items())
        )
    return sorted(areas.values(), key=lambda a: (a["ok"], a["title"]))


def dpia_state(org: Organisation) -> dict[str, Any]:
    duty = dpia.obligations(org.config, org.referential, "fr")
    state = dpia.review_state(org.config, org.config_path)
    return {
        "required": duty.dpia.required,
        "undecided": bool(duty.dpia.missing_facts),
        "generated_at": state.generated_at,
        "changes": len(state.changes),
        "up_to_date": state.up_to_date,
    }


def rights_rows(rights: RightsService | None, now: datetime, lang: str = "fr") -> list[dict[str, Any]]:
    """The open requests, the nearest deadline first: days left (negative when late) and the rule of the deadline."""
    if rights is None:
        return []
    rows = []
    for r in rights.register.all():
        if r.status not in OPEN:
            continue
        left = r.deadline - now
        rows.append(
            {
                "id": r.id,
                "right": right_name(r.right, lang),
                "received": r.received_at,
                "deadline": r.deadline,
                "days": left.days if left.total_seconds() >= 0 else -(-left).days,  # whole days, either way
                "late": r.overdue(now),
                "rule": deadline_rule(r.deadline_rule, lang),
                "identity_checked": r.identity_check is not None,
            }
        )
    return sorted(rows, key=lambda row: row["deadline"])


def deadline_rule(rule: str, lang: str) -> str:
    """The rule of a request's deadline in ``lang``: the register keeps ``deadline_for``'s French sentence, which is
    recognised here (a sentence it does not know is shown as written)."""
    said = board(lang)["deadline_rules"]
    for key, french in board("fr")["deadline_rules"].items():
        if rule == french:
            return str(said[key])
    return rule


def rights_chart(rights: RightsService | None, now: datetime, lang: str = "fr") -> Chart | None:
    """Requests received per month, by how their deadline went (met, missed, still running)."""
    if rights is None:
        return None
    counted: Counter[tuple[str, str]] = Counter()
    for r in rights.register.all():
        if r.status in OPEN:
            series = "missed" if r.overdue(now) else "open"
        else:
            series = "met" if r.answered_at is not None and r.answered_at <= r.deadline else "missed"
        counted[(f"{r.received_at:%Y-%m}", series)] += 1
    if not counted:
        return None
    said = board(lang)
    return grouped_bars(
        "droits",
        said["rights_chart_title"],
        said["rights_chart_desc"],
        dict(counted),
        dict(said["rights_series"]),
        {month: month_name(month, lang) for month, _ in counted},
    )


def month_name(month: str, lang: str) -> str:
    """``2026-12`` as ``décembre 2026`` / ``December 2026``."""
    return date_in(date.fromisoformat(f"{month}-01"), lang).split(" ", 1)[1]


def breach_rows(org: Organisation, now: datetime, lang: str = "fr") -> list[dict[str, Any]]:
    rows = []
    for b in breaches.entries(org.engine):
        clock = breaches.clock_status(b, clock=lambda: now, lang=lang)
        if clock.status in ("notified", "not_required"):
            continue
        rows.append({"id": b.id, "discovered": b.discovered_at, "clock": clock.sentence, "late": clock.flagged})
    return rows


def processor_problems(p: processors.Processor, ref: Referential, today: date, lang: str = "fr") -> list[str]:
    """Why a processor is not in order, in ``lang``: the missing art. 28 clauses in words (the register's sentence
    names them by their CLI identifiers), then the register's own sentences on the HDS certificate, the
    jurisdictions and an expiring certificate."""
    clauses = doctext.words(lang)["registers"]["clauses"]
    missing = " ; " if lang == "fr" else "; "
    problems = (
        [board(lang)["missing_clauses"].format(clauses=missing.join(clauses[c] for c in p.missing_clauses))]
        if p.missing_clauses
        else []
    )
    complete = replace(p, clauses=tuple(processors.CLAUSES))
    problems += processors.refusals(complete, ref, today, lang) + processors.warnings(p, today, lang)
    return list(dict.fromkeys(problems))


def processor_rows(org: Organisation, now: datetime, lang: str = "fr") -> list[dict[str, Any]]:
    rows = []
    for p in processors.entries(org.engine):
        if p.status == "ended":
            continue
        problems = processor_problems(p, org.referential, now.date(), lang)
        if problems:
            rows.append({"name": p.name, "problems": problems, "active": p.status == "active"})
    return rows


def retention_rows(org: Organisation, now: datetime) -> dict[str, Any]:
    plan = retention.plan(org, now)
    lines = [
        {
            "rule": name(org.referential, "retention", line.rule),
            "end": END_ACTIONS.get(line.end_action, line.end_action),
            "archive_now": line.archive_now,
            "end_now": line.end_now,
            "held": line.held,
        }
        for line in plan.lines
        if line.archive_now or line.end_now or line.held
    ]
    return {"at": plan.at, "lines": lines, "unruled": plan.unruled}


def review_item(evidence: dict[str, Evidence], check: str, lang: str = "fr") -> dict[str, Any]:
    found = evidence.get(check)
    if found is None:
        return {"ok": False, "text": board(lang)["not_checkable"]}
    return {"ok": found.outcome == "passed", "text": found.text}


def router(org: Organisation, rights: RightsService | None, gate: DeskGate, renderer: Renderer) -> APIRouter:
    web = APIRouter(include_in_schema=False, tags=[TAG])

    def route(method: str, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return web.api_route(path, methods=[method], response_class=HTMLResponse, tags=["reach:desk"])

    @route("GET", "/controle")
    def dashboard(request: Request) -> Response:
        def draw() -> Response:
            current = gate.enter(request, Desk.CONTROLLER, "desk.controller.dashboard")
            now, lang = org.audit.now(), lang_of(request)
            evidence = run_checks(org, clock=lambda: now, lang=lang)
            report = build_report(org.config, org.referential, evidence, lang)
            return renderer.page(
                request,
                "controle/tableau.html",
                user=gate.who(current),
                now=now,
                areas=conformity_areas(report, lang),
                dpia=dpia_state(org),
                rights=rights_rows(rights, now, lang),
                rights_chart=rights_chart(rights, now, lang),
                breaches=breach_rows(org, now, lang),
                processors=processor_rows(org, now, lang),
                authorisation_review=review_item(evidence, "authorisation_review", lang),
                trace_review=review_item(evidence, "trace_review", lang),
                retention=retention_rows(org, now),
            )

        return desk_page(renderer, gate, request, draw)

    @route("GET", "/controle/documents")
    def documents(request: Request) -> Response:
        def draw() -> Response:
            current = gate.enter(request, Desk.CONTROLLER, "desk.controller.documents")
            lang = lang_of(request)
            listed = [
                {
                    "key": d.key,
                    "title": title(d.key, lang),
                    "formats": formats(d.key, d.formats, lang),
                    "preview": "html" in d.formats,
                }
                for d in catalogue.catalogue(org)
            ]
            return renderer.page(request, "controle/documents.html", user=gate.who(current), documents=listed)

        return desk_page(renderer, gate, request, draw)

    @route("GET", "/controle/documents/{key}")
    def document_page(request: Request, key: str) -> Response:
        def draw() -> Response:
            current = gate.enter(request, Desk.CONTROLLER, "desk.controller.document", key[:60])
            try:
                doc = catalogue.find(org, key, "html")
            except DocumentError as exc:
                return renderer.refused(request, worded_refusal(exc, 404), user=gate.who(current))
            response = renderer.page(
                request,
                "controle/document.html",
                user=gate.who(current),
                key=doc.key,
                title=title(doc.key, lang_of(request)),
                formats=formats(doc.key, doc.formats, lang_of(request)),
            )
            return page_with_frames(response)

        return desk_page(renderer, gate, request, draw)

    @route("GET", "/controle/documents/{key}/fichier/{fmt}")
    def document_file(request: Request, key: str, fmt: str, apercu: str = "") -> Response:
        def draw() -> Response:
            current = gate.enter(request, Desk.CONTROLLER, "desk.controller.document.produce", f"{key[:60]}.{fmt[:8]}")
            try:
                content = catalogue.produce(org, key, fmt, lang_of(request), programmes=notice_programmes(org))
            except DocumentError as exc:
                return renderer.refused(request, worded_refusal(exc), user=gate.who(current))
            preview = apercu == "1" and fmt == "html"
            disposition = "inline" if preview else f'attachment; filename="{file_name(key, fmt)}"'
            headers = {"content-disposition": disposition, **(DOCUMENT_HEADERS if fmt == "html" else {})}
            return Response(content, media_type=catalogue.MEDIA[fmt], headers=headers)

        return desk_page(renderer, gate, request, draw)

    return web
