"""The warehouse on Spark (issue 22): the engine chosen in the configuration, and the same feed as on DuckDB.

One Spark session (local[2], UI off, few shuffle partitions) for the whole test session.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from omop_samples import write_sample
from santegarde.config.model import WarehouseSettings
from santegarde.warehouse import Warehouse, omop
from santegarde.warehouse.anonymity import Thresholds
from santegarde.warehouse.feed import DataList, FeedError
from santegarde.warehouse.pseudonym import person_id_of
from santegarde.warehouse.spark import session as spark_session
from santegarde.warehouse.spark.feed import ParquetStore, feed_omop
from test_warehouse_core import FEEDER, FULL, STEWARD
from warehouse_governance_fixtures import warehouse_guard

pytestmark = pytest.mark.spark
PERSONS = (1, 2, 3, 5, 6, 7)  # Eunomia has no person 4
OPPOSED = 5
TABLES = ("person", "visit_occurrence", "condition_occurrence", "drug_exposure", "measurement", "observation_period")
CUTOFF = date(2000, 1, 1)  # some of the samples' events are older: the retention cutoff drops them on both engines


@pytest.fixture(scope="session")
def spark() -> Any:
    return spark_session.session("local[2]", shuffle_partitions=2)


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    """A new warehouse guarded by an identity database where the feeder and the steward hold their profiles."""
    guard = warehouse_guard(tmp_path, FEEDER.login, STEWARD.login)
    warehouse = Warehouse.open(tmp_path / "warehouse", guard.identity.keyring, guard=guard)
    yield warehouse
    warehouse.close()


# -- the configuration ----------------------------------------------------------------------------------------
def test_the_engine_is_duckdb_unless_the_configuration_chooses_spark() -> None:
    assert WarehouseSettings().engine == "duckdb"
    chosen = WarehouseSettings(engine="spark", spark_master="local[2]", storage="hdfs://namenode/eds")
    assert (chosen.spark_master, chosen.storage) == ("local[2]", "hdfs://namenode/eds")
    assert WarehouseSettings(engine="spark", spark_master="spark://10.0.0.1:7077", storage="/srv/eds").engine == "spark"


@pytest.mark.parametrize(
    ("values", "sentence"),
    [
        ({"engine": "spark", "storage": "/srv/eds"}, "the Spark engine needs spark_master"),
        ({"engine": "spark", "spark_master": "local[2]"}, "the Spark engine needs storage"),
        ({"engine": "spark", "spark_master": "localhost:7077", "storage": "/x"}, "is not a Spark master URL"),
        ({"engine": "spark", "spark_master": "local[2]", "storage": "  "}, "the storage location is empty"),
        ({"engine": "duckdb", "spark_master": "local[2]"}, "the engine is duckdb"),
        ({"engine": "postgres"}, "Input should be 'duckdb' or 'spark'"),
    ],
)
def test_bad_engine_settings_are_refused_with_a_sentence(values: dict[str, str], sentence: str) -> None:
    with pytest.raises(ValidationError, match=sentence.replace("[", r"\[")):
        WarehouseSettings(**values)


def test_missing_java_is_a_sentence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(spark_session.SparkEngineError, match=r"Java est absent.*openjdk-17-jre-headless"):
        spark_session.session("local[2]")


# -- the same feed on both engines ----------------------------------------------------------------------------
def _duckdb_rows(wh: Warehouse, table: str, columns: list[str]) -> set[tuple[Any, ...]]:
    return set(wh.omop.execute(f"SELECT {', '.join(columns)} FROM omop.{table}").fetchall())


def _parquet_rows(store: ParquetStore, table: str) -> tuple[list[str], set[tuple[Any, ...]]]:
    frame = store.read(table)
    return frame.columns, {tuple(r) for r in frame.collect()}


def test_the_same_feed_gives_the_same_pseudonyms_and_rows_on_duckdb_and_spark(
    wh: Warehouse, spark: Any, tmp_path: Path
) -> None:
    source = write_sample(tmp_path / "synthea", PERSONS, TABLES[:-1])
    data_list = DataList.from_mapping(FULL)
    wh.oppose_pseudonym(wh.pseudonym_key.hexdigest(f"import|synthea|person|{OPPOSED}"), by=STEWARD)
    on_duckdb = wh.feed_omop(source, data_list, source_name="synthea", operator=FEEDER, cutoff=CUTOFF)
    with wh.vault_connection() as con:
        mapping = set(con.execute("SELECT pseudonym, kind, source_hash FROM vault.mapping").fetchall())
        con.execute("DELETE FROM vault.mapping")  # the Spark feed must record the same mapping itself
    storage = str(tmp_path / "lake")
    on_spark = feed_omop(wh, spark, storage, source, data_list, source_name="synthea", operator=FEEDER, cutoff=CUTOFF)

    store = ParquetStore(spark, storage)
    for table in TABLES[:-1]:
        columns, spark_rows = _parquet_rows(store, table)
        assert set(columns) <= {c.name for c in omop.OMOP_TABLES[table]}
        duck_rows = _duckdb_rows(wh, table, columns)
        assert len(spark_rows) == on_spark.rows[table] == on_duckdb.rows[table] == len(duck_rows) > 0, table
        assert spark_rows == duck_rows, table  # same pseudonyms, same re-keyed ids, same typed values
    persons = {r[0] for r in wh.omop.execute("SELECT person_id FROM omop.person").fetchall()}
    opposed_id = person_id_of(wh.pseudonym_key.hexdigest(f"import|synthea|person|{OPPOSED}"))
    assert opposed_id not in persons and len(persons) == len(PERSONS) - 1
    assert opposed_id not in {r[0] for r in store.read("measurement").select("person_id").collect()}
    assert on_spark.objected_skipped == on_duckdb.objected_skipped == 1
    assert on_spark.expired_skipped == on_duckdb.expired_skipped > 0
    assert set(on_spark.refused_items()) == set(on_duckdb.refused_items())
    with wh.vault_connection() as con:
        assert set(con.execute("SELECT pseudonym, kind, source_hash FROM vault.mapping").fetchall()) == mapping
    clear = {r[0] for r in store.read("person").select("person_source_value").collect()}
    assert clear == {r[0] for r in wh.omop.execute("SELECT person_source_value FROM omop.person").fetchall()}
    assert all(len(value) == 64 for value in clear)  # keyed pseudonyms, never the source's value


def test_a_feed_on_spark_is_all_or_nothing(wh: Warehouse, spark: Any, tmp_path: Path) -> None:
    source = write_sample(tmp_path / "synthea", PERSONS[:2], ("person",))
    (source / "visit_occurrence.csv").write_text(
        "visit_occurrence_id,person_id,visit_concept_id,visit_start_date,visit_end_date,visit_type_concept_id\n"
        "1,1,9201,not a date,2020-01-02,32817\n"
    )
    storage = str(tmp_path / "lake")
    with pytest.raises(FeedError, match="visit_occurrence"):
        feed_omop(wh, spark, storage, source, DataList.from_mapping(FULL), source_name="synthea", operator=FEEDER)
    assert ParquetStore(spark, storage).counts() == dict.fromkeys(omop.HEALTH_TABLES, 0)


def test_a_storage_location_spark_cannot_write_is_a_sentence(wh: Warehouse, spark: Any, tmp_path: Path) -> None:
    source = write_sample(tmp_path / "synthea", PERSONS[:1], ("person",))
    with pytest.raises(FeedError, match="Spark cannot write in the storage location /proc/santegarde"):
        feed_omop(wh, spark, "/proc/santegarde", source, DataList.from_mapping(FULL), source_name="synthea",
                  operator=FEEDER)  # fmt: skip


# -- the same anonymity metrics on both engines ---------------------------------------------------------------
def _measured_rows() -> list[tuple[Any, ...]]:
    """Persons with two quasi-identifiers (one NULL class), a categorical and an ordered sensitive attribute."""
    import random

    rng = random.Random(22)
    bands = ["0-17", "18-39", "40-64", "65+", None]
    return [
        (rng.choice(bands), rng.choice(["F", "M"]), rng.choice(["I10", "E11", "J45", None]), rng.randint(1, 9))
        for _ in range(400)
    ]


def test_k_l_t_are_the_same_on_spark_and_duckdb(spark: Any) -> None:
    import duckdb

    from santegarde.warehouse.anonymity import measure
    from santegarde.warehouse.spark.sql import SparkRunner

    rows = _measured_rows()
    con = duckdb.connect()
    con.execute("CREATE TABLE persons (age_band VARCHAR, sex VARCHAR, diagnosis VARCHAR, stay_days BIGINT)")
    con.executemany("INSERT INTO persons VALUES (?, ?, ?, ?)", rows)
    frame = spark.createDataFrame(rows, "age_band string, sex string, diagnosis string, stay_days bigint")
    on_duckdb = measure(con, "persons", ["age_band", "sex"], ["diagnosis", "stay_days"], k_threshold=30)
    on_spark = measure(SparkRunner(spark), frame, ["age_band", "sex"], ["diagnosis", "stay_days"], k_threshold=30)
    assert on_spark.rows == on_duckdb.rows == 400
    assert (on_spark.classes, on_spark.k, on_spark.records_under_k) == (
        on_duckdb.classes,
        on_duckdb.k,
        on_duckdb.records_under_k,
    )
    assert on_spark.smallest_classes == on_duckdb.smallest_classes
    assert on_spark.classes == 10  # 5 bands (NULL included: no row is left out) × 2 sexes
    for mine, theirs in zip(on_spark.sensitive, on_duckdb.sensitive, strict=True):
        assert (mine.name, mine.ordered, mine.distinct_values, mine.l_distinct) == (
            theirs.name,
            theirs.ordered,
            theirs.distinct_values,
            theirs.l_distinct,
        )
        assert mine.min_entropy == pytest.approx(theirs.min_entropy, abs=1e-12)
        assert mine.t_closeness == pytest.approx(theirs.t_closeness, abs=1e-12)
        for name in ("alpha", "beta_basic", "beta_enhanced", "delta"):  # issue 15: pycanon's other metrics
            assert getattr(mine, name) == pytest.approx(getattr(theirs, name), abs=1e-12), name
        assert mine.recursive_c == theirs.recursive_c
    assert [s.ordered for s in on_spark.sensitive] == [False, True]  # bigint is ordered on both engines
    assert on_spark.failures(Thresholds(k=30)) == on_duckdb.failures(Thresholds(k=30))


def test_a_missing_column_is_refused_on_spark_as_on_duckdb(spark: Any) -> None:
    from santegarde.warehouse.anonymity import AnonymityError, measure
    from santegarde.warehouse.spark.sql import SparkRunner

    frame = spark.createDataFrame([("F", 1)], "sex string, n bigint")
    with pytest.raises(AnonymityError, match="age_band are not columns of the source; choose among n, sex"):
        measure(SparkRunner(spark), frame, ["age_band"])


def test_an_indicator_with_its_suppressions_is_the_same_on_spark_and_duckdb(spark: Any) -> None:
    import duckdb

    from santegarde.warehouse.anonymity import IndicatorRefused, indicator
    from santegarde.warehouse.spark.sql import SparkRunner

    rows = [(i, *row) for i, row in enumerate(_measured_rows())]
    con = duckdb.connect()
    con.execute("CREATE TABLE persons (pid BIGINT, age_band VARCHAR, sex VARCHAR, diagnosis VARCHAR, stay BIGINT)")
    con.executemany("INSERT INTO persons VALUES (?, ?, ?, ?, ?)", rows)
    frame = spark.createDataFrame(rows, "pid bigint, age_band string, sex string, diagnosis string, stay bigint")
    asked: dict[str, Any] = {
        "filters": {"sex": ["F", "M"]},
        "aggregates": {"days": ("mean", "stay")},
        "threshold": 22,
        "person": "pid",
    }
    on_duckdb = indicator(con, "persons", ["age_band", "diagnosis"], **asked)
    on_spark = indicator(SparkRunner(spark), frame, ["age_band", "diagnosis"], **asked)
    assert on_duckdb.suppressed  # the test means something: small cells exist and are withheld
    assert [(c.key, c.count, c.suppressed, c.reason) for c in on_spark.cells] == [
        (c.key, c.count, c.suppressed, c.reason) for c in on_duckdb.cells
    ]
    for mine, theirs in zip(on_spark.cells, on_duckdb.cells, strict=True):
        for (name, value), (_, expected) in zip(mine.aggregates, theirs.aggregates, strict=True):
            assert value == pytest.approx(expected, abs=1e-9), name
    narrow = {**asked, "filters": {"age_band": "65+", "diagnosis": "J45", "sex": "F"}}
    with pytest.raises(IndicatorRefused) as refused:
        indicator(SparkRunner(spark), frame, ["sex"], **narrow)
    with pytest.raises(IndicatorRefused) as same:
        indicator(con, "persons", ["sex"], **narrow)
    assert str(refused.value) == str(same.value)
