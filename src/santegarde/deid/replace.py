"""Replacing detected spans by generic tags (EDS-SEC-PSE-4: ``<NOM>``, ``<NIR>``, ``<CODE_POSTAL>``…)."""

from __future__ import annotations

from collections.abc import Iterable

from santegarde.deid.entities import TAGS, Entity


def resolve(entities: Iterable[Entity]) -> list[Entity]:
    """Non-overlapping spans, the longer one kept where two overlap (then the earlier)."""
    kept: list[Entity] = []
    for e in sorted(entities, key=lambda e: (-(e.end - e.start), e.start)):
        if e.end > e.start and all(e.end <= k.start or e.start >= k.end for k in kept):
            kept.append(e)
    return sorted(kept)


def replace_with_tags(text: str, entities: Iterable[Entity]) -> str:
    """The text with every detected span replaced by its label's tag."""
    out: list[str] = []
    at = 0
    for e in resolve(entities):
        out.append(text[at : e.start])
        out.append(TAGS.get(e.label, "<IDENTIFIANT>"))
        at = e.end
    out.append(text[at:])
    return "".join(out)
