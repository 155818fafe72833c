"""SQL helpers shared by the anonymity modules: safe quoting, sources and column checks."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import duckdb

from santegarde.errors import SantegardeError

NUMERIC_PREFIXES = (
    "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
    "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "REAL", "DECIMAL", "BOOLEAN", "DATE", "TIMESTAMP", "TIME",
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
        name = f"__santegarde_anon_{uuid.uuid4().hex}"
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
            f"The {role} {', '.join(missing)} are not columns of the source; "
            f"choose among {', '.join(sorted(columns))}."
        )


def is_ordered_type(sql_type: str) -> bool:
    """Tell whether a SQL type is numeric or temporal, hence measured with the ordered distance."""
    return sql_type.startswith(NUMERIC_PREFIXES)


def column_list(names: Sequence[str]) -> str:
    """Quote and join column names."""
    return ", ".join(quote_ident(name) for name in names)
