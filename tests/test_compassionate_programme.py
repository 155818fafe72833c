"""Compassionate-access programmes as data (issue 16, step 1): the protocol file, its checks, its versions."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml

from santegarde.compassionate.programme import ProgrammeError, parse_programme
from santegarde.compassionate.registry import Registry, UnknownProgramme, example_text
from santegarde.referentials import loader

REF = loader.get("aac-2022-106")


def example() -> dict:
    return yaml.safe_load(example_text())


def parse(raw: dict) -> object:
    return parse_programme(yaml.safe_dump(raw, allow_unicode=True), "programme.yaml", REF)


def test_the_example_programme_loads_and_its_status_follows_the_ansm_decision() -> None:
    programme = parse_programme(example_text(), "example", REF)
    assert programme.key == "velmorine-sla@1"
    assert programme.status(date(2026, 1, 14)) == "not_granted_yet"
    assert programme.status(date(2026, 6, 1)) == "active"
    assert programme.status(date(2027, 7, 15)) == "expired"
    raw = example()
    raw["ansm_decision"]["suspended_or_withdrawn"] = date(2026, 5, 1)
    suspended = parse(raw)
    assert suspended.status(date(2026, 6, 1)) == "suspended"  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", ["text", "string", "notepad", "free_text"])
def test_a_free_text_field_is_refused_at_load_with_the_field_named(kind: str) -> None:
    raw = example()
    raw["forms"][2]["fields"].append({"id": "commentaire", "label": "Commentaire", "type": kind, "category": "health"})
    with pytest.raises(ProgrammeError) as refused:
        parse(raw)
    message = str(refused.value)
    assert "programme.yaml" in message and "forms[2].fields[4]" in message
    assert "'commentaire'" in message and "§7.3" in message


def test_an_optional_category_needs_its_written_justification() -> None:
    raw = example()
    raw["optional_categories"] = []
    with pytest.raises(ProgrammeError, match=r"field 'mutation_sod1'.*strictly necessary.*justification"):
        parse(raw)
    raw["optional_categories"] = [{"category": "genetic", "justification": "nécessaire"}]
    with pytest.raises(ProgrammeError, match=r"optional_categories\[0\]\.justification"):
        parse(raw)
    raw["optional_categories"] = [
        {"category": "genetic", "justification": "x" * 50},
        {"category": "lifestyle", "justification": "y" * 50},
    ]
    with pytest.raises(ProgrammeError, match="'lifestyle' is declared but no field collects it"):
        parse(raw)


@pytest.mark.parametrize(
    ("category", "expected"),
    [
        ("nir", "forbids collecting"),
        ("complete_genome", "forbids collecting"),
        ("professional_data", "not patient data"),
        ("patient_indirect_identity", "built by the platform"),
        ("genome", "not a data category"),
        ("related_persons", "related-person form only"),
    ],
)
def test_a_field_outside_what_the_text_allows_is_refused(category: str, expected: str) -> None:
    raw = example()
    raw["forms"][2]["fields"].append({"id": "extra", "label": "Extra", "type": "boolean", "category": category})
    with pytest.raises(ProgrammeError, match=expected):
        parse(raw)


def test_unknown_keys_missing_forms_and_bad_shapes_are_refused() -> None:
    raw = example()
    raw["notes"] = "anything"
    with pytest.raises(ProgrammeError, match="at notes: this key is not part of the programme format"):
        parse(raw)
    raw = example()
    raw["forms"] = [f for f in raw["forms"] if f["kind"] != "stop"]
    with pytest.raises(ProgrammeError, match="no form of kind: stop"):
        parse(raw)
    raw = example()
    raw["forms"][0]["fields"][0]["min"] = 400
    with pytest.raises(ProgrammeError, match=r"min 400.0 above max"):
        parse(raw)
    raw = example()
    raw["forms"][5]["fields"][0]["codes"] = ["99999999"]
    with pytest.raises(ProgrammeError, match="absent from the bundled meddra set: 99999999"):
        parse(raw)
    raw = example()
    raw["ansm_decision"]["expires"] = raw["ansm_decision"]["granted"]
    with pytest.raises(ProgrammeError, match=r"expires .* on or before it is granted"):
        parse(raw)


def test_a_registered_version_is_never_rewritten_and_old_versions_stay(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "programmes", REF)
    text = example_text()
    programme, new = registry.add(text, "v1.yaml")
    assert new and programme.version == "1"
    assert registry.add(text, "v1.yaml") == (programme, False)  # the same file again: nothing changes
    changed = text.replace("interval_days: 28", "interval_days: 14")
    with pytest.raises(ProgrammeError, match=r"never rewritten.*new version number"):
        registry.add(changed, "v1-bis.yaml")
    assert registry.get("velmorine-sla").follow_up.interval_days == 28
    registry.add(changed.replace('version: "1"', 'version: "2"'), "v2.yaml")
    assert registry.versions("velmorine-sla") == ["1", "2"]
    assert registry.get("velmorine-sla").follow_up.interval_days == 14
    assert registry.get("velmorine-sla", "1").follow_up.interval_days == 28
    with pytest.raises(UnknownProgramme, match="pas de version 3 ; versions enregistrées : 1, 2"):
        registry.get("velmorine-sla", "3")
    with pytest.raises(UnknownProgramme, match="santegarde aac programme add"):
        registry.get("other")


def test_a_refused_file_writes_nothing(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "programmes", REF)
    with pytest.raises(ProgrammeError):
        registry.add(example_text().replace("type: date", "type: text", 1), "bad.yaml")
    assert not (tmp_path / "programmes").exists()


def test_the_example_installed_by_init_is_in_force_whatever_the_year() -> None:
    """init dates the example's ANSM decision on the day it runs: it is not an expired programme in 2028."""
    from datetime import date

    granted = date(2031, 9, 30)
    programme = parse_programme(example_text(granted=granted), "example", REF)
    assert programme.status(granted) == programme.status(date(2032, 3, 1))
    assert programme.status(date(2033, 4, 1)) != programme.status(granted)  # eighteen months later it has expired
