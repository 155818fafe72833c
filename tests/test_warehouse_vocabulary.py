"""OMOP vocabularies, standard concepts, eras and the CDM description (issue 15, fault 5).

A small fictitious vocabulary in Athena's format (tab-separated, YYYYMMDD dates) with the real OMOP concept ids of an
ICD-10 code, its SNOMED standard concept and a drug with its ingredient; hand-built FHIR bundles of fictitious
patients.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from santegarde.warehouse import Warehouse, WarehouseError
from santegarde.warehouse.access import WarehouseAccessRefused, WarehouseGuard
from santegarde.warehouse.feed import DataList
from santegarde.warehouse.vocabulary import derive_dose_eras, load_vocabulary
from test_warehouse_core import FEEDER, FULL, STEWARD
from test_warehouse_matching import guard, patient, wh

__all__ = ["guard", "wh"]

ATHENA = {
    "CONCEPT": [
        ("concept_id", "concept_name", "domain_id", "vocabulary_id", "concept_class_id", "standard_concept",
         "concept_code", "valid_start_date", "valid_end_date", "invalid_reason"),
        ("45591453", "Essential (primary) hypertension", "Condition", "ICD10", "3-char billing code", "", "I10",
         "19700101", "20991231", ""),
        ("320128", "Essential hypertension", "Condition", "SNOMED", "Clinical Finding", "S", "59621000", "19700101",
         "20991231", ""),
        ("19000001", "paracétamol 500 mg comprimé (fictif)", "Drug", "RxNorm", "Clinical Drug", "S", "RX1",
         "19700101", "20991231", ""),
        ("1125315", "acetaminophen", "Drug", "RxNorm", "Ingredient", "S", "161", "19700101", "20991231", ""),
    ],
    "CONCEPT_RELATIONSHIP": [
        ("concept_id_1", "concept_id_2", "relationship_id", "valid_start_date", "valid_end_date", "invalid_reason"),
        ("45591453", "320128", "Maps to", "19700101", "20991231", ""),
        ("19000001", "19000001", "Maps to", "19700101", "20991231", ""),
    ],
    "CONCEPT_ANCESTOR": [
        ("ancestor_concept_id", "descendant_concept_id", "min_levels_of_separation", "max_levels_of_separation"),
        ("1125315", "19000001", "1", "1"),
        ("19000001", "19000001", "0", "0"),
    ],
    "VOCABULARY": [
        ("vocabulary_id", "vocabulary_name", "vocabulary_reference", "vocabulary_version", "vocabulary_concept_id"),
        ("None", "OMOP Standardized Vocabularies", "fictif", "v5.0 fictif 2026", "44819096"),
    ],
}  # fmt: skip


def athena(folder: Path) -> Path:
    folder.mkdir()
    for name, rows in ATHENA.items():
        (folder / f"{name}.csv").write_text("".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")
    return folder


def condition(pid: str, n: int, code: str, day: date) -> dict[str, Any]:
    return {"resourceType": "Condition", "id": f"{pid}-c{n}", "subject": {"reference": f"Patient/{pid}"},
            "code": {"coding": [{"code": code}]}, "onsetDateTime": day.isoformat()}  # fmt: skip


def prescription(pid: str, n: int, day: date) -> dict[str, Any]:
    return {"resourceType": "MedicationRequest", "id": f"{pid}-m{n}", "subject": {"reference": f"Patient/{pid}"},
            "medicationCodeableConcept": {"coding": [{"code": "RX1"}]}, "authoredOn": day.isoformat()}  # fmt: skip


def feed(wh: Warehouse, tmp_path: Path, resources: list[dict[str, Any]]) -> None:
    path = tmp_path / "bundle.json"
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
    path.write_text(json.dumps(bundle), encoding="utf-8")
    wh.feed_fhir([path], DataList.from_mapping(FULL), source="dpi", operator=FEEDER)


def test_vocabularies_map_source_codes_and_eras_follow_the_ohdsi_rules(
    wh: Warehouse, guard: WarehouseGuard, tmp_path: Path
) -> None:
    start = date(2024, 1, 10)
    resources = [
        patient("p", "MOREAU", "Anne", "1970-05-04", "female")[0],
        condition("p", 1, "I10", start), condition("p", 2, "I10", start + timedelta(days=20)),
        condition("p", 3, "I10", start + timedelta(days=120)), condition("p", 4, "X99", start),
        prescription("p", 1, start), prescription("p", 2, start + timedelta(days=25)),
        prescription("p", 3, start + timedelta(days=200)),
    ]  # fmt: skip
    feed(wh, tmp_path, resources)
    assert wh.omop.execute("SELECT count(*) FROM omop.condition_era").fetchone() == (0,)  # no vocabulary yet
    with pytest.raises(WarehouseAccessRefused):
        load_vocabulary(wh, athena(tmp_path / "vocabulary"), STEWARD)
    counts = load_vocabulary(wh, tmp_path / "vocabulary", FEEDER)
    assert counts == {"concept": 4, "concept_ancestor": 2, "concept_relationship": 2, "vocabulary": 1}
    mapped = wh.omop.execute(
        "SELECT condition_source_value, condition_concept_id, condition_source_concept_id "
        "FROM omop.condition_occurrence ORDER BY condition_start_date, condition_source_value"
    ).fetchall()
    assert mapped == [("I10", 320128, 45591453), ("X99", 0, None), ("I10", 320128, 45591453),
                      ("I10", 320128, 45591453)]  # fmt: skip
    feed(wh, tmp_path, resources)  # eras and the description follow every feed
    eras = wh.omop.execute(
        "SELECT condition_concept_id, condition_era_start_date, condition_era_end_date, condition_occurrence_count "
        "FROM omop.condition_era ORDER BY 2"
    ).fetchall()
    assert eras == [
        (320128, start, start + timedelta(days=21), 2),  # 20 days apart: one era (30-day persistence window)
        (320128, start + timedelta(days=120), start + timedelta(days=121), 1),
    ]
    drugs = wh.omop.execute(
        "SELECT drug_concept_id, drug_era_start_date, drug_era_end_date, drug_exposure_count, gap_days "
        "FROM omop.drug_era ORDER BY 2"
    ).fetchall()
    assert drugs == [
        (1125315, start, start + timedelta(days=25), 2, 25),  # exposures of one day 25 days apart, by ingredient
        (1125315, start + timedelta(days=200), start + timedelta(days=200), 1, 0),
    ]
    source = wh.omop.execute("SELECT cdm_version, cdm_version_concept_id, vocabulary_version FROM omop.cdm_source")
    assert source.fetchall() == [("v5.4", 756265, "v5.0 fictif 2026")]
    assert wh.omop.execute("SELECT count(*), max(value_as_string) FROM omop.metadata").fetchone() == (2, "dpi")
    # an OHDSI QueryLibrary-style query: persons per standard condition concept
    per_concept = wh.omop.execute(
        """SELECT c.concept_name, count(DISTINCT co.person_id) FROM omop.condition_occurrence co
           JOIN omop.concept c ON c.concept_id = co.condition_concept_id GROUP BY 1"""
    ).fetchall()
    assert per_concept == [("Essential hypertension", 1)]
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "PATIENTS.csv").write_text("x\n1\n", encoding="utf-8")
    with pytest.raises(WarehouseError, match="inconnus : patients"):
        load_vocabulary(wh, tmp_path / "other", FEEDER)


def test_dose_eras_are_derived_from_drug_strength(wh: Warehouse) -> None:
    """A tablet of 500 mg (amount) and a syrup of 120 mg per 5 mL (concentration): a daily dose per ingredient and
    unit; the same dose less than 30 days apart is one era, another dose starts another; no strength, no quantity
    or no days of supply: no dose era."""
    mg, ml, person = 8576, 8587, 42
    wh.omop.execute(f"INSERT INTO omop.dose_era VALUES (1, {person}, 1125315, {mg}, 75.0, DATE '2020-01-01', "
                    "DATE '2020-01-31')")  # fmt: skip
    assert derive_dose_eras(wh.omop) == 1  # fed by a source: kept while no strength is known
    wh.omop.execute(
        f"""INSERT INTO omop.drug_strength (drug_concept_id, ingredient_concept_id, amount_value,
                amount_unit_concept_id, numerator_value, numerator_unit_concept_id, denominator_value,
                denominator_unit_concept_id, valid_start_date, valid_end_date) VALUES
            (19000001, 1125315, 500, {mg}, NULL, NULL, NULL, NULL, DATE '1970-01-01', DATE '2099-12-31'),
            (19000002, 1125315, NULL, NULL, 120, {mg}, 5, {ml}, DATE '1970-01-01', DATE '2099-12-31')"""
    )
    exposures = [  # drug, start, quantity, days of supply
        (19000001, date(2024, 1, 1), 20, 10),  # 500 mg × 20 / 10 days = 1 000 mg a day
        (19000001, date(2024, 1, 25), 10, 5),  # 1 000 mg a day again, 14 days after: the same era
        (19000001, date(2024, 3, 1), 10, 10),  # 500 mg a day: another era
        (19000002, date(2024, 6, 1), 100, 10),  # 120 / 5 mg per mL × 100 mL / 10 days = 240 mg a day
        (19000001, date(2024, 9, 1), None, 10),  # no quantity
        (19000001, date(2024, 9, 1), 10, None),  # no days of supply
        (19000003, date(2024, 9, 1), 10, 10),  # no strength
    ]
    wh.omop.executemany(
        """INSERT INTO omop.drug_exposure (drug_exposure_id, person_id, drug_concept_id, drug_exposure_start_date,
                drug_exposure_end_date, drug_type_concept_id, quantity, days_supply)
           VALUES (?, ?, ?, ?, ? + INTERVAL (coalesce(?, 1)) DAY, 32817, ?, ?)""",
        [(n, person, drug, start, start, days, quantity, days)
         for n, (drug, start, quantity, days) in enumerate(exposures, 1)],
    )  # fmt: skip
    assert derive_dose_eras(wh.omop) == 3
    eras = wh.omop.execute(
        "SELECT person_id, drug_concept_id, unit_concept_id, dose_value, dose_era_start_date, dose_era_end_date "
        "FROM omop.dose_era ORDER BY dose_era_start_date"
    ).fetchall()
    assert eras == [
        (person, 1125315, mg, 1000.0, date(2024, 1, 1), date(2024, 1, 30)),
        (person, 1125315, mg, 500.0, date(2024, 3, 1), date(2024, 3, 11)),
        (person, 1125315, mg, 240.0, date(2024, 6, 1), date(2024, 6, 11)),
    ]
