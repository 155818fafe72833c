"""The French names of référentiel items, for every document (notices, register, DPIA, PIA export, letters).

The référentiels are stored in English (the practices' draft in French); what a patient, a
professional or a DPO reads is French by default. Every name comes from one file,
``governance/data/vocabulary.fr.yaml``, through this small API, which is kept stable:

- ``label(ref, kind, item_id, lang="fr")``: the name of an item. ``kind`` is one of ``KINDS``:
  ``referential`` (the title; ``item_id`` is the référentiel id), ``deliberation`` (its number(s), e.g.
  "2021-118 (rectifiée par la délibération n° 2021-123)"; ``item_id`` is the référentiel id), ``section``,
  ``purpose``, ``category``, ``accessor``, ``recipient``, ``transfer``, ``retention``, ``event``, ``choice``,
  ``measure`` (a security measure's title; ``item_id`` is its code, e.g. "PHA-PRO-11").
  In French there is no English fallback: a missing label raises ``VocabularyError``. In English,
  the référentiel's own wording (events, which the texts name only by id: ``data/vocabulary.en.yaml``).
- ``since(ref, event, lang="fr")``: "à compter de la dernière intervention sur le dossier du patient".
- ``duration(d, lang="fr")``: "5 ans", "1 an et 6 mois", "3 mois".
- ``missing(ref)``: every item of a référentiel that has no French label (empty when complete).
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import Any

import yaml

from santegarde.errors import SantegardeError
from santegarde.referentials import loader
from santegarde.referentials.model import Duration, Referential

KINDS: tuple[str, ...] = (
    "referential",
    "deliberation",
    "section",
    "purpose",
    "category",
    "accessor",
    "recipient",
    "transfer",
    "retention",
    "event",
    "choice",
    "measure",
)
LANGS: tuple[str, ...] = ("fr", "en")
_LISTS = {
    "purpose": "purposes",
    "category": "categories",
    "accessor": "accessors",
    "recipient": "recipients",
    "transfer": "transfers",
    "retention": "retention",
    "choice": "choices",
}
_UNITS = {
    "fr": (("an", "ans"), ("mois", "mois"), ("jour", "jours")),
    "en": (("year", "years"), ("month", "months"), ("day", "days")),
}


class VocabularyError(SantegardeError, LookupError):
    """An item has no name in the language asked for, or the kind or language is unknown."""


@cache
def _english_events() -> dict[str, str]:
    text = resources.files("santegarde.governance").joinpath("data/vocabulary.en.yaml").read_text(encoding="utf-8")
    data: dict[str, dict[str, str]] = yaml.safe_load(text)
    return data["event"]


@cache
def _vocabulary() -> dict[str, Any]:
    text = resources.files("santegarde.governance").joinpath("data/vocabulary.fr.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def _ref(ref: Referential | str) -> Referential:
    return loader.get(ref) if isinstance(ref, str) else ref


def _own(ref: Referential, kind: str, item_id: str) -> str | None:
    """The référentiel's own wording of an item, or None when it has no such item."""
    if kind == "referential":
        return ref.title if item_id == ref.id else None
    if kind == "deliberation":
        return ref.deliberation if item_id == ref.id else None
    if kind == "section":
        return ref.section_title(item_id)
    if kind == "event":
        return _english_events().get(item_id, item_id.replace("_", " ")) if item_id in ref.events() else None
    if kind == "measure":
        measure = ref.measure(item_id)
        return measure.title if measure is not None else None
    for item in getattr(ref, _LISTS[kind]):
        if item.id == item_id:
            return str(item.question if kind == "choice" else item.name)
    return None


def _french(ref: Referential, kind: str, item_id: str) -> str | None:
    table = _vocabulary()
    found = table.get(ref.id, {}).get(kind, {})
    if kind in ("referential", "deliberation"):
        own = table.get(ref.id, {}).get(kind)
        if own is None and kind == "deliberation" and re.fullmatch(r"[\d-]+", ref.deliberation):
            own = ref.deliberation  # a bare number reads the same in every language
        found = {ref.id: own} if own else {}
    if item_id in found:
        return str(found[item_id])
    if kind == "event" and item_id in table["common"]["event"]:
        return str(table["common"]["event"][item_id])
    if ref.language == "fr" and kind != "event":
        return _own(ref, kind, item_id)
    return None


def label(ref: Referential | str, kind: str, item_id: str, lang: str = "fr") -> str:
    """The name of an item of a référentiel in a document's language (see the module docstring)."""
    if kind not in KINDS:
        raise VocabularyError(f"'{kind}' is not a kind of référentiel item; use one of: {', '.join(KINDS)}.")
    if lang not in LANGS:
        raise VocabularyError(f"The language '{lang}' is not available; choose one of: {', '.join(LANGS)}.")
    referential = _ref(ref)
    own = _own(referential, kind, item_id)
    if own is None:
        raise VocabularyError(f"The référentiel {referential.id} has no {kind} '{item_id}'; check the identifier.")
    if lang == "en":
        return own
    text = _french(referential, kind, item_id)
    if text is None:
        raise VocabularyError(
            f"The {kind} '{item_id}' of {referential.id} has no French name; add it under "
            f"{referential.id} → {kind} in src/santegarde/governance/data/vocabulary.fr.yaml."
        )
    return text


def since(ref: Referential | str, event: str, lang: str = "fr") -> str:
    """The starting point of a period in words: "à compter de la collecte des données"."""
    words = label(ref, "event", event, lang)
    if lang == "en":
        return f"from {words}"
    for article, contracted in (("le ", "du "), ("les ", "des ")):
        if words.startswith(article):
            return f"à compter {contracted}{words.removeprefix(article)}"
    return f"à compter de {words}"


def duration(d: Duration, lang: str = "fr") -> str:
    """A duration as a DPO writes it: "5 ans", "1 an et 6 mois" ("5 years", "1 year and 6 months")."""
    if lang not in LANGS:
        raise VocabularyError(f"The language '{lang}' is not available; choose one of: {', '.join(LANGS)}.")
    parts = [
        f"{n} {units[1] if n > 1 else units[0]}"
        for n, units in zip((d.years, d.months, d.days), _UNITS[lang], strict=True)
        if n
    ]
    if not parts:
        return "0 jour" if lang == "fr" else "0 days"
    joiner = " et " if lang == "fr" else " and "
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + joiner + parts[-1]


def items(ref: Referential) -> list[tuple[str, str]]:
    """Every (kind, id) of a référentiel that a document may name."""
    out: list[tuple[str, str]] = [("referential", ref.id), ("deliberation", ref.id)]
    out += [("section", s.number) for s in ref.sections]
    for kind, attr in _LISTS.items():
        out += [(kind, item.id) for item in getattr(ref, attr)]
    out += [("event", e) for e in ref.events()]
    out += [("measure", m.code) for m in ref.measures]
    return out


def missing(ref: Referential) -> list[str]:
    """The items of a référentiel that have no French name, as "kind id" (empty when complete)."""
    return [f"{kind} {item_id}" for kind, item_id in items(ref) if _french(ref, kind, item_id) is None]
