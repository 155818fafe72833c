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
   and value (``[person_id, 1]``, ``{'stay': visit_occurrence_id}``).
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

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from santegarde import refusals
from santegarde.warehouse import derivation
from santegarde.warehouse.anonymity import quote_ident
from santegarde.warehouse.anonymity._sql import Runner, runner_of

DISTINCTIVE = 2**31
LONG_STRING = 16
KEY_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
             "UHUGEINT", "VARCHAR", "UUID", "BLOB")  # fmt: skip


@dataclass(frozen=True)
class Finding:
    """A released column and where its values come from: ``warehouse`` (a ``table.column`` of the connection),
    ``person`` (the person column, one to one) or ``row`` (a different value on every row)."""

    column: str
    origin: str
    kind: str = "warehouse"


def _identifier_columns(run: Runner) -> list[tuple[str, str, str]]:
    """(qualified table, column, kind) of every identifier column of the engine: ``number`` or ``text``."""
    numbers = ("INTEGER", "BIGINT", "HUGEINT", "UBIGINT", "UINTEGER")
    found = []
    for table, column, data_type in run.catalog():
        if column.endswith("_id") and not column.endswith("concept_id") and data_type in numbers:
            found.append((table, column, "number"))
        elif column.endswith("_source_value") and data_type == "VARCHAR":
            found.append((table, column, "text"))
    # an entity's own key first (person.person_id before condition_era.person_id): the refusal names where the value
    # comes from, the same on every engine whatever tables the engine has derived
    return sorted(found, key=lambda f: _table_name(f[0]) + "_" not in (f[1][:-2], f[1][: -len("source_value")]))


def _table_name(qualified: str) -> str:
    return qualified.split(".")[-1].strip('"')


def _origin(qualified: str, column: str) -> str:
    return f"{qualified.split('.')[-1].strip(chr(34))}.{column}"


def _distinctive_sql(column: str, arrow_type: pa.DataType) -> str | None:
    """SQL true for a value of ``column`` that could be a warehouse identifier (``None``: its type cannot hold one)."""
    c = quote_ident(column)
    if pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return f"abs(CAST({c} AS DOUBLE)) >= {DISTINCTIVE}"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type) or pa.types.is_string_view(arrow_type):
        return f"(length({c}) >= {LONG_STRING} OR coalesce(abs(TRY_CAST({c} AS DOUBLE)) >= {DISTINCTIVE}, FALSE))"
    return None


def _leaves(name: str, array: pa.Array) -> list[tuple[str, pa.Array]]:
    """The scalar arrays inside a released column: itself, or every element of its lists, field of its structures,
    key and value of its maps (recursively), each under the column's name."""
    kind = array.type
    if pa.types.is_struct(kind):
        return [leaf for i in range(kind.num_fields) for leaf in _leaves(name, array.field(i))]
    if pa.types.is_map(kind):
        return _leaves(name, array.keys) + _leaves(name, array.items)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return _leaves(name, array.flatten())
    return [(name, array)]


def warehouse_identifiers_in(engine: Any, source: str, person: str | None = None) -> list[Finding]:
    """The scalar columns of the query ``source`` (but ``person``) holding values of the engine's identifier
    columns (module docstring, 1), measured by the engine over the source before any row is fetched: one pass
    counting, for each column, the values that could be identifiers at all (none in an ordinary export); then, for
    the columns that have some, a semi-join of their distinct candidate values with each identifier column.
    Nested columns (lists, structures, maps) are read from the fetched rows (:func:`warehouse_identifiers`)."""
    run = runner_of(engine)
    tests: dict[str, str] = {}
    for column, data_type in run.types(f"({source})").items():
        kind = _kind(data_type)
        if column == person or kind not in ("integer", "number", "text"):
            continue
        c = quote_ident(column)
        tests[column] = (
            f"abs(CAST({c} AS DOUBLE)) >= {DISTINCTIVE}" if kind != "text"
            else f"(length({c}) >= {LONG_STRING} OR coalesce(abs(TRY_CAST({c} AS DOUBLE)) >= {DISTINCTIVE}, FALSE))"
        )
    if not tests:
        return []
    counts = ", ".join(f"sum(CASE WHEN {sql} THEN 1 ELSE 0 END)" for sql in tests.values())
    found_rows = run.rows(f"SELECT {counts} FROM ({source}) AS __src")
    row = found_rows[0] if found_rows else ()
    suspects = {column: sql for (column, sql), n in zip(tests.items(), row, strict=True) if int(n or 0)}
    if not suspects:
        return []
    identifiers = _identifier_columns(run)
    found = []
    for column, sql in suspects.items():
        origin = _column_origin(run, f"({source}) AS __src", column, sql, identifiers)
        if origin:
            found.append(Finding(column, origin))
    return found


def warehouse_identifiers(engine: Any, released: pa.Table, *, nested_only: bool = False) -> list[Finding]:
    """The columns of ``released`` holding values of the engine's identifier columns (module docstring, 1);
    ``nested_only``: only its lists, structures and maps (the scalar columns were measured over the source by
    :func:`warehouse_identifiers_in`). ``engine``: a DuckDB connection or an engine runner."""
    run = runner_of(engine)
    if released.num_rows == 0:
        return []
    scalar = [] if nested_only else [f.name for f in released.schema if not pa.types.is_nested(f.type)]
    groups = [released.select(scalar)] if scalar else []
    for f in released.schema:
        if pa.types.is_nested(f.type):
            leaves = _leaves(f.name, released.column(f.name).combine_chunks())
            groups.extend(pa.table({name: leaf}) for name, leaf in leaves if len(leaf))
    identifiers: list[tuple[str, str, str]] | None = None
    found: dict[str, Finding] = {}
    for group in groups:
        tests = {f.name: _distinctive_sql(f.name, f.type) for f in group.schema if f.name not in found}
        suspects = {name: sql for name, sql in tests.items() if sql is not None}
        if not suspects:
            continue
        if identifiers is None:
            identifiers = _identifier_columns(run)
        if not identifiers:
            return []
        found.update({f.column: f for f in _found_in(run, group, suspects, identifiers)})
    return [found[name] for name in released.column_names if name in found]


def _found_in(
    run: Runner, released: pa.Table, suspects: dict[str, str], identifiers: list[tuple[str, str, str]]
) -> list[Finding]:
    with run.registered(released) as name:
        # one pass over the export: which columns hold any value that could be an identifier at all
        counts = ", ".join(f"sum(CASE WHEN {sql} THEN 1 ELSE 0 END)" for sql in suspects.values())
        row = run.rows(f"SELECT {counts} FROM {name}")[0]
        found = []
        for (column, sql), n in zip(suspects.items(), row, strict=True):
            origin = _column_origin(run, name, column, sql, identifiers) if int(n or 0) else None
            if origin:
                found.append(Finding(column, origin))
        return found


def _column_origin(
    run: Runner, released: str, column: str, distinctive: str, identifiers: list[tuple[str, str, str]]
) -> str | None:
    text = f"CAST({quote_ident(column)} AS STRING)"
    values = (
        f"(SELECT DISTINCT {text} AS t, TRY_CAST({text} AS DOUBLE) AS d FROM {released} WHERE {distinctive}) AS __v"
    )
    for table, id_column, kind in identifiers:
        value = quote_ident(id_column)
        test = (
            f"SELECT 1 FROM {values} WHERE d IN (SELECT CAST({value} AS DOUBLE) FROM {table}) LIMIT 1"
            if kind == "number"
            else f"SELECT 1 FROM {values} WHERE length(t) >= {LONG_STRING} AND t IN (SELECT {value} FROM {table}) "
            "LIMIT 1"
        )
        if run.rows(test):
            return _origin(table, id_column)
    return None


def _kind(data_type: str) -> str | None:
    """The family of a DuckDB type for the key tests: integer, text, nested, number, time; ``None``: never a key."""
    base = data_type.split("(")[0].strip()
    if data_type.endswith("]") or base.startswith(("STRUCT", "MAP", "UNION", "ARRAY")):  # DuckDB's or Spark's
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


WHITESPACE = "concat(chr(9), chr(10), chr(12), chr(13), chr(32))"  # what RE2 calls \s, as both engines read it


def keys(engine: Any, source: str, person: str) -> list[Finding]:
    """The columns of ``source`` (but ``person``) that are the person's key or a key of the rows (module docstring,
    2 and 3), measured in one pass over the source, then one more for the columns that could be the person's;
    ``engine``: a DuckDB connection or an engine runner."""
    run = runner_of(engine)
    described = run.types(f"({source})")
    candidates = {name: kind for name, data_type in described.items() if name != person and (kind := _kind(data_type))}
    if not candidates:
        return []
    p = quote_ident(person)
    measures = []
    for column, kind in candidates.items():
        c = quote_ident(column)
        text = f"CAST({c} AS STRING)"
        spaced = f"translate({text}, {WHITESPACE}, '') <> {text}"
        shape = f"sum(CASE WHEN length({text}) < {LONG_STRING} OR {spaced} THEN 1 ELSE 0 END)"
        short = f"sum(CASE WHEN length({text}) < {LONG_STRING} THEN 1 ELSE 0 END)"
        smallest = f"min(abs(CAST({c} AS DOUBLE)))"
        extra = {"number": smallest, "integer": smallest, "text": shape, "nested": short}
        measures.append(
            f"count(DISTINCT {text}), sum(CASE WHEN {c} IS NULL THEN 1 ELSE 0 END), {extra.get(kind, 'NULL')}"
        )
    found_rows = run.rows(f"SELECT count(*), count(DISTINCT {p}), {', '.join(measures)} FROM ({source}) AS __src")
    row = found_rows[0] if found_rows else None
    if row is None or int(row[1]) < 2:
        return []
    rows, persons = int(row[0]), int(row[1])
    found: list[Finding] = []
    alike = []
    for n, (column, kind) in enumerate(candidates.items()):
        distinct, missing, extra = int(row[2 + 3 * n]), int(row[3 + 3 * n] or 0), row[4 + 3 * n]
        numeric = kind in ("number", "integer")
        beyond = numeric and extra is not None and float(extra) >= DISTINCTIVE
        key_like = beyond or (kind in ("text", "nested") and not int(extra or 0))
        if missing:
            continue
        if distinct == persons and (kind in ("integer", "text", "nested") or rows > persons or beyond):
            alike.append(column)
        elif rows > persons and distinct == rows and key_like:
            found.append(Finding(column, person, kind="row"))
    if alike:
        person_text = f"CAST({p} AS STRING)"
        pairs = ", ".join(  # the pair as one unambiguous text: the person's length, the person, the value
            f"count(DISTINCT concat(coalesce(CAST(length({person_text}) AS STRING), 'n'), ':', "
            f"coalesce({person_text}, ''), CAST({quote_ident(c)} AS STRING)))"
            for c in alike
        )
        counted = run.rows(f"SELECT {pairs} FROM ({source}) AS __src")[0]
        found += [Finding(c, person, kind="person") for c, n in zip(alike, counted, strict=True) if int(n) == persons]
    order = list(candidates)
    return sorted(found, key=lambda f: order.index(f.column))


def derived_keys(engine: Any, source: str, person: str, k: int, only: tuple[str, ...] | None = None) -> list[Finding]:
    """The columns of ``source`` (but ``person``) computed from an identifier column
    (:mod:`santegarde.warehouse.derivation`) that tell persons apart: one of their values is shared by fewer than
    ``k`` persons (module docstring, 4). A key scaled below ``2**31`` (``visit_occurrence_id / 1e15``), a small
    decimal of the person's key in an export of one row per person, a hash of it, a date or a list made of it:
    their values say nothing, the query says where they come from. A measured value is not computed from an
    identifier and is never refused here, however many distinct values it has; a column computed from one that
    keeps persons together (``count(visit_occurrence_id)``, ``person_id % 2``) passes. ``only``: the columns
    released as they are (an indicator's dimensions; its counted columns never leave). ``engine``: a DuckDB
    connection or an engine runner."""
    run = runner_of(engine)
    outputs = list(run.types(f"({source})"))
    flags = derivation.derived(source, outputs, derivation.identifier_names(run))
    suspects = [c for c, flag in zip(outputs, flags, strict=True) if flag and c != person and (not only or c in only)]
    if not suspects:
        return []
    p = quote_ident(person)
    smallest = ", ".join(  # persons sharing each value: grouped twice (spilled by the engine beyond its memory)
        f"(SELECT min(n) FROM (SELECT v, count(*) AS n FROM (SELECT CAST({quote_ident(c)} AS STRING) AS v, {p} "
        f"FROM __src GROUP BY CAST({quote_ident(c)} AS STRING), {p}) AS __pairs GROUP BY v) AS __shared)"
        for c in suspects
    )
    found = run.rows(f"WITH __src AS ({source}) SELECT {smallest}")
    row = found[0] if found else ()
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
