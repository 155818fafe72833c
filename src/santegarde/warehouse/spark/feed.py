"""Feeding OMOP CDM 5.4 CSV/Parquet files into pseudonymised OMOP Parquet tables on Spark (issue 22).

The same rules as :func:`santegarde.warehouse.feed.feed_omop`, from the same definitions (no second copy of them):
the columns a table may receive (:func:`~santegarde.warehouse.feed.allowed`, the steering committee's data list),
the re-keyed identifiers and pseudonyms (the messages of ``_import_message`` hashed by the same HMAC kernel, so a
person has the same pseudonym and ``person_id`` on both engines), the retention cutoff (EDS-7) and the objection
ledger (EDS-9). The HMAC runs as a vectorised Arrow UDF over :mod:`santegarde.warehouse.hmac_kernel`: each
Arrow batch is hashed in one call, no per-row Python.

The identity vault's mapping (source identifier ↔ pseudonym, under the mapping key) stays in the warehouse
directory's encrypted vault, never beside the Parquet health tables. A feed is all or nothing: every table is
written under a staging name first and the staged tables replace the published ones only once all were written.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from santegarde.warehouse import hmac_kernel, omop
from santegarde.warehouse.feed import (
    EHR,
    FK_TARGETS,
    PSEUDONYM_COLUMNS,
    DataList,
    FeedError,
    FeedReport,
    _data_list,
    _Run,
    allowed,
    checked_source,
)
from santegarde.warehouse.pseudonym import PseudonymKey, person_id_of
from santegarde.warehouse.retention import COLLECTED_ON, PERIOD_START, feed_cutoff

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from santegarde.warehouse.access import Operator, WarehouseGuard
    from santegarde.warehouse.core import Warehouse

SPARK_TYPES = {
    "BIGINT": "bigint", "INTEGER": "int", "DATE": "date", "TIMESTAMP": "timestamp_ntz", "VARCHAR": "string",
    "DOUBLE": "double",
}  # fmt: skip
STAGING = "_staging"
MAPPING_BATCH = 50_000


def hmac_functions(key: PseudonymKey) -> tuple[Callable[[Column], Column], Callable[[Column], Column]]:
    """Spark column functions (hex pseudonym, BIGINT identifier) of a message column under ``key``.

    Vectorised Arrow UDFs (no pandas): each Arrow batch goes through the compiled kernel in one call. The key's two
    padded states travel in the UDF's closure to the executors (encrypt Spark's RPC on a cluster: spark.network.crypto).
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyspark.sql.functions import arrow_udf

    istate, ostate = key.states

    def digests(messages: pa.Array) -> pa.Array:
        hmac_kernel.self_check()  # once per worker process: a miscompiled kernel never makes a pseudonym
        return hmac_kernel.hmac_hex(messages, istate, ostate)

    def ids(messages: pa.Array) -> pa.Array:
        hexes = digests(messages)
        heads = pc.utf8_slice_codeunits(pc.fill_null(hexes, "0" * 16), 0, 16)
        raw = bytes.fromhex("".join(heads.to_pylist()))
        values = (np.frombuffer(raw, dtype=">u8") & np.uint64(0x7FFFFFFFFFFFFFFF)).astype(np.int64)
        return pa.array(values, pa.int64(), mask=hexes.is_null().to_numpy(zero_copy_only=False))

    for function in (digests, ids):  # resolved types: Spark infers an Arrow UDF (pa.Array -> pa.Array) from them
        function.__annotations__ = {"messages": pa.Array, "return": pa.Array}
    hex_of = arrow_udf(digests, "string")  # type: ignore[call-overload]
    id_of = arrow_udf(ids, "bigint")  # type: ignore[call-overload]
    return hex_of, id_of


def _import_message(source: str, target: str, column: str) -> Column:
    """Spark form of ``feed._import_message``: ``'import|<source>|<target>|' || CAST(column AS VARCHAR)``."""
    from pyspark.sql import functions as F

    return F.concat(F.lit(f"import|{source}|{target}|"), F.col(column).cast("string"))


def _value(
    table: str, spec: omop.Column, source: str, hex_of: Callable[..., Column], id_of: Callable[..., Column]
) -> Column:
    """The warehouse value of an incoming column, as ``feed._omop_value`` computes it on DuckDB."""
    from pyspark.sql import functions as F

    name = spec.name
    own_key = omop.OMOP_TABLES[table][0].name == name and table != "death"
    target = table if own_key else FK_TARGETS.get(name)
    if target is None and name.endswith("_event_id"):
        target = "event"
    if target is not None:
        return F.when(F.col(name).isNotNull(), id_of(_import_message(source, target, name)))
    if (table, name) in PSEUDONYM_COLUMNS:
        return hex_of(_import_message(source, table, omop.OMOP_TABLES[table][0].name))
    return F.col(name).cast(SPARK_TYPES[spec.type])


class ParquetStore:
    """The OMOP tables as Parquet directories under ``storage`` (a directory or a Hadoop-compatible URI)."""

    def __init__(self, spark: SparkSession, storage: str) -> None:
        self.spark = spark
        self.storage = storage.rstrip("/")
        jvm = spark._jvm  # Hadoop's FileSystem: the same calls for a local directory, HDFS or an object store
        self._path = jvm.org.apache.hadoop.fs.Path  # type: ignore[union-attr]
        self._fs = self._path(self.storage).getFileSystem(spark._jsc.hadoopConfiguration())

    def location(self, table: str) -> str:
        return f"{self.storage}/{table}"

    def exists(self, table: str) -> bool:
        return bool(self._fs.exists(self._path(self.location(table))))

    def read(self, table: str) -> DataFrame:
        return self.spark.read.parquet(self.location(table))

    def published(self) -> list[str]:
        """The OMOP tables a feed published under ``storage``."""
        return [table for table in omop.OMOP_TABLES if self.exists(table)]

    @contextmanager
    def views(self) -> Iterator[list[str]]:
        """Each published table as a temporary view under its OMOP name (as ``USE omop`` on DuckDB) while the block
        runs, so that a query names the tables alike on both engines; yields the names, drops the views after."""
        tables = self.published()
        try:
            for table in tables:
                self.read(table).createOrReplaceTempView(table)
            yield tables
        finally:
            for table in tables:
                self.spark.catalog.dropTempView(table)

    def counts(self) -> dict[str, int]:
        """Rows per OMOP health table (0 for a table never fed)."""
        return {t: (self.read(t).count() if self.exists(t) else 0) for t in omop.HEALTH_TABLES}

    def writable(self) -> None:
        """Refuse, with a sentence, a storage location Spark cannot write."""
        probe = self._path(f"{self.storage}/{STAGING}/.probe-{uuid.uuid4().hex}")
        try:
            made = bool(self._fs.mkdirs(probe))
            self._fs.delete(probe, True)
            reason = "" if made else "it cannot create a directory there"
        except Exception as exc:
            reason = _java_reason(exc)
        if reason:
            raise FeedError(
                f"Spark cannot write in the storage location {self.storage} ({reason}): give the "
                "warehouse a location it may write to (warehouse.storage in the configuration)."
            )

    def publish(self, staged: dict[str, str]) -> None:
        """Replace each published table by its staged version (a rename per table, once all were written)."""
        for table, path in staged.items():
            target = self._path(self.location(table))
            if self._fs.exists(target):
                self._fs.delete(target, True)
            if not self._fs.rename(self._path(path), target):
                raise FeedError(f"The staged {table} table could not be published in {self.storage}; feed again.")

    def discard(self, staged: dict[str, str]) -> None:
        for path in staged.values():
            self._fs.delete(self._path(path), True)


def _java_reason(exc: BaseException) -> str:
    text = str(exc)
    for line in text.splitlines():
        if "Exception" in line and ":" in line:
            return line.split(":", 1)[1].strip()[:160] or type(exc).__name__
    return type(exc).__name__


def feed_omop(
    warehouse: Warehouse, spark: SparkSession, storage: str, source: Path, data_list: DataList | Path, *,
    source_name: str, operator: Operator, guard: WarehouseGuard | None = None, cutoff: date | None = None,
) -> FeedReport:  # fmt: skip
    """Feed the OMOP CSV/Parquet files of ``source`` (one per table) into the Parquet tables under ``storage``.

    As ``operator`` under a feeding profile; persons in the objection ledger are skipped; rows collected on or
    before ``cutoff`` (default: the retention limit) are not integrated; the mapping goes to the identity vault.
    """
    name = checked_source(source_name)
    operation = "warehouse.feed"
    checker = warehouse.guard_for(operator, operation, guard)
    checker.feed(operator, operation)
    files = sorted(source.glob("*.csv")) + sorted(source.glob("*.parquet"))
    if not files:
        raise FeedError(f"No OMOP CSV or Parquet file was found in {source}; name files after their table.")
    run = _Run(warehouse, _data_list(data_list), name, None, total=len(files))
    run.cutoff = cutoff or feed_cutoff()
    store = ParquetStore(spark, storage)
    store.writable()
    objected = sorted(person_id_of(p) for p in warehouse.objected(checker))
    hex_of, id_of = hmac_functions(warehouse.pseudonym_key)
    mapping_hex, _ = hmac_functions(warehouse.mapping_key)
    batch = uuid.uuid4().hex
    staged: dict[str, str] = {}
    persons: list[DataFrame] = []  # the persons each file refers to: their observation periods are derived after
    try:
        for path in files:
            table = path.stem.lower()
            if table not in omop.OMOP_TABLES or table in omop.LOCATION_TABLES:
                run.refuse(f"{table} ({path.suffix.lstrip('.')})", "not an OMOP CDM 5.4 table fed by the warehouse")
                continue
            if table == "note":
                run.refuse("note", "unstructured text is refused until a de-identifier is configured")
                continue
            frame = _read(spark, path, table)
            try:
                rows = _table(run, table, frame, hex_of, id_of, objected)
            except Exception as exc:
                raise _failure(table, exc) from None
            if rows is None:
                continue
            if table == "person":
                _map_persons(warehouse, frame, name, hex_of, mapping_hex)
            if "person_id" in {c.lower() for c in frame.columns}:
                person = omop.OMOP_TABLES["person"][0]
                persons.append(frame.select(_value(table, person, name, hex_of, id_of).alias("person_id")))
            _stage(store, run, table, rows, f"{store.storage}/{STAGING}/{batch}/{table}", staged)
        if persons and not any(path.stem.lower() == "observation_period" for path in files):
            try:
                spans = _periods(store, staged, persons, id_of)
                periods = None if spans is None else _table_rows(run, "observation_period", spans, objected)
            except Exception as exc:
                raise _failure("observation_period", exc) from None
            if periods is not None:
                target = f"{store.storage}/{STAGING}/{batch}/observation_period"
                _stage(store, run, "observation_period", periods, target, staged)
        store.publish(staged)
    except BaseException:
        store.discard(staged)
        raise
    return run.report(len(files))


def _stage(store: ParquetStore, run: _Run, table: str, rows: DataFrame, target: str, staged: dict[str, str]) -> None:
    """Write the table's new version under ``target``: its published rows whose key is not fed again, and the fed
    rows (as DuckDB's upsert); a source may bring fewer or more of the table's columns, the others are empty."""
    key = omop.OMOP_TABLES[table][0].name
    merged = rows
    try:
        if store.exists(table):
            kept = store.read(table).join(rows.select(key), key, "left_anti")
            merged = kept.unionByName(rows, allowMissingColumns=True)
        merged.write.mode("errorifexists").parquet(target)
    except Exception as exc:
        raise _failure(table, exc) from None
    staged[table] = target
    run.rows[table] = store.spark.read.parquet(target).count() - (
        store.read(table).join(rows.select(key), key, "left_anti").count() if store.exists(table) else 0
    )


EVENT_DATES = (
    ("visit_occurrence", "visit_start_date", "visit_end_date"),
    ("condition_occurrence", "condition_start_date", "condition_start_date"),
    ("drug_exposure", "drug_exposure_start_date", "drug_exposure_end_date"),
    ("procedure_occurrence", "procedure_date", "procedure_date"),
    ("measurement", "measurement_date", "measurement_date"),
    ("observation", "observation_date", "observation_date"),
)  # as feed._observation_periods on DuckDB


def _periods(
    store: ParquetStore, staged: dict[str, str], persons: list[DataFrame], id_of: Callable[..., Column]
) -> DataFrame | None:
    """One observation period per person the feed referred to, spanning every dated event the warehouse holds for
    them once the feed is published (its staged tables, else the published ones), as on DuckDB."""
    from pyspark.sql import functions as F

    spark = store.spark
    events = []
    for table, start, end in EVENT_DATES:
        frame = spark.read.parquet(staged[table]) if table in staged else store.read(table) if store.exists(
            table) else None  # fmt: skip
        if frame is None or "person_id" not in frame.columns or start not in frame.columns:
            continue
        events.append(frame.select("person_id", F.col(start).alias("s"),
                                   F.col(end if end in frame.columns else start).alias("e")))  # fmt: skip
    fed = persons[0]
    for more in persons[1:]:
        fed = fed.unionByName(more)
    if not events:
        return None
    union = events[0]
    for more in events[1:]:
        union = union.unionByName(more)
    spans = union.join(fed.distinct(), "person_id", "left_semi")
    periods = spans.groupBy("person_id").agg(
        F.min("s").alias("observation_period_start_date"),
        F.max(F.coalesce(F.col("e"), F.col("s"))).alias("observation_period_end_date"),
    )
    return periods.select(
        id_of(F.concat(F.lit("period|"), F.col("person_id").cast("string"))).alias("observation_period_id"),
        "person_id", "observation_period_start_date", "observation_period_end_date",
        F.lit(EHR).cast("int").alias("period_type_concept_id"),
    )  # fmt: skip


def _failure(table: str, exc: Exception) -> FeedError:
    """The sentence for a table Spark could not compute or write (the feed is then discarded whole)."""
    if isinstance(exc, FeedError):
        return exc
    if "CAST_INVALID_INPUT" in str(exc):
        return FeedError(
            f"The {table} file holds a value that is not of its OMOP CDM 5.4 type ({_java_reason(exc)}); nothing "
            "of this feed was kept: correct the file and feed again."
        )
    return FeedError(f"Spark could not write the {table} table ({_java_reason(exc)}); nothing of this feed was kept.")


def _read(spark: SparkSession, path: Path, table: str) -> DataFrame:
    try:
        if path.suffix.lower() == ".parquet":
            frame = spark.read.parquet(str(path))
        else:  # every value as text, as DuckDB's read_csv(all_varchar): the casts below are the same
            frame = spark.read.option("header", "true").option("inferSchema", "false").csv(str(path))
        return frame  # names as the file has them (refusals name them so); Spark resolves columns regardless of case
    except Exception as exc:
        raise FeedError(
            f"The {table} file cannot be read as {path.suffix.lstrip('.')} ({_java_reason(exc)})."
        ) from None


def _table(
    run: _Run, table: str, frame: DataFrame, hex_of: Callable[..., Column], id_of: Callable[..., Column],
    objected: list[int],
) -> DataFrame | None:  # fmt: skip
    """The rows of ``table`` the warehouse keeps (data list, required columns, retention, objections), or None."""

    present = frame.columns
    columns: dict[str, Column] = {}
    for name in present:
        spec = omop.column(table, name.lower())
        if spec is None:
            run.refuse(f"{table}.{name}", "not an OMOP CDM 5.4 column")
            continue
        columns[spec.name] = _value(table, spec, run.source, hex_of, id_of)
    if not columns:
        return None
    key_column = omop.OMOP_TABLES[table][0].name
    for own_table, own in PSEUDONYM_COLUMNS:
        if own_table == table and own not in columns:
            columns[own] = hex_of(_import_message(run.source, table, key_column))
    return _table_rows(run, table, frame.select(*[value.alias(name) for name, value in columns.items()]), objected)


def _table_rows(run: _Run, table: str, frame: DataFrame, objected: list[int]) -> DataFrame | None:
    """The rows of ``frame`` (the table's columns, warehouse values) the warehouse keeps: the data list, the
    required columns, retention and objections, one row per key; None when the table is refused."""
    from pyspark.sql import functions as F

    key_column = omop.OMOP_TABLES[table][0].name
    columns = frame.columns
    keep = []
    for name in columns:
        reason = allowed(run, table, name)
        if reason is None:
            keep.append(name)
        else:
            run.refuse(f"{table}.{name}", reason)
    missing = [c.name for c in omop.OMOP_TABLES[table] if c.required and c.name not in keep]
    if missing:
        run.refuse(
            table, f"{table}.{missing[0]} is required by OMOP CDM 5.4 and may not enter, so the table is refused"
        )
        return None
    staged = frame.select(*keep)
    collected = COLLECTED_ON.get(table)
    if collected in keep:
        expired = F.col(collected) <= F.lit(run.cutoff)
        run.expired += staged.filter(expired).count()
        staged = staged.filter(~expired | F.col(collected).isNull())
        if table == "observation_period" and PERIOD_START in keep:
            start = F.col(PERIOD_START)
            later = F.lit(run.cutoff + timedelta(days=1))
            staged = staged.withColumn(PERIOD_START, F.when(start <= F.lit(run.cutoff), later).otherwise(start))
    if "person_id" in keep and objected:  # a broadcast join: the ledger may list many persons
        ledger = F.broadcast(staged.sparkSession.createDataFrame([(p,) for p in objected], "person_id bigint"))
        kept = staged.join(ledger, "person_id", "left_anti")
        if table == "person":  # the persons of the file the ledger keeps out
            persons = staged.select("person_id").distinct().count()
            run.objected += persons - kept.select("person_id").distinct().count()
        staged = kept
    return staged.dropDuplicates([key_column])


def _map_persons(
    warehouse: Warehouse, frame: DataFrame, source: str, hex_of: Callable[..., Column],
    mapping_hex: Callable[..., Column],
) -> None:  # fmt: skip
    """Record in the identity vault (mapping key) each source person's keyed hash next to its pseudonym, in batches
    streamed from the executors: no full table is collected to the driver."""
    import pyarrow as pa
    from pyspark.sql import functions as F

    rows = frame.select(
        hex_of(_import_message(source, "person", "person_id")).alias("pseudonym"),
        mapping_hex(F.concat(F.lit(f"{source}|"), F.col("person_id").cast("string"))).alias("source_hash"),
    ).filter(F.col("person_id").isNotNull() if "person_id" in {c.lower() for c in frame.columns} else F.lit(False))
    buffer: list[Any] = []

    def flush() -> None:
        if not buffer:
            return
        batch = pa.table({"pseudonym": [r[0] for r in buffer], "source_hash": [r[1] for r in buffer]})
        with warehouse.vault_connection() as con:
            con.register("sg_mapping_batch", batch)
            try:
                con.execute(
                    "INSERT OR REPLACE INTO vault.mapping SELECT pseudonym, $origin, source_hash, now()::TIMESTAMP "
                    "FROM sg_mapping_batch",
                    {"origin": f"import:{source}"},
                )
            finally:
                con.unregister("sg_mapping_batch")
        buffer.clear()

    for row in rows.toLocalIterator(prefetchPartitions=True):
        buffer.append(row)
        if len(buffer) >= MAPPING_BATCH:
            flush()
    flush()
