"""The data protection impact assessment (COM-DPIA-1, AAC-13, EDS-13): required or not, pre-filled, exported.

``obligations`` says whether a DPIA and a DPO are required and why, from the référentiel's triggers and
the organisation's facts (missing facts are named). ``build`` pre-fills a DPIA from the référentiel as
the organisation applies it, its configuration and the status of each security measure, following the
CNIL's method and in French unless asked in English: context, fundamental principles, measures, then for
each feared event its impacts, threats, sources, measures, severity and likelihood (``dpia_risks``), the
action plan, the DPO's opinion and the persons' views (left to fill) and the Art. 36 decision.
``to_pia`` maps it onto the import format of the CNIL's open-source PIA tool (``pia_export``).
``snapshot``/``review_needed`` tell when a significant change (new purpose, processor, data category,
legal basis, recipient) calls for a review. Every statement cites the section of the référentiel it
comes from; what the configuration lacks is said to be missing.
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
from santegarde.governance import doctext, dpia_risks, gaps, ledgers, pia_export, rights_text
from santegarde.governance.documents import DocumentError, render_html, write_document
from santegarde.governance.ledgers import LedgerSummary
from santegarde.governance.register import category_name, finding_text, retention_text
from santegarde.governance.vocabulary import VocabularyError, label
from santegarde.policy import RightsUndecidable, dpia_required, dpo_required, rights_for
from santegarde.policy.triggers import TriggerDecision
from santegarde.referentials import loader
from santegarde.referentials.model import (
    Measure,
    Purpose,
    Referential,
    RetentionRule,
    Right,
    Sensitivity,
)
from santegarde.store.retention import end_action

SNAPSHOT_NAME = "dpia-snapshot.json"
TEMPLATE = "dpia.html.j2"
NO_STATUS = "no_status"
_DONE = dpia_risks.DONE
STATUS_WORDS = {
    "fr": {
        "implemented": "mise en œuvre",
        "partial": "partiellement mise en œuvre",
        "equivalent": "remplacée par une mesure équivalente",
        "not_necessary": "non nécessaire",
        "not_implemented": "non mise en œuvre",
        NO_STATUS: "aucun statut enregistré",
    },
    "en": {
        "implemented": "implemented",
        "partial": "partially implemented",
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


class DpiaError(DocumentError):
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


def obligations(config: OrganisationConfig, referential: Referential, lang: str = "en") -> Obligations:
    """Decide the DPIA and DPO obligations from the référentiel's triggers and ``config.facts``.

    ``missing`` names what the configuration lacks: in English for the command line (the default, with the
    configuration keys to set), in French for the document (``lang="fr"``).
    """
    dpia = dpia_required(referential, config.facts)
    dpo = dpo_required(referential, config.facts)
    found = gaps.gaps_for(config, referential, gaps.DPIA)
    t = doctext.words(lang)["dpia"]
    missing: list[str] = []
    facts = [g for g in found if g.kind == "trigger_fact"]
    if lang == "en":
        missing += [g.in_language("en") for g in facts]
    elif facts:
        missing.append(t["missing_facts"].format(rid=referential.id, section=dpia.section))
    texts = {
        "dpo_missing": t["missing_dpo"].format(rid=referential.id, section=dpo.section),
        "dpo_email": t["missing_dpo_email"],
        "controller_contact": t["missing_controller"],
    }
    missing += [texts[g.kind] for kind in texts for g in found if g.kind == kind]
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


def _bases(p: Purpose, lang: str) -> list[dict[str, Any]]:
    w = doctext.words(lang)
    return [
        {
            "art6": b.art6.value,
            "art9": b.art9.value if b.art9 else None,
            "text": w["art6"][b.art6.value] + (f" ; {w['art9'][b.art9.value]}" if b.art9 else ""),
        }
        for b in p.legal_bases
    ]


def _retention_dict(ref: Referential, rule: RetentionRule, config: OrganisationConfig, lang: str) -> dict[str, Any]:
    w = doctext.words(lang)
    deviated = any(r.rule == rule.id for r in config.deviations.retention)
    set_by = "deviation" if deviated else ("choice" if rule.controller_choice else "referential")
    return {
        "id": rule.id,
        "name": label(ref, "retention", rule.id, lang),
        "text": retention_text(ref, rule, config.choices, lang),
        "end_action": end_action(rule, config.choices).value,
        "set_by": w["source"][set_by],
        "section": rule.section,
    }


def _context(config: OrganisationConfig, ref: Referential, lang: str) -> dict[str, Any]:
    w = doctext.words(lang)
    live = [p for p in ref.purposes if not (p.forbidden or p.out_of_scope)]
    extra = {e.id for e in config.deviations.extra_data}

    def category(cid: str) -> str:
        return category_name(config, ref, cid, lang)

    purposes = [
        {
            "id": p.id,
            "name": label(ref, "purpose", p.id, lang),
            "legal_bases": _bases(p, lang),
            "categories": [category(c) for c in p.categories if ref.category(c) is not None],
            "requires_formality": p.requires_formality,
            "section": p.section,
        }
        for p in live
    ]
    excluded = [
        {
            "id": p.id,
            "name": label(ref, "purpose", p.id, lang),
            "why": w["forbidden" if p.forbidden else "out_of_scope"],
            "section": p.section,
        }
        for p in ref.purposes
        if p.forbidden or p.out_of_scope
    ]
    sensitivity = {"special": "sensitive", "highly_personal": "highly_personal", "ordinary": "ordinary"}
    data = [
        {
            "id": c.id,
            "name": category(c.id),
            "nature": w[sensitivity[c.sensitivity.value]],
            "sensitivity": c.sensitivity.value,
            "requires_consent": c.requires_consent,
            "extra": c.id in extra,
            "section": c.section,
        }
        for c in ref.categories
        if not c.forbidden
    ]
    forbidden_data = [
        {"id": c.id, "name": label(ref, "category", c.id, lang), "section": c.section}
        for c in ref.categories
        if c.forbidden
    ]
    recipients = [
        {
            "id": r.id,
            "name": label(ref, "recipient", r.id, lang),
            "categories": [category(c) for c in r.categories if ref.category(c) is not None],
            "processor": r.processor,
            "section": r.section,
        }
        for r in ref.recipients
    ]
    return {
        "processing": {
            "title": label(ref, "referential", ref.id, lang),
            "deliberation": label(ref, "deliberation", ref.id, lang),
            "profile": config.profile.value,
        },
        "purposes": purposes,
        "excluded_purposes": excluded,
        "data": data,
        "forbidden_data": forbidden_data,
        "accessors": [
            {"id": a.id, "name": label(ref, "accessor", a.id, lang), "health_data": a.health_data, "section": a.section}
            for a in ref.accessors
        ],
        "recipients": [r for r in recipients if not r["processor"]],
        "processors": [r for r in recipients if r["processor"]],
        "retention": [_retention_dict(ref, rule, config, lang) for rule in ref.retention],
        "supporting_assets": _assets(config, lang),
    }


def _assets(config: OrganisationConfig, lang: str) -> list[str]:
    """Where the data lives, from the configuration (database kinds only: never a URL or a secret)."""
    t = doctext.words(lang)["dpia"]

    def kind(url: str) -> str:
        return "PostgreSQL" if url.startswith("postgresql") else "SQLite" if url.startswith("sqlite") else t["database"]

    return [
        t["asset_records"].format(kind=kind(config.database_url)),
        t["asset_audit"].format(kind=kind(config.audit_database_url)),
        t["asset_keys"],
    ]


def _rights(ref: Referential, lang: str) -> list[dict[str, Any]]:
    w = doctext.words(lang)
    rows: list[dict[str, Any]] = []
    for p in ref.purposes:
        if p.forbidden or p.out_of_scope:
            continue
        name = label(ref, "purpose", p.id, lang)
        try:
            decisions = rights_for(ref, p.id)
        except RightsUndecidable:
            rows.append({"purpose": p.id, "name": name, "undecided": w["dpia"]["undecided"], "rights": []})
            continue
        rows.append(
            {
                "purpose": p.id,
                "name": name,
                "undecided": None,
                "rights": [
                    {
                        "right": d.right.value,
                        "name": w["rights"][d.right.value],
                        "applies": d.applies,
                        "source": w["source"]["referential"] if d.source == "référentiel" else _gdpr(d.source, lang),
                        "section": d.section,
                        "reason": rights_text.reason(d, lang),
                    }
                    for d in decisions.values()
                ],
            }
        )
    return rows


def _gdpr(source: str, lang: str) -> str:
    """ "GDPR art. 17.3" in the document's language."""
    return source.replace("GDPR art. ", "art. ") + " RGPD" if lang == "fr" and source.startswith("GDPR") else source


def _exercise(config: OrganisationConfig, ref: Referential, lang: str) -> list[str]:
    """Where persons exercise their rights: the contacts the configuration gives."""
    t = doctext.words(lang)["dpia"]
    c = config.organisation.controller
    means = ", ".join(x for x in (c.email, c.phone, c.address) if x) or t["exercise_no_contact"]
    section = _section_named(ref, "right", "droit") or ref.sections[0].number
    lines = [t["exercise_controller"].format(name=c.name, means=means, rid=ref.id, section=section)]
    dpo = config.organisation.dpo
    if dpo is not None:
        contact = ", ".join(x for x in (dpo.email, dpo.phone, dpo.address) if x)
        lines.append(t["exercise_dpo"].format(name=dpo.name, contact=f" ({contact})" if contact else ""))
    else:
        lines.append(t["exercise_no_dpo"])
    info = _section_named(ref, "informati")
    if info:
        lines.append(t["informed"].format(rid=ref.id, section=info))
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
    area = doctext.security_area(m.area, lang)
    theme = area["title"]
    line = f"{words['status']}{colon}{STATUS_WORDS[lang][status]}"
    if justification:
        line += f" — {words['justification']}{colon}{justification}"
    return {
        "code": m.code,
        "title": doctext.measure_title(m, ref, lang),
        "theme": theme,
        "label": doctext.measure_title(m, ref, lang),
        "description": (area["text"][:1].upper() + area["text"][1:] + ".") if lang == "fr" else m.text,
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


def build(
    config: OrganisationConfig, referential: Referential, lang: str = "fr", ledgers: LedgerSummary | None = None
) -> dict[str, Any]:
    """The DPIA pre-filled from the référentiel (as shipped or as applied) and the configuration, as data.

    In French by default (``lang="en"`` for English): the risks by the CNIL method (feared events,
    impacts, threats, sources, severity and likelihood), the Art. 36 decision, and the DPO's opinion and
    the persons' views as fields left to fill (None).
    """
    doctext.check_lang(lang)
    ref = applied(config, referential)
    duty = obligations(config, ref, lang)
    org = config.organisation
    shipped = referential if referential is not ref else loader.get(config.referential)
    colon = doctext.words(lang)["colon"]
    deviations = []
    for f in check(config, shipped):
        if f.severity != "deviation":
            continue
        what = finding_text(f, config, ref, lang)
        deviations.append(
            {
                "kind": f.kind,
                "subject": f.subject,
                "what": what,
                "section": f.section,
                "justification": f.justification,
                "comment": _WORDS[lang]["deviation"].format(rid=ref.id)
                + (f" §{f.section}" if f.section else "")
                + f"{colon}{what} — {_WORDS[lang]['justification']}{colon}{f.justification}",
            }
        )
    measures = [_measure_dict(config, ref, m, lang) for m in ref.measures]
    statuses = [m["status"] for m in measures]
    special = any(c.sensitivity == Sensitivity.SPECIAL for c in ref.categories if not c.forbidden)
    risks = dpia_risks.assess(measures, special, lang)
    return {
        "document": "dpia",
        "lang": lang,
        "ledgers": ledgers.as_data() if ledgers else None,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "organisation": org.model_dump(mode="json"),
        "referential": {
            "id": ref.id,
            "title": label(ref, "referential", ref.id, lang),
            "deliberation": label(ref, "deliberation", ref.id, lang),
            "version": ref.version,
            "status": ref.status.value,
        },
        "obligations": duty.as_dict()
        | {
            "dpia_text": doctext.trigger(duty.dpia, ref.dpia, lang),
            "dpo_text": doctext.trigger(duty.dpo, ref.dpo, lang),
        },
        "context": _context(config, ref, lang),
        "deviations": deviations,
        "principles": {
            "rights": _rights(ref, lang),
            "exercise": _exercise(config, ref, lang),
            "information_section": _section_named(ref, "informati"),
            "transfer_section": _section_named(ref, "transfer"),
        },
        "measures": measures,
        "risks": risks,
        "prior_consultation": dpia_risks.prior_consultation(risks, lang),
        "opinions": {"dpo": None, "dpo_names": org.dpo.name if org.dpo else None, "persons": None},
        "action_plan": [m for m in measures if m["in_action_plan"]],
        "measure_counts": {s: statuses.count(s) for s in (*sorted(_DONE), "partial", "not_implemented", NO_STATUS)},
    }


def render(dpia: dict[str, Any]) -> str:
    """The DPIA as an HTML page (template dpia.html.j2), in the DPIA's language."""
    w = doctext.words(dpia["lang"])
    t = w["dpia"]
    return render_html(
        TEMPLATE,
        title=f"{t['title']} — {dpia['organisation']['name']}",
        organisation_name=dpia["organisation"]["name"],
        lang=dpia["lang"],
        footer=t["footer"].format(rid=dpia["referential"]["id"], deliberation=dpia["referential"]["deliberation"]),
        d=dpia,
        w=w,
        t=t,
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
    write_atomic(path, json.dumps(snap, ensure_ascii=False, indent=2, sort_keys=True) + "\n")
    return path


def _read_snapshot(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as exc:
        raise DpiaError(doctext.refusal("snapshot_unreadable", path=path, error=exc)) from exc
    if not isinstance(data, dict):
        raise DpiaError(doctext.refusal("snapshot_invalid", path=path))
    return data


_KINDS = {"purposes": "purpose", "data_categories": "category", "processors": "recipient", "recipients": "recipient"}


def _named(referential: str, key: str, item_id: str, stored: str, lang: str) -> str:
    """An item of a snapshot by its name in ``lang`` (the vocabulary's; the stored name for an item the référentiel
    does not have, e.g. a category the organisation added)."""
    try:
        return label(referential, _KINDS[key], item_id, lang)
    except (VocabularyError, KeyError, ValueError):
        return stored


def _worded_bases(bases: list[str], said: dict[str, Any], lang: str) -> str:
    art6 = doctext.words(lang)["art6"]
    worded = []
    for basis in bases:
        first, _, condition = basis.partition("+")
        text = str(art6.get(first, first))
        if condition:
            text += f" + {said['art9'].format(letter=condition.removeprefix('9.2.'))}"
        worded.append(text)
    return ", ".join(worded) or str(said["none"])


def changes(before: dict[str, Any], after: dict[str, Any], lang: str = "fr") -> list[str]:
    """Sentences, in ``lang``, naming what changed between two snapshots."""
    said = doctext.words(lang)["dpia_review"]
    try:
        taken = datetime.fromisoformat(str(before.get("taken_at")))
        since = said["since"].format(date=taken.strftime(said["date"]))
    except ValueError:
        since = said["unknown_date"]
    ref = str(after["referential"])
    found: list[str] = []
    if before.get("referential") != after["referential"]:
        found.append(said["referential"].format(since=since, before=before.get("referential"), after=ref))
    for key in _KINDS:
        old: dict[str, str] = before.get(key, {})
        new: dict[str, str] = after[key]
        found += [
            said["added"][key].format(since=since, name=_named(ref, key, i, new[i], lang))
            for i in sorted(new.keys() - old.keys())
        ]
        found += [
            said["removed"][key].format(since=since, name=_named(ref, key, i, old[i], lang))
            for i in sorted(old.keys() - new.keys())
        ]
    old_bases: dict[str, list[str]] = before.get("legal_bases", {})
    for pid, bases in sorted(after["legal_bases"].items()):
        if pid in old_bases and old_bases[pid] != bases:
            purpose = _named(ref, "purposes", pid, after["purposes"].get(pid, pid), lang)
            found.append(
                said["basis"].format(
                    purpose=purpose,
                    since=since,
                    before=_worded_bases(old_bases[pid], said, lang),
                    after=_worded_bases(bases, said, lang),
                )
            )
    return found


@dataclass(frozen=True)
class ReviewState:
    """Where the DPIA of reference stands for an organisation's configuration (the controller's dashboard)."""

    generated_at: datetime | None  # when ``dpia generate`` last wrote it; None: never
    changes: tuple[str, ...]  # what changed in the configuration since (sentences, as ``dpia status`` prints)

    @property
    def up_to_date(self) -> bool:
        return self.generated_at is not None and not self.changes


def review_state(config: OrganisationConfig, config_path: Path) -> ReviewState:
    """The DPIA of reference for ``config`` (whose file is ``config_path``): when it was generated, what changed."""
    before = _read_snapshot(snapshot_path(config_path))
    if before is None:
        return ReviewState(None, ())
    taken = str(before.get("taken_at") or "")
    try:
        at = datetime.fromisoformat(taken) if taken else None
    except ValueError:
        at = None
    found = tuple(changes(before, snapshot(config, loader.get(config.referential))))
    return ReviewState(at.replace(tzinfo=at.tzinfo or UTC) if at else datetime.fromtimestamp(0, UTC), found)


def review_needed(config_path: Path, lang: str = "fr") -> list[str]:
    """What changed since the DPIA was generated, in ``lang``; empty when it is up to date."""
    config = load(config_path)
    before = _read_snapshot(snapshot_path(config_path))
    if before is None:
        said = doctext.words(lang)["dpia_review"]
        return [said["never"].format(snapshot=SNAPSHOT_NAME, config=config_path.name)]
    return changes(before, snapshot(config, loader.get(config.referential)), lang)


# -- generation --------------------------------------------------------------------------------


def generate(config_path: Path, out: Path, lang: str = "fr") -> dict[str, Any]:
    """Write the DPIA (.html, .pdf or .json) and the snapshot that later changes are compared with."""
    config = load(config_path)
    ref = loader.get(config.referential)
    dpia = build(config, ref, lang, ledgers.of_config(config, applied(config, ref), datetime.now(UTC), lang))
    write_document(out, html=render(dpia), data=dpia)
    write_snapshot(config_path, snapshot(config, ref))
    return dpia


def export_pia(config_path: Path, out: Path, lang: str = "fr") -> dict[str, Any]:
    """Write the DPIA as the JSON the CNIL's PIA tool imports."""
    if out.suffix.lower() != ".json":
        raise DpiaError(doctext.refusal("pia_suffix", name=out.name))
    config = load(config_path)
    pia = to_pia(build(config, loader.get(config.referential), lang))
    write_document(out, data=pia)
    return pia


# -- the CNIL PIA tool -------------------------------------------------------------------------


def _answer(question: int, lines: list[str], at: str, items: list[str] | None = None) -> dict[str, Any]:
    return pia_export.answer(question, lines, at, items)


def _rights_lines(d: dict[str, Any], *rights: Right) -> list[str]:
    t = doctext.words(d["lang"])["dpia"]
    lines = []
    for row in d["principles"]["rights"]:
        if row["undecided"]:
            lines.append(f"{row['name']} — {row['undecided']}")
            continue
        for r in row["rights"]:
            if r["right"] in rights:
                lines.append(
                    t["right_line"].format(
                        purpose=row["name"],
                        right=r["name"],
                        verdict=t["applies_yes" if r["applies"] else "applies_no"],
                        source=r["source"],
                        section=r["section"],
                        reason=f" — {r['reason']}" if r["reason"] and not r["applies"] else "",
                    )
                )
    return lines


def _retention_line(r: dict[str, Any], colon: str) -> str:
    return f"{r['name']}{colon}{r['text']} ({r['set_by']}, §{r['section']})."


def _pia_context(d: dict[str, Any], at: str) -> list[dict[str, Any]]:
    w = doctext.words(d["lang"])
    t, colon = w["dpia"], w["colon"]
    ref = d["referential"]
    org = d["organisation"]
    ctx = d["context"]
    dpo = org.get("dpo")
    processors = [f"{p['name']} — {w['processor']} (§{p['section']})." for p in ctx["processors"]]
    return [
        _answer(
            111,
            [
                t["pia_overview"].format(
                    title=ctx["processing"]["title"], deliberation=ref["deliberation"], organisation=org["name"]
                )
            ]
            + [t["pia_purpose"].format(name=p["name"], section=p["section"]) for p in ctx["purposes"]]
            + [t["pia_dpia"].format(decision=d["obligations"]["dpia_text"])],
            at,
        ),
        _answer(
            112,
            [t["pia_controller"].format(name=org["controller"]["name"])]
            + [t["pia_dpo"].format(name=dpo["name"] if dpo else t["dpo_none"])]
            + (processors or [t["no_processor"]]),
            at,
        ),
        _answer(
            113,
            [
                t["pia_referential"].format(
                    rid=ref["id"], title=ref["title"], deliberation=ref["deliberation"], version=ref["version"]
                )
            ]
            + [f"{x['comment']}" for x in d["deviations"]],
            at,
        ),
        _answer(
            121,
            [
                f"{c['name']} ({c['nature']}"
                + (f", {t['with_consent']}" if c["requires_consent"] else "")
                + (f", {t['extra']}" if c["extra"] else f", §{c['section']}")
                + ")."
                for c in ctx["data"]
            ]
            + [_retention_line(r, colon) for r in ctx["retention"]],
            at,
            [c["name"] for c in ctx["data"]],
        ),
        _answer(
            122,
            [
                t["pia_used_for"].format(purpose=p["name"], categories=", ".join(p["categories"]))
                for p in ctx["purposes"]
            ]
            + [t["pia_accessed_by"].format(name=a["name"], section=a["section"]) for a in ctx["accessors"]]
            + [t["pia_sent_to"].format(name=r["name"], section=r["section"]) for r in ctx["recipients"]],
            at,
        ),
        _answer(123, [*ctx["supporting_assets"], *processors], at),
    ]


def _pia_principles(d: dict[str, Any], at: str) -> list[dict[str, Any]]:
    w = doctext.words(d["lang"])
    t, colon = w["dpia"], w["colon"]
    rid = d["referential"]["id"]
    ctx = d["context"]
    principles = d["principles"]
    bases = [
        f"{p['name']}{colon}"
        + ("; ".join(b["text"] for b in p["legal_bases"]) or t["no_basis"])
        + f" (§{p['section']})."
        for p in ctx["purposes"]
    ]
    consent = [
        t["consent_category"].format(name=c["name"], section=c["section"]) for c in ctx["data"] if c["requires_consent"]
    ]
    consent += [
        t["consent_purpose"].format(name=p["name"], section=p["section"])
        for p in ctx["purposes"]
        if any(b["art6"] == "consent" for b in p["legal_bases"])
    ]
    processors = [f"{p['name']} (§{p['section']})." for p in ctx["processors"]]
    transfer = principles["transfer_section"]
    info = principles["information_section"]
    return [
        _answer(
            211,
            [t["pia_purpose"].format(name=p["name"], section=p["section"]) for p in ctx["purposes"]]
            + [f"{t['excluded']}{colon}{p['name']} ({p['why']}, §{p['section']})." for p in ctx["excluded_purposes"]],
            at,
        ),
        _answer(212, bases, at),
        _answer(
            213,
            [
                t["pia_minimisation"].format(
                    purpose=p["name"], categories=", ".join(p["categories"]), section=p["section"]
                )
                for p in ctx["purposes"]
            ]
            + [t["pia_forbidden"].format(name=c["name"], section=c["section"]) for c in ctx["forbidden_data"]],
            at,
        ),
        _answer(214, [*_rights_lines(d, Right.RECTIFICATION), t["accuracy"]], at),
        _answer(215, [_retention_line(r, colon) for r in ctx["retention"]], at),
        _answer(
            221,
            _rights_lines(d, Right.INFORMATION) + ([t["informed"].format(rid=rid, section=info)] if info else []),
            at,
        ),
        _answer(222, consent or [t["consent_none"]], at),
        _answer(223, [*principles["exercise"], *_rights_lines(d, Right.ACCESS, Right.PORTABILITY)], at),
        _answer(224, _rights_lines(d, Right.RECTIFICATION, Right.ERASURE), at),
        _answer(225, _rights_lines(d, Right.RESTRICTION, Right.OBJECTION), at),
        _answer(226, processors or [t["no_processor"]], at),
        _answer(
            227,
            [t["transfers_see"].format(rid=rid, section=transfer)] if transfer else [t["transfers_none"]],
            at,
        ),
    ]


def to_pia(d: dict[str, Any]) -> dict[str, Any]:
    """The DPIA in the JSON the CNIL's PIA tool imports (see ``pia_export``)."""
    name = f"{d['organisation']['name']} — {d['referential']['title']}"
    return pia_export.to_pia(d, name, _pia_context(d, d["generated_at"]) + _pia_principles(d, d["generated_at"]))
