"""Organisation set-up (COM-REF-2): init, choices that must be filled, deviations that need a justification."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import select
from typer.testing import CliRunner

from init_answers import init_answers
from santegarde.cli.main import app
from santegarde.config import ConfigurationRefused, check, effective_referential, load
from santegarde.organisation import build_config, init_organisation
from santegarde.referentials import loader
from santegarde.store.db import make_engine
from santegarde.store.schema import organisation

JUSTIFIED = "The regional health agency asked us to keep these copies for five years in writing."


def _answers(profile: str) -> tuple[dict[str, str | bool], dict[str, str]]:
    """A valid answer for every controller choice of the profile's référentiel (legal bases: the first)."""
    ref = loader.for_profile(profile)
    values: dict[str, str | bool] = {}
    justifications: dict[str, str] = {}
    for choice in ref.choices:
        if choice.kind == "legal_basis":
            values[choice.id] = next(
                b.art6.value for p in ref.purposes if p.legal_basis_choice == choice.id for b in p.legal_bases
            )
        elif choice.kind == "duration":
            values[choice.id] = str(choice.maximum or choice.minimum or "P2Y")  # within the text's bounds
            justifications[choice.id] = JUSTIFIED
        elif choice.kind == "boolean":
            values[choice.id] = True
        elif choice.kind == "choice":
            values[choice.id] = choice.options[0]
        else:
            values[choice.id] = "Answered by the controller for the test."
    return values, justifications


def _choices(profile: str) -> list[str]:
    values, justifications = _answers(profile)
    args = [arg for k, v in values.items() for arg in ("--set", f"{k}={str(v).lower() if isinstance(v, bool) else v}")]
    return args + [arg for k, v in justifications.items() for arg in ("--justify", f"{k}={v}")] + init_answers(profile)


@pytest.mark.parametrize("profile", ["practice", "pharmacy", "compassionate", "warehouse"])
def test_init_creates_config_database_and_keyring(runner: CliRunner, tmp_path: Path, profile: str) -> None:
    org = tmp_path / "org"
    result = runner.invoke(app, ["init", "--profile", profile, "--dir", str(org), "--name", "Test", *_choices(profile)])
    assert result.exit_code == 0, result.output
    config = load(org / "santegarde.yaml")
    assert config.referential == loader.for_profile(profile).id
    assert (org / "keyring").is_dir() and (org / "keyring").stat().st_mode & 0o777 == 0o700
    assert (org / "santegarde.yaml").stat().st_mode & 0o777 == 0o600
    engine = make_engine(config.database_url)
    with engine.connect() as conn:
        assert conn.execute(select(organisation.c.name, organisation.c.profile)).one() == ("Test", profile)
    engine.dispose()
    check_result = runner.invoke(app, ["config", "check", "--config", str(org / "santegarde.yaml")])
    assert check_result.exit_code == 0, check_result.output


def test_init_on_postgresql(runner: CliRunner, tmp_path: Path, database_url: str) -> None:
    result = runner.invoke(
        app,
        [
            "init",
            "--profile",
            "practice",
            "--dir",
            str(tmp_path / "o"),
            "--database-url",
            database_url,
            *_choices("practice"),
        ],
    )
    assert result.exit_code == 0, result.output


def test_missing_choice_is_refused_and_nothing_is_written(runner: CliRunner, tmp_path: Path) -> None:
    ref = loader.for_profile("pharmacy")
    assert ref.choices, "the pharmacy text leaves choices to the controller"
    org = tmp_path / "org"
    result = runner.invoke(app, ["init", "--profile", "pharmacy", "--dir", str(org)])
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert f"renseignez choices.{ref.choices[0].id}.value" in text and "n'est pas renseigné" in text
    english = runner.invoke(app, ["init", "--profile", "pharmacy", "--dir", str(org), "--lang", "en"])
    assert f"set choices.{ref.choices[0].id}.value" in english.output and "is not filled" in english.output
    assert not org.exists()


def _base_with(tmp_path: Path, profile: str, deviations: dict[str, object]) -> Path:
    base = tmp_path / "base.yaml"
    base.write_text(
        yaml.safe_dump(
            {
                "profile": profile,
                "deviations": deviations,
                "organisation": {"name": "Pharmacie Test", "controller": {"name": "Dr Test"}},
            }
        )
    )
    return base


def test_unjustified_deviation_refused_by_init_with_a_sentence(runner: CliRunner, tmp_path: Path) -> None:
    base = _base_with(tmp_path, "pharmacy", {"retention": [{"rule": "narcotics_prescription_copies", "active": "P5Y"}]})
    org = tmp_path / "org"
    result = runner.invoke(
        app, ["init", "--profile", "pharmacy", "--dir", str(org), "--from", str(base), *_choices("pharmacy")]
    )
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "en base active 5 ans au lieu de 3 ans" in text and "n'a pas de justification écrite" in text
    assert "Error" not in text and " the " not in text
    assert not (org / "santegarde.yaml").exists()


def test_justified_deviation_is_listed_and_applied(runner: CliRunner, tmp_path: Path) -> None:
    base = _base_with(
        tmp_path,
        "pharmacy",
        {"retention": [{"rule": "narcotics_prescription_copies", "active": "P5Y", "justification": JUSTIFIED}]},
    )
    org = tmp_path / "org"
    result = runner.invoke(
        app, ["init", "--profile", "pharmacy", "--dir", str(org), "--from", str(base), *_choices("pharmacy")]
    )
    assert result.exit_code == 0, result.output
    config = load(org / "santegarde.yaml")
    ref = loader.get(config.referential)
    deviations = [f for f in check(config, ref) if f.severity == "deviation"]
    assert [d.subject for d in deviations] == ["narcotics_prescription_copies"]
    effective = effective_referential(config, ref)
    rule = effective.retention_rule("narcotics_prescription_copies")
    assert rule is not None and rule.active.duration is not None and rule.active.duration.years == 5


def test_config_check_exits_non_zero_on_unjustified_measure(runner: CliRunner, tmp_path: Path) -> None:
    org = tmp_path / "org"
    assert (
        runner.invoke(app, ["init", "--profile", "pharmacy", "--dir", str(org), *_choices("pharmacy")]).exit_code == 0
    )
    path = org / "santegarde.yaml"
    raw = yaml.safe_load(path.read_text())
    code = loader.for_profile("pharmacy").measures[0].code
    raw["deviations"]["measures"] = [{"code": code, "status": "not_implemented", "justification": "todo"}]
    path.write_text(yaml.safe_dump(raw, allow_unicode=True))
    result = runner.invoke(app, ["config", "check", "--config", str(path)], env={"COLUMNS": "1000"})
    assert result.exit_code == 2
    assert f"mesure {code}" in result.output and "pas de justification écrite" in result.output
    assert "non mise en œuvre" in result.output and "erreur" in result.output
    english = runner.invoke(app, ["config", "check", "--config", str(path), "--lang", "en"], env={"COLUMNS": "1000"})
    assert f"measure {code}" in english.output and "no written justification" in english.output


def test_extra_data_deviation_needs_justification_and_then_widens_policy(tmp_path: Path) -> None:
    extra = {
        "id": "shoe_size",
        "name": "Shoe size",
        "kind": "health",
        "sensitivity": "special",
        "purposes": ["medical_record"],
        "profiles": ["practitioner"],
    }
    base = _base_with(tmp_path, "practice", {"extra_data": [extra]})
    choices, justifications = _answers("practice")
    config, ref = build_config(tmp_path / "o", "practice", base=base, choices=choices, justifications=justifications)
    with pytest.raises(ConfigurationRefused, match="extra data 'Shoe size'"):
        init_organisation(tmp_path / "o", config, ref)
    base = _base_with(tmp_path, "practice", {"extra_data": [{**extra, "justification": JUSTIFIED}]})
    config, ref = build_config(tmp_path / "o", "practice", base=base, choices=choices, justifications=justifications)
    effective = effective_referential(config, ref)
    assert effective.category("shoe_size") is not None
    assert "shoe_size" in effective.purpose("medical_record").categories  # type: ignore[union-attr]


def test_second_init_is_refused(runner: CliRunner, tmp_path: Path) -> None:
    args = ["init", "--profile", "practice", "--dir", str(tmp_path), *_choices("practice")]
    assert runner.invoke(app, args).exit_code == 0
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "already an organisation" in again.output


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("P5Y", "est de 5 ans, plus long que le maximum de 1 an"),
        ("P3M", "est de 3 mois, plus court que le minimum de 6 mois"),
    ],
)
def test_trace_retention_outside_the_texts_bounds_is_refused(
    runner: CliRunner, tmp_path: Path, value: str, problem: str
) -> None:
    """Warehouse traces are kept between six months and one year (eds-2021-118 §10.2): P5Y or P3M is refused."""
    args = _choices("warehouse")
    at = args.index(next(a for a in args if a.startswith("trace_retention=")))
    args[at] = f"trace_retention={value}"
    org = tmp_path / "org"
    result = runner.invoke(app, ["init", "--profile", "warehouse", "--dir", str(org), *args])
    assert result.exit_code == 2, result.output
    assert problem in " ".join(result.output.split())
    assert not (org / "santegarde.yaml").exists()


def test_config_check_and_init_speak_french_by_default_and_english_on_request(
    runner: CliRunner, tmp_path: Path
) -> None:
    """init's success message and config check's findings table: French by default, English with --lang en."""
    org = tmp_path / "org"
    done = runner.invoke(app, ["init", "--profile", "pharmacy", "--dir", str(org), *_choices("pharmacy")])
    assert done.exit_code == 0, done.output
    assert "Organisme « " in done.output and "initialisé sous le référentiel pha-2022-067" in done.output
    path = org / "santegarde.yaml"
    raw = yaml.safe_load(path.read_text())
    code = loader.for_profile("pharmacy").measures[0].code
    why = "Formation du personnel prévue au prochain trimestre, avec l'organisme agréé."
    raw["deviations"]["measures"] = [{"code": code, "status": "partial", "justification": why}]
    raw["deviations"]["retention"] = [{"rule": "narcotics_prescription_copies", "active": "P5Y"}]
    path.write_text(yaml.safe_dump(raw, allow_unicode=True))
    result = runner.invoke(app, ["config", "check", "--config", str(path)], env={"COLUMNS": "1000"})
    assert result.exit_code == 2
    findings = result.output.split("Ce qui manque aux documents")[0]
    text = " ".join(findings.split())
    assert "Vérification de la configuration" in text and "écart" in text and "partiellement mise en œuvre" in text
    assert "conservation « " in text and "en base active 5 ans au lieu de 3 ans" in text
    assert not [w for w in (" the ", "must", "is not", "Error:", "years", "deviation ") if w in text], text
    english = runner.invoke(app, ["config", "check", "--config", str(path), "--lang", "en"], env={"COLUMNS": "1000"})
    assert "Configuration check" in english.output and "active 5 years instead of 3 years" in english.output
