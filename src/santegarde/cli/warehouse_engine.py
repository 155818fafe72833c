"""The warehouse's engine from the command line (issue 22): chosen in the organisation's configuration (checked,
then written atomically), and the Spark session and Parquet store a command runs on when it says engine: spark.

PySpark is imported only when the configuration chooses Spark: a DuckDB organisation never loads it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from santegarde.config import load
from santegarde.config.io import parse, save
from santegarde.config.model import SPARK_MASTER_PATTERN, WarehouseSettings
from santegarde.warehouse.spark.session import SparkEngineError

if TYPE_CHECKING:
    from santegarde.warehouse.spark.feed import ParquetStore

ENGINES = ("duckdb", "spark")


def engine_settings(engine: str, spark_master: str | None, storage: str | None) -> WarehouseSettings:
    """The warehouse settings the options ask for, refused with a sentence when they do not hold together."""
    if engine not in ENGINES:
        raise SparkEngineError("bad_engine", engine=engine)
    if engine == "duckdb":
        if spark_master is not None or storage is not None:
            raise SparkEngineError("duckdb_options")
        return WarehouseSettings()
    missing = [option for option, value in (("--spark-master", spark_master), ("--storage", storage))
               if value is None or not value.strip()]  # fmt: skip
    if missing:
        raise SparkEngineError("needs_settings", missing={"fr": " et ".join(missing), "en": " and ".join(missing)})
    assert spark_master is not None and storage is not None
    if not re.fullmatch(SPARK_MASTER_PATTERN, spark_master.strip()):
        raise SparkEngineError("bad_master", master=spark_master)
    return WarehouseSettings(engine="spark", spark_master=spark_master, storage=storage)


def write_engine(config: Path, settings: WarehouseSettings) -> None:
    """Write ``settings`` as the configuration's ``warehouse`` section: the whole file is validated again, then
    replaced atomically (a reader sees the old file or the new one, never half of it)."""
    current = load(config)
    updated = parse({**current.model_dump(mode="json"), "warehouse": settings.model_dump(mode="json")}, config)
    save(updated, config)


def storage_of(config: Path, settings: WarehouseSettings) -> str:
    """The storage location; a relative directory is taken from the configuration file's directory."""
    assert settings.storage is not None
    if "://" in settings.storage or Path(settings.storage).is_absolute():
        return settings.storage
    return str(config.resolve().parent / settings.storage)


def spark_store(config: Path, settings: WarehouseSettings) -> ParquetStore:
    """The Parquet store of the configured Spark engine, on the process's Spark session (started at first use)."""
    from santegarde.warehouse.spark import session
    from santegarde.warehouse.spark.feed import ParquetStore

    assert settings.spark_master is not None
    return ParquetStore(session.session(settings.spark_master), storage_of(config, settings))
