"""The rest of OMOP CDM 5.4 (issue 15): visit_detail, device_exposure, specimen, note_nlp, payer_plan_period, cost,
episode, episode_event, fact_relationship, dose_era, cohort and cohort_definition.

Eunomia (the OHDSI Synthea sample) ships these tables empty, so the files are small fictitious ones, written here
with two persons of one source. Each table is created with its 5.4 columns, fed with re-keyed identifiers that still
meet the rows they point to, and follows its person: objection, identity link, workspace and retention.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from santegarde.referentials.model import EndAction
from santegarde.warehouse import Warehouse, omop, retention
from santegarde.warehouse.feed import DataList, FeedReport
from santegarde.warehouse.vigilance import MOVED_TABLES, _move, _restore
from test_warehouse_core import FEEDER, FULL, STEWARD
from warehouse_governance_fixtures import warehouse_guard

LONG_AGO = date(1900, 1, 1)
NEW_TABLES = ("visit_detail", "device_exposure", "specimen", "note_nlp", "payer_plan_period", "cost", "episode",
              "episode_event", "fact_relationship", "dose_era", "cohort_definition", "cohort")  # fmt: skip
# one line per table: its header, then its rows (persons 1 and 2 of the source; ids are the source's own)
FILES = {
    "person": ("person_id,gender_concept_id,year_of_birth,race_concept_id,ethnicity_concept_id",
               "1,8507,1971,0,0", "2,8532,1984,0,0"),
    "visit_occurrence": ("visit_occurrence_id,person_id,visit_concept_id,visit_start_date,visit_end_date,"
                         "visit_type_concept_id", "10,1,9201,2022-03-01,2022-03-05,32817",
                         "20,2,9202,2022-04-01,2022-04-01,32817"),
    "condition_occurrence": ("condition_occurrence_id,person_id,condition_concept_id,condition_start_date,"
                             "condition_type_concept_id", "100,1,201826,2022-03-02,32817",
                             "200,2,320128,2022-04-01,32817"),
    "note": ("note_id,person_id,note_date,note_type_concept_id,note_class_concept_id,note_text,"
             "encoding_concept_id,language_concept_id", "50,1,2022-03-03,32817,44814637,compte rendu,32678,4180186",
             "60,2,2022-04-01,32817,44814637,compte rendu,32678,4180186"),
    "visit_detail": ("visit_detail_id,person_id,visit_detail_concept_id,visit_detail_start_date,"
                     "visit_detail_end_date,visit_detail_type_concept_id,preceding_visit_detail_id,"
                     "parent_visit_detail_id,visit_occurrence_id", "11,1,9201,2022-03-01,2022-03-02,32817,,,10",
                     "12,1,9201,2022-03-02,2022-03-05,32817,11,11,10"),
    "device_exposure": ("device_exposure_id,person_id,device_concept_id,device_exposure_start_date,"
                        "device_type_concept_id,quantity,visit_occurrence_id",
                        "30,1,4044008,2022-03-02,32817,2,10", "31,2,4044008,2022-04-01,32817,1,20"),
    "specimen": ("specimen_id,person_id,specimen_concept_id,specimen_type_concept_id,specimen_date,quantity",
                 "40,1,4001225,32817,2022-03-02,2.125", "41,2,4001225,32817,2022-04-01,0.5"),
    "note_nlp": ("note_nlp_id,note_id,snippet,offset,lexical_variant,nlp_date", "70,50,diabète,12,diabete,2022-03-04",
                 "71,60,hta,3,hta,2022-04-02", "72,999,orphan,1,orphan,2022-04-02"),
    "payer_plan_period": ("payer_plan_period_id,person_id,payer_plan_period_start_date,payer_plan_period_end_date",
                          "80,1,2022-01-01,2022-12-31", "81,2,2022-01-01,2022-12-31"),
    "cost": ("cost_id,cost_event_id,cost_domain_id,cost_type_concept_id,total_charge,payer_plan_period_id",
             "90,100,Condition,32817,120.75,80", "91,30,Device,32817,19.99,", "92,200,Condition,32817,5.5,81"),
    "episode": ("episode_id,person_id,episode_concept_id,episode_start_date,episode_object_concept_id,"
                "episode_type_concept_id", "110,1,32533,2022-03-01,201826,32817",
                "120,2,32533,2022-04-01,320128,32817"),
    "episode_event": ("episode_id,event_id,episode_event_field_concept_id", "110,100,1147127", "120,200,1147127"),
    "fact_relationship": ("domain_concept_id_1,fact_id_1,domain_concept_id_2,fact_id_2,relationship_concept_id",
                          "19,100,17,30,44818890", "19,200,36,41,44818890", "19,4242,19,4343,44818890"),
    "dose_era": ("dose_era_id,person_id,drug_concept_id,unit_concept_id,dose_value,dose_era_start_date,"
                 "dose_era_end_date", "130,1,1503297,8576,500.0,2022-03-01,2022-03-31",
                 "131,2,1503297,8576,850.0,2022-04-01,2022-04-30"),
    "cohort_definition": ("cohort_definition_id,cohort_definition_name,definition_type_concept_id,"
                          "subject_concept_id", "7,Diabète de type 2,32817,201826"),
    "cohort": ("cohort_definition_id,subject_id,cohort_start_date,cohort_end_date",
               "7,1,2022-03-02,2022-12-31", "7,2,2022-04-01,2022-12-31"),
}  # fmt: skip
CDM_FIELD = ("concept_id\tconcept_name\tdomain_id\tvocabulary_id\tconcept_class_id\tstandard_concept\tconcept_code\t"
             "valid_start_date\tvalid_end_date\tinvalid_reason\n1147127\tcondition_occurrence.condition_occurrence_id\t"
             "Metadata\tCDM\tField\t\tCDM1147127\t19700101\t20991231\t\n")  # fmt: skip


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    guard = warehouse_guard(tmp_path, FEEDER.login, STEWARD.login)
    warehouse = Warehouse.open(tmp_path / "warehouse", guard.identity.keyring, guard=guard)
    yield warehouse
    warehouse.close()


def write_files(directory: Path, files: dict[str, tuple[str, ...]] = FILES) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for table, lines in files.items():
        (directory / f"{table}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


def fed(wh: Warehouse, tmp_path: Path) -> FeedReport:
    """The CDM field vocabulary loaded (for episode_event), then the files fed, notes de-identified (as is)."""
    wh.omop.execute(
        "INSERT INTO omop.concept VALUES (1147127, 'condition_occurrence.condition_occurrence_id', 'Metadata', 'CDM', "
        "'Field', NULL, 'CDM1147127', DATE '1970-01-01', DATE '2099-12-31', NULL)"
    )
    return wh.feed_omop(
        write_files(tmp_path / "omop"), DataList.from_mapping(FULL), source_name="clinique-sud", operator=FEEDER,
        cutoff=LONG_AGO, deidentify=lambda texts, patients: texts,
    )  # fmt: skip


def one(wh: Warehouse, sql: str) -> object:
    row = wh.omop.execute(sql).fetchone()
    assert row is not None
    return row[0]


def test_every_table_has_its_cdm_5_4_columns_and_types(wh: Warehouse) -> None:
    for table in NEW_TABLES:
        described = {str(r[0]): str(r[1]) for r in wh.omop.execute(f"DESCRIBE omop.{table}").fetchall()}
        assert list(described) == list(omop.column_names(table)), table
        for column in omop.OMOP_TABLES[table]:
            assert described[column.name] == column.type, f"{table}.{column.name}"
    assert one(wh, "SELECT data_type FROM information_schema.columns WHERE table_name = 'specimen' "
                   "AND column_name = 'quantity'") == "DOUBLE"  # fmt: skip
    assert set(NEW_TABLES) - {"note_nlp", "cost", "episode_event", "fact_relationship", "cohort_definition"} <= set(
        omop.PERSON_TABLES
    )
    assert "cohort" in MOVED_TABLES and omop.person_column("cohort") == "subject_id"


def test_the_tables_are_fed_re_keyed_and_their_pointers_still_meet(wh: Warehouse, tmp_path: Path) -> None:
    report = fed(wh, tmp_path)
    for table in NEW_TABLES:
        assert report.rows.get(table), table
    assert report.rows["note_nlp"] == 2 and report.rows["fact_relationship"] == 2  # the orphans stay out
    refused = {r.item: r.reason for r in report.refused}
    assert "not in the warehouse" in refused["note_nlp (1)"] and "fact_relationship (1)" in refused
    ids = {int(r[0]) for r in wh.omop.execute("SELECT visit_detail_id FROM omop.visit_detail").fetchall()}
    assert not ids & {11, 12}
    # every pointer meets its row: visit details, note NLP, cost by domain, episodes, facts, cohorts
    assert one(wh, """SELECT count(*) FROM omop.visit_detail d JOIN omop.visit_occurrence v USING (visit_occurrence_id)
                      JOIN omop.visit_detail p ON p.visit_detail_id = d.parent_visit_detail_id""") == 1
    assert one(wh, "SELECT count(*) FROM omop.note_nlp JOIN omop.note USING (note_id)") == 2
    assert one(wh, """SELECT "offset" FROM omop.note_nlp WHERE lexical_variant = 'diabete'""") == "12"
    assert one(wh, """SELECT count(*) FROM omop.cost c JOIN omop.condition_occurrence o
                      ON o.condition_occurrence_id = c.cost_event_id""") == 2
    assert one(wh, """SELECT count(*) FROM omop.cost c JOIN omop.device_exposure d
                      ON d.device_exposure_id = c.cost_event_id""") == 1
    assert one(wh, "SELECT total_charge FROM omop.cost WHERE cost_domain_id = 'Device'") == 19.99
    assert one(wh, """SELECT count(*) FROM omop.episode_event e JOIN omop.condition_occurrence o
                      ON o.condition_occurrence_id = e.event_id JOIN omop.episode USING (episode_id)""") == 2
    assert one(wh, """SELECT count(*) FROM omop.fact_relationship f
                      JOIN omop.condition_occurrence c ON c.condition_occurrence_id = f.fact_id_1
                      JOIN omop.device_exposure d ON d.device_exposure_id = f.fact_id_2""") == 1
    assert one(wh, "SELECT count(*) FROM omop.cohort JOIN omop.person ON person_id = subject_id") == 2
    assert one(wh, "SELECT cohort_definition_id FROM omop.cohort_definition") == 7  # a study's number, kept
    # fed again: the same rows, nothing doubles (composite keys included)
    again = fed_again(wh, tmp_path)
    assert {t: wh.counts()[t] for t in NEW_TABLES} == {t: n for t, n in again.items()}


def fed_again(wh: Warehouse, tmp_path: Path) -> dict[str, int]:
    before = {t: wh.counts()[t] for t in NEW_TABLES}
    wh.feed_omop(tmp_path / "omop", DataList.from_mapping(FULL), source_name="clinique-sud", operator=FEEDER,
                 cutoff=LONG_AGO, deidentify=lambda texts, patients: texts)  # fmt: skip
    return before


def test_an_objection_deletes_the_persons_rows_in_every_new_table(wh: Warehouse, tmp_path: Path) -> None:
    fed(wh, tmp_path)
    before = wh.counts()
    with wh.vault_connection() as con:
        pseudonyms = sorted(str(p) for (p,) in con.execute("SELECT DISTINCT pseudonym FROM vault.mapping").fetchall())
    person = {
        int(one(wh, f"SELECT person_id FROM omop.person WHERE person_source_value = '{p}'")): p for p in pseudonyms
    }
    first = next(p for i, p in person.items() if one(wh, f"SELECT year_of_birth FROM omop.person "
                                                         f"WHERE person_id = {i}") == 1971)  # fmt: skip
    wh.oppose_pseudonym(first, by=STEWARD)
    after = wh.counts()
    expected_left = {"visit_detail": 0, "device_exposure": 1, "specimen": 1, "note_nlp": 1, "payer_plan_period": 1,
                     "cost": 1, "episode": 1, "episode_event": 1, "fact_relationship": 1, "dose_era": 1,
                     "cohort_definition": 1, "cohort": 1}  # fmt: skip
    assert {t: after[t] for t in NEW_TABLES} == expected_left, before
    # fed again, the objecting person's rows and those pointing to them stay out
    again = wh.feed_omop(tmp_path / "omop", DataList.from_mapping(FULL), source_name="clinique-sud",
                         operator=FEEDER, cutoff=LONG_AGO, deidentify=lambda texts, patients: texts)  # fmt: skip
    assert {t: wh.counts()[t] for t in NEW_TABLES} == expected_left
    assert again.objected_skipped == 1


def test_an_identity_link_moves_the_cohort_and_an_undo_restores_it(wh: Warehouse, tmp_path: Path) -> None:
    fed(wh, tmp_path)
    a, b = (int(r[0]) for r in wh.omop.execute("SELECT person_id FROM omop.person ORDER BY year_of_birth").fetchall())
    snapshot = {t: sorted(wh.omop.execute(f"SELECT * FROM omop.{t}").fetchall(), key=repr) for t in NEW_TABLES}
    wh.omop.execute("BEGIN TRANSACTION")
    _move(wh.omop, 1, a, b)
    wh.omop.execute("COMMIT")
    for table in ("cohort", "episode", "dose_era", "specimen", "payer_plan_period", "device_exposure"):
        people = {r[0] for r in wh.omop.execute(f"SELECT {omop.person_column(table)} FROM omop.{table}").fetchall()}
        assert people == {a}, table
    wh.omop.execute("BEGIN TRANSACTION")
    _restore(wh.omop, 1)
    wh.omop.execute("COMMIT")
    assert {t: sorted(wh.omop.execute(f"SELECT * FROM omop.{t}").fetchall(), key=repr) for t in NEW_TABLES} == snapshot


def test_retention_takes_the_dependent_rows_with_their_events(wh: Warehouse, tmp_path: Path) -> None:
    fed(wh, tmp_path)
    wh.omop.execute(f"CREATE TEMP TABLE {retention._ENDED} (person_id BIGINT)")
    # mid-March 2022: the first person's March events expire, the second person's April ones stay
    retention._purge_omop(wh.omop, date(2022, 3, 15), EndAction.DELETE, {}, retention._Stats())
    left = {t: wh.counts()[t] for t in NEW_TABLES}
    assert left == {"visit_detail": 0, "device_exposure": 1, "specimen": 1, "note_nlp": 1, "payer_plan_period": 2,
                    "cost": 2, "episode": 1, "episode_event": 1, "fact_relationship": 1, "dose_era": 2,
                    "cohort_definition": 1, "cohort": 2}  # fmt: skip
    # the cost of the expired condition stays with the insurance period it was paid under (not expired)
    assert one(wh, "SELECT count(*) FROM omop.cost WHERE total_charge = 120.75") == 1
