"""The record of processing activities (GDPR art. 30; COM-REG-1), generated from the configuration.

For a controller (art. 30.1), in French by default (``lang="en"`` for English), one activity per purpose
of the référentiel as applied, shaped like the CNIL's model: purposes, legal basis (art. 6) and the
condition of art. 9 for sensitive data, persons, data categories, internal recipients (the authorised
staff of the référentiel) and external ones, transfers, retention with its starting events in words and
the end action the organisation chose, and the justified deviations; then the logging of staff actions
as its own activity with its retention; then the general description of the security measures (art.
30.1 g) by theme. For a processor (art. 30.2): the processor, the controllers it serves, the categories
of processing, transfers and security. Every line cites the référentiel section it comes from.
Output: HTML/PDF/JSON through ``documents.write_document`` and a spreadsheet shaped like the CNIL's
model (``write_xlsx``).
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
from santegarde.config.model import ChoiceAnswer, Contact
from santegarde.governance import doctext, gaps
from santegarde.governance.documents import DocumentError, render_html, write_document
from santegarde.governance.ledgers import LedgerSummary
from santegarde.governance.transfers import Transfer, basis_sentence, country_name
from santegarde.governance.vocabulary import duration, label, since
from santegarde.policy import dpo_required
from santegarde.private import PRIVATE_FILE, missing_parents
from santegarde.referentials.model import (
    CategoryKind,
    Duration,
    Phase,
    Purpose,
    Referential,
    RetentionRule,
    Sensitivity,
)
from santegarde.store.retention import end_action, phase_duration, trace_duration, trace_rule

MEASURE_STATUSES = ("implemented", "partial", "equivalent", "not_necessary", "not_implemented", "not_recorded")
LOGGING = "logging"
_SHEET_FORBIDDEN = str.maketrans({c: "_" for c in "[]:*?/\\"})


@dataclass(frozen=True, slots=True)
class Party:
    """A person or body named in the register, with its contact details."""

    name: str
    email: str | None = None
    phone: str | None = None
    address: str | None = None

    def contact(self, missing: str = "coordonnées à compléter") -> str:
        return ", ".join(part for part in (self.address, self.email, self.phone) if part) or missing


@dataclass(frozen=True, slots=True)
class Basis:
    art6: str
    text: str  # the basis in words, with its article
    source: str  # référentiel, the organisation's choice or a justified deviation, in words
    section: str


@dataclass(frozen=True, slots=True)
class DataCategory:
    id: str
    name: str
    sensitivity: str
    sensitivity_text: str
    sensitive: bool
    persons: str
    retention: str
    section: str


@dataclass(frozen=True, slots=True)
class RecipientLine:
    name: str
    processor: bool
    section: str


@dataclass(frozen=True, slots=True)
class RetentionLine:
    rule: str
    name: str
    duration: str
    end_action: str
    section: str
    note: str | None = None  # the référentiel's note (its legal reference), in English documents only


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
    purpose: str
    section: str
    legal_bases: list[Basis]
    art9: str
    persons: list[str]
    categories: list[DataCategory]
    internal: list[RecipientLine]
    recipients: list[RecipientLine]
    transfers: str
    retention: list[RetentionLine]
    deviations: list[Justification]
    choices: list[Justification]
    notes: list[str]


@dataclass(frozen=True, slots=True)
class SecurityArea:
    area: str
    title: str
    description: str
    codes: list[str]
    statuses: dict[str, int]
    summary: str
    sections: list[str]


@dataclass(frozen=True, slots=True)
class Register:
    kind: Literal["controller", "processor"]
    lang: str
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
    ledgers: dict[str, Any] | None = None  # consents and objections counted per purpose (governance.ledgers)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@cache
def _persons_data() -> dict[str, Any]:
    text = resources.files("santegarde.governance").joinpath("data/register.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def category_name(config: OrganisationConfig, ref: Referential, category_id: str, lang: str) -> str:
    """A data category by name: the organisation's own words for an extra category (a justified deviation),
    else the vocabulary's."""
    extra = next((e.name for e in config.deviations.extra_data if e.id == category_id), None)
    return extra or label(ref, "category", category_id, lang)


def _persons(ref: Referential, category_id: str, lang: str) -> str:
    table = _persons_data().get(ref.id, {})
    entry = table.get("categories", {}).get(category_id) or table.get("default")
    return f"{entry[lang]} (§{entry['section']})" if entry else doctext.words(lang)["persons_missing"]


def _party(contact: Contact | None) -> Party | None:
    if contact is None:
        return None
    return Party(contact.name, contact.email, contact.phone, contact.address)


def phase_text(
    ref: Referential, rule: RetentionRule, phase: Phase, choices: dict[str, ChoiceAnswer], lang: str, *, active: bool
) -> str:
    """A retention phase in words: its duration (the text's or the organisation's) or its end event, its
    bounds, and the event it runs from."""
    w = doctext.words(lang)
    if active and trace_rule(ref) is rule:  # the audit trail's purge keeps traces this long (COM-LOG-3)
        chosen: Duration | None = trace_duration(ref, choices)
    else:
        chosen = phase_duration(rule, phase, choices, active=active)
    if chosen is not None:
        text = duration(chosen, lang)
    elif phase.until_event:
        text = w["until"].format(event=label(ref, "event", phase.until_event, lang))
    else:
        text = w["set_by_controller"]
    bounds = []
    if phase.min_duration is not None and phase.min_duration != chosen:
        bounds.append(w["at_least"].format(d=duration(phase.min_duration, lang)))
    if phase.max_duration is not None and phase.max_duration != chosen:
        bounds.append(w["at_most"].format(d=duration(phase.max_duration, lang)))
    suffix = f" ({', '.join(bounds)})" if bounds else ""
    return f"{text}{suffix} {since(ref, phase.start_event, lang)}"


def retention_text(ref: Referential, rule: RetentionRule, choices: dict[str, ChoiceAnswer], lang: str) -> str:
    """The whole rule in words: active phase, archive phase, and the end action the organisation applies."""
    w = doctext.words(lang)
    text = f"{phase_text(ref, rule, rule.active, choices, lang, active=True)} {w['active']}"
    if rule.archive is not None:
        text += f", {w['then']} {phase_text(ref, rule, rule.archive, choices, lang, active=False)} {w['archive']}"
    action = w["end_action"][end_action(rule, choices).value]
    return (
        f"{text} ; {w['at_end'].format(action=action)}"
        if lang == "fr"
        else f"{text}; {w['at_end'].format(action=action)}"
    )


def _rules_for(ref: Referential, purpose: Purpose) -> list[RetentionRule]:
    keys = {purpose.id, *purpose.categories}
    return [rule for rule in ref.retention if keys & set(rule.applies_to)]


def _category_retention(
    ref: Referential, purpose: Purpose, category_id: str, choices: dict[str, ChoiceAnswer], lang: str
) -> str:
    rules = [r for r in ref.retention if category_id in r.applies_to] or [
        r for r in ref.retention if purpose.id in r.applies_to
    ]
    if not rules:
        return str(doctext.words(lang)["not_fixed"])
    colon = doctext.words(lang)["colon"]
    return " ; ".join(
        f"{label(ref, 'retention', r.id, lang)}{colon}{retention_text(ref, r, choices, lang)} (§{r.section})"
        for r in rules
    )


def _bases(config: OrganisationConfig, original: Referential, purpose: Purpose, lang: str) -> list[Basis]:
    w = doctext.words(lang)
    deviated = {lb.purpose for lb in config.deviations.legal_basis}
    chosen = purpose.legal_basis_choice is not None and purpose.legal_basis_choice in config.choices
    source = w["source"]["deviation" if purpose.id in deviated else "choice" if chosen else "referential"]
    shipped = original.purpose(purpose.id)
    section = shipped.section if shipped else purpose.section
    legal_section = next((s.number for s in original.sections if "legal bas" in s.title.lower()), section)
    return [Basis(b.art6.value, w["art6"][b.art6.value], source, legal_section) for b in purpose.legal_bases]


def _art9(ref: Referential, purpose: Purpose, categories: list[DataCategory], lang: str) -> str:
    """The condition of GDPR art. 9.2 for the special categories of this purpose, or why none is needed."""
    w = doctext.words(lang)
    if not any(c.sensitivity == Sensitivity.SPECIAL.value for c in categories):
        return str(w["art9_none"])
    conditions = list(dict.fromkeys(b.art9.value for b in purpose.legal_bases if b.art9))
    if not conditions:
        return str(w["art9_missing"])
    return "; ".join(w["art9"][c] for c in conditions) + f" (§{purpose.section})"


def finding_text(f: Finding, config: OrganisationConfig, ref: Referential, lang: str) -> str:
    """A deviation in words: its kind and the item it touches, by name."""
    w = doctext.words(lang)
    kind = w["kinds"].get(f.kind, f.kind.replace("_", " "))
    kinds = {"retention": "retention", "legal_basis": "purpose"}
    try:
        if f.kind == "extra_data":
            subject = category_name(config, ref, f.subject, lang)
        else:
            subject = label(ref, kinds[f.kind], f.subject, lang) if f.kind in kinds else f.subject
    except LookupError:
        subject = f.subject.replace("_", " ")
    return f"{kind}{w['colon']}{subject}"


def _deviations_for(
    findings: list[Finding], ref: Referential, config: OrganisationConfig, purpose: Purpose, lang: str
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
            what = finding_text(f, config, ref, lang)
            out.append(Justification(f.kind, f.subject, what, f.justification or "", f.section))
    return out


def _answer_text(value: object, lang: str) -> str:
    w = doctext.words(lang)
    if isinstance(value, bool):
        return str(w["yes"] if value else w["no"])
    text = str(value)
    if text in w["art6"]:
        return str(w["art6"][text])
    if text in w["end_action"]:
        return str(w["end_action"][text])
    if text in w["options"]:
        return str(w["options"][text])
    try:
        return duration(Duration.model_validate(text), lang)
    except ValueError:
        return text


def _choices_for(config: OrganisationConfig, ref: Referential, purpose: Purpose, lang: str) -> list[Justification]:
    ids = [purpose.legal_basis_choice] if purpose.legal_basis_choice else []
    ids += [r.controller_choice for r in _rules_for(ref, purpose) if r.controller_choice]
    w = doctext.words(lang)
    out = []
    for choice_id in dict.fromkeys(ids):
        choice, answer = ref.choice(choice_id), config.choices.get(choice_id)
        if choice is None or answer is None:
            continue
        what = f"{label(ref, 'choice', choice_id, lang)}{w['colon']}{_answer_text(answer.value, lang)}"
        out.append(Justification("choice", choice_id, what, answer.justification or "", choice.section))
    return out


def _notes(config: OrganisationConfig, purpose: Purpose, lang: str) -> list[str]:
    w = doctext.words(lang)
    notes = []
    if purpose.requires_formality:
        formality = config.choices.get("research_formality")
        chosen = w["formality_chosen"].format(value=_answer_text(formality.value, lang)) if formality else ""
        notes.append(w["formality"].format(chosen=chosen, section=purpose.section))
    exception = config.choices.get("information_exception")
    if purpose.id == "warehouse_constitution" and exception and exception.value is True:
        notes.append(
            w["information_exception"].format(justification=exception.justification or w["missing_justification"])
        )
    return notes


def _internal(ref: Referential, purpose: Purpose, lang: str) -> list[RecipientLine]:
    """The authorised staff of the référentiel who may process the data of this purpose."""
    return [
        RecipientLine(label(ref, "accessor", a.id, lang), False, a.section)
        for a in ref.accessors
        if any(not access.purposes or purpose.id in access.purposes for access in a.access)
    ]


def _activity(
    index: int,
    config: OrganisationConfig,
    original: Referential,
    ref: Referential,
    findings: list[Finding],
    purpose: Purpose,
    lang: str,
    declared: list[Transfer],
) -> Activity:
    w = doctext.words(lang)
    categories = []
    for cid in purpose.categories:
        cat = ref.category(cid)
        if cat is None or cat.forbidden or cat.kind == CategoryKind.TRACES:
            continue
        sensitivity = {"special": "sensitive"}.get(cat.sensitivity.value, cat.sensitivity.value)
        categories.append(
            DataCategory(
                cat.id,
                category_name(config, ref, cat.id, lang),
                cat.sensitivity.value,
                str(w[sensitivity]),
                cat.sensitivity != Sensitivity.ORDINARY,
                _persons(ref, cat.id, lang),
                _category_retention(ref, purpose, cat.id, config.choices, lang),
                cat.section,
            )
        )
    recipients = [
        RecipientLine(label(ref, "recipient", r.id, lang), r.processor, r.section)
        for r in ref.recipients
        if not r.purposes or purpose.id in r.purposes
    ]
    retention = [
        RetentionLine(
            r.id,
            label(ref, "retention", r.id, lang),
            retention_text(ref, r, config.choices, lang),
            end_action(r, config.choices).value,
            r.section,
            r.note if lang == "en" else None,
        )
        for r in _rules_for(ref, purpose)
    ]
    bases = _bases(config, original, purpose, lang)
    return Activity(
        id=purpose.id,
        reference=f"{ref.id}/{index:02d}",
        name=label(ref, "purpose", purpose.id, lang),
        purpose=label(ref, "purpose", purpose.id, lang) if lang == "fr" else purpose.description or purpose.name,
        section=purpose.section,
        legal_bases=bases,
        art9=_art9(ref, purpose, categories, lang),
        persons=sorted({c.persons for c in categories}),
        categories=categories,
        internal=_internal(ref, purpose, lang),
        recipients=recipients,
        transfers=_transfers(ref, purpose, declared, lang),
        retention=retention,
        deviations=_deviations_for(findings, ref, config, purpose, lang),
        choices=_choices_for(config, ref, purpose, lang),
        notes=_notes(config, purpose, lang),
    )


def _transfers(ref: Referential, purpose: Purpose, declared: list[Transfer], lang: str) -> str:
    """The transfers outside the EU declared in the transfer register for this purpose (or for none named), in
    words; "none" when there are none (COM-TRF-1, AAC-12: the register lists them)."""
    w = doctext.words(lang)
    lines = [
        str(w["transfer_declared"]).format(
            recipient=t.recipient,
            country=country_name(t.country, lang),
            categories=", ".join(label(ref, "category", c, lang) for c in t.data_categories),
            basis=basis_sentence(t, lang),
            remote=str(w["transfer_remote"]) if t.remote_access else "",
        )
        for t in declared
        if not t.purpose or t.purpose == purpose.id
    ]
    return " · ".join(lines) if lines else str(w["no_transfer"])


def _logging_activity(index: int, config: OrganisationConfig, ref: Referential, lang: str) -> Activity:
    """The logging of staff actions (the audit trail) as a processing of its own, with its retention."""
    w = doctext.words(lang)
    rule = trace_rule(ref)
    kept = duration(trace_duration(ref, config.choices), lang)
    traces = next((c for c in ref.categories if c.kind == CategoryKind.TRACES), None)
    section = rule.section if rule else traces.section if traces else ""
    logging_sections = sorted({m.section for m in ref.measures if m.area == LOGGING})
    cite = f" (§{', §'.join(logging_sections)})" if logging_sections else ""
    return Activity(
        id=LOGGING,
        reference=f"{ref.id}/{index:02d}",
        name=str(w["logging_name"]),
        purpose=f"{w['logging_purpose']}{cite}",
        section=section,
        legal_bases=[Basis("legal_obligation", str(w["logging_basis"]), w["source"]["referential"], section)],
        art9=str(w["art9_none"]),
        persons=[str(w["logging_persons"])],
        categories=[
            DataCategory(
                traces.id if traces else "traces",
                f"{label(ref, 'category', traces.id, lang)} ({w['logging_data']})"
                if traces
                else str(w["logging_data"]),
                Sensitivity.ORDINARY.value,
                str(w["ordinary"]),
                False,
                str(w["logging_persons"]),
                f"{w['logging_retention'].format(d=kept)}" + (f" (§{rule.section})" if rule else ""),
                traces.section if traces else section,
            )
        ],
        internal=[RecipientLine(str(w["logging_recipients"]), False, section)],
        recipients=[],
        transfers=str(w["no_transfer"]),
        retention=[
            RetentionLine(
                rule.id if rule else "traces",
                label(ref, "retention", rule.id, lang) if rule else str(w["logging_name"]),
                w["logging_retention"].format(d=kept),
                "delete",
                rule.section if rule else section,
            )
        ],
        deviations=[],
        choices=[],
        notes=[],
    )


def security_summary(config: OrganisationConfig, ref: Referential, lang: str = "fr") -> list[SecurityArea]:
    """The general description of the security measures by theme, with the référentiel's measures and how many
    carry each status in the configuration."""
    w = doctext.words(lang)
    statuses = {m.code: m.status for m in config.deviations.measures}
    areas: dict[str, list[str]] = {}
    sections: dict[str, set[str]] = {}
    for m in ref.measures:
        areas.setdefault(m.area, []).append(m.code)
        sections.setdefault(m.area, set()).add(m.section)
    out = []
    for area, codes in sorted(areas.items()):
        counts = dict(Counter(statuses.get(c, "not_recorded") for c in codes))
        theme = doctext.security_area(area, lang)
        summary = w["measures_count"].format(
            n=len(codes), statuses=", ".join(f"{n} {w['status'][s]}" for s, n in counts.items())
        )
        out.append(SecurityArea(area, theme["title"], theme["text"], codes, counts, summary, sorted(sections[area])))
    return sorted(out, key=lambda s: s.title)


def _missing(config: OrganisationConfig, referential: Referential, w: dict[str, Any], decision: str) -> list[str]:
    """The register's gaps (``gaps.gaps_for``), in its language: the controller's contact, the DPO or why none."""
    missing: list[str] = []
    found = gaps.gaps_for(config, referential, gaps.REGISTER)
    if any(g.kind in ("trigger_fact", "dpo_missing", "no_dpo_reason") for g in found):
        missing.append(w["missing_dpo"].format(decision=decision))
    if any(g.kind == "controller_contact" for g in found):
        missing.append(str(w["missing_contact"]))
    return missing


def build_register(
    config: OrganisationConfig,
    referential: Referential,
    *,
    processor: bool = False,
    controllers_served: list[Party] | None = None,
    created: date | None = None,
    lang: str = "fr",
    ledgers: LedgerSummary | None = None,
    declared: list[Transfer] | None = None,
) -> Register:
    """The register of this organisation, as controller (art. 30.1) or as processor (art. 30.2); ``ledgers``, the
    consents and objections its records database counts per purpose; ``declared``, its transfer register."""
    w = doctext.words(lang)
    findings = check(config, referential)
    ref = effective_referential(config, referential)
    active = [p for p in ref.purposes if not p.out_of_scope and not p.forbidden]
    excluded = [
        f"{label(ref, 'purpose', p.id, lang)} ({w['forbidden' if p.forbidden else 'out_of_scope']}, §{p.section})"
        for p in ref.purposes
        if p.out_of_scope or p.forbidden
    ]
    org = config.organisation
    decision = dpo_required(ref, config.facts)
    dpo = _party(org.dpo)
    missing = _missing(config, referential, w, doctext.trigger(decision, ref.dpo, lang))
    served = list(controllers_served or [])
    if processor and not served:
        missing.append(str(w["missing_served"]))
    deviations = [
        Justification(f.kind, f.subject, f.subject, f.justification or "", f.section)
        for f in findings
        if f.severity == "deviation" and f.kind == "measure"
    ]
    activities = [
        _activity(i, config, referential, ref, findings, p, lang, list(declared or [])) for i, p in enumerate(active, 1)
    ]
    activities.append(_logging_activity(len(activities) + 1, config, ref, lang))
    return Register(
        kind="processor" if processor else "controller",
        lang=lang,
        organisation=org.name,
        siret=org.siret,
        finess=org.finess,
        address=org.address,
        controller=_party(org.controller),  # type: ignore[arg-type]
        dpo=dpo,
        dpo_decision=doctext.trigger(decision, ref.dpo, lang)
        + (f" — {org.no_dpo_reason.strip()}" if org.dpo is None and org.no_dpo_reason else ""),
        representative=str(w["representative"]),
        referential=ref.id,
        referential_title=label(ref, "referential", ref.id, lang),
        deliberation=label(ref, "deliberation", ref.id, lang),
        created=created or datetime.now(UTC).date(),
        activities=activities,
        security=security_summary(config, ref, lang),
        security_deviations=deviations,
        excluded_purposes=excluded,
        controllers_served=served,
        missing=missing,
        ledgers=ledgers.as_data() if ledgers else None,
    )


def render_register(register: Register) -> str:
    """The register as an HTML document (template register.html.j2), in the register's language."""
    w = doctext.words(register.lang)
    title = w["register"]["title_processor" if register.kind == "processor" else "title_controller"]
    return render_html(
        "register.html.j2",
        register=register,
        w=w,
        t=w["register"],
        title=title,
        organisation_name=register.organisation,
        lang=register.lang,
        footer=w["register"]["footer"].format(rid=register.referential, deliberation=register.deliberation),
    )


# -- spreadsheet shaped like the CNIL's model -------------------------------------------------------------------


def _sheet_title(text: str, used: set[str]) -> str:
    base = text.translate(_SHEET_FORBIDDEN)[:28] or "Activité"
    title, n = base, 2
    while title.lower() in used:
        title, n = f"{base[:25]}~{n}", n + 1
    used.add(title.lower())
    return title


def _organisation_rows(register: Register) -> list[tuple[str, str]]:
    w = doctext.words(register.lang)
    t = w["register"]
    c, d = register.controller, register.dpo
    rows = [
        (t["organisation"], register.organisation),
        ("SIRET", register.siret or ""),
        ("FINESS", register.finess or ""),
        (t["address"], register.address or ""),
        (t["controller" if register.kind == "controller" else "processor"], f"{c.name} — {c.contact(w['no_contact'])}"),
        (t["dpo"], f"{d.name} — {d.contact(w['no_contact'])}" if d else str(w["dpo_missing"])),
        (t["dpo_decision"], register.dpo_decision),
        (t["representative"], register.representative),
        (
            t["referential"],
            f"{register.referential} — {register.referential_title} ({t['deliberation']} {register.deliberation})",
        ),
        (t["created"], register.created.isoformat()),
    ]
    rows += [(t["controller_served"], f"{p.name} — {p.contact(w['no_contact'])}") for p in register.controllers_served]
    rows += [(t["to_complete"], text) for text in register.missing]
    rows += [(t["excluded"], text) for text in register.excluded_purposes]
    return rows


def _security_text(register: Register) -> str:
    colon = doctext.words(register.lang)["colon"]
    return "\n".join(
        f"{s.title}{colon}{s.description} — {s.summary} (§{', §'.join(s.sections)})" for s in register.security
    )


def _activity_rows(register: Register, a: Activity) -> list[tuple[str, str]]:
    w = doctext.words(register.lang)
    t = w["register"]
    bases = "\n".join(f"{b.text} — {b.source}, §{b.section}" for b in a.legal_bases) or str(w["basis_missing"])
    rows = [
        (t["activity"], a.name),
        (t["reference"], a.reference),
        (t["created"], register.created.isoformat()),
        (t["purpose"], f"{a.purpose} (§{a.section})"),
        (t["basis"], bases),
        (t["art9"], a.art9),
        (t["persons"], "\n".join(a.persons)),
    ]
    rows += [(t["data_category"], f"{c.name} — {c.sensitivity_text} (§{c.section})") for c in a.categories]
    rows += [(f"{t['retention']} — {c.name}", c.retention) for c in a.categories]
    rows.append((t["internal"], "\n".join(f"{r.name} (§{r.section})" for r in a.internal) or str(w["none_listed"])))
    rows.append(
        (
            t["external"],
            "\n".join(f"{r.name}{' — ' + w['processor'] if r.processor else ''} (§{r.section})" for r in a.recipients)
            or str(w["none_listed"]),
        )
    )
    rows.append((t["transfers"], a.transfers))
    rows.append((t["security"], _security_text(register)))
    colon = w["colon"]
    rows += [(t["deviations"], f"{d.what} — {t['justification']}{colon}{d.justification}") for d in a.deviations]
    rows += [(t["choices"], d.what + (f" — {d.justification}" if d.justification else "")) for d in a.choices]
    rows += [(t["notes"], n) for n in a.notes]
    return rows


def _fill(sheet: Any, title: str, rows: list[tuple[str, str]]) -> None:
    from openpyxl.styles import Alignment, Font

    sheet.append([title])
    sheet["A1"].font = Font(bold=True, size=13)
    for heading, value in rows:
        sheet.append([heading, value])
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
    t = doctext.words(register.lang)["register"]
    sheet.title = t["sheet_organisation"]
    _fill(sheet, f"{t['title_' + register.kind]} — {register.organisation}", _organisation_rows(register))
    used = {sheet.title.lower()}
    for a in register.activities:
        _fill(
            book.create_sheet(_sheet_title(f"{a.reference.split('/')[-1]} {a.name}", used)),
            a.name,
            _activity_rows(register, a),
        )
    if register.ledgers:  # consents and objections counted per purpose: counts only, in sentences
        title = str(register.ledgers["title"])
        _fill(
            book.create_sheet(_sheet_title(title, used)),
            title,
            [(str(register.ledgers["intro"]), ""), *((str(line), "") for line in register.ledgers["lines"])],
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
        raise DocumentError(doctext.refusal("register_suffix", name=path.name))
    html = None if suffix == ".json" else render_register(register)
    return write_document(path, html=html, data=register.as_dict())
