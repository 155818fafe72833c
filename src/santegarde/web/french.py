"""The console's words: dates in words, names of profiles and purposes, refusals said as sentences.

Each refusal a page can meet is worded here from its class (and, for an access refusal, from the rule that
decided it, which is named); every sentence comes from the catalogue (data/refusals.yaml: ``console`` for the
desk's own, ``records`` for the record path's, the same the CLI and the API show) in both languages at once, as a
``Said``: French wherever Python reads it, the page's language when a template draws it (``Renderer``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from santegarde import refusals
from santegarde.api.refusals import BodyTooLarge, OriginRefused
from santegarde.compassionate.forms import SubmissionRefused
from santegarde.compassionate.patient_code import InitialsError
from santegarde.compassionate.registry import UnknownProgramme
from santegarde.compassionate.service import IncompleteRequest, WorkflowRefused
from santegarde.crypto import DecryptionRefused
from santegarde.errors import SantegardeError
from santegarde.governance.doctext import words
from santegarde.governance.vocabulary import VocabularyError, label
from santegarde.identity.errors import (
    AccountError,
    GrantError,
    LoginRefused,
    SessionLocked,
    SessionRefused,
    StepRequired,
)
from santegarde.identity.passwords import WeakPassword
from santegarde.identity.throttle import Blocked
from santegarde.identity.totp import InvalidCode
from santegarde.pharmacy import RegisterRefused
from santegarde.referentials.model import Referential
from santegarde.store.mapping import MappingError
from santegarde.store.service import BREAK_GLASS_MIN, AccessDenied, NotFound

PARIS = ZoneInfo("Europe/Paris")
MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)


def fr_date(value: date | datetime | str | None) -> str:
    """``4 décembre 2026`` (``1er`` for the first of the month), with ``à 11 h 15`` (Paris time) for an instant; a
    FHIR date string is read first."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        written = value
        try:
            value = datetime.fromisoformat(written) if "T" in written else date.fromisoformat(written)
        except ValueError:
            return written  # a partial FHIR date (2026 or 2026-12) is shown as written
    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.astimezone(PARIS)  # the desk reads the time of metropolitan France
    day = "1er" if value.day == 1 else str(value.day)
    text = f"{day} {MONTHS[value.month - 1]} {value.year}"
    if isinstance(value, datetime):
        text += f" à {value.hour} h {value.minute:02d}"
    return text


EN_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def date_in(value: date | datetime | str | None, lang: str) -> str:
    """A date in the page's language: ``4 décembre 2026 à 11 h 15`` (French), ``4 December 2026 at 11:15``
    (English), Paris time for an instant."""
    if lang != "en":
        return fr_date(value)
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
        except ValueError:
            return str(value)
    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.astimezone(PARIS)
    text = f"{value.day} {EN_MONTHS[value.month - 1]} {value.year}"
    if isinstance(value, datetime):
        text += f" at {value.hour}:{value.minute:02d}"
    return text


def number_in(value: float | int, lang: str) -> str:
    """``61,5`` in French, ``61.5`` in English."""
    return f"{value:,}" if lang == "en" else fr_number(value)


def fr_number(value: float | int) -> str:
    """``61,5``: the decimal comma, a narrow space between thousands."""
    text = f"{value:,}".replace(",", "\u202f").replace(".", ",")
    return text


class Said(str):
    """A sentence in both languages: the French one as a string (what Python code and logs read), the English one
    kept beside it; a template draws the page's language (``told``)."""

    en: str

    def __new__(cls, fr: str, en: str) -> Said:
        said = super().__new__(cls, fr)
        said.en = en
        return said

    def told(self, lang: str) -> str:
        return self.en if lang == "en" else str(self)


def told(value: Any, lang: str) -> Any:
    """``value`` in ``lang`` if it is a ``Said``, else as it is."""
    return value.told(lang) if isinstance(value, Said) else value


def said(area: str, key: str, /, **facts: Any) -> Said:
    """The catalogue's sentence ``area``/``key`` (data/refusals.yaml) in both languages, its facts filled (a fact
    that is itself a ``Said`` gives each language its own)."""
    facts = {k: {"fr": str(v), "en": v.en} if isinstance(v, Said) else v for k, v in facts.items()}
    both = refusals.sentences(area, key, **facts)
    return Said(both["fr"], both["en"])


def sentence(key: str, /, **facts: Any) -> Said:
    """The console's own sentence ``key`` (data/refusals.yaml, ``console``)."""
    return said("console", key, **facts)


def name(ref: Referential, kind: str, item_id: str | None) -> Said | str:
    """The name of a profile (accessor), purpose or category in both languages (governance vocabulary); the
    identifier if the text has none."""
    if not item_id:
        return "—"
    try:
        return Said(label(ref, kind, item_id, "fr"), label(ref, kind, item_id, "en"))
    except VocabularyError:
        return item_id


def labels(*path: str) -> dict[str, Said]:
    """A group of labels of documents_text.yaml (``path`` from the language's root), each in both languages."""
    fr: Any = words("fr")
    en: Any = words("en")
    for part in path:
        fr, en = fr[part], en[part]
    return {code: Said(str(fr[code]), str(en[code])) for code in fr}


DISPENSE_CLASSES = labels("pharmacy_print", "classes")
REGISTERS = labels("console", "register_names")
# store.service.CARE_BASES in the desk's words (a test checks both lists hold the same codes).
CARE_BASES = labels("console", "care_bases")
GENDER = {code: said for code, said in labels("console", "results", "genders").items() if code != "none"}


class Refusal:
    """A refusal as the page shows it: a title, what happened, what to do, and the rule that decided (the texts a
    ``Said`` or a plain string; a template draws them in the page's language)."""

    def __init__(self, title: str, what: str, todo: str, status: int, rule: str = "", section: str = "") -> None:
        self.title = title
        self.what = what
        self.todo = todo
        self.status = status
        self.rule = rule
        self.section = section


def title(key: str) -> Said:
    """The title of a refusal (documents_text.yaml, ``console.refused``)."""
    return Said(words("fr")["console"]["refused"][key], words("en")["console"]["refused"][key])


def worded(key: str, status: int, rule: str = "", section: str = "", /, **facts: Any) -> Refusal:
    """The console's refusal ``key``: its title, and its sentences ``key``/``key_todo`` from the catalogue."""
    return Refusal(title(key), sentence(key, **facts), sentence(f"{key}_todo", **facts), status, rule, section)


def in_words(group: str, code: str) -> Said | str:
    """A status in words (documents_text.yaml, ``console.<group>``); the code if it has none."""
    fr, en = words("fr")["console"][group], words("en")["console"][group]
    return Said(fr[code], en[code]) if code in fr else code


# The refusals that say the same whatever the class's facts, by class (the first that matches).
_BY_CLASS: tuple[tuple[type | tuple[type, ...], str, int], ...] = (
    (LoginRefused, "login", 401),
    (InvalidCode, "code", 401),
    (WeakPassword, "weak_password", 422),
    (SessionLocked, "locked", 423),
    (SessionRefused, "session", 401),
    (StepRequired, "step", 403),
    (GrantError, "grant", 403),
    (AccountError, "account", 400),
    (MappingError, "mapping", 400),
    (OriginRefused, "origin", 403),
    (BodyTooLarge, "too_large", 413),
    (DecryptionRefused, "unreadable", 409),
)


def refusal(exc: SantegardeError, ref: Referential, profile: str | None = None, purpose: str | None = None) -> Refusal:
    """The words for a refusal met by a page, in both languages (never the bare exception, never a trace)."""
    if isinstance(exc, AccessDenied):
        return _access(exc, ref, profile, purpose)
    if isinstance(exc, RegisterRefused):
        return worded("register", 403, "PHA-3", "7.1")
    if isinstance(exc, WorkflowRefused | SubmissionRefused | InitialsError | UnknownProgramme | IncompleteRequest):
        return _compassionate(exc)
    if isinstance(exc, NotFound):  # the store's own sentence (data/refusals.yaml, records)
        what = Said(exc.in_language("fr"), exc.in_language("en"))
        return Refusal(title("not_found"), what, sentence("not_found_todo"), 404)
    if isinstance(exc, Blocked):
        until = Said(date_in(exc.until, "fr"), date_in(exc.until, "en"))
        return worded("blocked", 429, until=until)
    if type(exc).__name__ == "CsrfRefused":
        return worded("csrf", 403)
    for kind, key, status in _BY_CLASS:
        if isinstance(exc, kind):
            return worded(key, status)
    return worded("other", 400)


def _compassionate(exc: SantegardeError) -> Refusal:
    if isinstance(exc, WorkflowRefused) and exc.rule == "AAC-3.programme_status":
        return worded("programme_closed", 409, exc.rule, "3")
    if isinstance(exc, WorkflowRefused):
        return worded("out_of_turn", 409, exc.rule, "5.2")
    if isinstance(exc, UnknownProgramme):
        return worded("unknown_programme", 404)
    if isinstance(exc, IncompleteRequest):
        return worded("incomplete_request", 409, "AAC-3", "5.2")
    return worded("form", 422, getattr(exc, "rule", "AAC-7"), "7.3")


def fr_amount(value: float | int) -> str:
    """``20`` for 20.0, ``61,5`` for 61.5: a bound or an answer as written, without a useless decimal."""
    return fr_number(int(value) if float(value).is_integer() else value)


def unit_words(unit: str | None) -> str:
    """A UCUM unit as the desk reads it (an annotation such as ``{score}`` has no unit to show)."""
    return "" if not unit or unit.startswith("{") else unit


def field_error(exc: SubmissionRefused | InitialsError, field: Any = None) -> Said:
    """The sentence shown next to a field of a compassionate-access form (catalogue, ``console: field_…``)."""
    if isinstance(exc, InitialsError):
        return sentence("field_initials")
    reason = exc.reason
    if reason in ("number", "integer", "bounds") and field is not None:
        unit = unit_words(field.unit)
        kind = sentence("kind_integer" if field.integer else "kind_number")
        low, high = amount(field.min), amount(field.max)
        return sentence(
            "field_bounds" if reason == "bounds" else "field_number",
            kind=kind,
            low=low,
            high=high,
            unit=unit_after(unit),
        )
    return sentence(f"field_{reason}" if reason in FIELD_REASONS else "field_other")


def amount(value: float | int) -> Said:
    """A bound as written, without a useless decimal: ``61,5`` / ``61.5``."""
    whole = int(value) if float(value).is_integer() else value
    return Said(fr_number(whole), number_in(whole, "en"))


def unit_after(unit: str) -> str:
    """`` kg`` after a number, nothing without a unit."""
    return f" {unit}" if unit else ""


FIELD_REASONS = frozenset({"required", "choice", "date", "future", "boolean", "nir", "birth", "establishment"})


def _access(exc: AccessDenied, ref: Referential, profile: str | None, purpose: str | None) -> Refusal:
    who = name(ref, "accessor", profile)
    why = name(ref, "purpose", purpose)
    if exc.rule == "AAC-8.case":
        return worded("case", 403, exc.rule, exc.section)
    if exc.rule.endswith(".care_relationship"):
        return Refusal(
            title("no_care"),
            said("records", "no_care"),
            said("records", "no_care_todo", min=BREAK_GLASS_MIN),
            403,
            exc.rule,
            exc.section,
        )
    if exc.rule.startswith("COM-RGT-1.objection"):
        return Refusal(
            title("objected"),
            said("records", "objected", why=sentence("objected_why", why=why), since="", number=""),
            said("records", "objected_todo"),
            403,
            exc.rule,
            exc.section,
        )
    return worded("access", 403, exc.rule, exc.section, who=who, why=why)


def referential_name(ref: Referential) -> Said:
    """The référentiel's name: French (its English title only if the vocabulary has none), and English."""
    try:
        return Said(label(ref, "referential", ref.id, "fr"), ref.title)
    except VocabularyError:
        return Said(ref.title, ref.title)


def section_label(ref: Referential, section: str) -> Said:
    """Where a rule is written: the section of the référentiel, or the référentiel."""
    if section:
        return sentence("where_section", section=section, name=referential_name(ref))
    return sentence("where", name=referential_name(ref))


def codeable(concept: Any) -> str:
    """A CodeableConcept in words: its text, else its first coding's display, else its code."""
    if not isinstance(concept, dict):
        return "—"
    if concept.get("text"):
        return str(concept["text"])
    for coding in concept.get("coding") or []:
        if coding.get("display") or coding.get("code"):
            return str(coding.get("display") or coding.get("code"))
    return "—"
