"""The periodic summary report for the ANSM (article R. 5121-74-6 CSP, §5.2), aggregated only.

The report reads the programme's pseudonymised extract (:mod:`santegarde.compassionate.extract`) once the profile
is allowed the purpose ``summary_reports`` (a profile without it is refused before anything is read, and the
refusal is traced; the report itself is traced), builds one row per patient —
never leaving this module — and publishes only counts, sums and means computed by the warehouse's indicator code:
every entry counting 1 to ``threshold - 1`` patients is suppressed, then complementary entries so that no
suppressed value can be found by subtraction (11 by default: cells under 11 are never shown).
"""

from __future__ import annotations

import csv
import html
import io
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import duckdb
import pyarrow as pa

from santegarde.compassionate import extract
from santegarde.compassionate.codes import code_set
from santegarde.compassionate.programme import FormKind
from santegarde.compassionate.service import CaseState, CompassionateService, ReportRefused, profile_refused
from santegarde.identity import sessions
from santegarde.identity.sessions import SessionContext
from santegarde.policy import AccessRequest, Decision, decide
from santegarde.referentials.model import Operation
from santegarde.store.service import Request
from santegarde.warehouse.anonymity.indicators import TOTAL, Cell, Indicator, indicator

PURPOSE = "summary_reports"
DEFAULT_THRESHOLD = 11
AGE_BANDS = (
    (0, 18, "moins de 18 ans"),
    (18, 40, "18 à 39 ans"),
    (40, 60, "40 à 59 ans"),
    (60, 75, "60 à 74 ans"),
    (75, 200, "75 ans et plus"),
)
WEIGHT_BANDS = ((0, 50, "moins de 50 kg"), (50, 70, "50 à 69 kg"), (70, 90, "70 à 89 kg"), (90, 1000, "90 kg et plus"))
SEX_FR = {"female": "femmes", "male": "hommes", "other": "autre", "unknown": "non renseigné"}
COUNTS_FR = {
    "requested": "Patients ayant fait l'objet d'une demande d'accès",
    "granted": "Patients dont l'accès a été accordé",
    "treated": "Patients traités pendant la période",
    "stopped": "Patients ayant arrêté le traitement",
    "related": "Patients dont une personne de l'entourage a été affectée",
}


@dataclass(frozen=True)
class Entry:
    """One published figure: None when suppressed (and why)."""

    section: str
    item: str
    value: float | int | None
    suppressed: str | None = None


@dataclass
class SummaryReport:
    programme: str
    title: str
    decision: str
    start: date
    end: date
    threshold: int
    generated_at: datetime
    entries: list[Entry] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "programme": self.programme,
            "title": self.title,
            "ansm_decision": self.decision,
            "period": {"start": self.start.isoformat(), "end": self.end.isoformat()},
            "small_cell_threshold": self.threshold,
            "generated_at": self.generated_at.isoformat(),
            "entries": [
                {"section": e.section, "item": e.item, "value": e.value, "suppressed": e.suppressed}
                for e in self.entries
            ],
        }

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["section", "élément", "valeur", "masquée"])
        for e in self.entries:
            writer.writerow([e.section, e.item, "" if e.value is None else e.value, _why(e.suppressed)])
        return out.getvalue()

    def html(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(e.section)}</td><td>{html.escape(e.item)}</td>"
            f"<td>{'' if e.value is None else html.escape(_shown(e.value))}</td>"
            f"<td>{html.escape(_why(e.suppressed))}</td></tr>"
            for e in self.entries
        )
        return (
            '<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>Rapport de synthèse</title></head>'
            f"<body><h1>Rapport périodique de synthèse — {html.escape(self.title)}</h1>"
            f"<p>Autorisation d'accès compassionnel n° {html.escape(self.decision)} ; période du "
            f"{self.start:%d/%m/%Y} au {self.end:%d/%m/%Y} (article R. 5121-74-6 du code de la santé publique).</p>"
            f"<p>Données agrégées uniquement : toute valeur portant sur moins de {self.threshold} patients est "
            "masquée, ainsi que les valeurs qui permettraient de la retrouver par soustraction.</p>"
            "<table><thead><tr><th>Rubrique</th><th>Élément</th><th>Valeur</th><th>Masquage</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></body></html>"
        )


def parse_period(text: str) -> tuple[date, date]:
    """START..END (ISO dates) → the two dates; a sentence when it is not that."""
    first, sep, last = text.partition("..")
    try:
        if not sep:
            raise ValueError
        return date.fromisoformat(first.strip()), date.fromisoformat(last.strip())
    except ValueError:
        raise ReportRefused("report_period_format", text=text[:40]) from None


def _shown(value: float | int) -> str:
    return f"{value:.1f}".replace(".", ",") if isinstance(value, float) else str(value)


def _why(reason: str | None) -> str:
    return {"primary": "moins de patients que le seuil", "complementary": "masquage complémentaire"}.get(
        reason or "", ""
    )


def _band(value: float | None, bands: tuple[tuple[int, int, str], ...]) -> str:
    if value is None:
        return "non renseigné"
    return next(label for low, high, label in bands if low <= value < high)


def _age(birth: str | None, on: date) -> int | None:
    if not birth:
        return None
    year, month = int(birth[:4]), int(birth[5:7])
    return on.year - year - ((on.month, on.day) < (month, int(birth[8:10]) if len(birth) >= 10 else 1))


ACCESS_REQUEST, INITIATION, STOP, RELATED = (
    FormKind.ACCESS_REQUEST.value,
    FormKind.INITIATION.value,
    FormKind.STOP.value,
    FormKind.RELATED_PERSON.value,
)


def _lines(case: CaseState) -> list[list[Any]]:
    """A case read through the path, as the extract's lines: [form id, kind, ISO day, answers]."""
    return [[f.form, f.kind.value, f.authored.date().isoformat(), f.answers] for f in case.forms]


def _row(
    number: int,
    sex: str | None,
    birth: str | None,
    lines: list[list[Any]],
    counted: dict[tuple[str, str], str],
    period: tuple[date, date, date],
) -> tuple[dict[str, Any], list[str]]:
    """One patient's line (never published as such) and the MedDRA terms of the adverse effects in the period, from
    the case's lines [form id, kind, ISO day, answers]; ``counted``: what each counted field is
    (:func:`santegarde.compassionate.extract.roles`); ``period``: its start, its end and today.

    Exposure counts the days treated within the period, up to today for a period that has not ended; the weight is
    the last one recorded by the period's end, the efficacy the last one recorded within it. Days are compared as
    ISO strings (their order is the dates' order): no date is built per line."""
    start, end, today = period
    first, last = start.isoformat(), end.isoformat()
    kinds: set[str] = set()
    granted = False
    weight = efficacy = None
    initiated = stopped = None
    terms: list[str] = []
    for form, kind, day, answers in lines:
        if kind == INITIATION and initiated is None:
            initiated = day
        elif kind == STOP and stopped is None:
            stopped = day
        if day > last:
            continue
        inside = day >= first
        if inside:
            kinds.add(kind)
        for key, value in answers.items():
            what = counted.get((form, key))
            if what is None:
                continue
            if what == "weight":
                weight = value
            elif not inside:
                continue
            elif what == "efficacy":
                efficacy = value
            elif what == "decision":
                granted = granted or value == "granted"
            elif what == "meddra":
                terms.append(str(value))
    began = date.fromisoformat(initiated) if initiated else None
    ended = date.fromisoformat(stopped) if stopped else None
    treated = began is not None and began <= end and (ended is None or ended >= start)
    exposure = 0
    if treated and began is not None:
        until = min(ended or end, end, today)
        exposure = max(0, (until - max(began, start)).days + 1)
    return (
        {
            "pid": number,
            "requested": ACCESS_REQUEST in kinds,
            "granted": granted,
            "treated": treated,
            "stopped": STOP in kinds,
            "related": RELATED in kinds,
            "sex": SEX_FR.get(sex or "unknown", "non renseigné"),
            "age_band": _band(_age(birth, end), AGE_BANDS),
            "weight_band": _band(float(weight) if weight is not None else None, WEIGHT_BANDS),
            "exposure_days": exposure,
            "efficacy": float(efficacy) if efficacy is not None else None,
        },
        terms,
    )


def build(
    service: CompassionateService,
    req: Request,
    programme_id: str,
    start: date,
    end: date,
    threshold: int = DEFAULT_THRESHOLD,
) -> SummaryReport:
    """The summary report of a programme for the period, as this session may produce it."""
    if end < start:
        raise ReportRefused("report_period_order", start=start.isoformat(), end=end.isoformat())
    if threshold < 2:
        raise ReportRefused("report_threshold")
    req = Request(req.token, PURPOSE, source=req.source)
    ctx, decision = allowed(service, req, programme_id)
    programme = service.registry.get(programme_id)
    today = service.records.identity.now().date()
    rows: list[dict[str, Any]] = []
    terms: list[tuple[int, str]] = []
    counted = {key: what for version in service.registry.versions(programme_id)
               for key, what in extract.roles(service.registry.get(programme_id, version)).items()}  # fmt: skip
    period = (start, end, today)
    for raws, missing in extract.batches(service.records, programme_id):
        for r in raws:
            row, found = _row(r.number, r.content.get("sex"), r.content.get("birth"), r.content["forms"], counted,
                              period)  # fmt: skip
            rows.append(row)
            terms.extend((r.number, t) for t in found)
        for number, patient_id in missing:  # opened before the extract: read through the path, traced there
            case = service.state(req, patient_id)
            row, found = _row(number, case.sex, case.birth, _lines(case), counted, period)
            rows.append(row)
            terms.extend((number, t) for t in found)
    service.trace_programme(
        ctx, req, "aac.report", programme_id, purpose=PURPOSE, rule=decision.rule, section=decision.section
    )
    report = SummaryReport(
        programme.key,
        programme.title,
        programme.ansm_decision.number,
        start,
        end,
        threshold,
        service.records.identity.now(),
    )
    conn = duckdb.connect()
    try:
        report.entries = _entries(conn, rows, terms, threshold)
    finally:
        conn.close()
    return report  # traced as one report; a case read through the path (not in the extract) was traced there too


def allowed(service: CompassionateService, req: Request, programme_id: str) -> tuple[SessionContext, Decision]:
    """The profile must read health data for the summary reports (§8.2): decided before anything is read."""
    ctx = sessions.require(service.records.identity, req.token, sensitivity=None)
    decision = decide(service.records.ref, AccessRequest(ctx.profile or "", Operation.READ, "safety", PURPOSE))
    if not decision.allowed:
        service.records.trace_refusal(req, "aac.report", ("QuestionnaireResponse", programme_id), decision.rule)
        raise profile_refused("report_profile", decision)
    return ctx, decision


def _true(table: Indicator) -> Cell | None:
    """The entry of the patients for whom a flag holds; None when no patient has it (nothing to publish but 0)."""
    return next((c for c in table.cells if c.key == (True,)), None)


ARROW = {"INTEGER": pa.int64(), "BOOLEAN": pa.bool_(), "VARCHAR": pa.string(), "DOUBLE": pa.float64()}


def _table(conn: duckdb.DuckDBPyConnection, name: str, columns: dict[str, str], rows: list[tuple[Any, ...]]) -> None:
    """The rows as a DuckDB table, handed over column by column in memory (no row-by-row INSERT)."""
    data = pa.table({c: pa.array([r[i] for r in rows], type=ARROW[t]) for i, (c, t) in enumerate(columns.items())})
    conn.from_arrow(data).create(name)


def _entries(
    conn: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]], terms: list[tuple[int, str]], threshold: int
) -> list[Entry]:
    columns = {
        "pid": "INTEGER",
        "requested": "BOOLEAN",
        "granted": "BOOLEAN",
        "treated": "BOOLEAN",
        "stopped": "BOOLEAN",
        "related": "BOOLEAN",
        "sex": "VARCHAR",
        "age_band": "VARCHAR",
        "weight_band": "VARCHAR",
        "exposure_days": "INTEGER",
        "efficacy": "DOUBLE",
    }
    _table(conn, "patients", columns, [tuple(r[c] for c in columns) for r in rows])
    _table(conn, "effects", {"pid": "INTEGER", "term": "VARCHAR"}, terms)
    entries: list[Entry] = []
    for flag, label in COUNTS_FR.items():
        cell = _true(indicator(conn, "patients", [flag], threshold=threshold, person="pid"))
        entries.append(Entry("Effectifs", label, cell.count if cell else 0, cell.reason if cell else None))
    treated = conn.sql("SELECT * FROM patients WHERE treated")
    for dim, section in (("sex", "Sexe"), ("age_band", "Âge"), ("weight_band", "Poids")):
        table = indicator(conn, treated, [dim], threshold=threshold, person="pid")
        entries.extend(
            Entry(f"Patients traités — {section}", str(c.key[0]), c.count, c.reason)
            for c in table.cells
            if c.key[0] is not TOTAL
        )
    exposure = _true(
        indicator(
            conn,
            "patients",
            ["treated"],
            threshold=threshold,
            person="pid",
            aggregates={"days": ("sum", "exposure_days"), "efficacy": ("mean", "efficacy")},
        )
    )
    values = dict(exposure.aggregates) if exposure else {"days": 0, "efficacy": None}
    reason = exposure.reason if exposure else None
    days = values["days"]
    entries.append(
        Entry("Exposition", "Durée cumulée de traitement (patients-jours)", None if days is None else int(days), reason)
    )
    entries.append(
        Entry("Efficacité", "Moyenne du dernier critère d'efficacité relevé en suivi", values["efficacy"], reason)
    )
    effects: Indicator = indicator(conn, "effects", ["term"], threshold=threshold, person="pid")
    labels = code_set("meddra")
    for c in effects.cells:
        if c.key[0] is TOTAL:
            entries.append(
                Entry("Effets indésirables (MedDRA)", "Patients ayant présenté au moins un effet", c.count, c.reason)
            )
        else:
            term = str(c.key[0])
            entries.append(
                Entry("Effets indésirables (MedDRA)", f"{term} {labels.get(term, '')}".strip(), c.count, c.reason)
            )
    return entries
