"""pydantic's checks of a file's values (a type, a length, a set of values, a date) worded in French and English
from the catalogue (``data/refusals.yaml``, ``validation``), for the refusals that name the file and the place."""

from __future__ import annotations

import re
from typing import Any

from santegarde import refusals

# pydantic's error types grouped under one sentence of the catalogue
_FAMILIES = {
    "int": ("int_type", "int_parsing", "int_from_float"),
    "float": ("float_type", "float_parsing"),
    "bool": ("bool_type", "bool_parsing"),
    "date": ("date_type", "date_parsing", "date_from_datetime_parsing", "date_from_datetime_inexact"),
    "mapping": ("dict_type", "model_type", "model_attributes_type"),
}
_KEYS = {kind: family for family, kinds in _FAMILIES.items() for kind in kinds}


def _choices(expected: str) -> dict[str, str]:
    """pydantic's "'a', 'b' or 'c'" as « a », « b » ou « c » / 'a', 'b' or 'c'."""
    values = re.findall(r"'([^']*)'", expected) or [expected]
    return {
        "fr": refusals.listing([f"« {v} »" for v in values], "fr"),
        "en": refusals.listing([f"'{v}'" for v in values], "en"),
    }


def worded(error: dict[str, Any]) -> dict[str, str]:
    """What is wrong with one value (one of ``ValidationError.errors()``), in each language, without its place."""
    kind = str(error["type"])
    ctx = error.get("ctx") or {}
    key = _KEYS.get(kind, kind)
    entries = refusals.catalogue()["validation"]
    if key in ("literal_error", "enum"):
        return refusals.sentences("validation", key, expected=_choices(str(ctx.get("expected", ""))))
    if key in entries and key != "other":
        try:
            return refusals.sentences("validation", key, **{k: ctx[k] for k in ctx if not k.startswith("_")})
        except KeyError:  # a sentence whose fact this error does not carry
            pass
    return refusals.sentences("validation", "other", problem=str(error["msg"]).removeprefix("Value error, "))
