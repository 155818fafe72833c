"""Differences between two référentiels (e.g. the practice draft against the final text).

Items are matched by id (by code for measures, by right and purposes for rights). By default only
what has legal effect is compared — legal bases, categories, access, durations, rights, triggers —
because two versions may be in different languages; ``include_text`` compares the wording too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from santegarde.referentials.model import Referential

TEXT_FIELDS = frozenset(
    {"name", "description", "text", "title", "note", "examples", "condition", "question", "reason", "section"}
)
COLLECTIONS = ("purposes", "categories", "accessors", "recipients", "retention", "rights", "measures", "choices")


@dataclass(frozen=True, slots=True)
class Change:
    collection: str
    key: str
    kind: str  # added, removed, changed
    field: str | None = None
    before: Any = None
    after: Any = None

    def describe(self) -> str:
        if self.kind == "added":
            return f"{self.collection} '{self.key}': only in the second"
        if self.kind == "removed":
            return f"{self.collection} '{self.key}': only in the first"
        return f"{self.collection} '{self.key}' {self.field}: {readable(self.before)} → {readable(self.after)}"


def readable(value: Any) -> str:
    """A value as a person reads it, whole: mappings as 'key value; …', lists comma-separated, nothing as '—'."""
    if value is None or value == [] or value == {}:
        return "—"
    if isinstance(value, dict):
        return "; ".join(f"{k} {readable(v)}" for k, v in value.items() if v not in (None, [], {}))
    if isinstance(value, list | tuple | set | frozenset):
        items = [readable(v) for v in value]
        return ", ".join(sorted(items) if isinstance(value, set | frozenset) else items)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _key(collection: str, item: dict[str, Any]) -> str:
    if collection == "measures":
        return str(item["code"])
    if collection == "rights":
        return f"{item['right']}[{','.join(item['purposes']) or 'all'}]"
    return str(item["id"])


def _strip(value: Any, include_text: bool) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v, include_text) for k, v in value.items() if include_text or k not in TEXT_FIELDS}
    if isinstance(value, list):
        return [_strip(v, include_text) for v in value]
    return value


def _canonical(value: Any) -> Any:
    """Lists of ids compare as sets; lists of mappings keep their order."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return sorted(value)
    return value


def diff(a: Referential, b: Referential, include_text: bool = False) -> list[Change]:
    da, db = a.model_dump(mode="json"), b.model_dump(mode="json")
    changes: list[Change] = []
    for collection in COLLECTIONS:
        left = {_key(collection, i): i for i in da[collection]}
        right = {_key(collection, i): i for i in db[collection]}
        for key in left.keys() - right.keys():
            changes.append(Change(collection, key, "removed", before=left[key].get("name") or left[key].get("title")))
        for key in right.keys() - left.keys():
            changes.append(Change(collection, key, "added", after=right[key].get("name") or right[key].get("title")))
        for key in left.keys() & right.keys():
            x, y = _strip(left[key], include_text), _strip(right[key], include_text)
            for field in sorted(set(x) | set(y)):
                if _canonical(x.get(field)) != _canonical(y.get(field)):
                    changes.append(Change(collection, key, "changed", field, x.get(field), y.get(field)))
    for trigger in ("dpia", "dpo"):
        x, y = _strip(da[trigger], include_text), _strip(db[trigger], include_text)
        if x != y:
            changes.append(Change(trigger, trigger, "changed", "trigger", x, y))
    order = {c: i for i, c in enumerate((*COLLECTIONS, "dpia", "dpo"))}
    return sorted(changes, key=lambda c: (order[c.collection], c.key, c.kind, c.field or ""))
