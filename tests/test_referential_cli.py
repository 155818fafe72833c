"""santegarde referential list | show | diff, as a DPO would use them."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from santegarde.cli.main import app
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
    assert "3 years" in result.output and "10 years" in result.output and "40 years" in result.output
    assert "art. R. 5121-195 CSP" in result.output  # each rule's legal article, where the text gives it
    ten_year = [r for r in ref.retention if r.active.duration and r.active.duration.years == 10]
    assert ten_year, "the 10-year register rules"
    section_result = runner.invoke(
        app, ["referential", "show", "pha-2022-067", "--section", ten_year[0].section], env={"COLUMNS": "250"}
    )
    assert section_result.exit_code == 0 and "10 years" in section_result.output


def test_show_unknown_section_is_an_error(runner: CliRunner) -> None:
    result = runner.invoke(app, ["referential", "show", "pha-2022-067", "--section", "99"])
    assert result.exit_code != 0 and "has no section '99'" in result.output


def test_show_unknown_referential(runner: CliRunner) -> None:
    result = runner.invoke(app, ["referential", "show", "nope"])
    assert result.exit_code == 2 and "There is no référentiel 'nope'" in result.output


def test_practice_draft_and_final_differ() -> None:
    changes = diff(loader.get("pra-2020-081-draft"), loader.get("pra-2020-081"))
    assert changes, "the draft and the final practice texts differ"
    assert not diff(loader.get("pra-2020-081"), loader.get("pra-2020-081"))


def test_diff_cli_prints_differences(runner: CliRunner) -> None:
    result = runner.invoke(app, ["referential", "diff", "pra-2020-081-draft", "pra-2020-081"], env={"COLUMNS": "250"})
    assert result.exit_code == 0
    assert "differences from pra-2020-081-draft to pra-2020-081" in result.output
    assert "{'" not in result.output and "..." not in result.output  # readable values, never cut


@pytest.mark.parametrize("ref_id", sorted(loader.load_all()))
def test_every_item_cites_a_listed_section(ref_id: str) -> None:
    ref = loader.get(ref_id)
    assert ref.sections and ref.purposes and ref.categories and ref.accessors and ref.retention
    assert ref.rights and ref.measures
