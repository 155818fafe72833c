"""Standard OHDSI QueryLibrary queries (person, condition, drug) run on the warehouse, each with its known result (#15).

The queries are those of the OHDSI QueryLibrary (github.com/OHDSI/QueryLibrary, ``inst/shinyApps/QueryLibrary/
queries``: PE02, PE03, PE06, CO01-style counts, CE01, DEX01, DER01), written for the warehouse's ``omop`` schema. The
data set is small and fictitious: three persons fed from OMOP files, source codes mapped through the fictitious
Athena vocabulary of ``test_warehouse_vocabulary`` (real OMOP concept ids), eras derived by the warehouse.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from santegarde.warehouse import Warehouse
from santegarde.warehouse.feed import DataList
from santegarde.warehouse.vocabulary import load_vocabulary
from test_warehouse_core import FEEDER, FULL
from test_warehouse_matching import guard, wh
from test_warehouse_vocabulary import athena

__all__ = ["guard", "wh"]

LONG_AGO = date(1900, 1, 1)
FILES = {
    "person": ("person_id,gender_concept_id,year_of_birth,race_concept_id,ethnicity_concept_id",
               "1,8507,1950,0,0", "2,8532,1962,0,0", "3,8532,1962,0,0"),
    "condition_occurrence": ("condition_occurrence_id,person_id,condition_concept_id,condition_start_date,"
                             "condition_type_concept_id,condition_source_value",
                             "11,1,0,2023-01-10,32817,I10", "12,1,0,2023-01-25,32817,I10",
                             "13,2,0,2023-06-01,32817,I10", "14,3,0,2023-02-01,32817,X99"),
    "drug_exposure": ("drug_exposure_id,person_id,drug_concept_id,drug_exposure_start_date,drug_exposure_end_date,"
                      "drug_type_concept_id,drug_source_value", "21,1,0,2023-01-01,2023-01-10,32838,RX1",
                      "22,1,0,2023-01-20,2023-01-30,32838,RX1", "23,2,0,2023-03-01,2023-03-05,32838,RX1"),
}  # fmt: skip

QUERIES = {
    # PE02: number of patients of each gender
    "PE02": "SELECT gender_concept_id, count(*) AS persons FROM omop.person GROUP BY 1 ORDER BY 1",
    # PE03: number of patients grouped by year of birth
    "PE03": "SELECT year_of_birth, count(person_id) AS persons FROM omop.person GROUP BY 1 ORDER BY 1",
    # PE06: number of patients by gender, stratified by year of birth
    "PE06": """SELECT gender_concept_id, year_of_birth, count(*) AS persons FROM omop.person
               GROUP BY 1, 2 ORDER BY 1, 2""",
    # CO01 (counts): persons and occurrences per standard condition concept, by name
    "CO01": """SELECT c.concept_name, count(DISTINCT co.person_id) AS persons, count(*) AS occurrences
               FROM omop.condition_occurrence co JOIN omop.concept c ON c.concept_id = co.condition_concept_id
               WHERE c.standard_concept = 'S' GROUP BY 1 ORDER BY 1""",
    # CE01: condition eras per concept, with the occurrences they gather
    "CE01": """SELECT ce.condition_concept_id, c.concept_name, count(*) AS eras,
                      sum(ce.condition_occurrence_count) AS occurrences
               FROM omop.condition_era ce JOIN omop.concept c ON c.concept_id = ce.condition_concept_id
               GROUP BY 1, 2 ORDER BY 1""",
    # DEX01: persons with any exposure to a drug of an ingredient (through concept_ancestor)
    "DEX01": """SELECT a.ancestor_concept_id, count(DISTINCT de.person_id) AS persons, count(*) AS exposures
                FROM omop.drug_exposure de
                JOIN omop.concept_ancestor a ON a.descendant_concept_id = de.drug_concept_id
                JOIN omop.concept c ON c.concept_id = a.ancestor_concept_id AND c.concept_class_id = 'Ingredient'
                GROUP BY 1 ORDER BY 1""",
    # DER01: drug eras per ingredient: persons, eras, exposures and the longest era in days
    "DER01": """SELECT drug_concept_id, count(DISTINCT person_id) AS persons, count(*) AS eras,
                       sum(drug_exposure_count) AS exposures,
                       max(drug_era_end_date - drug_era_start_date) AS longest
                FROM omop.drug_era GROUP BY 1 ORDER BY 1""",
}
EXPECTED = {
    "PE02": [(8507, 1), (8532, 2)],
    "PE03": [(1950, 1), (1962, 2)],
    "PE06": [(8507, 1950, 1), (8532, 1962, 2)],
    "CO01": [("Essential hypertension", 2, 3)],  # X99 is in no vocabulary: concept 0, never counted as a disease
    "CE01": [(320128, "Essential hypertension", 2, 3)],  # person 1's two within 30 days: one era
    "DEX01": [(1125315, 2, 3)],
    "DER01": [(1125315, 2, 2, 3, 29)],  # person 1: 1 → 30 January (10 days apart, one era); person 2: 5 days
}


@pytest.fixture
def loaded(wh: Warehouse, tmp_path: Path) -> Warehouse:
    load_vocabulary(wh, athena(tmp_path / "athena"), FEEDER)
    folder = tmp_path / "omop"
    folder.mkdir()
    for table, lines in FILES.items():
        (folder / f"{table}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    wh.feed_omop(folder, DataList.from_mapping(FULL), source_name="cabinet-test", operator=FEEDER, cutoff=LONG_AGO)
    return wh


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_each_standard_query_gives_its_known_result(loaded: Warehouse, name: str) -> None:
    assert loaded.omop.execute(QUERIES[name]).fetchall() == EXPECTED[name]


def test_the_results_do_not_depend_on_the_sources_ids_and_a_refeed_changes_nothing(
    loaded: Warehouse, tmp_path: Path
) -> None:
    loaded.feed_omop(tmp_path / "omop", DataList.from_mapping(FULL), source_name="cabinet-test", operator=FEEDER,
                     cutoff=LONG_AGO)  # fmt: skip
    assert {n: loaded.omop.execute(q).fetchall() for n, q in QUERIES.items()} == EXPECTED
    ids = {int(r[0]) for r in loaded.omop.execute("SELECT person_id FROM omop.person").fetchall()}
    assert not ids & {1, 2, 3}
