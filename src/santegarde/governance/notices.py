"""Information notices (GDPR art. 13 and 14; COM-INF-1, AAC-10, EDS-8), generated from the configuration.

French by default, English with ``lang="en"``. Formats: poster (one A4 page, the first layer), leaflet,
e-mail text, web page, the notice a professional sees at first connection to a platform; for a warehouse
(eds-2021-118) an objection form; under compassionate access (aac-2022-106) the prescriber's note and the
note for related persons. Each format speaks to one audience (patients, related persons, professionals);
where the data do not come from the person (art. 14), the notice states their source and categories.

Every item of art. 13 and 14 is stated: controller and DPO, purposes with their legal basis, the legitimate
interest pursued, whether providing the data is required, recipients and processors, transfers outside the
EU, retention with its starting point, rights (decided by ``policy.right_applies``, worded by
``rights_text``), withdrawal of consent, the CNIL, direct access to health information (CSP L. 1111-7) and
post-mortem directives (loi Informatique et Libertés art. 85). Names come from the French vocabulary.
A notice with a required fact missing is not built: ``NoticeError`` names every missing setting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from jinja2 import Environment, PackageLoader, StrictUndefined

from santegarde.atomic import write_atomic
from santegarde.config import OrganisationConfig, basis_choice, effective_referential
from santegarde.config.model import Contact
from santegarde.governance import doctext, gaps, rights_text, vocabulary
from santegarde.governance.documents import DocumentError, render_html, write_document
from santegarde.governance.transfers import Transfer, basis_sentence, country_name
from santegarde.policy import right_applies
from santegarde.policy.rights import ART17_3_D, RightDecision, right_under_gdpr, rights_section
from santegarde.referentials.model import (
    Art6Basis,
    Category,
    Duration,
    EndAction,
    Phase,
    Purpose,
    Referential,
    RetentionRule,
    Right,
)

Lang = Literal["fr", "en"]
Audience = Literal["patients", "related", "professionals"]
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
AUDIENCE: dict[str, Audience] = {"platform": "professionals", "related-persons": "related"}
_TEMPLATES = {f: f"notice_{f.replace('-', '_')}.html.j2" for f in FORMATS if f != "email"}
_TITLES = {
    "poster": "title_poster",
    "platform": "title_platform",
    "prescriber": "title_prescriber",
    "related-persons": "title_related",
    "objection-form": "title_objection",
}
_RIGHTS = (Right.ACCESS, Right.RECTIFICATION, Right.ERASURE, Right.RESTRICTION, Right.OBJECTION, Right.PORTABILITY)
WAREHOUSE = "eds-2021-118"
SECURITY = "security"  # the professionals' notice: authentication and logging (GDPR art. 32), not a purpose of a text
COMPASSIONATE = "aac-2022-106"
# The compassionate-access notices that speak of one treatment: they name the programme from its protocol file (§10).
NAMES_PROGRAMME = ("prescriber", "related-persons", "web", "platform")

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


class NoticeRefused(NoticeError):
    """A notice is refused because the persons must be told facts the configuration does not give (in fr and en)."""


@dataclass(frozen=True, slots=True)
class PurposeLine:
    id: str
    name: str
    basis: str  # art. 6 in words, with the art. 9 condition for health data
    art6: str  # art. 6 alone, in words (the poster groups purposes by it)
    interest: str | None  # art. 13.1 d, when the basis is a legitimate interest
    provision: str  # art. 13.2 e
    section: str


@dataclass(frozen=True, slots=True)
class RightLine:
    right: str
    name: str
    status: Literal["applies", "partly", "only", "limited", "excluded"]
    exceptions: list[str]  # "purposes — why (article, §)" where it does not apply or is limited
    article: str
    excluded_purposes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ProgrammeFacts:
    """What a compassionate-access notice says of a programme, from its protocol file: the medicine, the
    indication and the ANSM's compassionate-access decision (number and date granted)."""

    medicine: str
    indication: str
    decision_number: str
    decision_date: date


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
    audience: Audience
    t: dict[str, Any]
    organisation: str
    controller: Contact
    dpo: Contact | None
    referential: str
    referential_title: str
    deliberation: str
    purposes: list[PurposeLine]
    further: list[Line]
    recipients: list[Line]
    processors: list[Line]
    transfers: list[Line]
    retention: list[Line]
    rights: list[RightLine]
    information_section: str
    warehouse: bool
    compassionate: bool
    consent_items: list[str] = field(default_factory=list)
    csp_access: bool = False
    categories: list[Line] = field(default_factory=list)
    source: str | None = None
    objection_period: str | None = None
    data_protection_policy: str | None = None
    public_information: bool = False  # eds §8.2.3.4-8.2.3.6: stands in for individual information (art. 14.5 b)
    programmes: list[str] = field(default_factory=list)  # aac §10: the medicine, indication and ANSM decision


@cache
def _data() -> dict[str, Any]:
    text = resources.files("santegarde.governance").joinpath("data/notices.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def _phase(ref: Referential, phase: Phase, where: str, lang: str, t: dict[str, Any]) -> str:
    """ "5 ans en base active à compter de la dernière intervention…", "au plus 70 ans en archives à compter…"."""
    since = vocabulary.since(ref, phase.start_event, lang)
    if phase.duration is not None:
        text = f"{vocabulary.duration(phase.duration, lang)} {where} {since}"
        if phase.max_duration is not None and phase.max_duration != phase.duration:
            text += f" ({t['at_most']} {vocabulary.duration(phase.max_duration, lang)})"
        return text
    if phase.until_event:
        text = f"{where} {t['until']} {vocabulary.label(ref, 'event', phase.until_event, lang)}"
        if phase.max_duration is not None:
            text += f" ({t['at_most']} {vocabulary.duration(phase.max_duration, lang)} {since})"
        return text
    bounds = [
        f"{word} {vocabulary.duration(d, lang)}"
        for word, d in ((t["at_least"], phase.min_duration), (t["at_most"], phase.max_duration))
        if d is not None
    ]
    return f"{(' et ' if lang == 'fr' else ' and ').join(bounds)} {where} {since}"


def _retention(ref: Referential, rule: RetentionRule, end: EndAction, lang: str, t: dict[str, Any]) -> Line:
    text = _phase(ref, rule.active, t["active"], lang, t)
    if rule.archive is not None:
        text += f", {t['then']} {_phase(ref, rule.archive, t['archive'], lang, t)}"
    text += f" ; {t['end_' + end.value]}" if lang == "fr" else f"; {t['end_' + end.value]}"
    return Line(vocabulary.label(ref, "retention", rule.id, lang), text, rule.section)


def _end_action(config: OrganisationConfig, rule: RetentionRule) -> EndAction:
    """The organisation's answer where the text lets it delete or anonymise."""
    answer = config.choices.get("retention_end_action")
    if rule.end_action is EndAction.DELETE_OR_ANONYMISE and answer is not None:
        return EndAction(str(answer.value))
    return rule.end_action


def _purpose_line(
    config: OrganisationConfig, ref: Referential, p: Purpose, lang: str, t: dict[str, Any]
) -> PurposeLine:
    basis = p.legal_bases[0]
    art6 = rights_text.basis_words(basis.art6, lang)
    words = art6
    if basis.art9:
        words += f" ; {t['art9_intro']} {t['art9'][basis.art9.value]}"
    interest = None
    if basis.art6.value == "legitimate_interest":
        deviation = next((d for d in config.deviations.legal_basis if d.purpose == p.id), None)
        interest = _data()["interests"][lang].get(f"{ref.id} {p.id}") or (
            deviation.justification.strip() if deviation else None
        )
    return PurposeLine(
        p.id,
        vocabulary.label(ref, "purpose", p.id, lang),
        words,
        art6,
        interest,
        t["provision_by_basis"][basis.art6.value],
        p.section,
    )


def _right_line(decisions: list[RightDecision], names: dict[str, str], right: Right, lang: str) -> RightLine:
    """One right over every purpose: applies, applies except to some, applies only to some, or excluded."""
    excluded: dict[str, list[str]] = {}  # why -> purposes
    limited: dict[str, list[str]] = {}
    applying: list[str] = []
    for d in decisions:
        name = names[d.purpose]
        if not d.applies:
            excluded.setdefault(rights_text.reason(d, lang), []).append(name)
        else:
            applying.append(name)
            if d.code == ART17_3_D:
                limited.setdefault(rights_text.reason(d, lang), []).append(name)
    excluded_names = [name for group in excluded.values() for name in group]
    status: Literal["applies", "partly", "only", "limited", "excluded"]
    if decisions and not applying:
        status, lines = "excluded", list(excluded)
    elif len(excluded_names) > len(applying):
        status, lines = "only", [*applying, str(_data()["labels"][lang]["only_reason"][right.value])]
    else:
        status = "partly" if excluded else "limited" if limited else "applies"
        lines = [f"{' ; '.join(group)} — {why}" for why, group in (excluded | limited).items()]
    article = rights_text.article(decisions[0], lang) if decisions else ""
    return RightLine(right.value, rights_text.right_name(right, lang), status, lines, article, excluded_names)


def missing_facts(config: OrganisationConfig, referential: Referential, lang: str = "fr") -> list[str]:
    """Every setting a notice needs and the configuration lacks, as sentences naming the setting (``gaps``)."""
    return [g.in_language(lang) for g in gaps.gaps_for(config, referential, gaps.NOTICES)]


def _purposes(ref: Referential) -> list[Purpose]:
    return [p for p in ref.purposes if not p.out_of_scope and not p.forbidden and not p.requires_formality]


def build_notice(
    config: OrganisationConfig,
    referential: Referential,
    fmt: str = "leaflet",
    lang: str = "fr",
    *,
    programmes: Sequence[ProgrammeFacts] = (),
    declared: Sequence[Transfer] | None = None,
) -> Notice:
    """What the notice of this format says, for this organisation, in this language; refuses if a fact is missing.

    ``programmes``: the compassionate-access programmes the notice names (the prescriber's, related persons',
    website and platform notices refuse to be built without one). ``declared``: the organisation's transfer
    register; when given, the notice lists those transfers (and says there is none when it is empty) instead of
    the transfers the référentiel would allow."""
    if lang not in LANGS:
        raise NoticeError(doctext.refusal("notice_lang", lang=lang, langs=", ".join(LANGS)))
    if fmt not in FORMATS:
        raise NoticeError(doctext.refusal("notice_format", fmt=fmt, formats=", ".join(FORMATS)))
    if fmt in ONLY_FOR and referential.id != ONLY_FOR[fmt]:
        raise NoticeError(doctext.refusal("notice_only_for", fmt=fmt, owner=ONLY_FOR[fmt], rid=referential.id))
    ref = effective_referential(config, referential)
    if missing_facts(config, referential):
        raise NoticeRefused(
            {
                language: doctext.words(language)["gaps"]["notice_refused"]
                + "".join(f"\n  - {m}" for m in missing_facts(config, referential, language))
                for language in LANGS
            }
        )
    if ref.id == COMPASSIONATE and fmt in NAMES_PROGRAMME and not programmes:
        raise NoticeRefused(doctext.refusal("notice_programme", fmt=fmt))
    t: dict[str, Any] = _data()["labels"][lang]
    audience = AUDIENCE.get(fmt, "patients")
    categories = _categories(ref, audience)
    purposes = _purposes(ref)
    if audience != "patients":  # the purposes that process these persons' data (and, for professionals, the logging)
        ids = {c.id for c in categories}
        purposes = [p for p in purposes if ids & set(p.categories)] or (purposes if audience == "related" else [])
    decisions = {
        right: [right_applies(ref, p.id, right, basis_choice(config, referential, p.id)) for p in purposes]
        for right in _RIGHTS
    }
    names = {p.id: vocabulary.label(ref, "purpose", p.id, lang) for p in purposes}
    lines = [_purpose_line(config, ref, p, lang, t) for p in purposes]
    if audience == "professionals":
        names[SECURITY] = t["security_purpose"]
        lines.append(_security_line(ref, lang, t))
        for right in _RIGHTS:
            decisions[right].append(right_under_gdpr(ref, SECURITY, right, Art6Basis.LEGAL_OBLIGATION))
    info = next((r for r in ref.rights if r.right == Right.INFORMATION), None)
    org = config.organisation
    period = config.choices.get("objection_notice_period")
    processors = [r for r in ref.recipients if r.processor]
    return Notice(
        format=fmt,
        lang=lang,
        audience=audience,
        t=t,
        organisation=org.name,
        controller=org.controller,
        dpo=org.dpo,
        referential=ref.id,
        referential_title=vocabulary.label(ref, "referential", ref.id, lang),
        deliberation=vocabulary.label(ref, "deliberation", ref.id, lang),
        purposes=lines,
        further=[
            Line(vocabulary.label(ref, "purpose", p.id, lang), "", p.section)
            for p in ref.purposes
            if p.requires_formality and not p.out_of_scope and not p.forbidden and audience == "patients"
        ],
        recipients=[
            Line(vocabulary.label(ref, "recipient", r.id, lang), "", r.section)
            for r in ref.recipients
            if not r.processor
        ],
        processors=[Line(vocabulary.label(ref, "recipient", r.id, lang), "", r.section) for r in processors],
        transfers=[_transfer(ref, tr.id, lang) for tr in ref.transfers]
        if declared is None
        else [_declared(ref, tr, lang) for tr in declared],
        retention=[
            _retention(ref, rule, _end_action(config, rule), lang, t) for rule in _rules(ref, purposes, categories)
        ],
        rights=[_right_line(decisions[right], names, right, lang) for right in _RIGHTS],
        information_section=info.section if info else "",
        warehouse=ref.id == WAREHOUSE,
        compassionate=ref.id == COMPASSIONATE,
        consent_items=[
            vocabulary.label(ref, "category", c.id, lang)
            for c in ref.categories
            if c.requires_consent and audience == "patients"
        ],
        csp_access=audience == "patients" and ref.id in _data()["csp_access"],
        categories=[Line(vocabulary.label(ref, "category", c.id, lang), "", c.section) for c in categories],
        source=_source(ref, audience, t),
        objection_period=vocabulary.duration(Duration.model_validate(str(period.value)), lang) if period else None,
        data_protection_policy=org.data_protection_policy if ref.id == WAREHOUSE else None,
        public_information=ref.id == WAREHOUSE and _answer(config, "information_exception") is True,
        programmes=[_programme(p, t, lang) for p in programmes] if ref.id == COMPASSIONATE else [],
    )


def _programme(p: ProgrammeFacts, t: dict[str, Any], lang: str) -> str:
    """ "Velmorine 20 mg, dans l'indication « … » — autorisation d'accès compassionnel de l'ANSM n° … du …"."""
    when = p.decision_date.strftime("%d/%m/%Y") if lang == "fr" else p.decision_date.isoformat()
    return str(t["programme_line"]).format(
        medicine=p.medicine, indication=p.indication, number=p.decision_number, date=when
    )


def _declared(ref: Referential, transfer: Transfer, lang: str) -> Line:
    """A transfer of the organisation's register: to whom, in which country, which data, on which basis."""
    w = doctext.words(lang)
    categories = ", ".join(vocabulary.label(ref, "category", c, lang) for c in transfer.data_categories)
    remote = str(w["transfer_remote"]) if transfer.remote_access else ""
    section = ref.transfers[0].section if ref.transfers else rights_section(ref)
    return Line(
        f"{transfer.recipient} ({country_name(transfer.country, lang)})",
        f"{categories} — {basis_sentence(transfer, lang)}{remote}",
        section,
    )


def _rules(ref: Referential, purposes: list[Purpose], categories: list[Category]) -> list[RetentionRule]:
    """The retention rules of what the notice covers: for professionals, their data's and the traces' rules."""
    if not categories or categories[0].kind.value != "professional":
        return list(ref.retention)
    covered = {p.id for p in purposes} | {c.id for c in categories}
    covered |= {c.id for c in ref.categories if c.kind.value == "traces"}
    return [r for r in ref.retention if covered & set(r.applies_to)] or list(ref.retention)


def _security_line(ref: Referential, lang: str, t: dict[str, Any]) -> PurposeLine:
    """Authentication and logging of the users' actions, which every text requires (GDPR art. 32)."""
    traces = next((c for c in ref.categories if c.kind.value == "traces"), None)
    basis = rights_text.basis_words(Art6Basis.LEGAL_OBLIGATION, lang)
    return PurposeLine(
        SECURITY,
        str(t["security_purpose"]),
        f"{basis} — {t['security_basis']}",
        basis,
        None,
        t["provision_by_basis"]["legal_obligation"],
        traces.section if traces else rights_section(ref),
    )


def _answer(config: OrganisationConfig, choice_id: str) -> str | bool | None:
    answer = config.choices.get(choice_id)
    return answer.value if answer is not None else None


def _transfer(ref: Referential, transfer_id: str, lang: str) -> Line:
    transfer = next(tr for tr in ref.transfers if tr.id == transfer_id)
    to = ", ".join(vocabulary.label(ref, "recipient", r, lang) for r in transfer.recipients)
    grounds = _data()["transfer_grounds"][lang]
    detail = f"{to} — " + (" ; à défaut, " if lang == "fr" else "; failing that, ").join(
        grounds[m.value] for m in transfer.mechanisms
    )
    return Line(vocabulary.label(ref, "transfer", transfer.id, lang), detail, transfer.section)


def _categories(ref: Referential, audience: Audience) -> list[Category]:
    """The categories of data an art. 14 notice lists (data not obtained from the person)."""
    if audience == "related":
        chosen = [c for c in ref.categories if c.id.startswith("related_persons")]
    elif audience == "professionals":
        chosen = [c for c in ref.categories if c.kind.value == "professional" and not c.forbidden]
        chosen = [
            c for c in chosen if "professional" in c.id and c.id not in ("professional_status", "professional_life")
        ]
    elif ref.id == WAREHOUSE:
        chosen = [c for c in ref.categories if not c.forbidden and c.kind.value not in ("traces", "professional")]
    else:
        return []
    return chosen


def _source(ref: Referential, audience: Audience, t: dict[str, Any]) -> str | None:
    if audience == "related":
        return str(t["related_source"])
    if audience == "professionals":
        return str(t["platform_source"])
    if ref.id == WAREHOUSE:
        return str(t["warehouse_source"])
    return None


def render_notice(notice: Notice) -> str:
    """The notice as HTML, or as plain text for the e-mail format."""
    t = notice.t
    context: dict[str, Any] = {
        "n": notice,
        "t": notice.t,
        "lang": notice.lang,
        "organisation_name": notice.organisation,
        "title": notice.t[_TITLES.get(notice.format, "title")],
        "footer": f"{t['referential']}{t['colon']} {notice.referential_title} "
        f"({t['deliberation']} {notice.deliberation}).",
    }
    if notice.format == "email":
        return _TEXT_ENV.get_template("notice_email.txt.j2").render(generated_at=datetime.now(UTC), **context)
    return render_html(_TEMPLATES[notice.format], **context)


def render_notice_content(notice: Notice) -> str:
    """The platform notice's content as an HTML fragment (no page, style, form nor generation time), for a page
    that draws it itself, such as the console's first-connection screen; the same words as the document."""
    if notice.format != "platform":
        raise NoticeError(doctext.refusal("notice_format", fmt=notice.format, formats="platform"))
    return render_html("notice_platform_content.html.j2", n=notice, t=notice.t, lang=notice.lang)


def write_notice(notice: Notice, path: Path) -> Path:
    """Write the notice: the e-mail as plain text (.txt), the others as .html or .pdf; atomically."""
    suffix = path.suffix.lower()
    if notice.format == "email":
        if suffix not in (".txt", ".eml", ""):
            raise NoticeError(doctext.refusal("notice_txt", name=path.name))
        write_atomic(path, render_notice(notice))
        return path
    if suffix not in (".html", ".pdf"):
        raise NoticeError(doctext.refusal("notice_suffix", name=path.name))
    return write_document(path, html=render_notice(notice))
