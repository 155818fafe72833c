"""Sources are namespaces (issue 15, fault 1): two sources' person_id 1 are two persons, never merged."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from omop_samples import eunomia, write_sample
from santegarde.warehouse import Warehouse, omop
from santegarde.warehouse.feed import DataList, FeedError
from test_warehouse_core import FEEDER, FULL, STEWARD
from warehouse_governance_fixtures import warehouse_guard

LONG_AGO = date(1900, 1, 1)  # the samples' events are old: keep them all (the retention cutoff is tested elsewhere)
PERSONS = (1, 2, 3)


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    """A new warehouse guarded by an identity database where the feeder and the steward hold their profiles."""
    guard = warehouse_guard(tmp_path, FEEDER.login, STEWARD.login)
    warehouse = Warehouse.open(tmp_path / "warehouse", guard.identity.keyring, guard=guard)
    yield warehouse
    warehouse.close()


def _profile(wh: Warehouse) -> set[tuple[int, int, int]]:
    """(year of birth, gender, number of conditions) of every person of the warehouse."""
    rows = wh.omop.execute(
        """SELECT p.year_of_birth, p.gender_concept_id, count(c.condition_occurrence_id)
           FROM omop.person p LEFT JOIN omop.condition_occurrence c USING (person_id) GROUP BY ALL"""
    ).fetchall()
    return {(int(a), int(b), int(n)) for a, b, n in rows}


def test_two_sources_with_the_same_person_id_stay_two_persons(wh: Warehouse, tmp_path: Path) -> None:
    write_sample(tmp_path / "synthea", PERSONS, ("person", "condition_occurrence"))
    other = tmp_path / "other"
    other.mkdir()
    (other / "person.csv").write_text(
        "person_id,gender_concept_id,year_of_birth,race_concept_id,ethnicity_concept_id\n1,8532,1950,0,0\n"
    )
    (other / "condition_occurrence.csv").write_text(
        "condition_occurrence_id,person_id,condition_concept_id,condition_start_date,condition_type_concept_id\n"
        "1,1,320128,2020-02-03,32817\n"
    )
    data_list = DataList.from_mapping(FULL)
    wh.feed_omop(tmp_path / "synthea", data_list, source_name="synthea", operator=FEEDER, cutoff=LONG_AGO)
    wh.feed_omop(other, data_list, source_name="other-hospital", operator=FEEDER, cutoff=LONG_AGO)
    with eunomia() as con:
        expected = {
            (int(a), int(b), int(n))
            for a, b, n in con.execute(
                f"""SELECT p.year_of_birth, p.gender_concept_id, count(c.condition_occurrence_id)
                    FROM person p LEFT JOIN condition_occurrence c USING (person_id)
                    WHERE p.person_id IN {PERSONS} GROUP BY ALL"""
            ).fetchall()
        }
    assert _profile(wh) == expected | {(1950, 8532, 1)}
    assert wh.counts()["person"] == len(PERSONS) + 1
    # the same source fed again is the same namespace: nothing doubles
    wh.feed_omop(tmp_path / "synthea", data_list, source_name="synthea", operator=FEEDER, cutoff=LONG_AGO)
    assert _profile(wh) == expected | {(1950, 8532, 1)}


@pytest.mark.parametrize("name", ["", "  ", "Omop", "a b", "../x", "x" * 65])
def test_a_feed_must_name_its_source(wh: Warehouse, tmp_path: Path, name: str) -> None:
    write_sample(tmp_path / "synthea", PERSONS[:1])
    with pytest.raises(FeedError, match="source name"):
        wh.feed_omop(tmp_path / "synthea", DataList.from_mapping(FULL), source_name=name, operator=FEEDER)
    assert wh.counts()["person"] == 0


def test_float_fields_keep_their_decimals_and_older_stores_are_converted(wh: Warehouse, tmp_path: Path) -> None:
    """Issue 15: the spec's float fields were DECIMAL(18,3), so 5.123456789 became 5.123."""
    lab = tmp_path / "lab"
    lab.mkdir()
    (lab / "person.csv").write_text(
        "person_id,gender_concept_id,year_of_birth,race_concept_id,ethnicity_concept_id\n1,8532,1970,0,0\n"
    )
    (lab / "measurement.csv").write_text(
        "measurement_id,person_id,measurement_concept_id,measurement_date,measurement_type_concept_id,"
        "value_as_number,range_low\n1,1,3004410,2024-01-02,32817,5.123456789,0.0001234\n"
    )
    wh.feed_omop(lab, DataList.from_mapping(FULL), source_name="lab", operator=FEEDER)
    row = wh.omop.execute("SELECT value_as_number, range_low FROM omop.measurement").fetchone()
    assert row == (5.123456789, 0.0001234)
    wh.omop.execute("ALTER TABLE omop.measurement ALTER COLUMN range_high SET DATA TYPE DECIMAL(18, 3)")
    omop.migrate_types(wh.omop, "measurement", "omop")
    types = dict(wh.omop.execute("SELECT column_name, column_type FROM (DESCRIBE omop.measurement)").fetchall())
    assert types["range_high"] == types["value_as_number"] == "DOUBLE"
    assert wh.omop.execute("SELECT value_as_number FROM omop.measurement").fetchone() == (5.123456789,)
