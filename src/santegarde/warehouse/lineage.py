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
   63-bit hashes do not agree by chance. Lists, structures and maps are looked into: every element, field, key
   and value (``[person_id, 1]``, ``{'stay': visit_occurrence_id}``). Measured in DuckDB over the source, before
   any row is fetched (:func:`warehouse_identifiers_in`): its memory is DuckDB's, bounded by its limit.
2. **Person keys.** A released column whose values match the declared person's one to one (every person one
   value, every value one person, over two persons or more) is the person's key under another name, whatever
   arithmetic made it (``person_id + 1000``, ``person_id / 7.0``, ``DATE '2000-01-01' + person_id % 5000``),
   even where identifiers are small numbers. Integer, text, list, structure and map columns always; decimal,
   floating, date and time columns when the export has more rows than persons (a value constant within each
   person and different between persons is then a pseudonym) or, in any export, when their values are beyond
   ``2**31`` (a float of a 63-bit key). In an export of one row per person, a small decimal value different for
   each person cannot be told from a measured value by its values alone: point 4 reads the query.
3. **Row keys.** In an export with more rows than persons, a released column whose values differ on every row
   (none missing) and look like keys is a key of the events, a surrogate key transformed
   (``visit_occurrence_id + 1``, ``md5(visit_occurrence_id::VARCHAR)``, ``visit_occurrence_id / 3.0``,
   ``{'stay': visit_occurrence_id}``): two exports of the same events could be joined on it. Look like keys:
   numbers all beyond ``2**31`` (a warehouse key, shifted or scaled, stays there), texts of at least
   :data:`LONG_STRING` characters holding no space (a digest or a number, not a sentence), lists, structures
   and maps whose text is that long. Measured values (small numbers), dates and times (a time of measurement may
   differ on every row) and sentences are left out; a key scaled down below ``2**31`` (divided by ``1e15``)
   cannot be told from a measured value by its values alone: point 4 reads the query.
4. **Columns computed from identifiers.** A released column whose expression in the query reads an identifier
   column (:mod:`santegarde.warehouse.derivation`: through aliases, CTEs, subqueries, unions, any arithmetic,
   hash, cast, date, list or structure) and one of whose values is shared by fewer than *k* persons (the gate's
   threshold) tells persons apart: ``visit_occurrence_id / 1e15``, ``hash(person_id) % 1e6 / 1e4`` in an export of
   one row per person, ``row_number() OVER (ORDER BY person_id)``. Measured values are not refused, however
   unique: they are not computed from an identifier (a count of stays, a mean per person grouped by the person
   column, a ``WHERE`` or ``JOIN`` on a key do not make a column derived).

Such an export is refused by the gate with the column named (:func:`sentences`); the requester removes it.
"""

# ruff: noqa: S608 - SQL is assembled from quoted identifiers of the connection's own catalog

from __future__ import annotations

import uuid
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from santegarde import refusals
from santegarde.warehouse import derivation
from santegarde.warehouse.anonymity import quote_ident

DISTINCTIVE = 2**31
LONG_STRING = 16
NESTED_PART = r"[^\s,\[\]{}():='']+"  # a token of a nested value's text (SQL-quoted)
KEY_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
             "UHUGEINT", "VARCHAR", "UUID", "BLOB")  # fmt: skip


@dataclass(frozen=True)
class Finding:
    """A released column and where its values come from: ``warehouse`` (a ``table.column`` of the connection),
    ``person`` (the person column, one to one) or ``row`` (a different value on every row)."""

    column: str
    origin: str
    kind: str = "warehouse"


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


def _candidates_sql(column: str, data_type: str) -> tuple[str, str] | None:
    """(filter, values) for a released column: SQL true on a row whose value could hold a warehouse identifier,
    and a SELECT of its candidate values as (text ``t``, number ``d``) over ``__src``; ``None``: its type cannot
    hold one. Lists, structures and maps are read as their text, split into tokens (every element, field, key and
    value)."""
    c = quote_ident(column)
    kind = _kind(data_type)
    if kind in ("integer", "number"):
        test = f"abs(CAST({c} AS DOUBLE)) >= {DISTINCTIVE}"
        return test, f"SELECT CAST({c} AS VARCHAR) AS t, CAST({c} AS DOUBLE) AS d FROM __src WHERE {test}"
    if kind == "text" and data_type.split("(")[0].strip() == "VARCHAR":
        test = f"(length({c}) >= {LONG_STRING} OR abs(TRY_CAST({c} AS DOUBLE)) >= {DISTINCTIVE})"
        return test, f"SELECT {c} AS t, TRY_CAST({c} AS DOUBLE) AS d FROM __src WHERE {test}"
    if kind == "nested":
        tokens = f"unnest(regexp_extract_all(CAST({c} AS VARCHAR), '{NESTED_PART}'))"
        token_test = f"(length(t) >= {LONG_STRING} OR abs(TRY_CAST(t AS DOUBLE)) >= {DISTINCTIVE})"
        return (
            f"length(CAST({c} AS VARCHAR)) >= 10",
            f"SELECT t, TRY_CAST(t AS DOUBLE) AS d FROM (SELECT {tokens} AS t FROM __src) WHERE {token_test}",
        )
    return None


def warehouse_identifiers(conn: duckdb.DuckDBPyConnection, released: pa.Table) -> list[Finding]:
    """The columns of the rows ``released`` (an indicator's cells) holding values of the connection's identifier
    columns (module docstring, 1): :func:`warehouse_identifiers_in` over them."""
    if released.num_rows == 0:
        return []
    name = f"__released_{uuid.uuid4().hex}"
    conn.register(name, released)
    try:
        return warehouse_identifiers_in(conn, f"SELECT * FROM {quote_ident(name)}")
    finally:
        conn.unregister(name)


def warehouse_identifiers_in(conn: duckdb.DuckDBPyConnection, source: str, person: str | None = None) -> list[Finding]:
    """The columns of the query ``source`` (but ``person``) holding values of the connection's identifier columns
    (module docstring, 1), measured in DuckDB without fetching the rows: one pass counting, for each column, the
    values that could be identifiers at all (none in an ordinary export); then, for the columns that have some,
    their distinct candidate values in a temporary table (DuckDB's memory limit and temporary directory apply) and
    one semi-join with each identifier column of the connection."""
    described = conn.execute(f"DESCRIBE SELECT * FROM ({source})").fetchall()
    tests = {
        str(r[0]): sql for r in described if str(r[0]) != person and (sql := _candidates_sql(str(r[0]), str(r[1])))
    }
    if not tests:
        return []
    counts = ", ".join(f"count(*) FILTER (WHERE {test})" for test, _ in tests.values())
    row = conn.execute(f"SELECT {counts} FROM ({source}) AS __src").fetchone() or ()
    suspects = [column for column, n in zip(tests, row, strict=True) if int(n)]
    if not suspects:
        return []
    identifiers = _identifier_columns(conn)
    if not identifiers:
        return []
    values = " UNION ALL ".join(f"SELECT {i} AS c, t, d FROM ({tests[column][1]})" for i, column in enumerate(suspects))
    table = f"__released_values_{uuid.uuid4().hex}"
    conn.execute(f"CREATE TEMP TABLE {table} AS WITH __src AS ({source}) SELECT DISTINCT c, t, d FROM ({values})")
    found: dict[int, Finding] = {}
    try:
        for qualified, id_column, kind in identifiers:
            value = quote_ident(id_column)
            test = (f"d IN (SELECT CAST({value} AS DOUBLE) FROM {qualified})" if kind == "number"
                    else f"length(t) >= {LONG_STRING} AND t IN (SELECT {value} FROM {qualified})")  # fmt: skip
            open_columns = ", ".join(str(i) for i in range(len(suspects)) if i not in found)
            if not open_columns:
                break
            hits = conn.execute(
                f"SELECT DISTINCT c FROM temp.{table} WHERE c IN ({open_columns}) AND {test}"
            ).fetchall()
            for (i,) in hits:
                found[int(i)] = Finding(suspects[int(i)], _origin(qualified, id_column))
    finally:
        conn.execute(f"DROP TABLE IF EXISTS temp.{table}")
    return [found[i] for i in sorted(found)]


def _kind(data_type: str) -> str | None:
    """The family of a DuckDB type for the key tests: integer, text, nested, number, time; ``None``: never a key."""
    base = data_type.split("(")[0].strip()
    if data_type.endswith("]") or base in ("STRUCT", "MAP", "UNION"):
        return "nested"
    if base in ("VARCHAR", "UUID", "BLOB"):
        return "text"
    if base in KEY_TYPES:
        return "integer"
    if base in ("FLOAT", "DOUBLE", "REAL", "DECIMAL"):
        return "number"
    if base.startswith(("DATE", "TIME", "INTERVAL")):
        return "time"
    return None


def _distinct(conn: duckdb.DuckDBPyConnection, source: str, *expressions: str) -> int:
    """How many distinct combinations of ``expressions`` the source has: a GROUP BY, which DuckDB spills beyond its
    memory limit (a ``count(DISTINCT ...)`` holds its whole set in memory)."""
    grouped = f"SELECT {', '.join(expressions)} FROM ({source}) AS __src GROUP BY ALL"
    return int((conn.execute(f"SELECT count(*) FROM ({grouped})").fetchone() or (0,))[0])


def keys(conn: duckdb.DuckDBPyConnection, source: str, person: str) -> list[Finding]:
    """The columns of ``source`` (but ``person``) that are the person's key or a key of the rows (module docstring,
    2 and 3): one streaming pass over the source (rows, missing values, shapes), then, for the columns that could
    still be keys, their distinct values counted by grouping (bounded by DuckDB's memory limit, spilled beyond)."""
    described = conn.execute(f"DESCRIBE SELECT * FROM ({source})").fetchall()
    candidates = {str(r[0]): kind for r in described if str(r[0]) != person and (kind := _kind(str(r[1])))}
    if not candidates:
        return []
    p = quote_ident(person)
    measures = []
    for column, kind in candidates.items():
        c = quote_ident(column)
        text = f"CAST({c} AS VARCHAR)"
        shape = f"count(*) FILTER (WHERE length({text}) < {LONG_STRING} OR {text} ~ '.*\\s.*')"
        extra = {"number": f"min(abs(CAST({c} AS DOUBLE)))", "integer": f"min(abs(CAST({c} AS DOUBLE)))",
                 "text": shape, "nested": f"count(*) FILTER (WHERE length({text}) < {LONG_STRING})"}  # fmt: skip
        measures.append(f"count(*) FILTER (WHERE {c} IS NULL), {extra.get(kind, 'NULL')}")
    row = conn.execute(f"SELECT count(*), {', '.join(measures)} FROM ({source}) AS __src").fetchone()
    if row is None:
        return []
    rows, persons = int(row[0]), _distinct(conn, source, p)
    if persons < 2:
        return []
    found: list[Finding] = []
    alike = []
    for n, (column, kind) in enumerate(candidates.items()):
        missing, extra = int(row[1 + 2 * n]), row[2 + 2 * n]
        numeric = kind in ("number", "integer")
        beyond = numeric and extra is not None and float(extra) >= DISTINCTIVE
        key_like = beyond or (kind in ("text", "nested") and not int(extra or 0))
        could_be_person = kind in ("integer", "text", "nested") or rows > persons or beyond
        could_be_row = rows > persons and key_like
        if missing or not (could_be_person or could_be_row):
            continue
        distinct = _distinct(conn, source, f"CAST({quote_ident(column)} AS VARCHAR)")
        if distinct == persons and could_be_person:
            alike.append(column)
        elif distinct == rows and could_be_row:
            found.append(Finding(column, person, kind="row"))
    for column in alike:
        if _distinct(conn, source, p, f"CAST({quote_ident(column)} AS VARCHAR)") == persons:
            found.append(Finding(column, person, kind="person"))
    order = list(candidates)
    return sorted(found, key=lambda f: order.index(f.column))


def derived_keys(
    conn: duckdb.DuckDBPyConnection, source: str, person: str, k: int, only: tuple[str, ...] | None = None
) -> list[Finding]:
    """The columns of ``source`` (but ``person``) computed from an identifier column
    (:mod:`santegarde.warehouse.derivation`) that tell persons apart: one of their values is shared by fewer than
    ``k`` persons (module docstring, 4). A key scaled below ``2**31`` (``visit_occurrence_id / 1e15``), a small
    decimal of the person's key in an export of one row per person, a hash of it, a date or a list made of it:
    their values say nothing, the query says where they come from. A measured value is not computed from an
    identifier and is never refused here, however many distinct values it has; a column computed from one that
    keeps persons together (``count(visit_occurrence_id)``, ``person_id % 2``) passes. ``only``: the columns
    released as they are (an indicator's dimensions; its counted columns never leave)."""
    outputs = [str(r[0]) for r in conn.execute(f"DESCRIBE SELECT * FROM ({source})").fetchall()]
    flags = derivation.derived(conn, source, outputs, derivation.identifier_names(conn))
    suspects = [c for c, flag in zip(outputs, flags, strict=True) if flag and c != person and (not only or c in only)]
    if not suspects:
        return []
    p = quote_ident(person)
    smallest = ", ".join(  # persons sharing each value: grouped twice (spilled by DuckDB beyond its memory limit)
        f"(SELECT min(n) FROM (SELECT v, count(*) AS n FROM (SELECT CAST({quote_ident(c)} AS VARCHAR) AS v, {p} "
        f"FROM __src GROUP BY ALL) GROUP BY v))"
        for c in suspects
    )
    row = conn.execute(f"WITH __src AS ({source}) SELECT {smallest}").fetchone() or ()
    smaller = [c for c, n in zip(suspects, row, strict=True) if n is not None and int(n) < k]
    return [Finding(c, str(k), kind="derived") for c in smaller]


def sentences(findings: list[Finding]) -> dict[str, str]:
    """The refusal naming the first column found (and the others), in every language (catalogue ``gate``,
    ``identifier_*``)."""
    f = findings[0]
    others = [g.column for g in findings[1:]]
    more = refusals.sentences("gate", "identifier_others", columns=", ".join(others)) if others else ""
    why = refusals.sentences("gate", f"identifier_{f.kind}", origin=f.origin)
    return refusals.sentences("gate", "identifier_column", column=f.column, why=why, more=more)


__all__ = ["Finding", "derived_keys", "keys", "sentences", "warehouse_identifiers", "warehouse_identifiers_in"]
