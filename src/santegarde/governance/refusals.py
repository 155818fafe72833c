"""Refusals of the desks above governance (rights desk, warehouse export gate, compassionate-access workflow),
worded in French and in English from one catalogue, ``data/refusals.yaml``.

Each entry is ``area: key: {fr: …, en: …}`` with ``{placeholders}``; ``sentences`` fills them from the
refusal's facts. A fact that itself depends on the language (a right's name, a status) is given as
``{"fr": …, "en": …}`` and each sentence takes its own. The packages raise a ``WordedError`` with these
sentences: French by default, English with ``--lang en`` (CLI) or ``Accept-Language: en`` (API).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

LANGS: tuple[str, ...] = ("fr", "en")


@cache
def catalogue() -> dict[str, dict[str, dict[str, str]]]:
    text = resources.files("santegarde.governance").joinpath("data/refusals.yaml").read_text(encoding="utf-8")
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
