"""Information notices (GDPR art. 13 and 14; COM-INF-1, AAC-10, EDS-8), generated from the configuration.

French by default, English too. Formats: poster, leaflet, e-mail text, web page, the notice a
professional sees at first connection to a platform; for a warehouse (eds-2021-118) an objection
form; under compassionate access (aac-2022-106) the prescriber's note and the note for related
persons. Rights come from ``santegarde.policy`` with the organisation's chosen legal bases, so a
notice says which rights do not apply and why, citing the référentiel section.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from jinja2 import Environment, PackageLoader, StrictUndefined

from santegarde.atomic import write_atomic
from santegarde.config import OrganisationConfig, basis_choice, effective_referential
from santegarde.config.model import Contact
from santegarde.governance.documents import DocumentError, render_html, write_document
from santegarde.policy import RightsUndecidable, right_applies
from santegarde.referentials.model import Duration, Phase, Purpose, Referential, RetentionRule, Right

Lang = Literal["fr", "en"]
LANGS: tuple[str, ...] = ("fr", "en")
FORMATS: tuple[str, ...] = (
    "poster",
    "leaflet",
    "email",
    "web",
    "platform",
    "objection-form",
    "prescriber",
    "related-persons",
)
ONLY_FOR = {"objection-form": "eds-2021-118", "prescriber": "aac-2022-106", "related-persons": "aac-2022-106"}
_TEMPLATES = {f: f"notice_{f.replace('-', '_')}.html.j2" for f in FORMATS if f != "email"}
_RIGHTS = (Right.ACCESS, Right.RECTIFICATION, Right.ERASURE, Right.RESTRICTION, Right.OBJECTION, Right.PORTABILITY)
_UNITS = {
    "fr": (("an", "ans"), ("mois", "mois"), ("jour", "jours")),
    "en": (("year", "years"), ("month", "months"), ("day", "days")),
}

_TEXT_ENV = Environment(
    loader=PackageLoader("santegarde.governance", "templates"),
    autoescape=False,  # noqa: S701 - plain-text e-mail, never rendered as HTML
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


class NoticeError(DocumentError):
    """A notice cannot be produced as asked."""


@dataclass(frozen=True, slots=True)
class PurposeLine:
    id: str
    name: str
    bases: list[str]
    section: str


@dataclass(frozen=True, slots=True)
class RightLine:
    right: str
    name: str
    status: Literal["applies", "partly", "excluded"]
    exceptions: list[str]  # "purpose: reason (§x)" where it does not apply
    section: str


@dataclass(frozen=True, slots=True)
class Line:
    name: str
    detail: str
    section: str


@dataclass(frozen=True, slots=True)
class Notice:
    """Everything a notice states, in one language, each item with the section it comes from."""

    format: str
    lang: str
    t: dict[str, Any]
    organisation: str
    controller: Contact
    dpo: Contact | None
    referential: str
    referential_title: str
    deliberation: str
    purposes: list[PurposeLine]
    recipients: list[Line]
    retention: list[Line]
    rights: list[RightLine]
    information_section: str
    information_rule: str
    warehouse: bool
    compassionate: bool
    objection_period: str | None = None
    related_categories: list[Line] = field(default_factory=list)
    professional_categories: list[Line] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


@cache
def _data() -> dict[str, Any]:
    text = resources.files("santegarde.governance").joinpath("data/notices.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def _name(ref: Referential, item_id: str, default: str, lang: str) -> str:
    if lang == "fr":
        return str(_data()["names_fr"].get(ref.id, {}).get(item_id, default))
    return default


def duration_text(duration: Duration, lang: str) -> str:
    """A duration in words in the notice's language ("5 ans", "3 months")."""
    parts = [
        f"{n} {units[1] if n > 1 else units[0]}"
        for n, units in zip((duration.years, duration.months, duration.days), _UNITS[lang], strict=True)
        if n
    ]
    return ", ".join(parts) or ("0 jour" if lang == "fr" else "0 days")


def _phase(phase: Phase, lang: str) -> str:
    fr = lang == "fr"
    if phase.duration is not None:
        text = duration_text(phase.duration, lang)
    elif phase.until_event:
        text = "jusqu'à l'événement prévu par le texte" if fr else "until the event set by the text"
    else:
        text = "durée fixée et justifiée par le responsable" if fr else "a period set and justified by the controller"
    bounds = []
    if phase.min_duration is not None:
        bounds.append(f"{'au moins' if fr else 'at least'} {duration_text(phase.min_duration, lang)}")
    if phase.max_duration is not None and phase.max_duration != phase.duration:
        bounds.append(f"{'au plus' if fr else 'at most'} {duration_text(phase.max_duration, lang)}")
    return text + (f" ({', '.join(bounds)})" if bounds else "")


def _retention(ref: Referential, rule: RetentionRule, lang: str) -> Line:
    fr = lang == "fr"
    text = f"{_phase(rule.active, lang)} {'en base active' if fr else 'in the active base'}"
    if rule.archive is not None:
        text += f", {'puis' if fr else 'then'} {_phase(rule.archive, lang)} {'en archives' if fr else 'in archive'}"
    end = {
        "delete": ("suppression", "deleted"),
        "anonymise": ("anonymisation", "anonymised"),
        "delete_or_anonymise": ("suppression ou anonymisation", "deleted or anonymised"),
    }[rule.end_action.value]
    text += f" ; puis {end[0]}" if fr else f"; then {end[1]}"
    return Line(_name(ref, rule.id, rule.name, lang), text, rule.section)


def _bases(ref: Referential, purpose: Purpose, lang: str) -> list[str]:
    labels = _data()["labels"][lang]
    out = []
    for b in purpose.legal_bases:
        text = labels["art6"][b.art6.value]
        if b.art9:
            text += " ; " + labels["art9"].format(article=b.art9.value)
        out.append(text)
    return out or [labels["basis_missing"]]


def _reason(ref: Referential, decision_right: Right, source: str, reason: str, lang: str) -> str:
    if lang != "fr":
        return reason
    table = _data()["reasons_fr"]
    if source == "référentiel":
        return str(table.get(ref.id, {}).get(decision_right.value, reason))
    return str(table["gdpr"].get(source, reason))


def _right_line(
    config: OrganisationConfig,
    ref: Referential,
    original: Referential,
    purposes: list[Purpose],
    right: Right,
    lang: str,
) -> RightLine:
    excluded: dict[str, list[str]] = {}  # reason (§) -> purposes it excludes
    decided = 0
    section = ""
    for p in purposes:
        try:
            decision = right_applies(ref, p.id, right, basis_choice(config, original, p.id))
        except RightsUndecidable:
            continue  # no legal basis listed (research under its own formality): the register says so
        decided += 1
        section = section or decision.section
        if not decision.applies:
            reason = f"{_reason(ref, right, decision.source, decision.reason, lang)} (§{decision.section})"
            excluded.setdefault(reason, []).append(_name(ref, p.id, p.name, lang))
    count = sum(len(names) for names in excluded.values())
    status: Literal["applies", "partly", "excluded"] = (
        "excluded" if decided and count == decided else "partly" if excluded else "applies"
    )
    lines = (
        list(excluded)
        if status == "excluded"
        else [f"{' ; '.join(names)} — {reason}" for reason, names in excluded.items()]
    )
    name = _data()["labels"][lang]["rights_names"][right.value]
    return RightLine(right.value, name, status, lines, section)


def build_notice(
    config: OrganisationConfig, referential: Referential, fmt: str = "leaflet", lang: str = "fr"
) -> Notice:
    """What the notice of this format says, for this organisation, in this language."""
    if lang not in LANGS:
        raise NoticeError(f"The language '{lang}' is not available; choose one of: {', '.join(LANGS)}.")
    if fmt not in FORMATS:
        raise NoticeError(f"The format '{fmt}' is not a notice format; choose one of: {', '.join(FORMATS)}.")
    if fmt in ONLY_FOR and referential.id != ONLY_FOR[fmt]:
        raise NoticeError(
            f"The '{fmt}' notice belongs to the référentiel {ONLY_FOR[fmt]}; this organisation applies "
            f"{referential.id}. Choose one of: poster, leaflet, email, web, platform."
        )
    ref = effective_referential(config, referential)
    purposes = [p for p in ref.purposes if not p.out_of_scope and not p.forbidden]
    info = next((r for r in ref.rights if r.right == Right.INFORMATION), None)
    org = config.organisation
    labels = _data()["labels"][lang]
    missing = [] if org.dpo else [labels["dpo_missing"]]
    if not (org.controller.email or org.controller.phone or org.controller.address or org.address):
        missing.append(labels["contact_missing"])
    period = config.choices.get("objection_notice_period")
    return Notice(
        format=fmt,
        lang=lang,
        t=labels,
        organisation=org.name,
        controller=org.controller,
        dpo=org.dpo,
        referential=ref.id,
        referential_title=ref.title,
        deliberation=ref.deliberation,
        purposes=[PurposeLine(p.id, _name(ref, p.id, p.name, lang), _bases(ref, p, lang), p.section) for p in purposes],
        recipients=[
            Line(_name(ref, r.id, r.name, lang) + (f" ({labels['processor']})" if r.processor else ""), "", r.section)
            for r in ref.recipients
        ],
        retention=[_retention(ref, rule, lang) for rule in ref.retention],
        rights=[_right_line(config, ref, referential, purposes, right, lang) for right in _RIGHTS],
        information_section=info.section if info else "",
        information_rule=(info.reason or "") if info else "",
        warehouse=ref.id == "eds-2021-118",
        compassionate=ref.id == "aac-2022-106",
        objection_period=duration_text(Duration.model_validate(str(period.value)), lang) if period else None,
        related_categories=[
            Line(c.name, c.kind.value, c.section) for c in ref.categories if c.id.startswith("related_persons")
        ],
        professional_categories=[
            Line(c.name, c.kind.value, c.section)
            for c in ref.categories
            if c.kind.value == "professional" and not c.forbidden and c.id != "professional_status"
        ],
        missing=missing,
    )


def render_notice(notice: Notice) -> str:
    """The notice as HTML, or as plain text for the e-mail format."""
    context: dict[str, Any] = {
        "n": notice,
        "t": notice.t,
        "lang": notice.lang,
        "organisation_name": notice.organisation,
        "footer": f"{notice.t['source']} : {notice.referential} ({notice.deliberation}).",
    }
    title_key = {
        "platform": "title_platform",
        "prescriber": "title_prescriber",
        "related-persons": "title_related",
        "objection-form": "title_objection",
    }.get(notice.format, "title")
    context["title"] = notice.t[title_key]
    if notice.format == "email":
        return _TEXT_ENV.get_template("notice_email.txt.j2").render(generated_at=datetime.now(UTC), **context)
    return render_html(_TEMPLATES[notice.format], **context)


def write_notice(notice: Notice, path: Path) -> Path:
    """Write the notice: the e-mail as plain text (.txt), the others as .html or .pdf; atomically."""
    suffix = path.suffix.lower()
    if notice.format == "email":
        if suffix not in (".txt", ".eml", ""):
            raise NoticeError(f"Cannot write '{path.name}': the e-mail notice is plain text; name the file .txt.")
        write_atomic(path, render_notice(notice))
        return path
    if suffix not in (".html", ".pdf"):
        raise NoticeError(f"Cannot write '{path.name}': a notice is written as .html or .pdf.")
    return write_document(path, html=render_notice(notice))
