"""Compassionate-access programmes as data (issue 16, step 1): the protocol file, its checks, its versions."""

from __future__ import annotations

import re
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
    assert message.startswith("programme.yaml n'est pas un fichier de programme d'accès compassionnel valide :")
    assert "à forms[2].fields[4] : le champ « commentaire »" in message and "saisie libre" in message
    assert "§7.3" in message
    english = refused.value.in_language("en")
    assert english.startswith("programme.yaml is not a valid compassionate-access programme file:")
    assert "at forms[2].fields[4]: the field 'commentaire'" in english and "free-entry" in english


def test_an_optional_category_needs_its_written_justification() -> None:
    raw = example()
    raw["optional_categories"] = []
    with pytest.raises(ProgrammeError, match=r"champ « mutation_sod1 ».*strictement nécessaire.*justification") as no:
        parse(raw)
    assert re.search(r"field 'mutation_sod1'.*strictly necessary.*justification", no.value.in_language("en"))
    raw["optional_categories"] = [{"category": "genetic", "justification": "nécessaire"}]
    with pytest.raises(ProgrammeError, match=r"optional_categories\[0\]\.justification"):
        parse(raw)
    raw["optional_categories"] = [
        {"category": "genetic", "justification": "x" * 50},
        {"category": "lifestyle", "justification": "y" * 50},
    ]
    with pytest.raises(ProgrammeError, match="à optional_categories : « lifestyle » est déclarée mais aucun") as unused:
        parse(raw)
    assert "'lifestyle' is declared but no field collects it" in unused.value.in_language("en")


@pytest.mark.parametrize(
    ("category", "french", "english"),
    [
        ("nir", "interdit de collecter la catégorie", "forbids collecting"),
        ("complete_genome", "interdit de collecter la catégorie", "forbids collecting"),
        ("professional_data", "n'est pas une donnée du patient collectée", "is not patient data"),
        ("patient_indirect_identity", "construit par la plateforme", "built by the platform"),
        ("genome", "« genome » n'est pas une catégorie de données", "'genome' is not a data category"),
        ("related_persons", "seul formulaire de la personne proche", "related-person form only"),
    ],
)
def test_a_field_outside_what_the_text_allows_is_refused(category: str, french: str, english: str) -> None:
    raw = example()
    raw["forms"][2]["fields"].append({"id": "extra", "label": "Extra", "type": "boolean", "category": category})
    with pytest.raises(ProgrammeError) as refused:
        parse(raw)
    said, english_said = str(refused.value), refused.value.in_language("en")
    assert "à forms[2].fields[4] (formulaire « initiation », champ « extra ») : " in said and french in said
    assert "at forms[2].fields[4] (form 'initiation', field 'extra'): " in english_said and english in english_said
    # the référentiel's items are named in French, never by their identifiers (the user's own ids stay quoted)
    assert not re.search(r"\b[a-z]+_[a-z_]+\b", re.sub(r"« [^»]+ »", "", said.split("\n", 1)[1]))


def test_unknown_keys_missing_forms_and_bad_shapes_are_refused() -> None:
    raw = example()
    raw["notes"] = "anything"
    with pytest.raises(ProgrammeError, match="à notes : cette clé ne fait pas partie du format") as extra:
        parse(raw)
    assert "at notes: this key is not part of the programme format" in extra.value.in_language("en")
    del raw["notes"], raw["version"]
    with pytest.raises(ProgrammeError, match="à version : cette clé est obligatoire ; ajoutez-la") as missing:
        parse(raw)
    assert "at version: this key is required; add it" in missing.value.in_language("en")
    raw = example()
    raw["forms"] = [f for f in raw["forms"] if f["kind"] != "stop"]
    with pytest.raises(ProgrammeError, match="pas de formulaire de type stop : tout PUT-SP en a besoin") as kind:
        parse(raw)
    assert "no form of kind: stop" in kind.value.in_language("en")
    raw = example()
    raw["forms"][0]["fields"][0]["min"] = 400
    with pytest.raises(ProgrammeError, match=r"un minimum \(400.0\) supérieur à son maximum") as bounds:
        parse(raw)
    assert "min 400.0 above max" in bounds.value.in_language("en")
    raw = example()
    raw["forms"][5]["fields"][0]["codes"] = ["99999999"]
    with pytest.raises(ProgrammeError, match="absents du jeu meddra fourni : 99999999") as codes:
        parse(raw)
    assert "absent from the bundled meddra set: 99999999" in codes.value.in_language("en")
    raw = example()
    raw["ansm_decision"]["expires"] = raw["ansm_decision"]["granted"]
    with pytest.raises(ProgrammeError, match=r"expiration de la décision \(\d\d/\d\d/\d{4}\) n'est pas post") as dates:
        parse(raw)
    assert re.search(r"expires \(\d{4}-\d\d-\d\d\) on or before it is granted", dates.value.in_language("en"))


def test_a_file_that_is_not_yaml_or_not_a_mapping_is_refused_in_both_languages() -> None:
    with pytest.raises(ProgrammeError, match=r"à la ligne 3, colonne \d+ : le YAML ne peut pas être lu") as broken:
        parse_programme("id: x\nforms: [unclosed\n", "cassé.yaml", REF)
    assert "at line 3, column 1: the YAML cannot be read" in broken.value.in_language("en")
    with pytest.raises(ProgrammeError, match="au premier niveau : le fichier doit être une suite de clés") as flat:
        parse_programme("- a\n- b\n", "liste.yaml", REF)
    assert "at (top level): expected a mapping" in flat.value.in_language("en")


def test_a_registered_version_is_never_rewritten_and_old_versions_stay(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "programmes", REF)
    text = example_text()
    programme, new = registry.add(text, "v1.yaml")
    assert new and programme.version == "1"
    assert registry.add(text, "v1.yaml") == (programme, False)  # the same file again: nothing changes
    changed = text.replace("interval_days: 28", "interval_days: 14")
    with pytest.raises(ProgrammeError, match=r"jamais réécrite.*nouvelle version") as rewritten:
        registry.add(changed, "v1-bis.yaml")
    assert re.search(r"never rewritten.*new version number", rewritten.value.in_language("en"))
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


@pytest.mark.parametrize(
    ("change", "french", "english"),
    [
        (
            lambda raw: raw["optional_categories"][0].update(justification="nécessaire"),
            "à optional_categories[0].justification : le texte doit compter au moins",
            "at optional_categories[0].justification: the text needs at least",
        ),
        (
            lambda raw: raw["forms"][0].update(kind="questionnaire"),
            "à forms[0].kind : la valeur doit être « access_request », « decision »",
            "at forms[0].kind: the value must be 'access_request', 'decision'",
        ),
        (
            lambda raw: raw["ansm_decision"].update(granted="le 3 mars"),
            "à ansm_decision.granted : une date au format AAAA-MM-JJ est attendue",
            "at ansm_decision.granted: a date as YYYY-MM-DD is expected",
        ),
        (
            lambda raw: raw["forms"][0]["fields"][0].update(required="peut-être"),
            "à forms[0].fields[0].required : un booléen est attendu ici : true ou false",
            "at forms[0].fields[0].required: a boolean is expected here: true or false",
        ),
        (
            lambda raw: raw["forms"][0].update(fields=[]),
            "à forms[0].fields : la liste doit compter au moins 1 élément(s)",
            "at forms[0].fields: the list needs at least 1 item(s)",
        ),
    ],
)
def test_values_of_the_wrong_type_or_length_are_refused_in_french_and_english(
    change: object, french: str, english: str
) -> None:
    raw = example()
    change(raw)  # type: ignore[operator]
    with pytest.raises(ProgrammeError) as refused:
        parse(raw)
    assert french in str(refused.value), str(refused.value)
    assert english in refused.value.in_language("en")
    assert not re.search(r"\b(should|Input|valid)\b", str(refused.value))  # none of pydantic's English
