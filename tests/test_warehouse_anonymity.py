"""Anonymity metrics against pycanon, generalisation, anonymous indicators and anonymeter risks."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest
from pycanon import anonymity as pycanon

from conftest import SHARED
from santegarde.warehouse.anonymity import (
    TOTAL,
    AgeBands,
    AnonymityError,
    DateTruncation,
    Hierarchy,
    IndicatorRefused,
    PostalPrefix,
    Query,
    Table,
    Thresholds,
    indicator,
    measure,
    propose,
)

ADULT = SHARED / "data" / "adult" / "adult.csv"
ADULT_QIS = ["age", "education", "occupation", "relationship", "sex", "native-country"]


def _compare(df: pd.DataFrame, qis: list[str], sensitive: list[str]) -> None:
    """Assert our SQL metrics equal pycanon's on ``df``."""
    conn = duckdb.connect()
    conn.register("data", df)
    report = measure(conn, "data", qis, sensitive)
    assert report.k == pycanon.k_anonymity(df, qis)
    assert report.l_distinct == pycanon.l_diversity(df, qis, sensitive)
    assert report.l_entropy_pycanon == pycanon.entropy_l_diversity(df, qis, sensitive)
    assert report.t_closeness == pytest.approx(pycanon.t_closeness(df, qis, sensitive), abs=1e-9)
    _compare_likeness(report, df, qis, sensitive)


def _compare_likeness(report: Any, df: pd.DataFrame, qis: list[str], sensitive: list[str]) -> None:
    """Recursive (c, l)-diversity, alpha-k anonymity, basic and enhanced beta-likeness and delta-disclosure
    (issue 15) equal pycanon's."""
    c, l_div = pycanon.recursive_c_l_diversity(df, qis, sensitive)
    assert report.l_distinct == l_div
    assert (report.recursive_c is None and np.isnan(c)) or report.recursive_c == c
    alpha, k = pycanon.alpha_k_anonymity(df, qis, sensitive)
    assert report.alpha == pytest.approx(alpha, abs=1e-12) and report.k == k
    assert report.beta_basic == pytest.approx(pycanon.basic_beta_likeness(df, qis, sensitive), abs=1e-9)
    assert report.beta_enhanced == pytest.approx(pycanon.enhanced_beta_likeness(df, qis, sensitive), abs=1e-9)
    assert report.delta == pytest.approx(pycanon.delta_disclosure(df, qis, sensitive), abs=1e-9)


@pytest.fixture(scope="module")
def adult() -> pd.DataFrame:
    """The public UCI Adult extract (CC BY 4.0)."""
    if not ADULT.exists():
        pytest.skip("The UCI Adult extract is not available on this machine.")
    return pd.read_csv(ADULT)


def test_adult_k_and_classes_match_pycanon(adult: pd.DataFrame) -> None:
    conn = duckdb.connect()
    conn.register("adult", adult)
    report = measure(conn, "adult", ADULT_QIS, ["salary-class"], k_threshold=5)
    assert report.k == pycanon.k_anonymity(adult, ADULT_QIS) == 1
    assert report.classes == 15093
    assert report.rows == 32561
    sizes = adult.groupby(ADULT_QIS).size()
    assert report.records_under_k == int(sizes[sizes < 5].sum())
    assert report.smallest_classes == tuple(sorted(sizes)[:5])


def test_adult_l_and_t_match_pycanon_categorical_and_numeric(adult: pd.DataFrame) -> None:
    _compare(adult, ["education", "sex", "race"], ["salary-class"])
    _compare(adult, ["education", "sex", "race"], ["hours-per-week"])
    _compare(adult, ["sex", "race"], ["marital-status"])
    _compare(adult, ["sex", "race"], ["age"])


def test_adult_sample_with_usual_quasi_identifiers_matches_pycanon(adult: pd.DataFrame) -> None:
    _compare(adult.head(400).copy(), ADULT_QIS, ["salary-class", "hours-per-week"])


@pytest.mark.parametrize("seed", [7, 1234, 20240611])
def test_random_data_matches_pycanon(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 600
    df = pd.DataFrame(
        {
            "age": rng.integers(20, 26, n),
            "sex": rng.choice(["F", "M"], n),
            "zip": rng.choice(["75001", "2A004", "69003"], n),
            "diagnosis": rng.choice(["A", "B", "C", "D", "E"], n, p=[0.4, 0.3, 0.15, 0.1, 0.05]),
            "stay": rng.integers(1, 15, n),
            "cost": (rng.normal(1000, 200, n) / 50).round(0) * 50,
        }
    )
    _compare(df, ["age", "sex", "zip"], ["diagnosis"])
    _compare(df, ["age", "sex", "zip"], ["stay"])
    _compare(df, ["sex", "zip"], ["cost"])


def test_uniform_class_entropy_follows_pycanon_convention() -> None:
    df = pd.DataFrame({"q": ["a"] * 4, "s": ["x", "y", "x", "y"]})
    conn = duckdb.connect()
    conn.register("d", df)
    report = measure(conn, "d", ["q"], ["s"])
    assert report.l_entropy == pytest.approx(2.0)
    assert report.l_entropy_pycanon == pycanon.entropy_l_diversity(df, ["q"], ["s"])
    assert report.t_closeness == 0.0


def test_sources_query_table_relation_and_quoted_names() -> None:
    conn = duckdb.connect()
    conn.execute('CREATE SCHEMA s; CREATE TABLE s."we""ird" ("a b" INTEGER, "c" VARCHAR)')
    conn.execute("INSERT INTO s.\"we\"\"ird\" VALUES (1, 'x'), (1, 'y'), (2, 'x')")
    by_table = measure(conn, Table('we"ird', schema="s"), ["a b"], ["c"])
    by_query = measure(conn, Query('SELECT * FROM s."we""ird"'), ["a b"], ["c"])
    by_relation = measure(conn, conn.sql('SELECT * FROM s."we""ird"'), ["a b"], ["c"])
    assert by_table == by_query == by_relation
    assert by_table.k == 1 and by_table.classes == 2


def test_measure_refusals() -> None:
    conn = duckdb.connect()
    conn.execute("CREATE TABLE t (a INTEGER, s VARCHAR)")
    with pytest.raises(AnonymityError, match="empty table"):
        measure(conn, "t", ["a"], ["s"])
    with pytest.raises(AnonymityError, match="not columns"):
        measure(conn, "t", ["nope"], ["s"])
    with pytest.raises(AnonymityError, match="No quasi-identifier"):
        measure(conn, "t", [], ["s"])
    with pytest.raises(AnonymityError, match="t threshold"):
        Thresholds(t=2.0)


# --- generalisation ------------------------------------------------------------------------------


def _toy(conn: duckdb.DuckDBPyConnection) -> None:
    """Forty fictitious stays: ages 30-49, two postcodes per department, a diagnosis."""
    rows = []
    for i in range(40):
        age = 30 + (i % 20)
        zip_code = ["75001", "75002", "2A004", "2A117"][i % 4]
        rows.append((i, age, zip_code, dt.date(2024, 1 + i % 12, 1 + i % 28), ["flu", "asthma", "covid"][i % 3]))
    conn.execute("CREATE TABLE stays (id INTEGER, age INTEGER, zip VARCHAR, admitted DATE, diagnosis VARCHAR)")
    conn.executemany("INSERT INTO stays VALUES (?, ?, ?, ?, ?)", rows)


def test_operators_sql() -> None:
    conn = duckdb.connect()
    row = conn.execute(
        "SELECT " + ", ".join(
            [
                AgeBands((5, 10)).expression("37", 1),
                AgeBands((5, 10)).expression("37", 2),
                AgeBands((5, 10)).expression("37", 3),
                PostalPrefix((3, 2)).expression("'2a004'", 2),
                PostalPrefix((3, 2)).expression("1000", 1),
                DateTruncation().expression("DATE '2024-03-05'", 1),
                DateTruncation().expression("DATE '2024-03-05'", 2),
                Hierarchy({"flu": "respiratory", "respiratory": "any", "it's": "q"}).expression("'flu'", 1),
                Hierarchy({"flu": "respiratory", "respiratory": "any"}).expression("'flu'", 2),
            ]
        )
    ).fetchone()
    assert row == ("35-39", "30-39", "*", "2A", "010", "2024-03", "2024", "respiratory", "any")
    with pytest.raises(AnonymityError, match="cycle"):
        Hierarchy({"a": "b", "b": "a"})
    with pytest.raises(AnonymityError, match="multiple"):
        AgeBands((5, 7))
    with pytest.raises(AnonymityError, match="between 2 and 5"):
        PostalPrefix((1,))


def test_propose_reaches_thresholds_with_least_loss() -> None:
    conn = duckdb.connect()
    _toy(conn)
    thresholds = Thresholds(k=5, l_distinct=2, max_suppression=0.0)
    hierarchies = {"age": AgeBands((5, 10, 20)), "zip": PostalPrefix((3, 2))}
    proposal = propose(conn, "stays", ["age", "zip"], ["diagnosis"], thresholds, hierarchies)
    assert proposal.report.k >= 5 and (proposal.report.l_distinct or 0) >= 2
    assert proposal.loss.suppressed_share == 0.0
    height = sum(level for _, level in proposal.levels)
    # Least generalised: no node of smaller total height meets the thresholds.
    for ages, zips in itertools.product(range(5), range(4)):
        if ages + zips < height:
            sql = f"SELECT {hierarchies['age'].expression('age', ages)} AS a, "
            sql += f"{hierarchies['zip'].expression('zip', zips)} AS z, diagnosis FROM stays"
            assert measure(conn, Query(sql), ["a", "z"], ["diagnosis"]).k < 5
    released = conn.execute(proposal.sql).fetchdf()
    assert len(released) == 40
    assert list(released.columns) == ["id", "age", "zip", "admitted", "diagnosis"]
    assert proposal.loss.discernibility == int((released.groupby(["age", "zip"]).size() ** 2).sum())


def test_propose_uses_suppression_when_allowed_and_refuses_the_impossible() -> None:
    conn = duckdb.connect()
    _toy(conn)
    conn.execute("INSERT INTO stays VALUES (99, 90, '13001', DATE '2024-01-01', 'flu')")
    strict = Thresholds(k=5, l_distinct=None, max_suppression=0.0)
    loose = Thresholds(k=5, l_distinct=None, max_suppression=0.05)
    hierarchies = {"age": AgeBands((10, 20)), "zip": PostalPrefix((2,))}
    with_suppression = propose(conn, "stays", ["age", "zip"], [], loose, hierarchies)
    without = propose(conn, "stays", ["age", "zip"], [], strict, hierarchies)
    assert with_suppression.loss.suppressed_records == 1
    assert sum(lv for _, lv in with_suppression.levels) < sum(lv for _, lv in without.levels)
    with pytest.raises(AnonymityError, match="No generalisation meets"):
        propose(conn, "stays", ["age"], [], Thresholds(k=100, l_distinct=None), {"age": AgeBands((10,))})
    with pytest.raises(AnonymityError, match="not quasi-identifiers"):
        propose(conn, "stays", ["age"], [], strict, {"zip": PostalPrefix()})


def test_propose_with_configured_hierarchy_and_date_truncation() -> None:
    conn = duckdb.connect()
    _toy(conn)
    parents = {"75001": "75", "75002": "75", "2A004": "2A", "2A117": "2A"}
    proposal = propose(
        conn,
        "stays",
        ["zip", "admitted"],
        ["diagnosis"],
        Thresholds(k=4, l_distinct=2, max_suppression=0.1),
        {"zip": parents, "admitted": DateTruncation()},
    )
    assert proposal.report.k >= 4
    assert proposal.loss.suppressed_share <= 0.1


# --- indicators ----------------------------------------------------------------------------------


def _cases(conn: duckdb.DuckDBPyConnection) -> None:
    """Fictitious cases by unit and diagnosis, with one small cell (cardio, covid: 3)."""
    counts = {
        ("cardio", "flu"): 40, ("cardio", "covid"): 3, ("cardio", "asthma"): 25,
        ("pneumo", "flu"): 30, ("pneumo", "covid"): 50, ("pneumo", "asthma"): 12,
        ("paedia", "flu"): 45, ("paedia", "covid"): 20, ("paedia", "asthma"): 60,
    }
    ids = itertools.count()
    rows = [
        (f"p{next(ids)}", unit, diagnosis, 3 + i % 5, "F" if i % 2 else "M")
        for (unit, diagnosis), n in counts.items()
        for i in range(n)
    ]
    conn.execute("CREATE TABLE cases (person VARCHAR, unit VARCHAR, diagnosis VARCHAR, stay INTEGER, sex VARCHAR)")
    conn.executemany("INSERT INTO cases VALUES (?, ?, ?, ?, ?)", rows)


def test_indicator_complementary_suppression_protects_margins() -> None:
    conn = duckdb.connect()
    _cases(conn)
    ind = indicator(conn, "cases", ["unit", "diagnosis"], aggregates={"los": ("mean", "stay")}, person="person")
    assert ind.cell("cardio", "covid").suppressed and ind.cell("cardio", "covid").reason == "primary"
    assert ind.cell("cardio", "covid").count is None and ind.cell("cardio", "covid").aggregates == (("los", None),)
    # No shown entry is a small cell.
    assert all(c.count is None or c.count == 0 or c.count >= 10 for c in ind.cells)
    # Every line (row or column, margins included) with a suppressed entry has at least two.
    for line in _lines(ind):
        hidden = [c for c in line if c.suppressed]
        assert len(hidden) != 1
    # Subtracting shown cells from the margins never yields a single suppressed value.
    row = [ind.cell("cardio", d) for d in ("flu", "covid", "asthma")]
    assert sum(c.suppressed for c in row) >= 2
    assert ind.cell(TOTAL, TOTAL).count == 285


def _lines(ind):  # type: ignore[no-untyped-def]
    """Rows and columns of a two-dimensional indicator, with their margins."""
    units = {c.key[0] for c in ind.cells}
    diagnoses = {c.key[1] for c in ind.cells}
    return [[ind.cell(u, d) for d in diagnoses] for u in units] + [[ind.cell(u, d) for u in units] for d in diagnoses]


def test_indicator_one_dimension_hides_a_second_cell() -> None:
    conn = duckdb.connect()
    _cases(conn)
    ind = indicator(conn, Query("SELECT * FROM cases WHERE unit = 'cardio'"), ["diagnosis"])
    assert ind.cell("covid").reason == "primary"
    assert ind.cell("asthma").reason == "complementary"
    assert ind.cell(TOTAL).count == 68


def test_indicator_filter_refusals() -> None:
    conn = duckdb.connect()
    _cases(conn)
    with pytest.raises(IndicatorRefused, match="fewer than 10"):
        indicator(conn, "cases", ["sex"], filters={"unit": "cardio", "diagnosis": "covid"})
    with pytest.raises(IndicatorRefused, match="subtracting"):
        indicator(conn, "cases", ["sex"], filters={"unit": "cardio", "diagnosis": ["flu", "asthma"]})
    accepted = indicator(conn, "cases", ["sex"], filters={"unit": ["cardio", "pneumo"]}, threshold=10)
    assert accepted.cell(TOTAL).count == 160
    with pytest.raises(AnonymityError, match="not allowed"):
        indicator(conn, "cases", ["sex"], aggregates={"oldest": ("max", "stay")})
    with pytest.raises(AnonymityError, match="at least one dimension"):
        indicator(conn, "cases", [])


# --- anonymeter risks ----------------------------------------------------------------------------


def test_singling_out_is_computed_on_the_queries_actually_run() -> None:
    """Issue 15: anonymeter divided by the attacks requested (200) when it built 14 queries; the risk is now that of
    the queries run, and the count reported is theirs."""
    from anonymeter.evaluators import SinglingOutEvaluator

    from santegarde.warehouse.anonymity.risks import MAX_ATTEMPTS, singling_out_risk

    # 80 rows in 4 classes of 20, plus 6 rows that are alone: only those can be singled out
    rows = [(a, s) for a in (30, 40) for s in ("F", "M") for _ in range(20)] + [(50 + i, "F") for i in range(6)]
    frame = pd.DataFrame(rows, columns=["age", "sex"]).sample(frac=1.0, random_state=2).reset_index(drop=True)
    control = frame.iloc[:30].reset_index(drop=True)
    targets = frame.iloc[30:].reset_index(drop=True)
    risk = singling_out_risk(targets, targets, control, 200, 2, 0.95, seed=7)
    assert 0 < risk.n_attacks < 200
    same = SinglingOutEvaluator(ori=targets, syn=targets, control=control, n_attacks=risk.n_attacks, n_cols=2,
                                max_attempts=MAX_ATTEMPTS, seed=7).evaluate(mode="multivariate")  # fmt: skip
    assert risk.value == pytest.approx(same.results(confidence_level=0.95).risk().value)
    naive = SinglingOutEvaluator(ori=targets, syn=targets, control=control, n_attacks=200, n_cols=2,
                                 max_attempts=MAX_ATTEMPTS, seed=7).evaluate(mode="multivariate")  # fmt: skip
    assert naive.results().n_attacks_ori == 200
    assert risk.attack_rate > naive.results().attack_rate.value  # the old way understated the attack's success


def test_risks_run_on_a_small_synthetic_pair() -> None:
    from santegarde.warehouse.anonymity.risks import assess_risks

    rng = np.random.default_rng(3)
    n = 200
    frame = pd.DataFrame(
        {
            "age": rng.integers(20, 90, n),
            "sex": rng.choice(["F", "M"], n),
            "unit": rng.choice(["cardio", "pneumo", "paedia"], n),
            "diagnosis": rng.choice(["flu", "covid", "asthma"], n),
        }
    )
    original, control = frame.iloc[:120].reset_index(drop=True), frame.iloc[120:].reset_index(drop=True)
    export = original.sample(frac=1.0, random_state=1).reset_index(drop=True)
    report = assess_risks(original, export, control=control, secrets=["diagnosis"], n_attacks=20, seed=5)
    for risk in (report.singling_out, report.linkability, report.max_inference):
        assert risk is not None
        assert 0.0 <= risk.ci_low <= risk.value <= risk.ci_high <= 1.0
        assert risk.control_rate is not None
    assert report.singling_out.attack_rate > report.singling_out.baseline_rate  # a copy singles people out
    with pytest.raises(AnonymityError, match="same columns"):
        assess_risks(original, export.drop(columns=["sex"]), n_attacks=5)


def test_likeness_metrics_on_a_hand_made_table_and_c_when_l_is_one() -> None:
    """A table worked by hand: classes {A, A, A, B} and {A, B, C, C}; p(A) = 1/2, p(B) = 1/4, p(C) = 1/4."""
    df = pd.DataFrame({"q": ["x"] * 4 + ["y"] * 4, "s": ["A", "A", "A", "B", "A", "B", "C", "C"]})
    conn = duckdb.connect()
    conn.register("data", df)
    report = measure(conn, "data", ["q"], ["s"])
    assert report.l_distinct == 2
    assert report.alpha == 0.75  # three A of four in class x
    assert report.beta_basic == pytest.approx(1.0)  # C: 1/2 in class y against 1/4 overall
    assert report.beta_enhanced == pytest.approx(min(1.0, -np.log(0.25)))
    assert report.delta == pytest.approx(np.log(2))  # C in y: |ln(0.5 / 0.25)|
    # class x counts sorted increasing [1, 3]: floor(1 / 3 + 1) = 1; class y [1, 1, 2]: floor(1 / (1 + 2) + 1) = 1
    assert report.recursive_c == 1
    _compare_likeness(report, df, ["q"], ["s"])
    conn.register("one", pd.DataFrame({"q": ["x", "x", "y"], "s": ["A", "A", "B"]}))
    assert measure(conn, "one", ["q"], ["s"]).recursive_c is None  # l = 1: pycanon gives NaN


def test_the_measure_command_reports_the_likeness_metrics_in_json_and_in_french(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``warehouse measure anonymity`` shows them (its table in French by default, its ``--json`` document)."""
    from santegarde.cli import warehouse_measure

    df = pd.DataFrame({"q": ["x"] * 4 + ["y"] * 4, "s": ["A", "A", "A", "B", "A", "B", "C", "C"]})
    conn = duckdb.connect()
    conn.register("data", df)
    report = measure(conn, "data", ["q"], ["s"])
    document = warehouse_measure.anonymity_document(report, "duckdb")
    assert document["alpha_k"] == {"alpha": 0.75, "k": 4} and document["recursive_c_l"] == {"c": 1, "l": 2}
    assert document["delta"] == pytest.approx(np.log(2)) and document["sensitive"][0]["beta_basic"] == 1.0
    warehouse_measure._print_anonymity(report, "duckdb", warehouse_measure._words("fr"))
    shown = capsys.readouterr().out
    assert "c de la (c, l)-diversité récursive" in shown and "β-ressemblance renforcée" in shown
    assert "δ-divulgation" in shown and "0.7500 (k = 4)" in shown


def test_the_distance_follows_the_sql_type_never_a_null_nor_a_null_string() -> None:
    """Issue 15 ("also seen"): t-closeness switched to the categorical distance when a numeric column held the
    string "NULL". The kind of distance is the column's SQL type: a DOUBLE column with missing values stays
    ordered (a NULL is a value of its own); text holding numbers is categorical unless declared ordered."""
    conn = duckdb.connect()
    conn.execute("CREATE TABLE m (q VARCHAR, v DOUBLE, t VARCHAR)")
    conn.execute("INSERT INTO m SELECT ['a', 'b'][1 + i % 2], CASE WHEN i % 7 = 0 THEN NULL ELSE i % 5 END, "
                 "CASE WHEN i % 7 = 0 THEN 'NULL' ELSE CAST(i % 5 AS VARCHAR) END FROM range(70) r(i)")
    report = measure(conn, "m", ["q"], ["v", "t"])
    by_name = {s.name: s for s in report.sensitive}
    assert by_name["v"].ordered and not by_name["t"].ordered
    declared = measure(conn, "m", ["q"], ["t"], ordered=["t"])
    assert declared.sensitive[0].ordered
