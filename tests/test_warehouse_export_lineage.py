"""Issue 15 review: no column carrying identifiers leaves the gate, whatever its alias (EDS-SEC-EXP-1).

Attacks on the export source: the person column under an alias, through an expression, a cast, a subquery, a
join, a CTE or a UNION; another surrogate key (``visit_occurrence_id``); a pseudonymised source identifier. Each
is refused with the column named, before anything is measured or written; ordinary columns still pass.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from santegarde.audit.trail import AuditTrail
from santegarde.store.db import make_engine, migrate
from santegarde.warehouse import lineage
from santegarde.warehouse.anonymity.risks import Risk
from santegarde.warehouse.gate import (
    ExportRequest,
    Gate,
    GateError,
    GateThresholds,
    IdentifierColumnError,
    IndicatorSpec,
)

FAST = GateThresholds(n_attacks=30, max_singling_out=0.5, max_linkability=0.5, max_inference=0.5)
COLUMNS = "p.person_id, p.sex, p.age_band, p.diagnosis"


class Reviewers:
    def empowered(self, login: str) -> bool:
        return login == "marie"


def _quick_risks(table: pa.Table, request: ExportRequest, limits: GateThresholds) -> list[tuple[Any, str]]:
    risk = Risk(0.02, 0.0, 0.1, 0.95, 0.3, 0.3, 0.29, limits.n_attacks)
    return [(risk, ""), (risk, ""), (risk, "")]


@pytest.fixture
def gate(tmp_path: Path) -> Gate:
    engine = make_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    migrate(engine, package="santegarde.audit")
    return Gate(tmp_path / "gate", AuditTrail(engine, b"s" * 32), Reviewers(), thresholds=FAST,
                risk_assessor=_quick_risks)


@pytest.fixture
def conn(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    """A warehouse-like database: 240 fictitious persons and their stays, keys as the warehouse makes them (63-bit
    keyed hashes), pseudonyms as source values; concept ids and years as OMOP has them."""
    con = duckdb.connect(str(tmp_path / "omop.duckdb"))
    con.execute(
        "CREATE TABLE person AS SELECT (hash('person|' || i) & 9223372036854775807)::BIGINT AS person_id, "
        "sha256('person|' || i) AS person_source_value, 1930 + i % 70 AS year_of_birth, "
        "CASE WHEN i % 2 = 0 THEN 8532 ELSE 8507 END AS gender_concept_id, "
        "CASE WHEN i % 2 = 0 THEN 'F' ELSE 'M' END AS sex, ['20-39', '40-59', '60-79'][1 + i % 3] AS age_band, "
        "['J45', 'E11', 'I10'][1 + (i // 6) % 3] AS diagnosis FROM range(240) t(i)"
    )
    con.execute(
        "CREATE TABLE visit_occurrence AS SELECT (hash('visit|' || i || '|' || j) & 9223372036854775807)::BIGINT "
        "AS visit_occurrence_id, p.person_id, 9201 AS visit_concept_id FROM range(240) t(i), range(2) u(j) "
        "JOIN person p ON p.person_id = (hash('person|' || i) & 9223372036854775807)::BIGINT"
    )
    return con


def _request(source: str, qis: tuple[str, ...] = ("sex", "age_band")) -> ExportRequest:
    return ExportRequest(source=source, recipient="ORS (fictif)", purpose="activity_indicators", project="P-1",
                         requested_by="fanny", quasi_identifiers=qis, sensitive=("diagnosis",), person="person_id")


ATTACKS = {
    "alias": f"SELECT {COLUMNS}, p.person_id AS pid FROM person p",
    "plus zero": f"SELECT {COLUMNS}, p.person_id + 0 AS pid FROM person p",
    "plus one": f"SELECT {COLUMNS}, p.person_id - 1 AS pid FROM person p",
    "cast": f"SELECT {COLUMNS}, CAST(p.person_id AS VARCHAR) AS pid FROM person p",
    "double": f"SELECT {COLUMNS}, CAST(p.person_id AS DOUBLE) AS pid FROM person p",
    "subquery": f"SELECT {COLUMNS}, s.ref FROM person p JOIN (SELECT person_id AS ref FROM person) s "
                "ON s.ref = p.person_id",
    "join": f"SELECT {COLUMNS}, v.visit_occurrence_id AS stay FROM person p JOIN visit_occurrence v USING (person_id)",
    "cte": "WITH c AS (SELECT person_id AS who, sex, age_band, diagnosis FROM person) "
           "SELECT who AS person_id, sex, age_band, diagnosis, who AS code FROM c",
    "union": f"SELECT {COLUMNS}, NULL::BIGINT AS ref FROM person p UNION ALL "
             f"SELECT {COLUMNS}, v.visit_occurrence_id FROM person p JOIN visit_occurrence v USING (person_id)",
    "source value": f"SELECT {COLUMNS}, p.person_source_value AS code FROM person p",
    "source value upper": f"SELECT {COLUMNS}, upper(p.person_source_value) AS code FROM person p "
                          "WHERE false UNION ALL SELECT {COLUMNS}, p.person_source_value FROM person p",
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_an_identifier_under_any_name_is_refused_and_nothing_leaves(
    gate: Gate, conn: duckdb.DuckDBPyConnection, attack: str
) -> None:
    rid = gate.submit(_request(ATTACKS[attack].replace("{COLUMNS}", COLUMNS)))
    with pytest.raises(IdentifierColumnError) as refused:
        gate.check(rid, conn)
    assert isinstance(refused.value, GateError)
    french = str(refused.value)
    assert "porte des identifiants" in french and "Retirez-la de la requête" in french and "--person" in french
    assert refused.value.in_language("en").startswith("Column ")
    assert gate.get(rid).status == "requested"
    assert not gate.outbox.exists() or not any(gate.outbox.iterdir())


def test_the_refusal_names_the_column_and_where_its_values_come_from(
    gate: Gate, conn: duckdb.DuckDBPyConnection
) -> None:
    rid = gate.submit(_request(ATTACKS["join"]))
    with pytest.raises(IdentifierColumnError, match=r"colonne stay .* \(visit_occurrence\.visit_occurrence_id\)"):
        gate.check(rid, conn)
    rid = gate.submit(_request(f"SELECT {COLUMNS}, p.person_id // 3 AS pid FROM person p"))
    with pytest.raises(IdentifierColumnError, match=r"colonne pid .* une à une aux personnes de la colonne person_id"):
        gate.check(rid, conn)


def test_small_identifiers_are_still_caught_as_the_persons_key(tmp_path: Path, gate: Gate) -> None:
    """Where ids are small numbers (a plain DuckDB file), their values prove nothing, but a one-to-one key does."""
    con = duckdb.connect(str(tmp_path / "plain.duckdb"))
    con.execute("CREATE TABLE s AS SELECT i AS person_id, ['F', 'M'][1 + i % 2] AS sex, ['a', 'b'][1 + i % 2] AS "
                "age_band, ['J45', 'E11'][1 + (i // 4) % 2] AS diagnosis, 20 + i % 60 AS age FROM range(240) t(i)")
    for column in ("person_id + 1000 AS bed", "'P' || person_id AS ref", "hash(person_id) AS h"):
        rid = gate.submit(_request(f"SELECT person_id, sex, age_band, diagnosis, {column} FROM s"))
        with pytest.raises(IdentifierColumnError, match="une à une"):
            gate.check(rid, con)
    # ages are small numbers found among the person ids, and not one per person: an ordinary column
    rid = gate.submit(_request("SELECT person_id, sex, age_band, diagnosis, age FROM s"))
    assert gate.check(rid, con).status in {"awaiting_validation", "quarantined"}


def test_ordinary_columns_pass_codes_years_concepts_and_counts(gate: Gate, conn: duckdb.DuckDBPyConnection) -> None:
    source = (f"SELECT {COLUMNS}, p.year_of_birth, p.gender_concept_id, count(v.visit_occurrence_id) AS stays "
              "FROM person p JOIN visit_occurrence v USING (person_id) GROUP BY ALL")
    rid = gate.submit(_request(source))
    checked = gate.check(rid, conn)
    assert checked.status == "awaiting_validation"
    released = gate.validate(rid, "marie", conn)
    assert released.rows == 240


def test_an_indicator_by_stay_is_refused(gate: Gate, conn: duckdb.DuckDBPyConnection) -> None:
    """Suppressed cells still show their dimensions: a dimension holding stay numbers would publish them."""
    spec = IndicatorSpec(dimensions=("sex", "stay"), person="person_id")
    rid = gate.submit(ExportRequest(
        source="SELECT p.sex, v.visit_occurrence_id AS stay, p.person_id FROM person p JOIN visit_occurrence v "
               "USING (person_id)", recipient="Direction", purpose="activity_indicators", project="P-1",
        requested_by="fanny", kind="indicator", indicator=spec))
    with pytest.raises(IdentifierColumnError, match="colonne stay"):
        gate.check(rid, conn)


def test_declaring_an_alias_as_the_person_does_not_release_the_original(
    gate: Gate, conn: duckdb.DuckDBPyConnection
) -> None:
    request = ExportRequest(source="SELECT person_id AS pid, person_id, sex, age_band, diagnosis FROM person",
                            recipient="ORS (fictif)", purpose="activity_indicators", project="P-1",
                            requested_by="fanny", quasi_identifiers=("sex", "age_band"), sensitive=("diagnosis",),
                            person="pid")
    rid = gate.submit(request)
    with pytest.raises(IdentifierColumnError, match="colonne person_id"):
        gate.check(rid, conn)


STAYS = "FROM person p JOIN visit_occurrence v USING (person_id)"
# Issue 15, second review: identifiers transformed so that no value equals a warehouse key.
ESCAPES = {
    "stay plus one": f"SELECT {COLUMNS}, v.visit_occurrence_id + 1 AS stay {STAYS}",
    "stay hashed": f"SELECT {COLUMNS}, md5(CAST(v.visit_occurrence_id AS VARCHAR)) AS stay {STAYS}",
    "stay as a float": f"SELECT {COLUMNS}, v.visit_occurrence_id / 3.0 AS stay {STAYS}",
    "stay in a struct": f"SELECT {COLUMNS}, {{'stay': v.visit_occurrence_id - 7}} AS detail {STAYS}",
    "stay in a map": f"SELECT {COLUMNS}, MAP {{'stay': v.visit_occurrence_id}} AS detail {STAYS}",
    "person in a list": f"SELECT {COLUMNS}, [p.person_id, 1] AS codes {STAYS}",
    "person in a list, one row each": f"SELECT {COLUMNS}, [p.person_id + 1, 1] AS codes FROM person p",
    "person as a float": f"SELECT {COLUMNS}, p.person_id / 7.0 AS score FROM person p",
    "person as a small float": f"SELECT {COLUMNS}, p.person_id / 1e15 AS score {STAYS}",
    "person as a date": f"SELECT {COLUMNS}, to_timestamp(p.person_id / 1e9) AS seen {STAYS}",
    "person as a decimal": f"SELECT {COLUMNS}, CAST(p.person_id / 1e12 AS DECIMAL(18, 3)) AS score {STAYS}",
}


@pytest.mark.parametrize("escape", sorted(ESCAPES))
def test_a_transformed_key_nested_or_as_a_float_or_date_is_refused(
    gate: Gate, conn: duckdb.DuckDBPyConnection, escape: str
) -> None:
    rid = gate.submit(_request(ESCAPES[escape]))
    with pytest.raises(IdentifierColumnError, match=r"(une à une|diffèrent sur chaque ligne|identifiants de l'entrep)"):
        gate.check(rid, conn)
    assert gate.get(rid).status == "requested"


def test_the_refusal_of_a_row_key_says_it_differs_on_every_row(gate: Gate, conn: duckdb.DuckDBPyConnection) -> None:
    rid = gate.submit(_request(ESCAPES["stay hashed"]))
    with pytest.raises(IdentifierColumnError) as refused:
        gate.check(rid, conn)
    assert "colonne stay" in str(refused.value) and "diffèrent sur chaque ligne" in str(refused.value)
    assert "differ on every row" in refused.value.in_language("en")


def test_identifiers_inside_lists_structs_and_maps_are_found_in_the_released_rows(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    """An indicator or a release is checked on its rows: the elements, fields, keys and values are looked into."""
    released = conn.execute(
        "SELECT [p.person_id] AS l, {'a': {'b': v.visit_occurrence_id}} AS s, MAP {v.visit_occurrence_id: 1} AS m, "
        f"[1, 2] AS plain {STAYS}"
    ).fetch_arrow_table()
    found = {f.column: f.origin for f in lineage.warehouse_identifiers(conn, released)}
    assert found == {"l": "person.person_id", "s": "visit_occurrence.visit_occurrence_id",
                     "m": "visit_occurrence.visit_occurrence_id"}  # fmt: skip


def test_stays_with_their_own_measures_dates_and_notes_still_pass(
    gate: Gate, conn: duckdb.DuckDBPyConnection
) -> None:
    """Values that differ on every row but are not keys: a measured value, a date of measurement, a sentence."""
    source = (f"SELECT {COLUMNS}, v.visit_concept_id, round(random() * 100, 6) AS value, "
              "DATE '2024-01-01' + CAST(row_number() OVER () AS INTEGER) AS measured_on, "
              f"'séjour numéro ' || row_number() OVER () AS note {STAYS}")  # fmt: skip
    rid = gate.submit(_request(source))
    assert gate.check(rid, conn).status in {"awaiting_validation", "quarantined"}


@pytest.mark.parametrize(
    ("kind", "french", "english"),
    [("person", "une à une aux personnes de la colonne person_id", "match the persons of column person_id"),
     ("row", "diffèrent sur chaque ligne", "differ on every row"),
     ("warehouse", "identifiants de l'entrepôt (person_id)", "identifiers of the warehouse (person_id)"),
     ("derived", "calculées à partir d'un identifiant et distinguent les personnes", "computed from an identifier")],
)  # fmt: skip
def test_the_refusal_is_worded_from_the_catalogue_in_french_and_english(kind: str, french: str, english: str) -> None:
    found = [lineage.Finding("pid", "person_id", kind), lineage.Finding("ref", "x.y"), lineage.Finding("n", "x.z")]
    alone = lineage.sentences(found[:1])
    assert french in alone["fr"] and alone["fr"].startswith("La colonne pid de l'export porte des identifiants")
    assert english in alone["en"] and alone["en"].startswith("Column pid of the export carries identifiers")
    assert "de même" not in alone["fr"] and "so do" not in alone["en"]
    many = lineage.sentences(found)
    assert "(de même pour ref, n). Diffusée" in many["fr"] and "(so do ref, n). Released" in many["en"]
    assert not any(c in text for text in (*alone.values(), *many.values()) for c in "{}")


# Issue 15, third review: identifiers whose values say nothing (a key scaled below 2**31, a small decimal of the
# person's key in an export of one row per person, a hash of it, a date or a list made of it). The query says
# where they come from (warehouse/derivation.py); they are refused where they tell persons apart.
DERIVED = {
    "stay scaled below 2**31": f"SELECT {COLUMNS}, v.visit_occurrence_id / 1e15 AS stay {STAYS}",
    "stay halved then scaled": f"SELECT {COLUMNS}, (v.visit_occurrence_id * 0.5 + 1) / 1e15 AS stay {STAYS}",
    "stay scaled and rounded": f"SELECT {COLUMNS}, round(v.visit_occurrence_id / 1e16, 3) AS stay {STAYS}",
    "stay modulo": f"SELECT {COLUMNS}, v.visit_occurrence_id % 100000 AS stay {STAYS}",
    "stay hashed to a small number": f"SELECT {COLUMNS}, hash(md5(v.visit_occurrence_id::VARCHAR)) % 99991 AS stay "
                                     f"{STAYS}",
    "stay scaled in a list": f"SELECT {COLUMNS}, [v.visit_occurrence_id / 1e15, 1] AS codes {STAYS}",
    "stay scaled in a struct": f"SELECT {COLUMNS}, {{'s': v.visit_occurrence_id / 1e15}} AS detail {STAYS}",
    "person small float, one row each": f"SELECT {COLUMNS}, p.person_id / 1e15 AS score FROM person p",
    "person hash as a small float": f"SELECT {COLUMNS}, (hash(p.person_id) % 1000000) / 1e4 AS score FROM person p",
    "source value as a small float": f"SELECT {COLUMNS}, (hash(p.person_source_value) % 100000) * 0.5 AS score "
                                     "FROM person p",
    "person as a small date": f"SELECT {COLUMNS}, DATE '2000-01-01' + CAST(p.person_id % 3000 AS INTEGER) AS seen "
                              "FROM person p",
    "person in a list of small floats": f"SELECT {COLUMNS}, [p.person_id / 1e15] AS codes FROM person p",
    "through a cte with renamed columns": "WITH c(who, w, sex, age_band, diagnosis) AS (SELECT person_id, "
                                          "person_id / 1e15, sex, age_band, diagnosis FROM person) "
                                          "SELECT who AS person_id, sex, age_band, diagnosis, w * 2 + 1 AS score "
                                          "FROM c",
    "through a union": f"SELECT {COLUMNS}, 0.0 AS score FROM person p WHERE false UNION ALL "
                       f"SELECT {COLUMNS}, p.person_id / 1e15 FROM person p",
    "rank of the person": f"SELECT {COLUMNS}, row_number() OVER (ORDER BY p.person_id) AS rank FROM person p",
    "last stay scaled": f"SELECT {COLUMNS}, max(v.visit_occurrence_id) / 1e15 AS last {STAYS} GROUP BY ALL",
    "scalar subquery": f"SELECT {COLUMNS}, (SELECT max(w.visit_occurrence_id) / 1e15 FROM visit_occurrence w "
                       "WHERE w.person_id = p.person_id) AS last FROM person p",
    "lateral": f"SELECT {COLUMNS}, x.s FROM person p, LATERAL (SELECT p.person_id / 1e15 AS s) x",
    "star then a derived column": "SELECT *, person_id / 1e15 AS s FROM (SELECT person_id, sex, age_band, diagnosis "
                                  "FROM person)",
    "field of a structure": f"SELECT {COLUMNS}, {{'x': p.person_id / 1e15}}.x AS s FROM person p",
    "aggregated into a string": f"SELECT {COLUMNS}, string_agg(CAST(v.visit_occurrence_id % 99991 AS VARCHAR), ',') "
                                f"AS s {STAYS} GROUP BY ALL",
}


@pytest.mark.parametrize("escape", sorted(DERIVED))
def test_a_column_computed_from_an_identifier_that_tells_persons_apart_is_refused(
    gate: Gate, conn: duckdb.DuckDBPyConnection, escape: str
) -> None:
    rid = gate.submit(_request(DERIVED[escape]))
    with pytest.raises(IdentifierColumnError) as refused:
        gate.check(rid, conn)
    assert re.search(r"(calculées à partir d'un identifiant|une à une|diffèrent sur chaque ligne)", str(refused.value))
    assert gate.get(rid).status == "requested"
    assert not gate.outbox.exists() or not any(gate.outbox.iterdir())


def test_the_refusal_of_a_derived_column_names_it_and_the_threshold(
    gate: Gate, conn: duckdb.DuckDBPyConnection
) -> None:
    rid = gate.submit(_request(DERIVED["person small float, one row each"]))
    with pytest.raises(IdentifierColumnError) as refused:
        gate.check(rid, conn)
    assert "La colonne score" in str(refused.value)
    assert "partagée par moins de 10 personnes" in str(refused.value)
    assert "shared by fewer than 10 persons" in refused.value.in_language("en")


def test_unique_measurements_and_id_computed_columns_that_keep_persons_together_pass(
    gate: Gate, conn: duckdb.DuckDBPyConnection
) -> None:
    """A measurement different for every person (not computed from an identifier), a per-person mean over the
    person's stays (grouped by the person, not computed from the key), a count of stays and a parity of the key
    (computed from identifiers, but every value shared by many persons)."""
    source = (f"SELECT {COLUMNS}, p.year_of_birth + random() AS measured, count(v.visit_occurrence_id) AS stays, "
              "p.person_id % 2 AS half, avg(v.visit_concept_id + random()) OVER (PARTITION BY p.person_id) AS mean, "
              "(SELECT avg(w.visit_concept_id) FROM visit_occurrence w WHERE w.person_id = p.person_id) AS sub "
              f"{STAYS} GROUP BY p.person_id, p.sex, p.age_band, p.diagnosis, p.year_of_birth, v.visit_concept_id")
    rid = gate.submit(_request(source))
    assert gate.check(rid, conn).status in {"awaiting_validation", "quarantined"}
    rid = gate.submit(_request(f"SELECT {COLUMNS}, p.year_of_birth + random() AS measured FROM person p"))
    assert gate.check(rid, conn).status in {"awaiting_validation", "quarantined"}


def test_the_warehouse_identifiers_are_looked_for_before_any_row_is_fetched(
    gate: Gate, conn: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check runs in DuckDB over the source (memory bounded by DuckDB's limit): a refused export never has its
    rows fetched."""
    from santegarde.warehouse import gate as gate_module

    def fetched(*args: Any) -> pa.Table:
        raise AssertionError("rows fetched before the identifier check")

    monkeypatch.setattr(gate_module, "_ordered_table", fetched)
    for source in (ATTACKS["join"], ESCAPES["stay hashed"], DERIVED["stay scaled below 2**31"]):
        rid = gate.submit(_request(source))
        with pytest.raises(IdentifierColumnError):
            gate.check(rid, conn)


def test_an_indicator_by_a_scaled_stay_is_refused_but_counting_stays_is_not(
    gate: Gate, conn: duckdb.DuckDBPyConnection
) -> None:
    """A dimension computed from a key shows its values even on suppressed cells; a counted column never leaves."""
    source = ("SELECT p.sex, v.visit_occurrence_id / 1e15 AS stay, v.visit_occurrence_id AS n, p.person_id "
              "FROM person p JOIN visit_occurrence v USING (person_id)")
    spec = IndicatorSpec(dimensions=("sex", "stay"), person="person_id")
    rid = gate.submit(ExportRequest(source=source, recipient="Direction", purpose="activity_indicators",
                                    project="P-1", requested_by="fanny", kind="indicator", indicator=spec))
    with pytest.raises(IdentifierColumnError, match=r"colonne stay .* calculées à partir d'un identifiant"):
        gate.check(rid, conn)
    spec = IndicatorSpec(dimensions=("sex",), person="person_id")
    rid = gate.submit(ExportRequest(source=source, recipient="Direction", purpose="activity_indicators",
                                    project="P-1", requested_by="fanny", kind="indicator", indicator=spec))
    assert gate.check(rid, conn).status in {"awaiting_validation", "quarantined"}


@pytest.mark.parametrize(
    "tail",
    [
        "; CREATE TABLE stolen AS SELECT * FROM person",
        "; DROP TABLE visit_occurrence",
        "; UPDATE person SET sex = 'X'",
        ";\nATTACH ':memory:' AS other",
    ],
)
def test_a_source_of_several_statements_is_refused_and_runs_nothing(
    gate: Gate, conn: duckdb.DuckDBPyConnection, tail: str
) -> None:
    """An export's source is one SELECT: a second statement smuggled after it would run on the warehouse itself."""
    tables = sorted(r[0] for r in conn.execute("SELECT table_name FROM duckdb_tables()").fetchall())
    sexes = conn.execute("SELECT sex, count(*) FROM person GROUP BY ALL ORDER BY ALL").fetchall()
    source = f"SELECT {COLUMNS} FROM person p{tail}"
    with pytest.raises(GateError) as refused:
        rid = gate.submit(_request(source))
        gate.check(rid, conn)
    assert "une seule requête SELECT" in str(refused.value)
    assert sorted(r[0] for r in conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()) == tables
    assert conn.execute("SELECT sex, count(*) FROM person GROUP BY ALL ORDER BY ALL").fetchall() == sexes
    databases = conn.execute("SELECT database_name FROM duckdb_databases() WHERE NOT internal").fetchall()
    assert [r[0] for r in databases] == ["omop"]
