"""Issue 15: which released columns a query computes from identifier columns (warehouse/derivation.py)."""

from __future__ import annotations

import duckdb
import pytest

from santegarde.warehouse import derivation


@pytest.fixture
def conn() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE TABLE person (person_id BIGINT, sex VARCHAR, person_source_value VARCHAR, "
                "gender_concept_id INTEGER)")
    con.execute("CREATE TABLE visit_occurrence (visit_occurrence_id BIGINT, person_id BIGINT, "
                "visit_concept_id INTEGER, visit_source_value VARCHAR, value DOUBLE)")
    return con


def _derived(conn: duckdb.DuckDBPyConnection, source: str) -> dict[str, bool]:
    outputs = [str(r[0]) for r in conn.execute(f"DESCRIBE SELECT * FROM ({source})").fetchall()]
    return dict(zip(outputs, derivation.derived(source, outputs, derivation.identifier_names(conn)),
                    strict=True))


def test_identifier_names_are_keys_and_entity_source_values_not_concepts_nor_event_codes(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    assert derivation.identifier_names(conn) == {"person_id", "visit_occurrence_id", "person_source_value"}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("SELECT p.sex, p.person_id / 1e15 AS s, count(v.visit_occurrence_id) AS n, max(v.visit_occurrence_id) AS m "
         "FROM person p JOIN visit_occurrence v USING (person_id) GROUP BY ALL",
         {"sex": False, "s": True, "n": False, "m": True}),
        ("SELECT v.value, avg(v.value) OVER (PARTITION BY v.person_id) AS a, "
         "row_number() OVER (ORDER BY v.visit_occurrence_id) AS r, [v.visit_occurrence_id] AS l, "
         "{'a': v.person_id} AS st, DATE '2000-01-01' + CAST(v.person_id % 1000 AS INTEGER) AS d "
         "FROM visit_occurrence v", {"value": False, "a": False, "r": True, "l": True, "st": True, "d": True}),
        ("WITH c(who, s) AS (SELECT person_id, sex FROM person) SELECT who * 0.5 AS x, s FROM c",
         {"x": True, "s": False}),
        ("SELECT * FROM (SELECT person_id * 2 AS k, sex FROM person) t", {"k": True, "sex": False}),
        ("SELECT s.x, s.sex FROM (SELECT person_id + 1 AS x, sex FROM person) s", {"x": True, "sex": False}),
        ("SELECT sex, (SELECT avg(value) FROM visit_occurrence w WHERE w.person_id = p.person_id) AS av, "
         "(SELECT max(visit_occurrence_id) FROM visit_occurrence w WHERE w.person_id = p.person_id) AS mx "
         "FROM person p", {"sex": False, "av": False, "mx": True}),
        ("SELECT sex, 1 AS x FROM person UNION ALL SELECT sex, person_id / 1e15 FROM person",
         {"sex": False, "x": True}),
        ("SELECT p, sex FROM person p", {"p": True, "sex": False}),
        ("SELECT md5(person_source_value) AS a, CASE WHEN person_id > 0 THEN 'a' END AS c, gender_concept_id "
         "FROM person", {"a": True, "c": True, "gender_concept_id": False}),
        ("SELECT visit_source_value, visit_concept_id FROM visit_occurrence",
         {"visit_source_value": False, "visit_concept_id": False}),
    ],
)  # fmt: skip
def test_columns_are_followed_back_to_identifiers(
    conn: duckdb.DuckDBPyConnection, source: str, expected: dict[str, bool]
) -> None:
    assert _derived(conn, source) == expected


def test_a_query_that_cannot_be_read_has_every_column_derived(conn: duckdb.DuckDBPyConnection) -> None:
    """Deny by default: a source the parser does not read as one SELECT is not trusted column by column."""
    source = "PIVOT visit_occurrence ON visit_concept_id USING sum(value) GROUP BY person_id"
    outputs = [str(r[0]) for r in conn.execute(f"DESCRIBE {source}").fetchall()]
    assert derivation.derived(source, outputs, derivation.identifier_names(conn)) == [True] * len(outputs)


def test_a_view_computed_from_identifiers_passes_its_derivation_on(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute("CREATE VIEW scaled AS SELECT person_id / 1e15 AS s, sex FROM person")
    conn.execute("CREATE VIEW again AS SELECT s * 2 AS twice, sex FROM scaled")
    names = derivation.identifier_names(conn)
    assert {"s", "twice"} <= names and "sex" not in names
    assert _derived(conn, "SELECT twice + 1 AS t, sex FROM again") == {"t": True, "sex": False}
