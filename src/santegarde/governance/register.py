"""The record of processing activities (GDPR art. 30; COM-REG-1), generated from the configuration.

For a controller (art. 30.1): one activity per purpose of the référentiel as applied, with its legal
basis (the organisation's choice where the text leaves one), persons, data categories, recipients,
transfers, retention and security, and the justified deviations that touch it. For a processor
(art. 30.2): the processor, the controllers it serves, the categories of processing, transfers and
security. Every line cites the référentiel section it comes from. Output: HTML/PDF/JSON through
``documents.write_document`` and a spreadsheet shaped like the CNIL's model (``write_xlsx``).
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from santegarde.config import Finding, OrganisationConfig, check, effective_referential
from santegarde.config.model import Contact
from santegarde.governance.documents import DocumentError, render_html, write_document
from santegarde.policy import dpo_required
from santegarde.private import PRIVATE_FILE, missing_parents
from santegarde.referentials.model import ART6_ARTICLE, Phase, Purpose, Referential, RetentionRule, Sensitivity

NO_TRANSFER = "None: no transfer of data outside the European Union is configured."
MEASURE_STATUSES = ("implemented", "equivalent", "not_necessary", "not_implemented", "not_recorded")
_SHEET_FORBIDDEN = str.maketrans({c: "_" for c in "[]:*?/\\"})


@dataclass(frozen=True, slots=True)
class Party:
    """A person or body named in the register, with its contact details."""

    name: str
    email: str | None = None
    phone: str | None = None
    address: str | None = None

    def contact(self) -> str:
        return ", ".join(part for part in (self.address, self.email, self.phone) if part) or "no contact details"


@dataclass(frozen=True, slots=True)
class Basis:
    art6: str
    article: str
    art9: str | None
    source: str  # "référentiel", "organisation's choice" or "deviation"
    section: str
    note: str | None = None


@dataclass(frozen=True, slots=True)
class DataCategory:
    id: str
    name: str
    kind: str
    sensitivity: str
    sensitive: bool
    persons: str
    retention: str
    section: str


@dataclass(frozen=True, slots=True)
class RecipientLine:
    name: str
    processor: bool
    condition: str | None
    section: str


@dataclass(frozen=True, slots=True)
class RetentionLine:
    rule: str
    name: str
    duration: str
    end_action: str
    note: str | None
    section: str


@dataclass(frozen=True, slots=True)
class Justification:
    """A deviation from the référentiel or a controller choice, with its written justification."""

    kind: str
    subject: str
    what: str
    justification: str
    section: str | None


@dataclass(frozen=True, slots=True)
class Activity:
    id: str
    reference: str
    name: str
    description: str | None
    section: str
    legal_bases: list[Basis]
    persons: list[str]
    categories: list[DataCategory]
    recipients: list[RecipientLine]
    transfers: str
    retention: list[RetentionLine]
    deviations: list[Justification]
    choices: list[Justification]
    notes: list[str]


@dataclass(frozen=True, slots=True)
class SecurityArea:
    area: str
    codes: list[str]
    statuses: dict[str, int]
    sections: list[str]


@dataclass(frozen=True, slots=True)
class Register:
    kind: Literal["controller", "processor"]
    organisation: str
    siret: str | None
    finess: str | None
    address: str | None
    controller: Party
    dpo: Party | None
    dpo_decision: str
    representative: str
    referential: str
    referential_title: str
    deliberation: str
    created: date
    activities: list[Activity]
    security: list[SecurityArea]
    security_deviations: list[Justification]
    excluded_purposes: list[str]
    controllers_served: list[Party] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@cache
def _persons_data() -> dict[str, Any]:
    text = resources.files("santegarde.governance").joinpath("data/register.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def _persons(ref: Referential, category_id: str) -> str:
    table = _persons_data().get(ref.id, {})
    entry = table.get("categories", {}).get(category_id) or table.get("default")
    return f"{entry['name']} (§{entry['section']})" if entry else "Persons concerned (not stated by the référentiel)"


def _party(contact: Contact | None) -> Party | None:
    if contact is None:
        return None
    return Party(contact.name, contact.email, contact.phone, contact.address)


def phase_text(phase: Phase) -> str:
    """A retention phase in words: a fixed duration, or until an event, with its bounds."""
    if phase.duration is not None:
        text = phase.duration.human()
    elif phase.until_event:
        text = f"until {phase.until_event.replace('_', ' ')}"
    else:
        text = "a duration set by the controller"
    bounds = []
    if phase.min_duration is not None:
        bounds.append(f"at least {phase.min_duration.human()}")
    if phase.max_duration is not None and phase.max_duration != phase.duration:
        bounds.append(f"at most {phase.max_duration.human()}")
    suffix = f" ({', '.join(bounds)})" if bounds else ""
    return f"{text}{suffix} from {phase.start_event.replace('_', ' ')}"


def retention_text(rule: RetentionRule) -> str:
    """The whole rule in words: active phase, archive phase, what happens at the end."""
    text = f"{phase_text(rule.active)} in the active base"
    if rule.archive is not None:
        text += f", then {phase_text(rule.archive)} in archive"
    return f"{text}; then {rule.end_action.value.replace('_', ' ')}"


def _rules_for(ref: Referential, purpose: Purpose) -> list[RetentionRule]:
    keys = {purpose.id, *purpose.categories}
    return [rule for rule in ref.retention if keys & set(rule.applies_to)]


def _category_retention(ref: Referential, purpose: Purpose, category_id: str) -> str:
    rules = [r for r in ref.retention if category_id in r.applies_to] or [
        r for r in ref.retention if purpose.id in r.applies_to
    ]
    if not rules:
        return "Not fixed by the référentiel for this category: the controller sets it."
    return "; ".join(f"{r.name}: {retention_text(r)} (§{r.section})" for r in rules)


def _bases(config: OrganisationConfig, original: Referential, purpose: Purpose) -> list[Basis]:
    deviated = {lb.purpose for lb in config.deviations.legal_basis}
    chosen = purpose.legal_basis_choice is not None and purpose.legal_basis_choice in config.choices
    source = "deviation" if purpose.id in deviated else "organisation's choice" if chosen else "référentiel"
    section = original.purpose(purpose.id).section if original.purpose(purpose.id) else purpose.section  # type: ignore[union-attr]
    legal_section = next((s.number for s in original.sections if "legal bas" in s.title.lower()), section)
    return [
        Basis(
            b.art6.value,
            f"GDPR art. {ART6_ARTICLE[b.art6]}",
            b.art9.value if b.art9 else None,
            source,
            legal_section,
            b.note,
        )
        for b in purpose.legal_bases
    ]


def _deviations_for(
    findings: list[Finding], ref: Referential, config: OrganisationConfig, purpose: Purpose
) -> list[Justification]:
    extra = {e.id: e.purposes for e in config.deviations.extra_data}
    rules = {r.id for r in _rules_for(ref, purpose)}
    out = []
    for f in findings:
        if f.severity != "deviation":
            continue
        touches = (
            (f.kind == "retention" and f.subject in rules)
            or (f.kind == "legal_basis" and f.subject == purpose.id)
            or (f.kind == "extra_data" and purpose.id in extra.get(f.subject, []))
        )
        if touches:
            out.append(Justification(f.kind, f.subject, f.message, f.justification or "", f.section))
    return out


def _choices_for(config: OrganisationConfig, ref: Referential, purpose: Purpose) -> list[Justification]:
    ids = [purpose.legal_basis_choice] if purpose.legal_basis_choice else []
    ids += [r.controller_choice for r in _rules_for(ref, purpose) if r.controller_choice]
    out = []
    for choice_id in dict.fromkeys(ids):
        choice, answer = ref.choice(choice_id), config.choices.get(choice_id)
        if choice is None or answer is None:
            continue
        out.append(
            Justification(
                "choice", choice_id, f"{choice.question} → {answer.value}", answer.justification or "", choice.section
            )
        )
    return out


def _notes(config: OrganisationConfig, ref: Referential, purpose: Purpose) -> list[str]:
    notes = []
    if not purpose.legal_bases:
        notes.append(
            f"The référentiel lists no legal basis for this purpose (§{purpose.section}); the controller "
            "must document one."
        )
    if purpose.requires_formality:
        formality = config.choices.get("research_formality")
        what = f" (chosen: {formality.value})" if formality else ""
        notes.append(
            f"Needs a recorded formality: a reference-methodology declaration or an authorisation{what} "
            f"(§{purpose.section})."
        )
    exception = config.choices.get("information_exception")
    if purpose.id == "warehouse_constitution" and exception and exception.value is True:
        notes.append(
            "The controller invokes the disproportionate-effort exception to individual information (GDPR art. "
            f"14.5.b) for patients no longer followed; justification: {exception.justification or 'MISSING'} (§8)."
        )
    return notes


def _activity(
    index: int,
    config: OrganisationConfig,
    original: Referential,
    ref: Referential,
    findings: list[Finding],
    purpose: Purpose,
) -> Activity:
    categories = []
    for cid in purpose.categories:
        cat = ref.category(cid)
        if cat is None or cat.forbidden:
            continue
        categories.append(
            DataCategory(
                cat.id,
                cat.name,
                cat.kind.value,
                cat.sensitivity.value,
                cat.sensitivity != Sensitivity.ORDINARY,
                _persons(ref, cat.id),
                _category_retention(ref, purpose, cat.id),
                cat.section,
            )
        )
    recipients = [
        RecipientLine(r.name, r.processor, r.condition, r.section)
        for r in ref.recipients
        if not r.purposes or purpose.id in r.purposes
    ]
    retention = [
        RetentionLine(r.id, r.name, retention_text(r), r.end_action.value, r.note, r.section)
        for r in _rules_for(ref, purpose)
    ]
    return Activity(
        id=purpose.id,
        reference=f"{ref.id}/{index:02d}-{purpose.id}",
        name=purpose.name,
        description=purpose.description,
        section=purpose.section,
        legal_bases=_bases(config, original, purpose),
        persons=sorted({c.persons for c in categories}),
        categories=categories,
        recipients=recipients,
        transfers=NO_TRANSFER,
        retention=retention,
        deviations=_deviations_for(findings, ref, config, purpose),
        choices=_choices_for(config, ref, purpose),
        notes=_notes(config, ref, purpose),
    )


def security_summary(config: OrganisationConfig, ref: Referential) -> list[SecurityArea]:
    """Measures of the référentiel grouped by theme, with how many carry each status in the configuration."""
    statuses = {m.code: m.status for m in config.deviations.measures}
    areas: dict[str, list[str]] = {}
    sections: dict[str, set[str]] = {}
    for m in ref.measures:
        areas.setdefault(m.area, []).append(m.code)
        sections.setdefault(m.area, set()).add(m.section)
    return [
        SecurityArea(area, codes, dict(Counter(statuses.get(c, "not_recorded") for c in codes)), sorted(sections[area]))
        for area, codes in sorted(areas.items())
    ]


def build_register(
    config: OrganisationConfig,
    referential: Referential,
    *,
    processor: bool = False,
    controllers_served: list[Party] | None = None,
    created: date | None = None,
) -> Register:
    """The register of this organisation, as controller (art. 30.1) or as processor (art. 30.2)."""
    findings = check(config, referential)
    ref = effective_referential(config, referential)
    active = [p for p in ref.purposes if not p.out_of_scope and not p.forbidden]
    excluded = [
        f"{p.name} ({'forbidden' if p.forbidden else 'out of scope'}, §{p.section})"
        for p in ref.purposes
        if p.out_of_scope or p.forbidden
    ]
    org = config.organisation
    decision = dpo_required(ref, config.facts)
    missing = []
    dpo = _party(org.dpo)
    if dpo is None:
        need = "required" if decision.required else "not required"
        missing.append(
            f"No data protection officer is configured (organisation.dpo); under {ref.id} a DPO is "
            f"{need}: {decision.reason}."
        )
    if not (org.controller.email or org.controller.phone or org.controller.address):
        missing.append("The controller has no contact details (organisation.controller: email, phone or address).")
    served = list(controllers_served or [])
    if processor and not served:
        missing.append(
            "No controller served is named: a processor's register (GDPR art. 30.2 a) lists each "
            "controller on whose behalf it acts; name them with --controller."
        )
    deviations = [
        Justification(f.kind, f.subject, f.message, f.justification or "", f.section)
        for f in findings
        if f.severity == "deviation" and f.kind == "measure"
    ]
    return Register(
        kind="processor" if processor else "controller",
        organisation=org.name,
        siret=org.siret,
        finess=org.finess,
        address=org.address,
        controller=_party(org.controller),  # type: ignore[arg-type]
        dpo=dpo,
        dpo_decision=str(decision),
        representative="None configured (GDPR art. 27 only concerns controllers established outside the EU).",
        referential=ref.id,
        referential_title=ref.title,
        deliberation=ref.deliberation,
        created=created or datetime.now(UTC).date(),
        activities=[_activity(i, config, referential, ref, findings, p) for i, p in enumerate(active, 1)],
        security=security_summary(config, ref),
        security_deviations=deviations,
        excluded_purposes=excluded,
        controllers_served=served,
        missing=missing,
    )


def render_register(register: Register) -> str:
    """The register as an HTML document (template register.html.j2)."""
    title = "Record of processing activities" + (
        " (processor, GDPR art. 30.2)" if register.kind == "processor" else " (controller, GDPR art. 30.1)"
    )
    return render_html(
        "register.html.j2",
        register=register,
        title=title,
        organisation_name=register.organisation,
        lang="en",
        footer=f"Référentiel {register.referential} (deliberation {register.deliberation}).",
    )


# -- spreadsheet shaped like the CNIL's model -------------------------------------------------------------------


def _sheet_title(text: str, used: set[str]) -> str:
    base = text.translate(_SHEET_FORBIDDEN)[:28] or "Activity"
    title, n = base, 2
    while title.lower() in used:
        title, n = f"{base[:25]}~{n}", n + 1
    used.add(title.lower())
    return title


def _organisation_rows(register: Register) -> list[tuple[str, str]]:
    c, d = register.controller, register.dpo
    rows = [
        ("Organisme (organisation)", register.organisation),
        ("SIRET", register.siret or ""),
        ("FINESS", register.finess or ""),
        ("Adresse (address)", register.address or ""),
        (
            "Responsable du traitement (controller)" if register.kind == "controller" else "Sous-traitant (processor)",
            f"{c.name} — {c.contact()}",
        ),
        ("Délégué à la protection des données (DPO)", f"{d.name} — {d.contact()}" if d else "MISSING: not configured"),
        ("DPO obligatoire ? (DPO required?)", register.dpo_decision),
        ("Représentant (representative)", register.representative),
        (
            "Référentiel appliqué (référentiel applied)",
            f"{register.referential} — {register.referential_title} (deliberation {register.deliberation})",
        ),
        ("Date de création / mise à jour (created / updated)", register.created.isoformat()),
    ]
    rows += [
        ("Responsable servi (controller served)", f"{p.name} — {p.contact()}") for p in register.controllers_served
    ]
    rows += [("À compléter (missing)", text) for text in register.missing]
    rows += [("Traitement hors champ (excluded)", text) for text in register.excluded_purposes]
    return rows


def _counts(statuses: dict[str, int]) -> str:
    return ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in statuses.items())


def _security_text(register: Register) -> str:
    return "\n".join(
        f"{s.area}: {len(s.codes)} measures ({_counts(s.statuses)}) §{', '.join(s.sections)}" for s in register.security
    )


def _activity_rows(register: Register, a: Activity) -> list[tuple[str, str]]:
    bases = (
        "\n".join(
            f"{b.article} ({b.art6.replace('_', ' ')})"
            + (f" + GDPR art. {b.art9}" if b.art9 else "")
            + f" — {b.source}, §{b.section}"
            + (f" — {b.note}" if b.note else "")
            for b in a.legal_bases
        )
        or "Not listed by the référentiel: to be documented by the controller."
    )
    rows = [
        ("Nom / sigle (activity name)", a.name),
        ("N° / référence (reference)", a.reference),
        ("Date de création / mise à jour (created / updated)", register.created.isoformat()),
        ("Finalité principale (purpose)", f"{a.description or a.name} (§{a.section})"),
        ("Base légale (legal basis)", bases),
        ("Catégories de personnes concernées (persons)", "\n".join(a.persons)),
    ]
    rows += [
        (
            "Catégorie de données (data category)",
            f"{c.name} — {'SENSITIVE' if c.sensitive else 'ordinary'} ({c.sensitivity.replace('_', ' ')}) §{c.section}",
        )
        for c in a.categories
    ]
    rows += [(f"Durée de conservation — {c.name} (retention)", c.retention) for c in a.categories]
    rows += [
        (
            "Destinataire (recipient)",
            f"{r.name}{' [processor]' if r.processor else ''} §{r.section}"
            + (f" — {r.condition}" if r.condition else ""),
        )
        for r in a.recipients
    ] or [("Destinataire (recipient)", "None listed by the référentiel for this purpose.")]
    rows.append(("Transferts hors UE (transfers outside the EU)", a.transfers))
    rows.append(("Mesures de sécurité (security measures)", _security_text(register)))
    rows += [(f"Écart (deviation: {d.kind})", f"{d.what} — justification: {d.justification}") for d in a.deviations]
    rows += [("Choix du responsable (controller choice)", f"{d.what} — {d.justification}") for d in a.choices]
    rows += [("Remarque (note)", n) for n in a.notes]
    return rows


def _fill(sheet: Any, title: str, rows: list[tuple[str, str]]) -> None:
    from openpyxl.styles import Alignment, Font

    sheet.append([title])
    sheet["A1"].font = Font(bold=True, size=13)
    for label, value in rows:
        sheet.append([label, value])
    sheet.column_dimensions["A"].width = 48
    sheet.column_dimensions["B"].width = 110
    for row in sheet.iter_rows(min_row=2):
        row[0].font = Font(bold=True)
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")


def write_xlsx(register: Register, path: Path) -> Path:
    """Write the register as a workbook: the organisation, then one sheet per activity; atomically."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Organisation"
    _fill(sheet, f"Registre des activités de traitement — {register.organisation}", _organisation_rows(register))
    used = {"organisation"}
    for a in register.activities:
        _fill(
            book.create_sheet(_sheet_title(f"{a.reference.split('/')[-1]}", used)), a.name, _activity_rows(register, a)
        )
    missing_parents(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        book.save(tmp)
        os.chmod(tmp, PRIVATE_FILE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_register(register: Register, path: Path) -> Path:
    """Write the register in the format its suffix names: .html, .pdf, .json or .xlsx."""
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        return write_xlsx(register, path)
    if suffix not in (".html", ".pdf", ".json"):
        raise DocumentError(f"Cannot write '{path.name}': the register is written as .html, .pdf, .json or .xlsx.")
    html = None if suffix == ".json" else render_register(register)
    return write_document(path, html=html, data=register.as_dict())
