"""Which columns of a query's result are computed from identifier columns (issue 15, EDS-SEC-EXP-1).

The values of a released column cannot always tell a key from a measurement: ``visit_occurrence_id / 1e15`` is a
small decimal different on every row, ``person_id / 1e15`` in an export of one row per person a small decimal
different for each person, as a measured weight would be. The query can: this module reads it (DuckDB's own
parser, ``json_serialize_sql``) and follows each released column back to the columns its value is computed from.

A column is *derived from an identifier* when its expression reads an identifier column (see
:func:`identifier_names`) or a column of a subquery, CTE or table alias that is itself derived from one, through
any arithmetic, cast, function, ``CASE``, list, structure or map, window ordering or scalar subquery's result. What
carries no identifier's value is not followed: ``count(...)`` (a number of rows), a window's ``PARTITION BY``
(rows grouped by person, their values measured), and the ``WHERE``/``JOIN`` of a subquery (which rows are read,
not their values). Names are followed, not bindings: a name derived anywhere in the query is derived everywhere
(a collision can only add suspicion, never remove it); a view's columns computed from identifiers are identifiers
to the queries reading it. A query the parser cannot read (not one ``SELECT``) has every column derived.

:func:`santegarde.warehouse.lineage.derived_keys` then refuses a derived column only where it separates persons
(fewer than *k* persons share one of its values): a measurement is never derived from an identifier, so it is
never refused here however unique its values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import duckdb

from santegarde.warehouse.anonymity._sql import DuckDBRunner, runner_of

NOT_CARRYING = frozenset({"count", "count_star"})


INTEGERS = frozenset({"TINYINT", "SMALLINT", "INTEGER", "INT", "BIGINT", "LONG", "HUGEINT", "UTINYINT", "USMALLINT",
                      "UINTEGER", "UBIGINT", "UHUGEINT"})


def identifier_names(engine: Any) -> set[str]:
    """The names of the engine's identifier columns, lower case: integer ``*_id`` columns but ``*_concept_id``
    (the warehouse's keys and references to them), and ``X_source_value`` of a table ``X`` (the source identifier
    of the entity itself, a pseudonym in the warehouse: ``person.person_source_value``,
    ``care_site.care_site_source_value``), not the source codes of events (``condition_source_value``).
    ``engine``: a DuckDB connection or an engine runner (its catalogue); a DuckDB view's columns computed from
    identifiers are identifiers too."""
    run = runner_of(engine)
    names: set[str] = set()
    for qualified, column, data_type in run.catalog():
        table, name = qualified.split(".")[-1].strip('"').lower(), column.lower()
        key = name.endswith("_id") and not name.endswith("concept_id") and data_type.upper() in INTEGERS
        if key or name == f"{table}_source_value":
            names.add(name)
    if isinstance(run, DuckDBRunner):
        names |= _view_names(run.conn, names)
    return names


def _view_names(conn: duckdb.DuckDBPyConnection, names: set[str]) -> set[str]:
    """A DuckDB connection's view columns computed from ``names`` (views of views too)."""
    names = set(names)
    views = conn.execute("SELECT view_name, sql FROM duckdb_views() WHERE NOT internal").fetchall()
    queries = [(str(name), found.group(1)) for name, sql in views if (found := _VIEW.match(str(sql or "")))]
    for _ in range(len(queries)):
        before = len(names)
        for view, query in queries:
            columns = [str(r[0]) for r in conn.execute(
                "SELECT column_name FROM duckdb_columns() WHERE table_name = ? ORDER BY column_index", [view]
            ).fetchall()]  # fmt: skip
            names |= {c.lower() for c, flag in zip(columns, derived(query, columns, names), strict=False) if flag}
        if len(names) == before:
            break
    return names


_VIEW = re.compile(r"(?is)^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP(?:ORARY)?\s+)?VIEW\s+.+?\s+AS\s+(.*?);?\s*$")


def derived(source: str, outputs: list[str], identifiers: set[str]) -> list[bool]:
    """For each output column of ``source`` (named ``outputs``, in order), whether it is derived from one of
    ``identifiers`` (module docstring); every column when the query cannot be read. The query is parsed by an
    empty DuckDB of its own (the parser needs no table), whichever engine runs it."""
    with duckdb.connect() as parser:
        text = parser.execute("SELECT json_serialize_sql(?)", [source]).fetchone()
    parsed: dict[str, Any] = json.loads(str(text[0])) if text else {"error": True}
    statements: list[dict[str, Any]] = parsed.get("statements") or []
    if parsed.get("error") or len(statements) != 1:
        return [True] * len(outputs)
    top = statements[0]["node"]
    tainted = {name.lower() for name in identifiers}
    tainted |= _relation_names(top)  # ``SELECT p FROM person p``: the whole row as a structure
    nodes = list(_query_nodes(top))
    while True:  # names derived anywhere, to a fixed point
        before = len(tainted)
        for node in nodes:
            tainted |= _derived_names(node, tainted)
        if len(tainted) == before:
            break
    positions = _positions(top, tainted)
    if positions is None or len(positions) != len(outputs):
        return [name.lower() in tainted for name in outputs]
    return [p or name.lower() in tainted for p, name in zip(positions, outputs, strict=True)]


def _walk(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for child in value.values():
            yield from _walk(child)
    elif isinstance(value, list):
        for child in value:
            yield from _walk(child)


def _query_nodes(top: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every query node of the statement (selects and set operations, in CTEs, subqueries and expressions), with
    the positional column aliases given to it (``WITH c(a, b)``, ``(...) AS s(a, b)``) under ``__aliases``."""
    for item in _walk(top):
        if item.get("type") in ("SELECT_NODE", "SET_OPERATION_NODE"):
            yield item
        aliases = item.get("aliases") or item.get("column_name_alias")
        query = item.get("query") or item.get("subquery")
        if aliases and isinstance(query, dict) and isinstance(query.get("node"), dict):
            yield {"type": "__ALIASED", "node": query["node"], "__aliases": aliases}


def _relation_names(top: dict[str, Any]) -> set[str]:
    names = set()
    for item in _walk(top):
        if item.get("type") in ("BASE_TABLE", "SUBQUERY") and "query_location" in item:
            names |= {str(item.get(k) or "").lower() for k in ("alias", "table_name")}
    return {f"@{name}" for name in names - {""}}


def _derived_names(node: dict[str, Any], tainted: set[str]) -> set[str]:
    if node["type"] == "__ALIASED":
        positions = _positions(node["node"], tainted) or []
        return {str(a).lower() for a, p in zip(node["__aliases"], positions, strict=False) if p}
    if node["type"] != "SELECT_NODE":
        return set()
    names = set()
    for item in node.get("select_list", []):
        name = _name(item)
        if name and _reads(item, tainted):
            names.add(name)
    return names


def _name(item: dict[str, Any]) -> str:
    if item.get("alias"):
        return str(item["alias"]).lower()
    if item.get("class") == "COLUMN_REF":
        return str(item["column_names"][-1]).lower()
    return ""


def _positions(node: dict[str, Any], tainted: set[str]) -> list[bool] | None:
    """Whether each output position of a query node is derived; ``None`` when a ``*`` hides the positions."""
    if node.get("type") == "SET_OPERATION_NODE":
        left, right = _positions(node["left"], tainted), _positions(node["right"], tainted)
        if left is None or right is None or len(left) != len(right):
            return None
        return [a or b for a, b in zip(left, right, strict=True)]
    items = node.get("select_list")
    if not isinstance(items, list) or any(i.get("class") == "STAR" for i in items):
        return None
    return [_reads(item, tainted) for item in items]


def _reads(expression: Any, tainted: set[str]) -> bool:
    """Whether an expression's value is computed from a tainted name (module docstring)."""
    if isinstance(expression, list):
        return any(_reads(item, tainted) for item in expression)
    if not isinstance(expression, dict):
        return False
    kind = expression.get("class")
    if kind == "COLUMN_REF":
        names = [str(n).lower() for n in expression.get("column_names", [])]
        if len(names) == 1:  # a column, or a whole row ``p`` of a relation (marked ``@p``)
            return names[0] in tainted or f"@{names[0]}" in tainted
        # ``p.person_id`` reads ``person_id``; ``s.a`` may also be field ``a`` of a derived structure ``s``
        return bool(names) and (names[-1] in tainted or names[0] in tainted)
    if kind == "STAR":  # ``COLUMNS(...)`` or a star inside an expression: which columns it reads is not followed
        return True
    if kind in ("FUNCTION", "AGGREGATE") and str(expression.get("function_name", "")).lower() in NOT_CARRYING:
        return False
    if kind == "SUBQUERY":  # its result, not which rows it reads
        positions = _positions((expression.get("subquery") or {}).get("node") or {}, tainted)
        return positions is None or any(positions) or _reads(expression.get("child"), tainted)
    if kind == "WINDOW":
        return any(_reads(value, tainted) for key, value in expression.items() if key != "partitions")
    return any(_reads(value, tainted) for value in expression.values())


__all__ = ["derived", "identifier_names"]
