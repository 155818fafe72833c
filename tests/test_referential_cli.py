"""santegarde referential list | show | diff, as a DPO would use them."""

from __future__ import annotations

import json
import os
import re

import pytest
from typer.testing import CliRunner

from santegarde.cli.main import app
from santegarde.governance import refdiff
from santegarde.referentials import loader
from santegarde.referentials.diff import diff

os.environ.setdefault("COLUMNS", "220")


def test_list_shows_every_referential(runner: CliRunner) -> None:
    result = runner.invoke(app, ["referential", "list"], env={"COLUMNS": "80"})  # narrow, not a terminal
    assert result.exit_code == 0
    for ref_id in loader.load_all():
        assert ref_id in result.output  # whole, never cut
    listed = json.loads(runner.invoke(app, ["referential", "list", "--json"]).output)
    assert [r["id"] for r in listed] == list(loader.load_all()) and listed[0]["title"]


def test_pharmacy_register_rules_with_sections(runner: CliRunner) -> None:
    ref = loader.get("pha-2022-067")
    result = runner.invoke(app, ["referential", "show", "pha-2022-067"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    for rule_id, years in (("narcotics_prescription_copies", 3), ("blood_derived_products", 40)):
        rule = ref.retention_rule(rule_id)
        assert rule is not None and rule.active.duration is not None and rule.active.duration.years == years
        assert rule_id in result.output
    assert "3 ans" in result.output and "10 ans" in result.output and "40 ans" in result.output  # French by default
    assert "art. R. 5121-195 CSP" in result.output  # each rule's legal article, where the text gives it
    ten_year = [r for r in ref.retention if r.active.duration and r.active.duration.years == 10]
    assert ten_year, "the 10-year register rules"
    section_result = runner.invoke(
        app, ["referential", "show", "pha-2022-067", "--section", ten_year[0].section], env={"COLUMNS": "250"}
    )
    assert section_result.exit_code == 0 and "10 ans" in section_result.output
    english = runner.invoke(app, ["referential", "show", "pha-2022-067", "--lang", "en"], env={"COLUMNS": "250"})
    assert english.exit_code == 0 and "3 years" in english.output and "40 years" in english.output


def test_show_unknown_section_is_an_error(runner: CliRunner) -> None:
    result = runner.invoke(app, ["referential", "show", "pha-2022-067", "--section", "99"])
    assert result.exit_code != 0 and "n'a pas de section « 99 »" in result.output


def test_show_unknown_referential(runner: CliRunner) -> None:
    result = runner.invoke(app, ["referential", "show", "nope"])
    assert result.exit_code == 2 and "Il n'y a pas de référentiel « nope »" in result.output


def test_practice_draft_and_final_differ() -> None:
    changes = diff(loader.get("pra-2020-081-draft"), loader.get("pra-2020-081"))
    assert changes, "the draft and the final practice texts differ"
    assert not diff(loader.get("pra-2020-081"), loader.get("pra-2020-081"))


def test_diff_cli_prints_differences(runner: CliRunner) -> None:
    result = runner.invoke(app, ["referential", "diff", "pra-2020-081-draft", "pra-2020-081"], env={"COLUMNS": "250"})
    assert result.exit_code == 0
    assert "différence(s) de pra-2020-081-draft à pra-2020-081 :" in result.output  # French by default
    assert "{'" not in result.output and "..." not in result.output  # readable values, never cut
    # items by their French names, fields and values in words
    assert "Finalité « Pratiques de soins à distance (télémédecine, télésoin) » : seulement dans pra-2020-081" in (
        result.output
    )
    assert "Profil d'accès « Personnes chargées du secrétariat », accès aux données de santé : non → oui" in (
        result.output
    )
    assert "respect d'une obligation légale (art. 6.1.c RGPD)" in result.output
    english = runner.invoke(
        app, ["referential", "diff", "pra-2020-081-draft", "pra-2020-081", "--lang", "en"], env={"COLUMNS": "250"}
    )
    assert english.exit_code == 0 and "difference(s) from pra-2020-081-draft to pra-2020-081:" in english.output
    assert "Access profile 'Persons in charge of the secretariat', access to health data: no → yes" in english.output
    refused = runner.invoke(app, ["referential", "diff", "pra-2020-081-draft", "pra-2020-081", "--lang", "de"])
    assert refused.exit_code != 0 and "français (fr) ou en anglais (en)" in refused.output


@pytest.mark.parametrize(
    ("first", "second"),
    [(a, b) for a in sorted(loader.load_all()) for b in sorted(loader.load_all()) if a < b],
)
@pytest.mark.parametrize("lang", ["fr", "en"])
def test_every_diff_line_is_words_not_identifiers(first: str, second: str, lang: str) -> None:
    """No field name of the model, no raw id in snake_case, no Python representation, whatever two texts."""
    a, b = loader.get(first), loader.get(second)
    for line in refdiff.lines(diff(a, b, include_text=True), a, b, lang):
        leftovers = [w for w in re.findall(r"[A-Za-z0-9]+(?:_[A-Za-z0-9]+)+", line) if not w.isupper()]
        assert not leftovers, line
        assert "{'" not in line and "['" not in line and "None" not in line, line


@pytest.mark.parametrize("ref_id", sorted(loader.load_all()))
def test_every_item_cites_a_listed_section(ref_id: str) -> None:
    ref = loader.get(ref_id)
    assert ref.sections and ref.purposes and ref.categories and ref.accessors and ref.retention
    assert ref.rights and ref.measures


ENGLISH = re.compile(r"\b(the|and|of|for|with|from|set by|years?|months?|purposes?|recipients?|none)\b")


@pytest.mark.parametrize("ref_id", list(loader.load_all()))
def test_show_and_list_are_french_by_default(runner: CliRunner, ref_id: str) -> None:
    """Headings, names, bases, durations, sensitivities and triggers in French; the codes a configuration uses stay
    beside the names ("code medical_record"), and are the only words left out of the scan."""
    result = runner.invoke(app, ["referential", "show", ref_id], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    assert "Finalités" in result.output and "Durées de conservation" in result.output
    words = re.sub(r"code [\w.-]+|pour les \w+|[A-Z]{2,}-[\w-]+", "", result.output)  # codes, measure codes
    found = ENGLISH.findall(words)
    assert not found, (ref_id, sorted(set(found)))
    listed = runner.invoke(app, ["referential", "list"], env={"COLUMNS": "400"})
    assert "délibération" in listed.output and "définitif" in listed.output and "projet" in listed.output
    english = runner.invoke(app, ["referential", "list", "--lang", "en"], env={"COLUMNS": "400"})
    assert "deliberation" in english.output and "final" in english.output
