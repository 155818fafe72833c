"""The trail's operation codes by name (``data/operations.yaml``), in French by default and in English.

The trail keeps codes (``desk.audit.search``, ``read``): stable, searchable, the same in every language. A person
reads their names: ``name`` gives one, ``families`` the search's groups (an operation's first part). A code the
catalogue does not list is named after its family, with the code, so that nothing of the trail is hidden.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml


@dataclass(frozen=True)
class Catalogue:
    families: dict[str, dict[str, str]]
    operations: dict[str, dict[str, str]]


@cache
def catalogue() -> Catalogue:
    text = resources.files("santegarde").joinpath("data/operations.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    return Catalogue(data["families"], data["operations"])


def name(code: str, lang: str = "fr") -> str:
    """The name of the operation ``code`` in ``lang`` (``fr`` or ``en``)."""
    found = catalogue()
    if code in found.operations:
        return found.operations[code].get(lang, found.operations[code]["fr"])
    family = found.families.get(code.split(".", 1)[0])
    if family is not None:
        other = "autre opération" if lang == "fr" else "other operation"
        return f"{family.get(lang, family['fr'])} : {other} « {code} »"
    return f"Opération non répertoriée « {code} »" if lang == "fr" else f"Unlisted operation '{code}'"


def families(lang: str = "fr") -> list[tuple[str, str, list[tuple[str, str]]]]:
    """Each family (its code, its name) with its operations (code, name), by name: the search's choices."""
    found = catalogue()
    grouped = [
        (
            family,
            words.get(lang, words["fr"]),
            sorted(
                ((code, name(code, lang)) for code in found.operations if code.split(".", 1)[0] == family),
                key=lambda item: item[1],
            ),
        )
        for family, words in found.families.items()
    ]
    loose = [(code, name(code, lang)) for code in found.operations if code.split(".", 1)[0] not in found.families]
    other = "Dossiers et données" if lang == "fr" else "Records and data"
    every = [*grouped, ("", other, sorted(loose, key=lambda item: item[1]))]
    return sorted((g for g in every if g[2]), key=lambda g: g[1])
