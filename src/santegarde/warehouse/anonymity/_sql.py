"""SQL helpers shared by the anonymity modules: safe quoting, sources and column checks."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import duckdb
import pyarrow as pa

from santegarde.errors import SantegardeError

NUMERIC_PREFIXES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
    "FLOAT",
    "DOUBLE",
    "REAL",
    "DECIMAL",
    "BOOLEAN",
    "DATE",
    "TIMESTAMP",
    "TIME",
)
RELEASED = "__released_"  # temporary names of the rows an export would release (never a warehouse table)
MEASURED = "__santegarde_anon_"  # temporary names of a measured relation or data frame
CATALOG = (  # the columns of the DuckDB connection's tables and views, the runners' temporary names left out
    "SELECT database_name, schema_name, table_name, column_name, data_type FROM duckdb_columns() WHERE NOT internal "
    "AND NOT starts_with(table_name, '__released_') AND NOT starts_with(table_name, '__santegarde_anon_') "
    "ORDER BY ALL"
)


class AnonymityError(SantegardeError):
    """A measurement, generalisation or indicator request that cannot be carried out as asked."""


@dataclass(frozen=True)
class Table:
    """A table (or view) of the connection, optionally in a schema."""

    name: str
    schema: str | None = None


@dataclass(frozen=True)
class Query:
    """A SQL query whose rows are measured (it is used as a sub-query, never modified)."""

    sql: str


Source = str | Table | Query | duckdb.DuckDBPyRelation


def quote_ident(name: str) -> str:
    """Quote an identifier for SQL, doubling embedded double quotes."""
    if not isinstance(name, str) or not name or "\x00" in name:
        raise AnonymityError(f"The column or table name {name!r} is not valid; give a non-empty name.")
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: object) -> str:
    """Render a value as a SQL string literal, doubling embedded single quotes."""
    text = str(value)
    if "\x00" in text:
        raise AnonymityError("A value contains a NUL character; remove it from the configuration.")
    return "'" + text.replace("'", "''") + "'"


def from_sql(source: str | Table | Query) -> str:
    """Return a FROM-able SQL expression for a table name, a Table or a Query."""
    if isinstance(source, Query):
        if not source.sql.strip():
            raise AnonymityError("The query to measure is empty; give a SELECT statement.")
        return f"({source.sql.strip().rstrip(';')})"
    if isinstance(source, Table):
        prefix = f"{quote_ident(source.schema)}." if source.schema else ""
        return prefix + quote_ident(source.name)
    return quote_ident(source)


@contextmanager
def resolved(conn: duckdb.DuckDBPyConnection, source: Source) -> Iterator[str]:
    """Yield a FROM-able SQL expression; a DuckDB relation becomes a temporary view dropped afterwards.

    A relation must belong to ``conn``.
    """
    if isinstance(source, duckdb.DuckDBPyRelation):
        name = f"{MEASURED}{uuid.uuid4().hex}"
        source.create_view(name, replace=True)
        try:
            yield quote_ident(name)
        finally:
            conn.execute(f"DROP VIEW IF EXISTS {quote_ident(name)}")
        return
    yield from_sql(source)


def column_types(conn: duckdb.DuckDBPyConnection, from_expr: str) -> dict[str, str]:
    """Return the columns of a source with their SQL types."""
    rows = conn.execute(f"DESCRIBE SELECT * FROM {from_expr} AS __src").fetchall()  # noqa: S608
    return {str(row[0]): str(row[1]).upper() for row in rows}


def check_columns(columns: dict[str, str], names: Sequence[str], role: str) -> None:
    """Refuse names that are not columns of the source."""
    missing = [name for name in names if name not in columns]
    if missing:
        raise AnonymityError(
            f"The {role} {', '.join(missing)} are not columns of the source; choose among {', '.join(sorted(columns))}."
        )


def is_ordered_type(sql_type: str) -> bool:
    """Tell whether a SQL type is numeric or temporal, hence measured with the ordered distance."""
    return sql_type.startswith(NUMERIC_PREFIXES)


def column_list(names: Sequence[str]) -> str:
    """Quote and join column names."""
    return ", ".join(quote_ident(name) for name in names)


@runtime_checkable
class Runner(Protocol):
    """What the measurements need of an engine, so that one SQL text measures on DuckDB and on Spark: run a query
    and fetch its rows, tell a source's column types, and make a source FROM-able (a relation or data frame
    registered under a temporary name while it is measured). The SQL sent through a runner is the portable subset
    both engines read alike (double-quoted identifiers, CASE rather than FILTER, explicit window frames)."""

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """The rows of ``sql``, its ``?`` markers bound to ``params`` in order."""
        ...

    def types(self, from_expr: str) -> dict[str, str]:
        """The columns of a FROM-able expression with their types in DuckDB's upper-case names."""
        ...

    def resolved(self, source: Any) -> AbstractContextManager[str]:
        """A FROM-able SQL expression for ``source`` while the block runs."""
        ...

    def arrow(self, sql: str) -> pa.Table:
        """The rows of ``sql`` as an Arrow table (what leaves through the export gate, never a full health table)."""
        ...

    def registered(self, table: pa.Table) -> AbstractContextManager[str]:
        """An Arrow table as a FROM-able name while the block runs (dropped after)."""
        ...

    def catalog(self) -> list[tuple[str, str, str]]:
        """(FROM-able table name, column, type in DuckDB's upper-case names) of every column of the tables the
        engine's queries name (the warehouse's tables), temporary names of the runner left out."""
        ...

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        """The exception types the engine raises for a query it cannot run."""
        ...


class DuckDBRunner:
    """The runner of a DuckDB connection (the warehouse's embedded engine)."""

    def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
        self.conn = conn

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        return (duckdb.Error,)

    def arrow(self, sql: str) -> pa.Table:
        return self.conn.execute(sql).fetch_arrow_table()

    @contextmanager
    def _registered(self, table: pa.Table) -> Iterator[str]:
        name = f"{RELEASED}{uuid.uuid4().hex}"
        self.conn.register(name, table)
        try:
            yield quote_ident(name)
        finally:
            self.conn.unregister(name)

    def registered(self, table: pa.Table) -> AbstractContextManager[str]:
        return self._registered(table)

    def catalog(self) -> list[tuple[str, str, str]]:
        rows = self.conn.execute(CATALOG).fetchall()
        return [
            (".".join(quote_ident(str(p)) for p in (db, schema, table)), str(column), str(kind).upper())
            for db, schema, table, column, kind in rows
        ]

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self.conn.execute(sql, list(params)).fetchall()]

    def types(self, from_expr: str) -> dict[str, str]:
        return column_types(self.conn, from_expr)

    def resolved(self, source: Any) -> AbstractContextManager[str]:
        return resolved(self.conn, source)


def runner_of(engine: duckdb.DuckDBPyConnection | Runner) -> Runner:
    """The runner of a DuckDB connection, or the runner given (e.g. the Spark engine's)."""
    if isinstance(engine, duckdb.DuckDBPyConnection):
        return DuckDBRunner(engine)
    if isinstance(engine, Runner):
        return engine
    raise TypeError(f"anonymity is measured on a DuckDB connection or an engine runner, not {type(engine).__name__}")
