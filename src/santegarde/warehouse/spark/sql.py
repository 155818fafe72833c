"""The Spark engine as a SQL runner of the warehouse's measurements (issue 22).

The anonymity metrics are written once, in the SQL both engines read alike (:mod:`santegarde.warehouse.anonymity`);
this runner sends that text to Spark SQL. Double-quoted identifiers are Spark's under ANSI mode with
``spark.sql.ansi.doubleQuotedIdentifiers`` (set here for the session), and a data frame is measured under a temporary
view name dropped afterwards.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

from santegarde.warehouse.anonymity._sql import MEASURED, RELEASED, from_sql, quote_ident

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import SparkSession

# Spark's simple type names → DuckDB's, so that a source's types mean the same on both engines (ordered or not).
TYPE_NAMES = {
    "tinyint": "TINYINT", "smallint": "SMALLINT", "int": "INTEGER", "bigint": "BIGINT", "float": "FLOAT",
    "double": "DOUBLE", "boolean": "BOOLEAN", "date": "DATE", "timestamp": "TIMESTAMP WITH TIME ZONE",
    "timestamp_ntz": "TIMESTAMP", "string": "VARCHAR", "binary": "BLOB", "void": "NULL",
}  # fmt: skip
DECIMAL = re.compile(r"^decimal\((\d+),(\d+)\)$")


def duckdb_type(spark_type: str) -> str:
    """DuckDB's name of a Spark SQL simple type (a varchar(n) is a VARCHAR, a decimal keeps its precision)."""
    name = spark_type.lower()
    if name in TYPE_NAMES:
        return TYPE_NAMES[name]
    if (decimal := DECIMAL.match(name)) is not None:
        return f"DECIMAL({decimal.group(1)},{decimal.group(2)})"
    if name.startswith(("varchar", "char")):
        return "VARCHAR"
    return name.upper()  # arrays, maps, structs: neither numeric nor temporal, measured as categories


class SparkRunner:
    """Runs the measurements' SQL on a Spark session."""

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark
        spark.conf.set("spark.sql.ansi.enabled", "true")
        spark.conf.set("spark.sql.ansi.doubleQuotedIdentifiers", "true")

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self.spark.sql(sql, args=list(params) or None).collect()]

    def types(self, from_expr: str) -> dict[str, str]:
        schema = self.spark.sql(f"SELECT * FROM {from_expr} AS __src LIMIT 0").schema  # noqa: S608
        return {field.name: duckdb_type(field.dataType.simpleString()) for field in schema.fields}

    def resolved(self, source: Any) -> AbstractContextManager[str]:
        return self._resolved(source)

    @contextmanager
    def _resolved(self, source: Any) -> Iterator[str]:
        if hasattr(source, "createOrReplaceTempView"):  # a data frame
            name = f"{MEASURED}{uuid.uuid4().hex}"
            source.createOrReplaceTempView(name)
            try:
                yield quote_ident(name)
            finally:
                self.spark.catalog.dropTempView(name)
            return
        yield from_sql(source)

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        from py4j.protocol import Py4JJavaError
        from pyspark.errors import PySparkException

        return (PySparkException, Py4JJavaError)

    def arrow(self, sql: str) -> pa.Table:
        return self.spark.sql(sql).toArrow()

    def registered(self, table: pa.Table) -> AbstractContextManager[str]:
        return self._registered(table)

    @contextmanager
    def _registered(self, table: pa.Table) -> Iterator[str]:
        name = f"{RELEASED}{uuid.uuid4().hex}"
        self.spark.createDataFrame(table).createOrReplaceTempView(name)
        try:
            yield quote_ident(name)
        finally:
            self.spark.catalog.dropTempView(name)

    def catalog(self) -> list[tuple[str, str, str]]:
        """The columns of the session's temporary views (the published OMOP tables under their names, as
        :meth:`~santegarde.warehouse.spark.feed.ParquetStore.views` makes them)."""
        found = []
        for table in sorted(self.spark.catalog.listTables(), key=lambda t: t.name):
            if not table.isTemporary or table.name.startswith((RELEASED, MEASURED)):
                continue
            for field in self.spark.table(table.name).schema.fields:
                found.append((quote_ident(table.name), field.name, duckdb_type(field.dataType.simpleString())))
        return found
