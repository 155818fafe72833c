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
from santegarde.web.french import MONTHS, name
from santegarde.web.render import Renderer

TAG = "console"
END_ACTIONS = {"delete": "suppression", "anonymise": "anonymisation"}
STATUS_WORDS = {
    "implemented": "mises en œuvre",
    "partial": "partielles",
    "equivalent": "équivalentes",
    "not_necessary": "non nécessaires",
    "not_implemented": "non mises en œuvre",
    NO_STATUS: "sans statut",
}
FILE_NAMES = {
    "register": "registre-des-traitements",
    "dpia": "aipd",
    "dpia-pia": "aipd-outil-pia",
    "conformity": "rapport-de-conformite",
}
TITLES = {
    "register": "Registre des activités de traitement (art. 30 du RGPD)",
    "dpia": "Analyse d'impact relative à la protection des données (AIPD)",
    "dpia-pia": "AIPD au format de l'outil PIA de la CNIL",
    "conformity": "Rapport de conformité des mesures de sécurité",
}
FORMAT_NAMES = {"html": "page web", "pdf": "PDF", "json": "JSON", "xlsx": "tableur (modèle CNIL)", "txt": "texte"}


def title(key: str) -> str:
    if key.startswith(catalogue.NOTICE):
        fmt = key[len(catalogue.NOTICE) :]
        return f"Notice d'information — {doctext.words('fr')['cli']['notice_formats'].get(fmt, fmt)}"
    return TITLES[key]


def file_name(key: str, fmt: str) -> str:
    return f"{FILE_NAMES.get(key, key)}.{fmt}"


def notice_programmes(org: Organisation) -> list[ProgrammeFacts]:
    """The compassionate-access programmes registered beside the configuration, which the notices name."""
    if org.referential.id != COMPASSIONATE:
        return []
    from santegarde.compassionate.registry import Registry

    return Registry.beside(org.config_path, org.referential).notice_facts()


# -- the dashboard's parts, from the packages' own functions ------------------------------------------


def conformity_areas(report: ConformityReport) -> list[dict[str, Any]]:
    """Per theme: how many measures carry each status, and what is missing (no status, unjustified, contradicted)."""
    areas: dict[str, dict[str, Any]] = {}
    for line in report.lines:
        m = line.measure
        area = areas.setdefault(
            m.area,
            {"title": doctext.security_area(m.area, "fr")["title"], "counts": {}, "missing": [], "measures": 0},
        )
        area["measures"] += 1
        area["counts"][line.status] = area["counts"].get(line.status, 0) + 1
        what = doctext.measure_title(m, report.referential, "fr")
        if line.status == NO_STATUS:
            area["missing"].append(f"{m.code} — {what} : aucun statut déclaré")
        elif line.contradicted:
            area["missing"].append(f"{m.code} — {what} : déclarée mise en œuvre, la vérification automatique échoue")
        elif line.needs_justification:
            area["missing"].append(f"{m.code} — {what} : justification à écrire")
    for area in areas.values():
        area["ok"] = not area["missing"]
        area["summary"] = ", ".join(f"{n} {STATUS_WORDS.get(s, s)}" for s, n in sorted(area["counts"].items()))
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


def rights_rows(rights: RightsService | None, now: datetime) -> list[dict[str, Any]]:
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
                "right": right_name(r.right, "fr"),
                "received": r.received_at,
                "deadline": r.deadline,
                "days": left.days if left.total_seconds() >= 0 else -(-left).days,  # whole days, either way
                "late": r.overdue(now),
                "rule": r.deadline_rule,
                "identity_checked": r.identity_check is not None,
            }
        )
    return sorted(rows, key=lambda row: row["deadline"])


RIGHTS_SERIES = {"met": "réponse dans le délai", "missed": "délai dépassé", "open": "en cours, dans le délai"}


def rights_chart(rights: RightsService | None, now: datetime) -> Chart | None:
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
    return grouped_bars(
        "droits",
        "Demandes d'exercice des droits reçues par mois, selon le respect du délai",
        "Pour chaque mois de réception, le nombre de demandes auxquelles il a été répondu dans le délai, de demandes "
        "dont le délai a été dépassé et de demandes en cours dans le délai.",
        dict(counted),
        RIGHTS_SERIES,
        {month: f"{MONTHS[int(month[5:]) - 1]} {month[:4]}" for month, _ in counted},
    )


def breach_rows(org: Organisation, now: datetime) -> list[dict[str, Any]]:
    rows = []
    for b in breaches.entries(org.engine):
        clock = breaches.clock_status(b, clock=lambda: now, lang="fr")
        if clock.status in ("notified", "not_required"):
            continue
        rows.append({"id": b.id, "discovered": b.discovered_at, "clock": clock.sentence, "late": clock.flagged})
    return rows


def processor_problems(p: processors.Processor, ref: Referential, today: date) -> list[str]:
    """Why a processor is not in order, in French: the missing art. 28 clauses in words (the register's sentence
    names them by their CLI identifiers), then the register's own sentences on the HDS certificate, the
    jurisdictions and an expiring certificate."""
    clauses = doctext.words("fr")["registers"]["clauses"]
    problems = (
        [f"Clauses de l'article 28 absentes du contrat : {' ; '.join(clauses[c] for c in p.missing_clauses)}."]
        if p.missing_clauses
        else []
    )
    complete = replace(p, clauses=tuple(processors.CLAUSES))
    problems += processors.refusals(complete, ref, today, "fr") + processors.warnings(p, today, "fr")
    return list(dict.fromkeys(problems))


def processor_rows(org: Organisation, now: datetime) -> list[dict[str, Any]]:
    rows = []
    for p in processors.entries(org.engine):
        if p.status == "ended":
            continue
        problems = processor_problems(p, org.referential, now.date())
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


def review_item(evidence: dict[str, Evidence], check: str) -> dict[str, Any]:
    found = evidence.get(check)
    if found is None:
        return {"ok": False, "text": "Non vérifiable ici."}
    return {"ok": found.outcome == "passed", "text": found.text}


def router(org: Organisation, rights: RightsService | None, gate: DeskGate, renderer: Renderer) -> APIRouter:
    web = APIRouter(include_in_schema=False, tags=[TAG])

    def route(method: str, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return web.api_route(path, methods=[method], response_class=HTMLResponse, tags=["reach:desk"])

    @route("GET", "/controle")
    def dashboard(request: Request) -> Response:
        def draw() -> Response:
            current = gate.enter(request, Desk.CONTROLLER, "desk.controller.dashboard")
            now = org.audit.now()
            evidence = run_checks(org, clock=lambda: now, lang="fr")
            report = build_report(org.config, org.referential, evidence, "fr")
            return renderer.page(
                request,
                "controle/tableau.html",
                user=gate.who(current),
                now=now,
                areas=conformity_areas(report),
                dpia=dpia_state(org),
                rights=rights_rows(rights, now),
                rights_chart=rights_chart(rights, now),
                breaches=breach_rows(org, now),
                processors=processor_rows(org, now),
                authorisation_review=review_item(evidence, "authorisation_review"),
                trace_review=review_item(evidence, "trace_review"),
                retention=retention_rows(org, now),
            )

        return desk_page(renderer, gate, request, draw)

    @route("GET", "/controle/documents")
    def documents(request: Request) -> Response:
        def draw() -> Response:
            current = gate.enter(request, Desk.CONTROLLER, "desk.controller.documents")
            docs = [
                {
                    "key": d.key,
                    "title": title(d.key),
                    "formats": [(f, FORMAT_NAMES[f], file_name(d.key, f)) for f in d.formats],
                    "preview": "html" in d.formats,
                }
                for d in catalogue.catalogue(org)
            ]
            return renderer.page(request, "controle/documents.html", user=gate.who(current), documents=docs)

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
                title=title(doc.key),
                formats=[(f, FORMAT_NAMES[f], file_name(doc.key, f)) for f in doc.formats],
            )
            return page_with_frames(response)

        return desk_page(renderer, gate, request, draw)

    @route("GET", "/controle/documents/{key}/fichier/{fmt}")
    def document_file(request: Request, key: str, fmt: str, apercu: str = "") -> Response:
        def draw() -> Response:
            current = gate.enter(request, Desk.CONTROLLER, "desk.controller.document.produce", f"{key[:60]}.{fmt[:8]}")
            try:
                content = catalogue.produce(org, key, fmt, "fr", programmes=notice_programmes(org))
            except DocumentError as exc:
                return renderer.refused(request, worded_refusal(exc), user=gate.who(current))
            preview = apercu == "1" and fmt == "html"
            disposition = "inline" if preview else f'attachment; filename="{file_name(key, fmt)}"'
            headers = {"content-disposition": disposition, **(DOCUMENT_HEADERS if fmt == "html" else {})}
            return Response(content, media_type=catalogue.MEDIA[fmt], headers=headers)

        return desk_page(renderer, gate, request, draw)

    return web
