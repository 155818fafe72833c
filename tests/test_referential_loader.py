"""The référentiel loader: shipped files load; a bad file names the file, the place and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from santegarde.referentials import loader
from santegarde.referentials.loader import ReferentialError, load_file, parse_referential
from santegarde.referentials.model import Duration, SeparateKey

EXPECTED = {"pha-2022-067", "aac-2022-106", "pra-2020-081", "pra-2020-081-draft", "eds-2021-118"}

MINIMAL = {
    "id": "tst-1",
    "title": "Test",
    "deliberation": "0000-000",
    "adopted": "2020-01-01",
    "version": "1",
    "status": "final",
    "language": "en",
    "organisation_profile": "practice",
    "source": "none",
    "sections": [
        {"number": "3", "title": "Purposes"},
        {"number": "5", "title": "Data"},
        {"number": "9", "title": "Rights"},
    ],
    "purposes": [
        {
            "id": "care",
            "name": "Care",
            "legal_bases": [{"art6": "legal_obligation", "art9": "9.2.h"}],
            "categories": ["health"],
            "section": "3",
        }
    ],
    "categories": [{"id": "health", "name": "Health", "kind": "health", "sensitivity": "special", "section": "5"}],
    "accessors": [
        {
            "id": "doctor",
            "name": "Doctor",
            "section": "5",
            "access": [{"categories": ["health"], "operations": ["read"]}],
        }
    ],
    "retention": [
        {
            "id": "rec",
            "name": "Record",
            "applies_to": ["care"],
            "end_action": "delete",
            "section": "5",
            "active": {"duration": "P5Y", "start_event": "last_intervention"},
        }
    ],
    "rights": [{"right": "objection", "applies": False, "reason": "legal obligation", "section": "9"}],
    "measures": [{"code": "T-1", "title": "t", "text": "t", "area": "logging", "section": "5"}],
    "dpia": {"required": "always", "section": "5"},
    "dpo": {"required": "never", "section": "5"},
}


def _text(**changes: object) -> str:
    data = yaml.safe_load(yaml.safe_dump(MINIMAL))
    data.update(changes)
    return yaml.safe_dump(data, allow_unicode=True)


def test_every_shipped_referential_loads() -> None:
    assert set(loader.load_all()) == EXPECTED


def test_minimal_file_loads() -> None:
    ref = parse_referential(_text(), "t.yaml")
    assert ref.retention[0].active.duration == Duration(years=5)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"colour": "blue"}, "at colour: this key is not part of the référentiel format"),
        ({"title": None}, "at title:"),
        ({"status": "maybe"}, "at status:"),
        (
            {
                "retention": [
                    {
                        **MINIMAL["retention"][0],
                        "active": {
                            "duration": "5 years",  # type: ignore[dict-item]
                            "start_event": "x",
                        },
                    }
                ]
            },
            "at retention[0].active.duration: '5 years' is not an ISO 8601 duration",
        ),
        (
            {"purposes": [{**MINIMAL["purposes"][0], "categories": ["genome"]}]},  # type: ignore[dict-item]
            "purposes[0] (care): unknown category 'genome'",
        ),
        ({"categories": MINIMAL["categories"] * 2}, "id 'health' is used twice"),  # type: ignore[operator]
        (
            {"rights": [{"right": "erasure", "applies": False, "section": "9"}]},
            "right 'erasure' is excluded but no reason is given",
        ),
        ({"dpia": {"required": "conditional", "section": "5"}}, "'conditions' must be given exactly when"),
        (
            {"measures": [{**MINIMAL["measures"][0], "section": "12"}]},  # type: ignore[dict-item]
            "measures[0] (T-1): section '12' is not listed",
        ),
    ],
)
def test_bad_file_error_names_the_place(changes: dict[str, object], expected: str) -> None:
    with pytest.raises(ReferentialError) as info:
        parse_referential(_text(**changes), "bad.yaml")
    message = str(info.value)
    assert message.startswith("bad.yaml is not a valid référentiel file")
    assert expected in message


GENETIC = {"id": "genetic", "name": "Genetic", "kind": "genetic", "sensitivity": "special", "section": "5"}
READS_GENETIC = [{"categories": ["genetic"], "operations": ["read", "write"]}]
DOCTOR: dict[str, object] = MINIMAL["accessors"][0]  # type: ignore[index]
CATEGORIES = [*MINIMAL["categories"], GENETIC]  # type: ignore[misc]


@pytest.mark.parametrize(
    ("accessor", "expected"),
    [
        ({"keys": ["genetic_location"]}, "(doctor): holds the 'genetic_location' key but reaches no genetic"),
        ({"keys": ["master_key"]}, "at accessors[0].keys[0]:"),
        ({"keys": ["genetic_location", "genetic_location"], "access": READS_GENETIC}, "a key is listed twice"),
    ],
)
def test_reserved_keys_are_checked(accessor: dict[str, object], expected: str) -> None:
    """EDS-SEC-LOG-6 as data: a profile holding the genetic/location key must reach genetic or location data."""
    with pytest.raises(ReferentialError) as info:
        parse_referential(_text(categories=CATEGORIES, accessors=[{**DOCTOR, **accessor}]), "bad.yaml")
    assert expected in str(info.value)


def test_a_key_holder_reaching_genetic_data_loads() -> None:
    holder = {**DOCTOR, "keys": ["genetic_location"], "access": READS_GENETIC}
    ref = parse_referential(_text(categories=CATEGORIES, accessors=[holder]), "ok.yaml")
    assert ref.key_holders(SeparateKey.GENETIC_LOCATION) == ("doctor",)


def test_yaml_syntax_error_gives_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("id: x\npurposes: [\n", encoding="utf-8")
    with pytest.raises(ReferentialError, match=r"broken.yaml .*\n.*at line \d+, column \d+"):
        load_file(path)


def test_unknown_referential_lists_known_ones() -> None:
    with pytest.raises(loader.UnknownReferential, match="Référentiels connus : aac-2022-106") as unknown:
        loader.get("nope")
    assert "Known référentiels: aac-2022-106" in unknown.value.in_language("en")


@pytest.mark.parametrize(("text", "human"), [("P5Y", "5 years"), ("P3M", "3 months"), ("P1Y6M", "1 year, 6 months")])
def test_duration_round_trip(text: str, human: str) -> None:
    d = Duration.model_validate(text)
    assert str(d) == text and d.human() == human


def test_issue_14_data_fixes_are_in_the_referentials() -> None:
    final, draft = loader.get("pra-2020-081"), loader.get("pra-2020-081-draft")
    out = {p.id for p in final.purposes if p.out_of_scope}
    assert out == {p.id for p in draft.purposes if p.out_of_scope}
    assert {p.section for p in final.purposes if p.out_of_scope} == {"1"}
    fse = [r.active.start_event for ref in (final, draft) for r in ref.retention if r.id == "fse_duplicates"]
    assert fse == ["fse_transmitted", "fse_transmitted"]  # §7: the same event in both texts
    eds = loader.get("eds-2021-118")
    assert eds.purpose("consent_based_warehouse").out_of_scope  # type: ignore[union-attr]
    assert {m.code for m in eds.measures if m.section == "3.2"} == {f"GOV-{n}" for n in range(1, 7)}
    aac = loader.get("aac-2022-106")
    (transfer,) = aac.transfers
    assert transfer.section == "12" and "group_companies" in transfer.recipients
    assert [m.value for m in transfer.mechanisms] == ["adequacy", "safeguards", "derogations"]
    pha = loader.get("pha-2022-067")
    assert pha.retention_rule("other_data").start_choice == "other_data_retention_start"  # type: ignore[union-attr]
