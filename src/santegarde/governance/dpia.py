"""The data protection impact assessment (COM-DPIA-1, AAC-13, EDS-13): required or not, pre-filled, exported.

``obligations`` says whether a DPIA and a DPO are required and why, from the référentiel's triggers and
the organisation's facts (missing facts are named). ``build`` pre-fills a DPIA from the référentiel as
the organisation applies it, its configuration and the status of each security measure: context,
fundamental principles, risks (with the measures that address each) and action plan. ``to_pia`` maps
it onto the structure of the CNIL's open-source PIA tool. ``snapshot``/``review_needed`` tell when a
significant change (new purpose, processor, data category, legal basis, recipient) calls for a review.
Every statement cites the section of the référentiel it comes from; what the configuration lacks is
said to be missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from santegarde.atomic import write_atomic
from santegarde.config import OrganisationConfig, check, effective_referential, load
from santegarde.config.model import Contact
from santegarde.errors import SantegardeError
from santegarde.governance import dpia_risks, pia_export
from santegarde.governance.documents import render_html, write_document
from santegarde.policy import RightsUndecidable, dpia_required, dpo_required, rights_for
from santegarde.policy.triggers import TriggerDecision
from santegarde.referentials import loader
from santegarde.referentials.model import (
    ART6_ARTICLE,
    Art6Basis,
    Measure,
    Referential,
    RetentionRule,
    Right,
    Sensitivity,
)

SNAPSHOT_NAME = "dpia-snapshot.json"
TEMPLATE = "dpia.html.j2"
NO_STATUS = "no_status"
_DONE = dpia_risks.DONE
LANGS = ("fr", "en")
STATUS_WORDS = {
    "fr": {
        "implemented": "mise en œuvre",
        "equivalent": "remplacée par une mesure équivalente",
        "not_necessary": "non nécessaire",
        "not_implemented": "non mise en œuvre",
        NO_STATUS: "aucun statut enregistré",
    },
    "en": {
        "implemented": "implemented",
        "equivalent": "replaced by an equivalent measure",
        "not_necessary": "not necessary",
        "not_implemented": "not implemented",
        NO_STATUS: "no status recorded",
    },
}
_COLON = {"fr": " : ", "en": ": "}
_WORDS = {
    "fr": {"status": "Statut", "justification": "justification", "deviation": "Écart au référentiel {rid}"},
    "en": {"status": "Status", "justification": "justification", "deviation": "Deviation from {rid}"},
}


class DpiaError(SantegardeError, ValueError):
    """The DPIA cannot be produced or compared as asked."""


# -- obligations -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Obligations:
    """Whether a DPIA and a DPO are required, why, and what the configuration lacks to decide or comply."""

    dpia: TriggerDecision
    dpo: TriggerDecision
    dpo_contact: Contact | None
    missing: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "dpia": _decision(self.dpia),
            "dpo": _decision(self.dpo),
            "dpo_designated": self.dpo_contact is not None,
            "missing": list(self.missing),
        }


def _decision(decision: TriggerDecision) -> dict[str, Any]:
    return {
        "required": decision.required,
        "reason": decision.reason,
        "section": decision.section,
        "referential": decision.referential,
        "missing_facts": list(decision.missing_facts),
    }


def obligations(config: OrganisationConfig, referential: Referential) -> Obligations:
    """Decide the DPIA and DPO obligations from the référentiel's triggers and ``config.facts``."""
    dpia = dpia_required(referential, config.facts)
    dpo = dpo_required(referential, config.facts)
    missing: list[str] = []
    facts = sorted(set(dpia.missing_facts) | set(dpo.missing_facts))
    for fact in facts:
        missing.append(
            f"The configuration does not declare the fact '{fact}' that {referential.id} "
            f"§{dpia.section if fact in dpia.missing_facts else dpo.section} uses; until it is declared "
            f"(facts.{fact} in the configuration), the DPIA and DPO are taken as required."
        )
    if dpo.required and config.organisation.dpo is None:
        missing.append(
            f"A DPO is required ({referential.id} §{dpo.section}) but the configuration names none: "
            "add organisation.dpo (name and e-mail) to the configuration."
        )
    elif config.organisation.dpo is not None and not config.organisation.dpo.email:
        missing.append("The DPO has no e-mail address in the configuration: add organisation.dpo.email.")
    controller = config.organisation.controller
    if not (controller.email or controller.address):
        missing.append(
            "The controller has neither an e-mail nor a postal address in the configuration, so the DPIA cannot "
            "say where persons exercise their rights: add organisation.controller.email or .address."
        )
    return Obligations(dpia, dpo, config.organisation.dpo, tuple(missing))


# -- the référentiel as applied ----------------------------------------------------------------


def applied(config: OrganisationConfig, referential: Referential) -> Referential:
    """The référentiel as the organisation applies it (choices and justified deviations); idempotent."""
    extra = {e.id for e in config.deviations.extra_data}
    if extra and all(referential.category(i) is not None for i in extra):
        return referential  # already applied
    return effective_referential(config, referential)


def _section_named(ref: Referential, *words: str) -> str | None:
    for section in ref.sections:
        if any(word in section.title.lower() for word in words):
            return section.number
    return None


def _basis_dict(art6: Art6Basis, art9: str | None, note: str | None) -> dict[str, Any]:
    return {"art6": art6.value, "article": f"GDPR art. {ART6_ARTICLE[art6]}", "art9": art9, "note": note}


def _retention_dict(rule: RetentionRule, config: OrganisationConfig) -> dict[str, Any]:
    deviated = any(r.rule == rule.id for r in config.deviations.retention)
    set_by = "deviation" if deviated else ("controller choice" if rule.controller_choice else "référentiel")
    active = rule.active.duration.human() if rule.active.duration else f"until {rule.active.until_event or 'event'}"
    archive = None
    if rule.archive is not None:
        archive = rule.archive.duration.human() if rule.archive.duration else f"until {rule.archive.until_event}"
    return {
        "id": rule.id,
        "name": rule.name,
        "applies_to": list(rule.applies_to),
        "active": active,
        "from": rule.active.start_event,
        "archive": archive,
        "end_action": rule.end_action.value.replace("_", " "),
        "note": rule.note,
        "set_by": set_by,
        "section": rule.section,
    }


def _context(config: OrganisationConfig, ref: Referential) -> dict[str, Any]:
    purposes = []
    for p in ref.purposes:
        if p.forbidden or p.out_of_scope:
            continue
        purposes.append(
            {
                "id": p.id,
                "name": p.name,
                "description": p.description,
                "legal_bases": [_basis_dict(b.art6, b.art9.value if b.art9 else None, b.note) for b in p.legal_bases],
                "categories": list(p.categories),
                "requires_formality": p.requires_formality,
                "section": p.section,
            }
        )
    excluded = [
        {"id": p.id, "name": p.name, "why": "forbidden" if p.forbidden else "out of scope", "section": p.section}
        for p in ref.purposes
        if p.forbidden or p.out_of_scope
    ]
    extra = {e.id for e in config.deviations.extra_data}
    data = [
        {
            "id": c.id,
            "name": c.name,
            "kind": c.kind.value,
            "sensitivity": c.sensitivity.value,
            "requires_consent": c.requires_consent,
            "condition": c.condition,
            "extra": c.id in extra,
            "section": c.section,
        }
        for c in ref.categories
        if not c.forbidden
    ]
    forbidden_data = [{"id": c.id, "name": c.name, "section": c.section} for c in ref.categories if c.forbidden]
    recipients = [
        {
            "id": r.id,
            "name": r.name,
            "categories": list(r.categories),
            "purposes": list(r.purposes),
            "condition": r.condition,
            "section": r.section,
        }
        for r in ref.recipients
    ]
    return {
        "processing": {"title": ref.title, "deliberation": ref.deliberation, "profile": config.profile.value},
        "purposes": purposes,
        "excluded_purposes": excluded,
        "data": data,
        "forbidden_data": forbidden_data,
        "accessors": [
            {"id": a.id, "name": a.name, "health_data": a.health_data, "section": a.section} for a in ref.accessors
        ],
        "recipients": [r for r, src in zip(recipients, ref.recipients, strict=True) if not src.processor],
        "processors": [r for r, src in zip(recipients, ref.recipients, strict=True) if src.processor],
        "retention": [_retention_dict(rule, config) for rule in ref.retention],
        "supporting_assets": _assets(config),
    }


def _assets(config: OrganisationConfig) -> list[str]:
    """Where the data lives, from the configuration (database kinds only: never a URL or a secret)."""

    def kind(url: str) -> str:
        return "PostgreSQL" if url.startswith("postgresql") else "SQLite" if url.startswith("sqlite") else "database"

    return [
        f"santegarde, records database ({kind(config.database_url)})",
        f"santegarde, audit trail in its own database ({kind(config.audit_database_url)})",
        "santegarde keyring (encryption keys of the records, held apart from the databases)",
    ]


def _rights(ref: Referential) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for p in ref.purposes:
        if p.forbidden or p.out_of_scope:
            continue
        try:
            decisions = rights_for(ref, p.id)
        except RightsUndecidable as exc:
            rows.append({"purpose": p.id, "name": p.name, "undecided": str(exc), "rights": []})
            continue
        rows.append(
            {
                "purpose": p.id,
                "name": p.name,
                "undecided": None,
                "rights": [
                    {
                        "right": d.right.value,
                        "applies": d.applies,
                        "source": d.source,
                        "section": d.section,
                        "reason": d.reason,
                    }
                    for d in decisions.values()
                ],
            }
        )
    return rows


def _exercise(config: OrganisationConfig, ref: Referential) -> list[str]:
    """Where persons exercise their rights: the contacts the configuration gives."""
    c = config.organisation.controller
    means = ", ".join(x for x in (c.email, c.phone, c.address) if x)
    section = _section_named(ref, "right", "droit") or ref.sections[0].number
    lines = [
        f"Persons exercise their rights with the controller, {c.name}"
        + (f" ({means})" if means else " (no contact details in the configuration: missing)")
        + f" ({ref.id} §{section})."
    ]
    dpo = config.organisation.dpo
    if dpo is not None:
        contact = ", ".join(x for x in (dpo.email, dpo.phone, dpo.address) if x)
        lines.append(f"They may also contact the DPO, {dpo.name}" + (f" ({contact})." if contact else "."))
    else:
        lines.append("No DPO is named in the configuration (missing).")
    info = _section_named(ref, "informati")
    if info:
        lines.append(f"Persons are informed as {ref.id} §{info} sets out.")
    return lines


# -- risks and action plan ---------------------------------------------------------------------


def risk_areas() -> tuple[dict[str, Any], ...]:
    """The three feared events and the measure areas that address each (governance/data/dpia_risks.yaml)."""
    return tuple(dpia_risks.definitions()["risks"])


def _status(config: OrganisationConfig, measure: Measure) -> tuple[str, str | None]:
    for m in config.deviations.measures:
        if m.code == measure.code:
            return m.status, (m.justification.strip() or None)
    return NO_STATUS, None


def _measure_dict(config: OrganisationConfig, ref: Referential, m: Measure, lang: str) -> dict[str, Any]:
    status, justification = _status(config, m)
    words, colon = _WORDS[lang], _COLON[lang]
    line = f"{words['status']}{colon}{STATUS_WORDS[lang][status]}"
    if justification:
        line += f" — {words['justification']}{colon}{justification}"
    return {
        "code": m.code,
        "title": m.title,
        "text": m.text,
        "area": m.area,
        "audience": m.audience.value,
        "mandatory": m.mandatory,
        "status": status,
        "status_words": STATUS_WORDS[lang][status],
        "status_line": f"{line} ({ref.id} §{m.section}).",
        "in_action_plan": status not in _DONE,
        "justification": justification,
        "section": m.section,
    }


# -- the DPIA ----------------------------------------------------------------------------------


def build(config: OrganisationConfig, referential: Referential, lang: str = "fr") -> dict[str, Any]:
    """The DPIA pre-filled from the référentiel (as shipped or as applied) and the configuration, as data.

    In French by default (``lang="en"`` for English): the risks by the CNIL method (feared events,
    impacts, threats, sources, severity and likelihood), the Art. 36 decision, and the DPO's opinion and
    the persons' views as fields left to fill (None).
    """
    if lang not in LANGS:
        raise DpiaError(f"The DPIA is written in French (fr) or English (en), not '{lang}': choose one of these.")
    ref = applied(config, referential)
    duty = obligations(config, ref)
    org = config.organisation
    shipped = referential if referential is not ref else loader.get(config.referential)
    deviations = [
        {
            "kind": f.kind,
            "subject": f.subject,
            "message": f.message,
            "section": f.section,
            "justification": f.justification,
            "comment": _WORDS[lang]["deviation"].format(rid=ref.id)
            + (f" §{f.section}" if f.section else "")
            + f"{_COLON[lang]}{f.message} — {_WORDS[lang]['justification']}{_COLON[lang]}{f.justification}",
        }
        for f in check(config, shipped)
        if f.severity == "deviation"
    ]
    measures = [_measure_dict(config, ref, m, lang) for m in ref.measures]
    statuses = [m["status"] for m in measures]
    special = any(c.sensitivity != Sensitivity.ORDINARY for c in ref.categories if not c.forbidden)
    risks = dpia_risks.assess(measures, special, lang)
    return {
        "document": "dpia",
        "lang": lang,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "organisation": org.model_dump(mode="json"),
        "referential": {
            "id": ref.id,
            "title": ref.title,
            "deliberation": ref.deliberation,
            "version": ref.version,
            "status": ref.status.value,
        },
        "obligations": duty.as_dict(),
        "context": _context(config, ref),
        "deviations": deviations,
        "principles": {
            "rights": _rights(ref),
            "exercise": _exercise(config, ref),
            "information_section": _section_named(ref, "informati"),
            "transfer_section": _section_named(ref, "transfer"),
        },
        "measures": measures,
        "risks": risks,
        "prior_consultation": dpia_risks.prior_consultation(risks, lang),
        "opinions": {"dpo": None, "dpo_names": org.dpo.name if org.dpo else None, "persons": None},
        "action_plan": [m for m in measures if m["in_action_plan"]],
        "measure_counts": {s: statuses.count(s) for s in (*sorted(_DONE), "not_implemented", NO_STATUS)},
    }


def render(dpia: dict[str, Any]) -> str:
    """The DPIA as an HTML page (template dpia.html.j2)."""
    return render_html(
        TEMPLATE,
        title=f"DPIA — {dpia['organisation']['name']}",
        organisation_name=dpia["organisation"]["name"],
        footer=f"Pre-filled from {dpia['referential']['id']} (deliberation {dpia['referential']['deliberation']}).",
        d=dpia,
    )


# -- significant changes -----------------------------------------------------------------------


def snapshot(config: OrganisationConfig, referential: Referential) -> dict[str, Any]:
    """The facts whose change calls for a review of the DPIA: purposes, processors, data, legal bases, recipients."""
    ref = applied(config, referential)
    live = [p for p in ref.purposes if not (p.forbidden or p.out_of_scope)]
    return {
        "taken_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "referential": ref.id,
        "purposes": {p.id: p.name for p in live},
        "legal_bases": {
            p.id: sorted(f"{b.art6.value}{'+' + b.art9.value if b.art9 else ''}" for b in p.legal_bases) for p in live
        },
        "data_categories": {c.id: c.name for c in ref.categories if not c.forbidden},
        "processors": {r.id: r.name for r in ref.recipients if r.processor},
        "recipients": {r.id: r.name for r in ref.recipients if not r.processor},
    }


def snapshot_path(config_path: Path) -> Path:
    return config_path.parent / SNAPSHOT_NAME


def write_snapshot(config_path: Path, snap: dict[str, Any]) -> Path:
    """Store the snapshot next to the configuration, atomically."""
    path = snapshot_path(config_path)
    write_atomic(path, json.dumps(snap, ensure_ascii=False, indent=2, sort_keys=True) + "\n", mode=0o644)
    return path


def _read_snapshot(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as exc:
        raise DpiaError(
            f"{path} cannot be read ({exc}); regenerate the DPIA with 'santegarde dpia generate' to write it anew."
        ) from exc
    if not isinstance(data, dict):
        raise DpiaError(f"{path} is not a DPIA snapshot; regenerate the DPIA with 'santegarde dpia generate'.")
    return data


_LABELS = {
    "purposes": ("purpose", "new purpose"),
    "data_categories": ("data category", "new data category"),
    "processors": ("processor", "new processor"),
    "recipients": ("recipient", "new recipient"),
}


def changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Sentences naming what changed between two snapshots."""
    since = f" since the DPIA of {before.get('taken_at', 'an unknown date')}"
    found: list[str] = []
    if before.get("referential") != after["referential"]:
        found.append(f"The référentiel applied changed{since}: {before.get('referential')} → {after['referential']}.")
    for key, (label, new_label) in _LABELS.items():
        old: dict[str, str] = before.get(key, {})
        new: dict[str, str] = after[key]
        found += [f"A {new_label}{since}: {new[i]} ({i})." for i in sorted(new.keys() - old.keys())]
        found += [f"A {label} was removed{since}: {old[i]} ({i})." for i in sorted(old.keys() - new.keys())]
    old_bases: dict[str, list[str]] = before.get("legal_bases", {})
    for pid, bases in sorted(after["legal_bases"].items()):
        if pid in old_bases and old_bases[pid] != bases:
            found.append(
                f"The legal basis of the purpose '{after['purposes'].get(pid, pid)}' changed{since}: "
                f"{', '.join(old_bases[pid]) or 'none'} → {', '.join(bases) or 'none'}."
            )
    return found


def review_needed(config_path: Path) -> list[str]:
    """What changed since the DPIA was generated; empty when it is up to date."""
    config = load(config_path)
    before = _read_snapshot(snapshot_path(config_path))
    if before is None:
        return [
            f"No DPIA has been generated for this configuration yet ({SNAPSHOT_NAME} is missing next to "
            f"{config_path.name}): generate it with 'santegarde dpia generate'."
        ]
    return changes(before, snapshot(config, loader.get(config.referential)))


# -- generation --------------------------------------------------------------------------------


def generate(config_path: Path, out: Path) -> dict[str, Any]:
    """Write the DPIA (.html, .pdf or .json) and the snapshot that later changes are compared with."""
    config = load(config_path)
    ref = loader.get(config.referential)
    dpia = build(config, ref)
    write_document(out, html=render(dpia), data=dpia)
    write_snapshot(config_path, snapshot(config, ref))
    return dpia


def export_pia(config_path: Path, out: Path) -> dict[str, Any]:
    """Write the DPIA as the JSON the CNIL's PIA tool imports."""
    if out.suffix.lower() != ".json":
        raise DpiaError(f"Cannot write '{out.name}': the PIA tool imports JSON; give a file ending in .json.")
    config = load(config_path)
    pia = to_pia(build(config, loader.get(config.referential)))
    write_document(out, data=pia)
    return pia


# -- the CNIL PIA tool -------------------------------------------------------------------------


def _answer(question: int, lines: list[str], at: str, items: list[str] | None = None) -> dict[str, Any]:
    return pia_export.answer(question, lines, at, items)


def _rights_lines(d: dict[str, Any], *rights: Right) -> list[str]:
    ref_id = d["referential"]["id"]
    lines = []
    for row in d["principles"]["rights"]:
        if row["undecided"]:
            lines.append(f"{row['name']}: undecided — {row['undecided']}.")
            continue
        for r in row["rights"]:
            if r["right"] in rights:
                verdict = "applies" if r["applies"] else "does not apply"
                lines.append(
                    f"{row['name']}: the right of {r['right']} {verdict} "
                    f"({r['source']}, {ref_id} §{r['section']}): {r['reason']}."
                )
    return lines


def _pia_context(d: dict[str, Any], at: str) -> list[dict[str, Any]]:
    ref = d["referential"]
    rid = ref["id"]
    org = d["organisation"]
    ctx = d["context"]
    duty = d["obligations"]
    dpo = org.get("dpo")
    processors = [f"{p['name']} (processor, {rid} §{p['section']})" for p in ctx["processors"]]
    return [
        _answer(
            111,
            [f"{ctx['processing']['title']} (deliberation {ref['deliberation']}), as applied by {org['name']}."]
            + [f"Purpose: {p['name']} ({rid} §{p['section']})." for p in ctx["purposes"]]
            + [f"DPIA: {duty['dpia']['reason']} ({rid} §{duty['dpia']['section']})."],
            at,
        ),
        _answer(
            112,
            [f"Controller: {org['controller']['name']}."]
            + [f"DPO: {dpo['name']}." if dpo else "DPO: none named in the configuration (missing)."]
            + (processors or ["No processor listed by the référentiel."]),
            at,
        ),
        _answer(
            113,
            [f"Référentiel {rid}: {ref['title']}, deliberation {ref['deliberation']}, version {ref['version']}."]
            + [f"Deviation: {x['message']} — {x['justification']}" for x in d["deviations"]],
            at,
        ),
        _answer(
            121,
            [
                f"{c['name']} ({c['kind']}, {c['sensitivity']}"
                + (", with the person's consent" if c["requires_consent"] else "")
                + (", extra data (deviation)" if c["extra"] else f", {rid} §{c['section']}")
                + ")."
                for c in ctx["data"]
            ]
            + [_retention_line(r, rid) for r in ctx["retention"]],
            at,
            [c["name"] for c in ctx["data"]],
        ),
        _answer(
            122,
            [f"Collected and used for: {p['name']} — categories {', '.join(p['categories'])}." for p in ctx["purposes"]]
            + [f"Accessed by {a['name']} ({rid} §{a['section']})." for a in ctx["accessors"]]
            + [f"Sent to {r['name']} ({rid} §{r['section']})." for r in ctx["recipients"]]
            + [_retention_line(r, rid) for r in ctx["retention"]],
            at,
        ),
        _answer(123, [*ctx["supporting_assets"], *processors], at),
    ]


def _retention_line(r: dict[str, Any], rid: str) -> str:
    archive = f", then archived {r['archive']}" if r["archive"] else ""
    return (
        f"Retention '{r['name']}': {r['active']} from {r['from']}{archive}, then {r['end_action']} "
        f"(set by {r['set_by']}, {rid} §{r['section']})."
    )


def _pia_principles(d: dict[str, Any], at: str) -> list[dict[str, Any]]:
    rid = d["referential"]["id"]
    ctx = d["context"]
    principles = d["principles"]
    bases = [
        f"{p['name']}: "
        + (
            "; ".join(
                f"{b['art6']} ({b['article']})" + (f", health data under GDPR art. {b['art9']}" if b["art9"] else "")
                for b in p["legal_bases"]
            )
            or "the référentiel names no legal basis for this purpose; to be completed by the controller"
        )
        + f" ({rid} §{p['section']})."
        for p in ctx["purposes"]
    ]
    consent = [
        f"{c['name']} is collected only with the person's consent ({rid} §{c['section']})."
        for c in ctx["data"]
        if c["requires_consent"]
    ]
    consent += [
        f"{p['name']} relies on consent ({rid} §{p['section']})."
        for p in ctx["purposes"]
        if any(b["art6"] == "consent" for b in p["legal_bases"])
    ]
    processors = [
        f"{p['name']}" + (f": {p['condition']}" if p["condition"] else "") + f" ({rid} §{p['section']})."
        for p in ctx["processors"]
    ]
    transfer = principles["transfer_section"]
    return [
        _answer(
            211,
            [
                f"{p['name']}" + (f": {p['description']}" if p["description"] else "") + f" ({rid} §{p['section']})."
                for p in ctx["purposes"]
            ]
            + [f"Excluded: {p['name']} ({p['why']}, {rid} §{p['section']})." for p in ctx["excluded_purposes"]],
            at,
        ),
        _answer(212, bases, at),
        _answer(
            213,
            [f"{p['name']}: only {', '.join(p['categories'])} ({rid} §{p['section']})." for p in ctx["purposes"]]
            + [f"Forbidden: {c['name']} ({rid} §{c['section']})." for c in ctx["forbidden_data"]],
            at,
        ),
        _answer(
            214,
            [*_rights_lines(d, Right.RECTIFICATION), "To be completed by the controller: how data is kept accurate."],
            at,
        ),
        _answer(215, [_retention_line(r, rid) for r in ctx["retention"]], at),
        _answer(
            221,
            _rights_lines(d, Right.INFORMATION)
            + (
                [f"Information as {rid} §{principles['information_section']} sets out."]
                if principles["information_section"]
                else []
            ),
            at,
        ),
        _answer(222, consent or ["No purpose relies on consent and no category requires it."], at),
        _answer(223, [*principles["exercise"], *_rights_lines(d, Right.ACCESS, Right.PORTABILITY)], at),
        _answer(224, _rights_lines(d, Right.RECTIFICATION, Right.ERASURE), at),
        _answer(225, _rights_lines(d, Right.RESTRICTION, Right.OBJECTION), at),
        _answer(226, processors or ["The référentiel lists no processor."], at),
        _answer(
            227,
            [f"Transfers outside the EU: see {rid} §{transfer}; to be completed by the controller."]
            if transfer
            else [f"{rid} has no section on transfers outside the EU; to be completed by the controller."],
            at,
        ),
    ]


def to_pia(d: dict[str, Any]) -> dict[str, Any]:
    """The DPIA in the JSON the CNIL's PIA tool imports (see ``pia_export``)."""
    name = f"{d['organisation']['name']} — {d['referential']['title']}"
    return pia_export.to_pia(d, name, _pia_context(d, d["generated_at"]) + _pia_principles(d, d["generated_at"]))
