"""The consent and objection ledgers as the register, the DPIA and the conformity report tell them (issue #23).

Counts only, per purpose, named in the document's language through the one vocabulary: how many consents were
collected, withdrawn or expired, how many objections are in force, lifted or overridden on compelling grounds. No
patient id, no date of a person's act. Read from the records database without decrypting anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

import yaml
from sqlalchemy import Engine

from santegarde.config.model import OrganisationConfig
from santegarde.governance.doctext import check_lang
from santegarde.governance.vocabulary import label
from santegarde.referentials.model import Referential
from santegarde.runtime import database_present
from santegarde.store.db import make_engine
from santegarde.store.inspection import LedgerCounts, ledger_counts


@dataclass(frozen=True)
class LedgerSummary:
    """The section of a document: its title, its introduction and one line per purpose (or the sentence for none)."""

    title: str
    intro: str
    lines: tuple[str, ...]

    def as_data(self) -> dict[str, Any]:
        return {"title": self.title, "intro": self.intro, "lines": list(self.lines)}


@cache
def _texts() -> dict[str, dict[str, str]]:
    loaded: dict[str, dict[str, str]] = yaml.safe_load(
        resources.files("santegarde.governance").joinpath("data/ledgers.yaml").read_text(encoding="utf-8")
    )
    return loaded


def summary(counts: dict[str, LedgerCounts], ref: Referential, lang: str = "fr") -> LedgerSummary:
    """The counts in sentences of ``lang``; purposes that the référentiel no longer has keep their id out of sight."""
    t = _texts()[check_lang(lang)]
    lines = []
    for purpose, n in counts.items():
        if ref.purpose(purpose) is None:
            continue
        parts = []
        if n.consents_given:
            parts.append(
                t["consents"].format(given=n.consents_given, withdrawn=n.consents_withdrawn, expired=n.consents_expired)
            )
        if n.objections_in_force or n.objections_lifted or n.objections_overridden:
            parts.append(
                t["objections"].format(
                    in_force=n.objections_in_force, lifted=n.objections_lifted, overridden=n.objections_overridden
                )
            )
        name = label(ref, "purpose", purpose, lang)
        lines.append(t["line"].format(purpose=t["purpose"].format(name=name), counts=t["join"].join(parts)))
    return LedgerSummary(t["title"], t["intro"], tuple(lines) or (t["none"],))


def from_database(engine: Engine, ref: Referential, at: datetime, lang: str = "fr") -> LedgerSummary:
    """The summary of the organisation's records database as it stands at ``at``."""
    return summary(ledger_counts(engine, at), ref, lang)


def of_config(config: OrganisationConfig, ref: Referential, at: datetime, lang: str = "fr") -> LedgerSummary | None:
    """The summary of the organisation's records database named in ``config``; None when it does not exist yet
    (a document written before ``santegarde init`` created the database says nothing of the ledgers)."""
    engine = make_engine(config.database_url)
    try:
        if not database_present(engine, "objection_ledger"):
            return None
        return from_database(engine, ref, at, lang)
    finally:
        engine.dispose()
