"""Which released columns carry identifiers, whatever they are called (issue 15, EDS-SEC-EXP-1).

The gate drops the declared person column from a row-level export, but a query can release the same values under
another name (``person_id AS pid``, ``CAST(person_id AS VARCHAR)``, through a subquery, a join, a CTE or a UNION),
or release another surrogate key (``visit_occurrence_id``, any OMOP ``*_id``) or a pseudonymised source identifier
(``person_source_value``): two exports could then be joined on it. The decision is taken from the values, never
from the column names of the query:

1. **Warehouse identifiers.** The warehouse's keys are 63-bit keyed hashes and its source identifiers are
   pseudonyms (hex digests), while concept ids, years, ages and counts fit in 32 bits: a released value beyond
   ``2**31`` (numbers, and strings holding a number) equal to a value of an identifier column of the connection
   (integer ``*_id`` columns but ``*_concept_id``), or a released string of at least :data:`LONG_STRING`
   characters equal to a value of a ``*_source_value`` column, is an identifier. One such value is enough: two
   63-bit hashes do not agree by chance.
2. **Person keys.** A released integer or text column whose values match the declared person's one to one (every
   person one value, every value one person, over two persons or more) is the person's key under another name,
   whatever arithmetic made it (``person_id + 1000``), even where identifiers are small numbers.

Such an export is refused by the gate with the column named (:func:`sentences`); the requester removes it.
"""

# ruff: noqa: S608 - SQL is assembled from quoted identifiers of the connection's own catalog

from __future__ import annotations

import uuid
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from santegarde.warehouse.anonymity import quote_ident

DISTINCTIVE = 2**31
LONG_STRING = 16
KEY_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
             "UHUGEINT", "VARCHAR", "UUID", "BLOB")  # fmt: skip


@dataclass(frozen=True)
class Finding:
    """A released column and where its values come from (a ``table.column`` of the connection, or the person)."""

    column: str
    origin: str
    person: bool = False


def _identifier_columns(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    """(qualified table, column, kind) of every identifier column of the connection: ``number`` or ``text``."""
    rows = conn.execute(
        r"""SELECT database_name, schema_name, table_name, column_name, data_type FROM duckdb_columns()
            WHERE NOT internal AND (
               (column_name LIKE '%\_id' ESCAPE '\' AND column_name NOT LIKE '%concept\_id' ESCAPE '\'
                AND data_type IN ('INTEGER', 'BIGINT', 'HUGEINT', 'UBIGINT', 'UINTEGER'))
               OR (column_name LIKE '%\_source\_value' ESCAPE '\' AND data_type = 'VARCHAR'))
               AND NOT starts_with(table_name, '__released_')
            ORDER BY ALL"""
    ).fetchall()
    return [
        (".".join(quote_ident(str(p)) for p in (db, schema, table)), str(column),
         "text" if str(kind) == "VARCHAR" else "number")
        for db, schema, table, column, kind in rows
    ]  # fmt: skip


def _origin(qualified: str, column: str) -> str:
    return f"{qualified.split('.')[-1].strip(chr(34))}.{column}"


def _distinctive_sql(column: str, arrow_type: pa.DataType) -> str | None:
    """SQL true for a value of ``column`` that could be a warehouse identifier (``None``: its type cannot hold one)."""
    c = quote_ident(column)
    if pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return f"abs(CAST({c} AS DOUBLE)) >= {DISTINCTIVE}"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return f"(length({c}) >= {LONG_STRING} OR abs(TRY_CAST({c} AS DOUBLE)) >= {DISTINCTIVE})"
    return None


def warehouse_identifiers(conn: duckdb.DuckDBPyConnection, released: pa.Table) -> list[Finding]:
    """The columns of ``released`` holding values of the connection's identifier columns (module docstring, 1)."""
    tests = {f.name: _distinctive_sql(f.name, f.type) for f in released.schema}
    suspects = {name: sql for name, sql in tests.items() if sql is not None}
    if not suspects or released.num_rows == 0:
        return []
    identifiers = _identifier_columns(conn)
    if not identifiers:
        return []
    name = f"__released_{uuid.uuid4().hex}"
    conn.register(name, released)
    try:
        # one pass over the export: which columns hold any value that could be an identifier at all
        counts = ", ".join(f"count(*) FILTER (WHERE {sql})" for sql in suspects.values())
        row = conn.execute(f"SELECT {counts} FROM {quote_ident(name)}").fetchone() or ()
        found = []
        for (column, sql), n in zip(suspects.items(), row, strict=True):
            origin = _column_origin(conn, name, column, sql, identifiers) if int(n) else None
            if origin:
                found.append(Finding(column, origin))
        return found
    finally:
        conn.unregister(name)


def _column_origin(
    conn: duckdb.DuckDBPyConnection, released: str, column: str, distinctive: str,
    identifiers: list[tuple[str, str, str]],
) -> str | None:  # fmt: skip
    text = f"CAST({quote_ident(column)} AS VARCHAR)"
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE __released_values AS
            SELECT DISTINCT {text} AS t, TRY_CAST({text} AS DOUBLE) AS d FROM {quote_ident(released)}
            WHERE {distinctive}"""
    )
    try:
        for table, id_column, kind in identifiers:
            value = quote_ident(id_column)
            test = (
                f"SELECT 1 FROM temp.__released_values WHERE d IN (SELECT CAST({value} AS DOUBLE) FROM {table}) "
                "LIMIT 1"
                if kind == "number"
                else f"SELECT 1 FROM temp.__released_values WHERE length(t) >= {LONG_STRING} "
                f"AND t IN (SELECT {value} FROM {table}) LIMIT 1"
            )
            if conn.execute(test).fetchone():
                return _origin(table, id_column)
        return None
    finally:
        conn.execute("DROP TABLE IF EXISTS temp.__released_values")


def person_keys(conn: duckdb.DuckDBPyConnection, source: str, person: str) -> list[Finding]:
    """The integer or text columns of ``source`` (but ``person``) matching the person one to one (docstring, 2)."""
    described = conn.execute(f"DESCRIBE SELECT * FROM ({source})").fetchall()
    candidates = [str(r[0]) for r in described
                  if str(r[0]) != person and str(r[1]).split("(")[0] in KEY_TYPES]  # fmt: skip
    if not candidates:
        return []
    p = quote_ident(person)
    # as many distinct values as persons, none missing: then (and only then, it costs more) one value per person
    measures = ", ".join(
        f"count(DISTINCT {quote_ident(c)}), count(*) FILTER (WHERE {quote_ident(c)} IS NULL)" for c in candidates
    )
    row = conn.execute(f"SELECT count(DISTINCT {p}), {measures} FROM ({source}) AS __src").fetchone()
    if row is None or int(row[0]) < 2:
        return []
    persons = int(row[0])
    alike = [c for i, c in enumerate(candidates) if int(row[1 + 2 * i]) == persons and int(row[2 + 2 * i]) == 0]
    if not alike:
        return []
    pairs = ", ".join(f"count(DISTINCT ({p}, {quote_ident(c)}))" for c in alike)
    counted = conn.execute(f"SELECT {pairs} FROM ({source}) AS __src").fetchone() or ()
    return [Finding(c, person, person=True) for c, n in zip(alike, counted, strict=True) if int(n) == persons]


def sentences(findings: list[Finding]) -> dict[str, str]:
    """The refusal naming the first column found (and the others), in French and English."""
    f = findings[0]
    others = [g.column for g in findings[1:]]
    more_fr = f" (de même pour {', '.join(others)})" if others else ""
    more_en = f" (so do {', '.join(others)})" if others else ""
    if f.person:
        why_fr = f"ses valeurs correspondent une à une aux personnes de la colonne {f.origin}"
        why_en = f"its values match the persons of column {f.origin} one to one"
    else:
        why_fr = f"ses valeurs sont des identifiants de l'entrepôt ({f.origin})"
        why_en = f"its values are identifiers of the warehouse ({f.origin})"
    return {
        "fr": f"La colonne {f.column} de l'export porte des identifiants : {why_fr}{more_fr}. Diffusée, elle "
              "permettrait de relier cet export à d'autres. Retirez-la de la requête et soumettez-la de nouveau ; "
              "pour compter les personnes, déclarez leur colonne avec --person : elle n'est jamais diffusée.",
        "en": f"Column {f.column} of the export carries identifiers: {why_en}{more_en}. Released, it would let this "
              "export be joined with others. Remove it from the query and submit again; to count persons, declare "
              "their column with --person: it is never released.",
    }  # fmt: skip


__all__ = ["Finding", "person_keys", "sentences", "warehouse_identifiers"]
