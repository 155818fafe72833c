"""COM-FREE-1: free-comment fields screened for identifiers where they enter the record store.

Pure Python (no NLP model): the identifiers whose shape or context gives them away — NIR/INS with a valid key,
RPPS/ADELI/FINESS, IPP/NDA, phones, mails, addresses, postal codes, dates, hospitals and the names that follow
a title or a context word. The result names the field and the kinds found, never the text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from santegarde.deid import rules

FLAG_SYSTEM = "https://santegarde.fr/CodeSystem/tags"
FLAG_CODE = "free-text-identifiers"


@dataclass(frozen=True)
class Finding:
    path: str
    labels: tuple[str, ...]

    def sentence(self) -> str:
        return f"{self.path} looks identifying ({', '.join(self.labels)})"


def screen(texts: Iterable[tuple[str, str]]) -> list[Finding]:
    """The free-text fields, given as (path, text), in which identifiers were found."""
    findings = []
    for path, text in texts:
        labels = sorted({e.label for e in rules.detect(text)})
        if labels:
            findings.append(Finding(path, tuple(labels)))
    return findings


def flag(findings: list[Finding]) -> dict[str, str]:
    """The meta tag a stored resource carries when its free text looks identifying."""
    return {"system": FLAG_SYSTEM, "code": FLAG_CODE, "display": "; ".join(f.sentence() for f in findings)}
