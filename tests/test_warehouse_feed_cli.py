"""santegarde warehouse feed takes the steering committee's data list from governance by default (EDS-3, EDS-4).

On a demo warehouse organisation (fictitious data): without --data-list the feed uses the list recorded with
``santegarde warehouse committee variable-add``; an empty list is refused with a sentence saying what to do.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from santegarde.cli.main import app
from santegarde.synthetic import generate_dataset

PASS = "demo passphrase for the warehouse feed cli tests"
LIST = {
    "person.gender_concept_id": "the sex, for every study",
    "person.year_of_birth": "age at the events",
    "measurement.measurement_concept_id": "which measurement",
    "measurement.measurement_date": "when it was measured",
    "measurement.value_as_number": "the measured value",
    "measurement.unit_concept_id": "the unit of the value",
}


@pytest.fixture(autouse=True)
def passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANTEGARDE_PASSPHRASE", PASS)
    monkeypatch.setenv("COLUMNS", "250")


@pytest.fixture
def config(tmp_path: Path, passphrase: None) -> Path:
    directory = tmp_path / "demo"
    ok("demo", "--profile", "warehouse", "--dir", str(directory), "--patients", "1")
    path = directory / "santegarde.yaml"
    ok("warehouse", "init", "--config", str(path))
    return path


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    path = tmp_path / "bundle.json"
    path.write_text(generate_dataset(7, 3, profile="warehouse").bundle().json(), encoding="utf-8")
    return path


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def ok(*args: str) -> str:
    result = run(*args)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def test_an_empty_committee_list_is_refused_with_a_sentence(config: Path, bundle: Path) -> None:
    result = run("warehouse", "feed", "--fhir", str(bundle), "--config", str(config))
    assert result.exit_code != 0
    said = " ".join(result.output.split())
    assert "data list is empty" in said and "declare variables with santegarde warehouse committee variable-add" in said
    assert not any((config.parent / "warehouse" / "transit").iterdir())


def test_feed_uses_the_committee_list_by_default(config: Path, bundle: Path) -> None:
    for variable, why in LIST.items():
        ok("warehouse", "committee", "variable-add", variable, "--justification", why, "--by", "Comité de pilotage",
           "--config", str(config))  # fmt: skip
    out = ok("warehouse", "feed", "--fhir", str(bundle), "--config", str(config))
    assert "measurement" in out and "person" in out
    assert "Refused condition_occurrence.condition_concept_id: not on the steering committee's data list" in out


def test_an_explicit_data_list_still_wins(config: Path, bundle: Path, tmp_path: Path) -> None:
    explicit = tmp_path / "list.yaml"
    explicit.write_text(yaml.safe_dump(LIST), encoding="utf-8")
    out = ok("warehouse", "feed", "--fhir", str(bundle), "--data-list", str(explicit), "--config", str(config))
    assert "measurement" in out
