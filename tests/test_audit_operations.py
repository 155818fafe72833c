"""The trail's operation codes by name: every code the platform writes is named in French and in English, an unknown
code is named after its family and keeps its code, and the FHIR export carries the English name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from santegarde.audit import operations
from santegarde.audit.trail import INITIALISED, OPERATION_SYSTEM, AuditTrail
from santegarde.rights.requests import EXERCISABLE
from santegarde.store.db import make_engine, migrate

SRC = Path(operations.__file__).parents[1]
# Literals shaped like an operation of a known family that are not operations: rule keys of refusals, crash points,
# file names.
NOT_OPERATIONS = {
    "audit.db",
    "export.busy",
    "export.not_found",
    "export.parameters",
    "export.purpose",
    "keys.master.keystore",
    "keys.master.pending",
    "keys.sgk",
    "retention.committed",
    "retention.staged",
    "warehouse.json",
}


def literals() -> set[str]:
    families = set(operations.catalogue().families)
    found: set[str] = set()
    for path in SRC.rglob("*.py"):
        for match in re.finditer(r'"([a-z_]+(?:\.[a-z_]+)+)"', path.read_text(encoding="utf-8")):
            if match.group(1).split(".")[0] in families:
                found.add(match.group(1))
    return found


def identity_actions() -> set[str]:
    """What the identity package traces (``ctx.trace("login", …)``), written ``identity.<action>`` in the trail."""
    found: set[str] = set()
    for path in (SRC / "identity").rglob("*.py"):
        found |= set(re.findall(r'\btrace\(\s*"([a-z_.]+)"', path.read_text(encoding="utf-8")))
    return {f"identity.{action}" for action in found}


# Operations written from a value (f"rights.{request.right}", f"breach.{what}"): every value they take.
COMPOSED = {f"rights.{right}" for right in EXERCISABLE} | {"breach.notified", "breach.communicated"}


def test_every_operation_the_code_writes_is_named_in_both_languages() -> None:
    named = operations.catalogue().operations
    missing = (literals() - NOT_OPERATIONS) | identity_actions() | COMPOSED
    assert identity_actions(), "the identity package's traces were not found: the scan is broken"
    assert sorted(c for c in missing if c not in named) == []
    assert NOT_OPERATIONS.isdisjoint(named)
    for code, words in named.items():
        assert set(words) == {"fr", "en"}, code
        for text in words.values():
            assert "_" not in text and ("." not in code or code not in text), (code, text)


def test_names_in_french_by_default_english_on_demand_unknown_codes_kept() -> None:
    assert operations.name("desk.audit.search") == "Recherche dans le journal"
    assert operations.name("desk.audit.search", "en") == "Trail search"
    assert operations.name("read") == "Lecture d'un dossier"
    assert operations.name("export.someday") == "Exports : autre opération « export.someday »"
    assert operations.name("zz.new", "en") == "Unlisted operation 'zz.new'"


def test_the_search_choices_group_every_named_operation_by_family() -> None:
    groups = operations.families("fr")
    listed = [code for _, _, items in groups for code, _ in items]
    assert sorted(listed) == sorted(operations.catalogue().operations)
    names = [family_name for _, family_name, _ in groups]
    assert names == sorted(names) and "Journal d'audit" in names
    audit = next(items for family, _, items in groups if family == "audit")
    assert ("audit.purge", "Purge des traces échues") in audit


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_no_two_operations_share_a_name(lang: str) -> None:
    named = [operations.name(code, lang) for code in operations.catalogue().operations]
    assert len(named) == len(set(named))


def test_the_fhir_export_names_the_operation_in_english(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    migrate(engine, package="santegarde.audit")
    trail = AuditTrail(engine, b"k" * 32)
    trail.append(INITIALISED)
    event = next(iter(trail.as_fhir_audit_events()))
    engine.dispose()
    assert event["subtype"] == [{"system": OPERATION_SYSTEM, "code": "audit.initialise", "display": "Trail opened"}]
