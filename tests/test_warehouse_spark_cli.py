"""The warehouse on Spark from the command line (issue 22): ``warehouse init --engine spark`` writes the engine in the
organisation's configuration, ``warehouse feed`` then writes the Parquet tables through Spark and
``warehouse measure anonymity | indicator`` measures them; the same files give the same report and the same
measurements as on DuckDB. Refusals are sentences, in French by default.

One demo organisation (fictitious data) per test; one Spark session (local[2]) for the whole test session.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from omop_samples import write_sample
from santegarde.cli.warehouse_engine import write_engine
from santegarde.config import load
from santegarde.config.model import WarehouseSettings
from santegarde.warehouse.spark import session as spark_session
from test_warehouse_core import FULL
from test_warehouse_feed_cli import Clock, Demo, audit_events, grant, login, ok, passphrase, run

pytestmark = pytest.mark.spark
__all__ = ["passphrase"]  # the feed CLI tests' environment: passphrase, session files and identity clock

PERSONS = (1, 2, 3, 5, 6, 7)
ANONYMITY = (
    "measure", "anonymity", "--source",
    "SELECT p.gender_concept_id, p.year_of_birth, m.measurement_concept_id, m.value_as_number "
    "FROM person p JOIN measurement m ON m.person_id = p.person_id",
    "--qi", "gender_concept_id", "--qi", "year_of_birth",
    "--sensitive", "measurement_concept_id", "--sensitive", "value_as_number",
)  # fmt: skip
INDICATOR = (
    "measure", "indicator", "--source",
    "SELECT p.gender_concept_id, m.measurement_concept_id "
    "FROM person p JOIN measurement m ON m.person_id = p.person_id",
    "--dimension", "gender_concept_id", "--dimension", "measurement_concept_id",
)  # fmt: skip


@pytest.fixture(scope="session")
def spark() -> Any:
    return spark_session.session("local[2]", shuffle_partitions=2)


@pytest.fixture
def org(tmp_path: Path, passphrase: Clock) -> Demo:
    """A demo warehouse organisation whose warehouse is not created yet."""
    directory = tmp_path / "demo"
    result = run("demo", "--profile", "warehouse", "--dir", str(directory), "--patients", "1", "--json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)["account"]
    assert found is not None
    return Demo(directory / "santegarde.yaml", found["login"], found["password"], found["totp_secret"])


def _said(*args: str) -> tuple[int, str]:
    result = run(*args)
    return result.exit_code, " ".join(result.output.split())


def _rows_written(output: str) -> dict[str, int]:
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"│ (\w+)\s+│\s+(\d+)\s+│", output)}


def written_rows(spark: Any, lake: Path) -> int:
    """The rows the measured query joins, counted straight from the Parquet files."""
    persons = spark.read.parquet(str(lake / "person")).select("person_id")
    return int(spark.read.parquet(str(lake / "measurement")).join(persons, "person_id").count())


def _report_lines(output: str) -> set[str]:
    """The feed report's sentences: refused items, objected persons, expired rows."""
    return {line for line in output.splitlines() if line.startswith(("Refused", "Persons", "Rows"))}


def test_init_with_spark_then_feed_and_measure_as_on_duckdb(
    org: Demo, passphrase: Clock, spark: Any, tmp_path: Path
) -> None:
    config = str(org.config)
    said = ok("warehouse", "init", "--engine", "spark", "--spark-master", "local[2]", "--storage", "lake",
              "--config", config)  # fmt: skip
    assert "Moteur de l'entrepôt : spark (maître local[2], tables Parquet dans lake)" in said
    assert load(org.config).warehouse == WarehouseSettings(engine="spark", spark_master="local[2]", storage="lake")
    login(org, passphrase)
    source = write_sample(tmp_path / "omop", PERSONS, ("person", "measurement"))
    data_list = tmp_path / "list.yaml"
    data_list.write_text(yaml.safe_dump(FULL), encoding="utf-8")
    feed = ("warehouse", "feed", "--source", "synthea", "--omop", str(source), "--data-list", str(data_list),
            "--config", config)  # fmt: skip
    on_spark = run(*feed)
    assert on_spark.exit_code == 0, on_spark.output
    lake = org.config.parent / "lake"
    assert (lake / "person").is_dir() and (lake / "measurement").is_dir()
    spark_anonymity = ok("warehouse", *ANONYMITY, "--config", config)
    spark_indicator = ok("warehouse", *INDICATOR, "--config", config)
    assert "Mesuré sur le moteur spark." in spark_anonymity and "k (plus petite classe)" in spark_anonymity
    rows = re.search(r"│ Lignes │ (\d+) │", spark_anonymity)
    assert rows is not None and int(rows.group(1)) == written_rows(spark, org.config.parent / "lake"), spark_anonymity
    code, bad = _said("warehouse", "measure", "anonymity", "--source", "SELECT * FROM no_such_table",
                      "--qi", "x", "--config", config)  # fmt: skip
    assert code != 0 and "Le moteur spark n'a pas pu exécuter la requête" in bad, bad
    assert not {"person", "measurement"} & {t.name for t in spark.catalog.listTables()}  # views dropped after use

    write_engine(org.config, WarehouseSettings())  # the same organisation on DuckDB: the same files, the same results
    on_duckdb = run(*feed)
    assert on_duckdb.exit_code == 0, on_duckdb.output
    written = _rows_written(on_spark.output)
    assert written == _rows_written(on_duckdb.output) and written["person"] == len(PERSONS) and written["measurement"]
    assert _report_lines(on_spark.output) == _report_lines(on_duckdb.output)
    forged = ("SELECT gender_concept_id FROM person; DROP TABLE person", "--qi", "gender_concept_id")
    code, forged = _said("warehouse", "measure", "anonymity", "--source", *forged, "--config", config, "--lang", "en")
    assert code != 0 and "must be one SELECT query (it holds SELECT, DROP)" in forged, forged
    duckdb_anonymity = ok("warehouse", *ANONYMITY, "--config", config)  # the person table is still there
    duckdb_indicator = ok("warehouse", *INDICATOR, "--config", config)
    assert duckdb_anonymity == spark_anonymity.replace("moteur spark", "moteur duckdb")
    assert duckdb_indicator == spark_indicator.replace("moteur spark", "moteur duckdb")
    assert "masqué (petit effectif)" in duckdb_indicator  # the indicator has small cells, withheld on both engines
    as_json = json.loads(ok("warehouse", *INDICATOR, "--config", config, "--json"))  # for scripts: the same cells
    hidden = [c for c in as_json["cells"] if c["suppressed"]]
    assert as_json["engine"] == "duckdb" and hidden and all(c["count"] is None for c in hidden)
    assert as_json["suppressed"] == len(hidden) == duckdb_indicator.count("masqué (")
    report = json.loads(ok("warehouse", *ANONYMITY, "--config", config, "--json"))
    assert report["rows"] == int(rows.group(1)) and [s["name"] for s in report["sensitive"]] == [
        "measurement_concept_id",
        "value_as_number",
    ]
    measured = [e for e in audit_events(org) if e["operation"] == "warehouse.measure"]
    assert [(e["actor"], e["outcome"]) for e in measured] == [(org.login, "success")] * 6


def test_bad_engine_settings_are_refused_before_anything_is_created(org: Demo) -> None:
    config = str(org.config)
    before = org.config.read_text(encoding="utf-8")
    for options, sentence in [
        (("--engine", "spark", "--spark-master", "localhost:7077", "--storage", "lake"),
         "« localhost:7077 » n'est pas l'adresse d'un maître Spark : écrivez local[2]"),
        (("--engine", "spark", "--spark-master", "local[2]"), "Le moteur Spark a besoin de --storage"),
        (("--engine", "spark"), "Le moteur Spark a besoin de --spark-master et --storage"),
        (("--storage", "lake"), "--spark-master et --storage ne valent qu'avec --engine spark"),
        (("--engine", "postgres"), "« postgres » n'est pas un moteur de l'entrepôt"),
    ]:  # fmt: skip
        code, said = _said("warehouse", "init", *options, "--config", config)
        assert code != 0 and sentence in said, said
    assert org.config.read_text(encoding="utf-8") == before
    assert not (org.config.parent / "warehouse").exists()


def test_spark_refusals_at_feed_and_measure_are_sentences(
    org: Demo, passphrase: Clock, spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = str(org.config)
    ok("warehouse", "init", "--engine", "spark", "--spark-master", "local[2]", "--storage", "lake", "--config", config)
    source = write_sample(tmp_path / "omop", PERSONS[:2], ("person",))
    data_list = tmp_path / "list.yaml"
    data_list.write_text(yaml.safe_dump(FULL), encoding="utf-8")
    feed = ("warehouse", "feed", "--source", "synthea", "--data-list", str(data_list), "--config", config)
    code, said = _said(*feed, "--fhir", str(tmp_path / "bundle.json"))
    assert code != 0 and "les Bundles FHIR ne s'y chargent pas encore" in said, said

    grant(org, "data_steward")  # a profile that does not feed may not measure either; the refusal is traced
    login(org, passphrase, "--profile", "data_steward")
    code, said = _said("warehouse", *ANONYMITY, "--config", config)
    assert code != 0 and "only the profile(s) feeding may measure the warehouse's tables" in said, said
    denied = [e for e in audit_events(org) if e["operation"] == "warehouse.measure"]
    assert [(e["profile"], e["outcome"]) for e in denied] == [("data_steward", "denied")]

    login(org, passphrase, "--profile", "feeding")
    code, said = _said("warehouse", *ANONYMITY, "--config", config)
    assert code != 0 and "Aucune table OMOP n'est encore publiée dans" in said, said
    write_engine(org.config, WarehouseSettings(engine="spark", spark_master="local[3]", storage="lake"))
    code, said = _said(*feed, "--omop", str(source))
    assert code != 0 and "Ce processus fait déjà tourner Spark sur le maître local[2], pas sur local[3]" in said, said
    write_engine(org.config, WarehouseSettings(engine="spark", spark_master="local[2]", storage="lake"))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    code, said = _said(*feed, "--omop", str(source))
    assert code != 0 and "Java est absent : le moteur Spark de l'entrepôt a besoin" in said, said
    assert not (org.config.parent / "lake").exists()  # nothing half-written


EXPORTED = "SELECT person_id, gender_concept_id, year_of_birth - year_of_birth % 50 AS era FROM person"


def test_an_export_is_checked_on_spark_as_on_duckdb(org: Demo, passphrase: Clock, spark: Any, tmp_path: Path) -> None:
    """``warehouse export check`` measures the Parquet tables Spark published when the configuration says spark,
    and says the same as on DuckDB over the same files."""
    config = str(org.config)
    ok("warehouse", "init", "--engine", "spark", "--spark-master", "local[2]", "--storage", "lake", "--config", config)
    source = write_sample(tmp_path / "omop", PERSONS, ("person",))
    data_list = tmp_path / "list.yaml"
    data_list.write_text(yaml.safe_dump(FULL), encoding="utf-8")
    feed = ("warehouse", "feed", "--source", "synthea", "--omop", str(source), "--data-list", str(data_list),
            "--config", config)  # fmt: skip
    grant(org, "internal_staff")  # the demo's person feeds; exports are asked under an export profile
    said = {}
    for engine in ("spark", "duckdb"):
        if engine == "duckdb":
            write_engine(org.config, WarehouseSettings())
        login(org, passphrase, "--profile", "feeding")
        ok(*feed)
        login(org, passphrase, "--profile", "internal_staff")
        asked = ok("warehouse", "export", "request", "--config", config, "--source", EXPORTED, "--person", "person_id",
                   "--recipient", "Observatoire régional (fictif)", "--purpose", "activity_indicators",
                   "--project", "PILOT-1", "--qi", "gender_concept_id", "--sensitive", "era")  # fmt: skip
        found = re.search(r"Demande d'export n° (\d+) enregistrée", asked)
        assert found is not None, asked
        said[engine] = ok("warehouse", "export", "check", found.group(1), "--config", config).replace(
            f"n° {found.group(1)}", "n° N"
        )
    assert "k-anonymat" in said["spark"] and f"{len(PERSONS)} personnes" in said["spark"], said["spark"]
    assert said["spark"] == said["duckdb"]
