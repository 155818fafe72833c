"""Same answers on both engines (issue 22): one feed — the OMOP sample files (Eunomia) and OMOP files made from the
project's synthetic patients — through DuckDB and through Spark gives the same pseudonyms, the same rows per table,
the same k, l and t, and the same decisions of the export gate (criteria, quarantine, proposal, refusals), and an
export checked on Spark is released from Spark.

One warehouse fed on both engines for the module; one Spark session (local[2]) for the whole test session.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from omop_samples import write_sample
from santegarde.audit.trail import AuditTrail
from santegarde.store.db import make_engine, migrate
from santegarde.synthetic import generate_dataset
from santegarde.warehouse import Warehouse, omop
from santegarde.warehouse.anonymity import Query, measure
from santegarde.warehouse.feed import DataList, FeedReport
from santegarde.warehouse.gate import (
    ExportRequest,
    Gate,
    GateError,
    GateThresholds,
    IdentifierColumnError,
    IndicatorSpec,
)
from santegarde.warehouse.spark import session as spark_session
from santegarde.warehouse.spark.feed import ParquetStore, feed_omop
from santegarde.warehouse.spark.sql import SparkRunner
from test_warehouse_core import FEEDER, FULL, STEWARD
from warehouse_governance_fixtures import warehouse_guard

pytestmark = pytest.mark.spark
SAMPLE = (1, 2, 3, 5, 6, 7)  # Eunomia's persons (no person 4)
SAMPLE_TABLES = ("person", "visit_occurrence", "condition_occurrence", "measurement")
CUTOFF = date(2000, 1, 1)
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
LIMITS = GateThresholds(k=3, l_distinct=2, t=0.5, min_cell=3, n_attacks=20, max_singling_out=0.6,
                        max_linkability=0.6, max_inference=0.9)  # fmt: skip
SEX = {"female": 8532, "male": 8507}
DERIVED = {"condition_era", "drug_era", "dose_era"}  # rebuilt after a DuckDB feed (vocabulary.refresh), not on Spark


@dataclass
class Fed:
    warehouse: Warehouse
    store: ParquetStore
    duckdb: dict[str, FeedReport]
    spark: dict[str, FeedReport]


@pytest.fixture(scope="session")
def spark() -> Any:
    return spark_session.session("local[2]", shuffle_partitions=2)


def _synthetic_omop(directory: Path) -> Path:
    """person.csv and measurement.csv of 40 of the project's synthetic patients (their sex, birth date and vital
    signs), under their generation order as source identifiers."""
    data = generate_dataset(22, 40, "warehouse")
    directory.mkdir(parents=True)
    order = {str(p.id): n for n, p in enumerate(data.patients, start=1)}
    with (directory / "person.csv").open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["person_id", "gender_concept_id", "year_of_birth", "month_of_birth", "day_of_birth",
                         "race_concept_id", "ethnicity_concept_id"])  # fmt: skip
        for patient in data.patients:
            born = patient.birthDate
            writer.writerow([order[str(patient.id)], SEX.get(str(patient.gender), 0), born.year, born.month,
                             born.day, 0, 0])  # fmt: skip
    with (directory / "measurement.csv").open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["measurement_id", "person_id", "measurement_concept_id", "measurement_date",
                         "measurement_type_concept_id", "value_as_number"])  # fmt: skip
        for n, seen in enumerate(data.observations, start=1):
            code = str(seen.code.coding[0].code)
            quantity = getattr(seen, "valueQuantity", None)
            writer.writerow([n, order[str(seen.subject.reference).split("/")[-1]], sum(map(ord, code)),
                             seen.effectiveDateTime.date().isoformat(), 32817,
                             None if quantity is None else quantity.value])  # fmt: skip
    return directory


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory, spark: Any) -> Iterator[Fed]:
    base = tmp_path_factory.mktemp("conformance")
    guard = warehouse_guard(base, FEEDER.login, STEWARD.login)
    warehouse = Warehouse.open(base / "warehouse", guard.identity.keyring, guard=guard)
    sources = {"synthea": write_sample(base / "synthea", SAMPLE, SAMPLE_TABLES), "synthetic": _synthetic_omop(
        base / "synthetic")}  # fmt: skip
    data_list = DataList.from_mapping(FULL)
    storage = str(base / "lake")
    on_duckdb, on_spark = {}, {}
    for name, source in sources.items():
        on_duckdb[name] = warehouse.feed_omop(source, data_list, source_name=name, operator=FEEDER, cutoff=CUTOFF)
        on_spark[name] = feed_omop(warehouse, spark, storage, source, data_list, source_name=name, operator=FEEDER,
                                   cutoff=CUTOFF)  # fmt: skip
    warehouse.omop.execute("USE omop")
    store = ParquetStore(spark, storage)
    with store.views():
        yield Fed(warehouse, store, on_duckdb, on_spark)
    warehouse.close()


def test_the_same_rows_and_pseudonyms_in_every_table(fed: Fed) -> None:
    for name in ("synthea", "synthetic"):
        assert fed.spark[name].rows == fed.duckdb[name].rows, name
        assert set(fed.spark[name].refused_items()) == set(fed.duckdb[name].refused_items())
    assert fed.duckdb["synthetic"].rows["person"] == 40 and fed.duckdb["synthetic"].rows["measurement"] > 40
    counts = fed.store.counts()
    for table in set(omop.HEALTH_TABLES) - DERIVED:
        row = fed.warehouse.omop.execute(f"SELECT count(*) FROM omop.{table}").fetchone()
        assert counts[table] == (row[0] if row else 0), table
    assert counts["person"] == len(SAMPLE) + 40
    on_duckdb = fed.warehouse.omop.execute("SELECT person_id, person_source_value FROM omop.person").fetchall()
    on_spark = [tuple(r) for r in fed.store.read("person").select("person_id", "person_source_value").collect()]
    assert sorted(on_spark) == sorted(on_duckdb)


def test_the_same_k_l_t(fed: Fed) -> None:
    sql = ("SELECT p.gender_concept_id, p.year_of_birth - p.year_of_birth % 20 AS era, m.measurement_concept_id, "
           "m.value_as_number FROM person p JOIN measurement m ON m.person_id = p.person_id")  # fmt: skip
    asked: dict[str, Any] = {"k_threshold": 5}
    qis, sensitive = ["gender_concept_id", "era"], ["measurement_concept_id", "value_as_number"]
    on_duckdb = measure(fed.warehouse.omop, Query(sql), qis, sensitive, **asked)
    on_spark = measure(SparkRunner(fed.store.spark), Query(sql), qis, sensitive, **asked)
    assert (on_spark.rows, on_spark.classes, on_spark.k, on_spark.smallest_classes) == (
        on_duckdb.rows, on_duckdb.classes, on_duckdb.k, on_duckdb.smallest_classes)  # fmt: skip
    for mine, theirs in zip(on_spark.sensitive, on_duckdb.sensitive, strict=True):
        assert (mine.l_distinct, mine.distinct_values) == (theirs.l_distinct, theirs.distinct_values)
        assert mine.t_closeness == pytest.approx(theirs.t_closeness, abs=1e-12)


def _gate(tmp_path: Path, name: str) -> Gate:
    engine = make_engine(f"sqlite:///{tmp_path / f'{name}-audit.db'}")
    migrate(engine, package="santegarde.audit")

    class Reviewers:
        def empowered(self, login: str) -> bool:
            return login == "marie"

    return Gate(tmp_path / name, AuditTrail(engine, b"s" * 32), Reviewers(), thresholds=LIMITS, clock=lambda: NOW)


def _row(source: str, qis: tuple[str, ...], sensitive: tuple[str, ...] = ()) -> ExportRequest:
    return ExportRequest(source=source, recipient="Observatoire (fictif)", purpose="activity_indicators",
                         project="P-22", requested_by="fanny", quasi_identifiers=qis, sensitive=sensitive,
                         person="person_id", format="csv")  # fmt: skip


REQUESTS = {
    "passes": _row("SELECT person_id, gender_concept_id, year_of_birth - year_of_birth % 50 AS era FROM person",
                   ("gender_concept_id",), ("era",)),
    "exact years": _row("SELECT person_id, gender_concept_id, year_of_birth FROM person",
                        ("gender_concept_id", "year_of_birth")),
    "indicator": ExportRequest(
        source="SELECT p.person_id, p.gender_concept_id, m.measurement_concept_id FROM person p "
        "JOIN measurement m ON m.person_id = p.person_id", recipient="Direction (fictive)",
        purpose="activity_indicators", project="P-22", requested_by="fanny", kind="indicator", format="csv",
        indicator=IndicatorSpec(dimensions=("gender_concept_id", "measurement_concept_id"), person="person_id"),
    ),
}  # fmt: skip
REFUSED = {
    "a warehouse key": _row("SELECT p.person_id, m.measurement_id AS event, p.gender_concept_id FROM person p "
                            "JOIN measurement m ON m.person_id = p.person_id", ("gender_concept_id",)),
    "the person's key": _row("SELECT person_id, person_id + 1000 AS pid, gender_concept_id FROM person",
                             ("gender_concept_id",)),
}  # fmt: skip


def _decision(gate: Gate, request_id: int) -> tuple[Any, ...]:
    stored = gate.get(request_id)
    criteria = [(c.name, c.value, c.threshold, c.passed, c.note, c.state, c.facts) for c in stored.criteria]
    proposal = stored.proposal or {}
    return stored.status, stored.rows, criteria, proposal.get("found"), proposal.get("levels")


def test_the_gate_decides_alike_on_spark_and_duckdb(fed: Fed, tmp_path: Path) -> None:
    on_duckdb, on_spark = _gate(tmp_path, "duckdb"), _gate(tmp_path, "spark")
    runner = SparkRunner(fed.store.spark)
    decided = {}
    for name, request in REQUESTS.items():
        duck = on_duckdb.check(on_duckdb.submit(request), fed.warehouse.omop)
        spark = on_spark.check(on_spark.submit(request), runner)
        assert _decision(on_spark, spark.id) == _decision(on_duckdb, duck.id), name
        decided[name] = spark.status
    passing = "awaiting_validation"
    assert decided == {"passes": passing, "exact years": "quarantined", "indicator": passing}
    assert _decision(on_spark, 2)[3] is True  # a generalisation was found on Spark too (the same levels)
    for name, request in REFUSED.items():
        with pytest.raises(IdentifierColumnError) as duck_refusal:
            on_duckdb.check(on_duckdb.submit(request), fed.warehouse.omop)
        with pytest.raises(IdentifierColumnError) as spark_refusal:
            on_spark.check(on_spark.submit(request), runner)
        assert str(spark_refusal.value) == str(duck_refusal.value), name


def test_an_export_checked_on_spark_is_released_from_spark(fed: Fed, tmp_path: Path) -> None:
    gate = _gate(tmp_path, "spark")
    runner = SparkRunner(fed.store.spark)
    checked = gate.check(gate.submit(REQUESTS["passes"]), runner)
    assert checked.status == "awaiting_validation", checked.criteria
    released = gate.validate(checked.id, "marie", runner)
    assert released.rows == len(SAMPLE) + 40 and released.data.is_file()
    exported = released.data.read_text(encoding="utf-8")
    persons = {str(r[0]) for r in fed.store.read("person").select("person_id").collect()}
    assert not persons & set(exported.replace(",", "\n").split())  # the warehouse's person ids never leave


def test_a_query_spark_cannot_run_is_a_sentence_and_leaves_the_request_new(fed: Fed, tmp_path: Path) -> None:
    gate = _gate(tmp_path, "spark")
    request_id = gate.submit(_row("SELECT person_id, no_such_column FROM person", ("no_such_column",)))
    with pytest.raises(GateError, match="AnalysisException"):
        gate.check(request_id, SparkRunner(fed.store.spark))
    assert gate.get(request_id).status == "requested" and not gate.alerts()
