"""What differs between two référentiels, in the words a DPO reads (``santegarde referential diff``).

``referentials.diff`` finds the changes; this module words them in French (by default) or English: the kind of
item and the field in words (``documents_text.yaml``, ``referential_diff``), each item, category and purpose by its
name in the vocabulary, legal bases, security themes, rights, operations and durations as the documents write them.
Never a field name of the model, never a Python representation.
"""

from __future__ import annotations

from typing import Any

from santegarde.governance import doctext, vocabulary
from santegarde.referentials.diff import Change
from santegarde.referentials.model import Duration, Referential

# The fields whose values are ids of items of a référentiel, and the vocabulary kind that names them.
_ITEM_FIELDS = {
    "categories": "category",
    "purposes": "purpose",
    "applies_to": "purpose",
    "controller_choice": "choice",
    "legal_basis_choice": "choice",
    "start_choice": "choice",
}
# The collections whose keys are ids of items of that kind (named by the vocabulary).
_ITEM_KINDS = {
    "purposes": "purpose",
    "categories": "category",
    "accessors": "accessor",
    "recipients": "recipient",
    "retention": "retention",
    "choices": "choice",
}
# Fields whose words already name themselves ("respect d'une obligation légale (art. 6.1.c RGPD)").
_SELF_NAMED = ("art6", "art9")
_DURATIONS = ("duration", "min_duration", "max_duration", "active", "archive", "maximum", "minimum")


def lines(changes: list[Change], a: Referential, b: Referential, lang: str = "fr") -> list[str]:
    """The heading and one line per change, in ``lang``."""
    said = doctext.words(lang)["referential_diff"]
    if not changes:
        return [said["none"].format(a=a.id, b=b.id)]
    return [said["count"].format(n=len(changes), a=a.id, b=b.id), *(describe(c, a, b, lang) for c in changes)]


def describe(change: Change, a: Referential, b: Referential, lang: str = "fr") -> str:
    """One change as a sentence: what, which one, and (for a change) the field, before → after."""
    said = doctext.words(lang)["referential_diff"]
    what = said["collections"].get(change.collection, change.collection)
    ref = a if change.kind == "removed" else b  # an item in both: named as the second (newer) text names it
    name = _item_name(change, ref, lang)
    if change.kind in ("added", "removed"):
        return str(said[change.kind]).format(what=what, name=name, a=a.id, b=b.id)
    field = change.field or ""
    return str(said["changed"]).format(
        what=what,
        name=name,
        field=said["fields"].get(field, field.replace("_", " ")),
        before=_value(change.before, field, a, lang),
        after=_value(change.after, field, b, lang),
    )


def _item_name(change: Change, ref: Referential, lang: str) -> str:
    if change.collection in ("dpia", "dpo"):
        return str(doctext.words(lang)["referential_diff"]["collections"][change.collection])
    if change.collection == "measures":
        measure = ref.measure(change.key)
        return f"{change.key} — {doctext.measure_title(measure, ref, lang)}" if measure is not None else change.key
    if change.collection == "rights":
        right, _, purposes = change.key.partition("[")
        named = doctext.words(lang)["rights"].get(right, right)
        scope = [p for p in purposes.rstrip("]").split(",") if p and p != "all"]
        return named + (f" ({_value(scope, 'purposes', ref, lang)})" if scope else "")
    kind = _ITEM_KINDS.get(change.collection)
    return _named(ref, kind, change.key, lang) if kind else change.key


def _named(ref: Referential, kind: str, item_id: str, lang: str) -> str:
    try:
        return vocabulary.label(ref, kind, item_id, lang)
    except vocabulary.VocabularyError:
        return item_id.replace("_", " ")  # an item this référentiel does not have (named in the other one)


def _trigger(rule: dict[str, Any], ref: Referential, lang: str) -> str:
    """A DPIA or DPO trigger as the documents say it: when, on which conditions (their descriptions), where."""
    said = doctext.words(lang)["referential_diff"]
    when = _value(rule.get("required"), "required", ref, lang)
    conditions = [str(c.get("description") or "") for c in rule.get("conditions") or [] if c.get("description")]
    parts = [when + (f" ({', '.join(conditions)})" if conditions else "")]
    parts += [str(rule[k]) for k in ("note",) if rule.get(k)]
    if rule.get("section"):
        parts.append(f"§ {rule['section']}")
    return str(said["separator"]).join(parts)


def _value(value: Any, field: str, ref: Referential, lang: str) -> str:
    """A value as the documents write it, whole: nothing as '—', lists comma-separated, mappings field by field."""
    said = doctext.words(lang)["referential_diff"]
    if value is None or value == [] or value == {}:
        return str(said["nothing"])
    if isinstance(value, bool):
        return str(doctext.words(lang)["yes" if value else "no"])
    if isinstance(value, dict):
        if field == "trigger":
            return _trigger(value, ref, lang)
        if field in _DURATIONS and set(value) <= {"years", "months", "days"}:
            return vocabulary.duration(Duration(**value), lang)
        return str(said["separator"]).join(
            _value(v, k, ref, lang) if k in _SELF_NAMED else f"{said['fields'].get(k, k.replace('_', ' '))} "
            f"{_value(v, k, ref, lang)}"
            for k, v in value.items()
            if v not in (None, [], {})
        )
    if isinstance(value, list | tuple):
        if any(isinstance(v, dict) for v in value):  # entries (access rules, conditions): each in parentheses
            return " ".join(f"({_value(v, field, ref, lang)})" for v in value)
        return ", ".join(_value(v, field, ref, lang) for v in value)
    text = str(value)
    if field in _ITEM_FIELDS:
        return _named(ref, _ITEM_FIELDS[field], text, lang)
    if field == "art6":
        return str(doctext.words(lang)["art6"].get(text, text))
    if field == "art9":
        return str(doctext.words(lang)["art9"].get(text, text))
    if field == "area":
        return doctext.security_area(text, lang)["title"]
    if field == "end_action" and text in doctext.words(lang)["end_action"]:
        return str(doctext.words(lang)["end_action"][text])
    if field in ("start_event", "until_event"):
        return _named(ref, "event", text, lang)
    return str(said["values"].get(text, text))
