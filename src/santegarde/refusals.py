"""Refusals of the desks above governance (rights desk, warehouse export gate, compassionate-access workflow),
worded in French and in English from one catalogue, ``data/refusals.yaml``.

Each entry is ``area: key: {fr: …, en: …}`` with ``{placeholders}``; ``sentences`` fills them from the
refusal's facts. A fact that itself depends on the language (a right's name, a status) is given as
``{"fr": …, "en": …}`` and each sentence takes its own. The packages raise a ``WordedError`` with these
sentences: French by default, English with ``--lang en`` (CLI) or ``Accept-Language: en`` (API).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

LANGS: tuple[str, ...] = ("fr", "en")


@cache
def catalogue() -> dict[str, dict[str, dict[str, str]]]:
    text = resources.files("santegarde").joinpath("data/refusals.yaml").read_text(encoding="utf-8")
    data: dict[str, dict[str, dict[str, str]]] = yaml.safe_load(text)
    return data


def _fact(value: Any, lang: str) -> Any:
    if isinstance(value, dict) and "fr" in value:
        return value.get(lang, value["fr"])
    return value


def sentences(area: str, key: str, /, **facts: Any) -> dict[str, str]:
    """The refusal ``area``/``key`` in every language, its placeholders filled from ``facts``."""
    entry = catalogue()[area][key]
    return {lang: str(entry[lang]).format(**{k: _fact(v, lang) for k, v in facts.items()}) for lang in LANGS}


def listing(values: Any, lang: str) -> str:
    """Values listed as a sentence does: "a, b ou c" / "a, b or c"."""
    items = [str(v) for v in values]
    if len(items) < 2:
        return "".join(items)
    last = " ou " if lang == "fr" else " or "
    return ", ".join(items[:-1]) + last + items[-1]


def choices(values: Any) -> dict[str, str]:
    """``listing`` in every language, as a fact for ``sentences``."""
    return {lang: listing(values, lang) for lang in LANGS}


@dataclass(frozen=True, slots=True)
class Said:
    """A sentence a person reads that is not a refusal (a problem found, a note), worded in every language.

    ``str()`` is the French sentence; ``in_language(lang)`` the one a command's ``--lang`` asks for.
    """

    sentences: Mapping[str, str]

    @classmethod
    def of(cls, area: str, key: str, /, **facts: Any) -> Said:
        return cls(sentences(area, key, **facts))

    def in_language(self, lang: str) -> str:
        return self.sentences.get(lang, self.sentences["fr"])

    def __str__(self) -> str:
        return self.sentences["fr"]


def said_of(error: Exception) -> Said:
    """An error as a ``Said``: its sentences when it is worded (a ``WordedError``), else its message as it is."""
    worded = getattr(error, "sentences", None)
    return Said(dict(worded)) if isinstance(worded, dict) else Said({"fr": str(error)})


def joined(said: Any, separator: str = " ") -> dict[str, str]:
    """Several ``Said`` joined in every language, as a fact for ``sentences``."""
    return {lang: separator.join(s.in_language(lang) for s in said) for lang in LANGS}
