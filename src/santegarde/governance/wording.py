"""Names of référentiel items in a document's language, for the register and the DPIA (bridge module).

Same API as ``santegarde.governance.vocabulary`` (``label``, ``since``, ``duration``), the one
French vocabulary being written on the ``notices`` branch (issue #14). Until it lands, the French names
come from ``data/notices.yaml`` (``names_fr``: purposes, retention rules, recipients); an item without a
French name there keeps the référentiel's own wording (with spaces, never an identifier) and
``untranslated`` lists it. When ``vocabulary`` is in the tree, import ``label``, ``since`` and ``duration``
from it in ``register.py`` and ``dpia.py`` and delete this module.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

from santegarde.referentials.model import Duration, Referential

_UNITS = {
    "fr": (("an", "ans"), ("mois", "mois"), ("jour", "jours")),
    "en": (("year", "years"), ("month", "months"), ("day", "days")),
}
_LISTS = {"purpose": "purposes", "category": "categories", "accessor": "accessors", "recipient": "recipients"}
_LISTS |= {"retention": "retention", "choice": "choices"}


@cache
def _names_fr() -> dict[str, Any]:
    text = resources.files("santegarde.governance").joinpath("data/notices.yaml").read_text(encoding="utf-8")
    names: dict[str, Any] = yaml.safe_load(text)["names_fr"]
    return names


def _own(ref: Referential, kind: str, item_id: str) -> str:
    if kind == "event":
        return item_id.replace("_", " ")
    if kind == "section":
        return ref.section_title(item_id) or item_id
    if kind == "referential":
        return ref.title
    for item in getattr(ref, _LISTS[kind]):
        if item.id == item_id:
            return str(item.question if kind == "choice" else item.name)
    return item_id.replace("_", " ")


def _french(ref: Referential, kind: str, item_id: str) -> str | None:
    if ref.language == "fr" and kind != "event":
        return _own(ref, kind, item_id)
    if kind in ("purpose", "retention", "recipient"):
        found = _names_fr().get(ref.id, {}).get(item_id)
        return str(found) if found else None
    return None


def label(ref: Referential, kind: str, item_id: str, lang: str = "fr") -> str:
    """The name of an item (purpose, category, accessor, recipient, retention, event, choice, section)."""
    if lang == "fr":
        return _french(ref, kind, item_id) or _own(ref, kind, item_id)
    return _own(ref, kind, item_id)


def since(ref: Referential, event: str, lang: str = "fr") -> str:
    """The starting point of a period in words."""
    words = label(ref, "event", event, lang)
    return f"à compter de l'événement « {words} »" if lang == "fr" else f"from {words}"


def duration(d: Duration, lang: str = "fr") -> str:
    """A duration in words: "5 ans", "1 an et 6 mois" ("5 years", "1 year and 6 months")."""
    parts = [
        f"{n} {units[1] if n > 1 else units[0]}"
        for n, units in zip((d.years, d.months, d.days), _UNITS[lang], strict=True)
        if n
    ]
    if not parts:
        return "0 jour" if lang == "fr" else "0 days"
    joiner = " et " if lang == "fr" else " and "
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + joiner + parts[-1]


def untranslated(ref: Referential) -> set[str]:
    """The référentiel's own wording of every item that has no French name yet (shown as is in French): its
    title and deliberation note, purposes, categories, accessors, recipients, retention rules, choices, events."""
    out = {
        _own(ref, kind, item.id)
        for kind, attr in _LISTS.items()
        for item in getattr(ref, attr)
        if _french(ref, kind, item.id) is None
    }
    events = {e for r in ref.retention for p in (r.active, r.archive) if p for e in (p.start_event, p.until_event) if e}
    own = {ref.title, ref.deliberation} if ref.language != "fr" else set()
    return out | own | {_own(ref, "event", e) for e in events}
