"""A detected span and the generic tag that replaces it."""

from __future__ import annotations

from dataclasses import dataclass

# The labels of the deid-fr set, then the professional and structure numbers checked by santegarde.identifiers.
TAGS: dict[str, str] = {
    "NOM": "<NOM>",
    "PRENOM": "<PRENOM>",
    "DATE": "<DATE>",
    "DATE_NAISSANCE": "<DATE_NAISSANCE>",
    "ADRESSE": "<ADRESSE>",
    "VILLE": "<VILLE>",
    "ZIP": "<CODE_POSTAL>",
    "TEL": "<TEL>",
    "MAIL": "<MAIL>",
    "HOPITAL": "<HOPITAL>",
    "SECU": "<NIR>",
    "IPP": "<IPP>",
    "NDA": "<NDA>",
    "RPPS": "<RPPS>",
    "ADELI": "<ADELI>",
    "FINESS": "<FINESS>",
}
LABELS = tuple(TAGS)


@dataclass(frozen=True, order=True)
class Entity:
    """Characters ``start:end`` of a text hold an identifier of kind ``label``."""

    start: int
    end: int
    label: str

    def as_json(self) -> dict[str, int | str]:
        return {"start": self.start, "end": self.end, "label": self.label}
