"""Anonymity metrics computed in SQL: k-anonymity, l-diversity (distinct, entropy) and t-closeness.

Definitions follow pycanon 1.0 (the reference library) so that values are identical on the same data:
equivalence classes are the groups of rows sharing the quasi-identifiers; k is the smallest class size;
distinct l is the smallest number of distinct sensitive values in a class; entropy l is exp of the
smallest class entropy (pycanon reports ``int(e ** H)`` computed with numpy, kept as ``l_entropy_pycanon``:
it may fall one below the exact value when ``e ** H`` is an integer); t-closeness is
the largest earth mover's distance between a class and the whole table, with the equal distance
(half the total variation) for categorical attributes and the ordered distance
``sum_i |cumsum(q - p)_i| / (m - 1)`` over the m sorted distinct values for numeric or temporal ones.
Unlike pycanon (pandas drops NaN group keys), a NULL is a value of its own: rows are never left out.

The SQL is the subset DuckDB and Spark SQL read alike, sent through a :class:`~._sql.Runner`: the same text
measures a DuckDB table and a Spark data frame (issue 22), so the two engines cannot drift apart.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from typing import Any

import duckdb
import numpy as np

from santegarde.warehouse.anonymity._sql import (
    AnonymityError,
    Runner,
    Source,
    check_columns,
    column_list,
    is_ordered_type,
    quote_ident,
    runner_of,
)

DEFAULT_K = 10
DEFAULT_L = 2


@dataclass(frozen=True)
class Thresholds:
    """Release thresholds; ``None`` means the criterion is not enforced.

    Defaults: k=10 (the small-cell threshold of French health statistics), distinct l=2 (no class where
    every person shares the sensitive value), no t and at most 5% of records suppressed.
    """

    k: int = DEFAULT_K
    l_distinct: int | None = DEFAULT_L
    l_entropy: float | None = None
    t: float | None = None
    max_suppression: float = 0.05

    def __post_init__(self) -> None:
        """Refuse thresholds that mean nothing."""
        if self.k < 1:
            raise AnonymityError("The k threshold must be at least 1; set a positive k.")
        if self.l_distinct is not None and self.l_distinct < 1:
            raise AnonymityError("The l threshold must be at least 1; set a positive l or none.")
        if self.t is not None and not 0 <= self.t <= 1:
            raise AnonymityError("The t threshold must lie between 0 and 1; set it in that range or none.")
        if not 0 <= self.max_suppression <= 1:
            raise AnonymityError("The suppression share must lie between 0 and 1; set it in that range.")


@dataclass(frozen=True)
class SensitiveReport:
    """The diversity and closeness of one sensitive attribute."""

    name: str
    ordered: bool
    distinct_values: int
    l_distinct: int
    min_entropy: float
    l_entropy: float
    l_entropy_pycanon: int
    t_closeness: float
    alpha: float = 0.0  # the largest share of one value in a class (alpha-k anonymity)
    beta_basic: float = 0.0  # the largest relative gain (q - p) / p of a value's share in a class (basic beta-likeness)
    beta_enhanced: float = 0.0  # the same bounded by -ln p (enhanced beta-likeness)
    delta: float = 0.0  # the largest |ln(q / p)| over the values present in a class (delta-disclosure)
    recursive_c: int | None = None  # recursive (c, l)-diversity's c for the table's distinct l; None when l = 1


@dataclass(frozen=True)
class AnonymityReport:
    """Metrics of a table over declared quasi-identifiers and sensitive attributes."""

    rows: int
    classes: int
    quasi_identifiers: tuple[str, ...]
    k: int
    smallest_classes: tuple[int, ...]
    k_threshold: int
    records_under_k: int
    share_under_k: float
    sensitive: tuple[SensitiveReport, ...]

    @property
    def l_distinct(self) -> int | None:
        """Distinct l over all sensitive attributes (pycanon ``l_diversity``)."""
        return min((s.l_distinct for s in self.sensitive), default=None)

    @property
    def l_entropy(self) -> float | None:
        """exp of the smallest class entropy over all sensitive attributes."""
        return min((s.l_entropy for s in self.sensitive), default=None)

    @property
    def l_entropy_pycanon(self) -> int | None:
        """Entropy l as pycanon's ``entropy_l_diversity`` reports it: ``int(e ** min H)``."""
        return min((s.l_entropy_pycanon for s in self.sensitive), default=None)

    @property
    def t_closeness(self) -> float | None:
        """Largest t over all sensitive attributes (pycanon ``t_closeness``)."""
        return max((s.t_closeness for s in self.sensitive), default=None)

    @property
    def recursive_c(self) -> int | None:
        """c of recursive (c, l)-diversity, l being :attr:`l_distinct` (pycanon ``recursive_c_l_diversity``:
        ``None`` where pycanon gives NaN, l = 1)."""
        values = [s.recursive_c for s in self.sensitive if s.recursive_c is not None]
        return max(values) if values and len(values) == len(self.sensitive) else None

    @property
    def alpha(self) -> float | None:
        """alpha of alpha-k anonymity (pycanon ``alpha_k_anonymity``; its k is :attr:`k`)."""
        return max((s.alpha for s in self.sensitive), default=None)

    @property
    def beta_basic(self) -> float | None:
        """Basic beta-likeness (pycanon ``basic_beta_likeness``)."""
        return max((s.beta_basic for s in self.sensitive), default=None)

    @property
    def beta_enhanced(self) -> float | None:
        """Enhanced beta-likeness (pycanon ``enhanced_beta_likeness``)."""
        return max((s.beta_enhanced for s in self.sensitive), default=None)

    @property
    def delta(self) -> float | None:
        """delta-disclosure (pycanon ``delta_disclosure``)."""
        return max((s.delta for s in self.sensitive), default=None)

    def failures(self, thresholds: Thresholds) -> tuple[str, ...]:
        """Name each criterion of ``thresholds`` this report does not meet (suppression excluded)."""
        failed: list[str] = []
        if self.k < thresholds.k:
            failed.append(f"k={self.k} < {thresholds.k}")
        l_distinct, l_entropy, t = self.l_distinct, self.l_entropy, self.t_closeness
        if thresholds.l_distinct is not None and l_distinct is not None and l_distinct < thresholds.l_distinct:
            failed.append(f"l={l_distinct} < {thresholds.l_distinct}")
        if thresholds.l_entropy is not None and l_entropy is not None and l_entropy < thresholds.l_entropy:
            failed.append(f"entropy l={l_entropy:.3f} < {thresholds.l_entropy}")
        if thresholds.t is not None and t is not None and t > thresholds.t:
            failed.append(f"t={t:.4f} > {thresholds.t}")
        return tuple(failed)


def measure(
    conn: duckdb.DuckDBPyConnection | Runner,
    source: Source | Any,
    quasi_identifiers: Sequence[str],
    sensitive: Sequence[str] = (),
    *,
    k_threshold: int = DEFAULT_K,
    ordered: Collection[str] | None = None,
    smallest: int = 5,
) -> AnonymityReport:
    """Measure k, l and t of ``source`` in SQL.

    ``ordered`` names the sensitive attributes measured with the ordered distance; by default those of
    numeric, boolean or temporal SQL type (pycanon: pandas numeric dtypes). ``conn`` is a DuckDB connection or
    an engine's runner (the Spark engine's measures a data frame).
    """
    qis = tuple(quasi_identifiers)
    if not qis:
        raise AnonymityError("No quasi-identifier was declared; declare at least one column.")
    run = runner_of(conn)
    with run.resolved(source) as src:
        types = run.types(src)
        check_columns(types, qis, "quasi-identifiers")
        check_columns(types, sensitive, "sensitive attributes")
        check_columns(types, list(ordered or ()), "ordered attributes")
        rows, classes, k, under, sizes = _classes(run, src, qis, k_threshold, smallest)
        reports = tuple(_sensitive(run, src, qis, name, _is_ordered(name, types, ordered)) for name in sensitive)
        l_all = min((r.l_distinct for r in reports), default=1)
        reports = tuple(_likeness(run, src, qis, r, l_all) for r in reports)
    return AnonymityReport(
        rows=rows,
        classes=classes,
        quasi_identifiers=qis,
        k=k,
        smallest_classes=sizes,
        k_threshold=k_threshold,
        records_under_k=under,
        share_under_k=under / rows,
        sensitive=reports,
    )


def _is_ordered(name: str, types: dict[str, str], ordered: Collection[str] | None) -> bool:
    """Tell whether a sensitive attribute uses the ordered distance."""
    return name in ordered if ordered is not None else is_ordered_type(types[name])


def _classes(
    run: Runner, src: str, qis: tuple[str, ...], k: int, smallest: int
) -> tuple[int, int, int, int, tuple[int, ...]]:
    """Rows, number of classes, smallest class size, records in classes under ``k`` and the sizes of the
    ``smallest`` smallest classes (increasing), from one grouping of the source."""
    sizes_sql = f"SELECT COUNT(*) AS n FROM {src} AS __src GROUP BY {column_list(qis)}"  # noqa: S608
    found = run.rows(
        f"SELECT SUM(n), COUNT(*), MIN(n), COALESCE(SUM(CASE WHEN n < {int(k)} THEN n ELSE 0 END), 0) "  # noqa: S608
        f"FROM ({sizes_sql}) AS __sizes"
    )
    row = found[0] if found else None
    if row is None or not row[0]:
        raise AnonymityError("The source has no rows; anonymity cannot be measured on an empty table.")
    wanted = max(smallest, 0)
    smallest_rows = run.rows(f"SELECT n FROM ({sizes_sql}) AS __sizes ORDER BY n LIMIT {wanted}") if wanted else []  # noqa: S608
    return int(row[0]), int(row[1]), int(row[2]), int(row[3]), tuple(int(r[0]) for r in smallest_rows)


def _class_value_counts(src: str, qis: tuple[str, ...], value: str) -> str:
    """SQL of ``cv(cid, v, c, n)``: per class id and sensitive value, the count and the class size, and of
    ``g(v, p)``: each value's share of the whole table. A class is numbered once over the distinct
    quasi-identifier tuples (far fewer than the rows), then joined back null-safely: no window over every row."""
    keys = column_list(qis)
    same = " AND ".join(f"__src.{quote_ident(q)} IS NOT DISTINCT FROM __k.{quote_ident(q)}" for q in qis)
    return (
        f"__keys AS (SELECT {keys}, ROW_NUMBER() OVER (ORDER BY {keys}) AS cid "  # noqa: S608
        f"FROM (SELECT DISTINCT {keys} FROM {src} AS __d) AS __distinct), "
        f"ids AS (SELECT __k.cid, {value} AS v FROM {src} AS __src JOIN __keys AS __k ON {same}), "
        "cv AS (SELECT cid, v, COUNT(*) AS c, SUM(COUNT(*)) OVER (PARTITION BY cid) AS n "
        "FROM ids GROUP BY cid, v), "
        "g AS (SELECT v, COUNT(*) / (SELECT COUNT(*) FROM ids) AS p FROM ids GROUP BY v)"
    )


def _sensitive(run: Runner, src: str, qis: tuple[str, ...], name: str, ordered: bool) -> SensitiveReport:
    """Measure distinct and entropy l and t-closeness for one sensitive attribute."""
    ctes = _class_value_counts(src, qis, f"__src.{quote_ident(name)}")
    found = run.rows(
        f"WITH {ctes}, "  # noqa: S608 - identifiers are quoted by quote_ident
        "per AS (SELECT cv.cid, COUNT(*) AS d, -SUM(cv.c / cv.n * LN(cv.c / cv.n)) AS h, "
        "SUM(ABS(cv.c / cv.n - g.p)) AS dev, SUM(g.p) AS covered "
        "FROM cv JOIN g ON cv.v IS NOT DISTINCT FROM g.v GROUP BY cv.cid) "
        "SELECT MIN(d), MIN(h), MAX(0.5 * (dev + GREATEST(1 - covered, 0))), (SELECT COUNT(*) FROM g) FROM per"
    )
    if not found or found[0][0] is None:
        raise AnonymityError(f"The sensitive attribute {name} could not be measured; check the source.")
    row = found[0]
    distinct, entropy, t_equal, m = int(row[0]), max(float(row[1]), 0.0) + 0.0, float(row[2]), int(row[3])
    t = _ordered_t(run, ctes, m) if ordered else t_equal
    return SensitiveReport(
        name=name,
        ordered=ordered,
        distinct_values=m,
        l_distinct=distinct,
        min_entropy=entropy,
        l_entropy=math.exp(entropy),
        l_entropy_pycanon=int(np.min(np.exp(1) ** np.array([entropy]))),
        t_closeness=t,
    )


def _likeness(run: Runner, src: str, qis: tuple[str, ...], report: SensitiveReport, l_all: int) -> SensitiveReport:
    """alpha, basic and enhanced beta-likeness, delta-disclosure and recursive (c, l)-diversity's c of one sensitive
    attribute, as pycanon 1.0 defines them (``q``: a value's share in a class, ``p``: in the table): alpha is the
    largest ``q``; basic beta the largest ``(q - p) / p`` (a value absent from a class gives -1, never the
    largest); enhanced beta ``min(basic beta, -ln p)`` over the values, that is with the rarest value's ``p``;
    delta the largest ``|ln(q / p)|`` over the values present in a class; c, where ``l_all`` (the table's distinct
    l) is at least 2, the largest over classes of ``floor(r_1 / (r_l + ... + r_m) + 1)`` with the class's value
    counts ``r`` sorted in increasing order, as pycanon sorts them."""
    ctes = _class_value_counts(src, qis, f"__src.{quote_ident(report.name)}")
    lowest = max(int(l_all), 1)
    found = run.rows(
        f"WITH {ctes}, "  # noqa: S608 - identifiers are quoted by quote_ident
        "ranked AS (SELECT cid, c, ROW_NUMBER() OVER (PARTITION BY cid ORDER BY c) AS rk FROM cv), "
        "tails AS (SELECT cid, MIN(c) AS smallest, "
        f"SUM(CASE WHEN rk >= {lowest} THEN c ELSE 0 END) AS tail FROM ranked GROUP BY cid) "
        "SELECT (SELECT MAX(cv.c / cv.n) FROM cv), "
        "(SELECT MAX((cv.c / cv.n - g.p) / g.p) FROM cv JOIN g ON cv.v IS NOT DISTINCT FROM g.v), "
        "(SELECT MIN(g.p) FROM g), "
        "(SELECT MAX(ABS(LN((cv.c / cv.n) / g.p))) FROM cv JOIN g ON cv.v IS NOT DISTINCT FROM g.v), "
        "(SELECT MAX(FLOOR(CAST(smallest AS DOUBLE) / tail + 1)) FROM tails)"
    )
    if not found or found[0][0] is None:
        raise AnonymityError(f"The sensitive attribute {report.name} could not be measured; check the source.")
    alpha, beta, rarest, delta, c = found[0]
    return replace(
        report, alpha=float(alpha), beta_basic=float(beta), beta_enhanced=min(float(beta), -math.log(float(rarest))),
        delta=float(delta), recursive_c=int(c) if l_all > 1 and c is not None else None,
    )  # fmt: skip


def _ordered_t(run: Runner, ctes: str, m: int) -> float:
    """Largest ordered-distance EMD between a class and the table (0 when there is a single value)."""
    if m < 2:
        return 0.0
    found = run.rows(
        f"WITH {ctes}, "  # noqa: S608 - identifiers are quoted by quote_ident
        "vals AS (SELECT v, p, ROW_NUMBER() OVER (ORDER BY v NULLS LAST) AS i FROM g), "
        "cls AS (SELECT DISTINCT cid, n FROM cv), "
        "grid AS (SELECT cls.cid, vals.i, COALESCE(cv.c, 0) / cls.n - vals.p AS r FROM cls CROSS JOIN vals "
        "LEFT JOIN cv ON cv.cid = cls.cid AND cv.v IS NOT DISTINCT FROM vals.v), "
        "cum AS (SELECT cid, ABS(SUM(r) OVER (PARTITION BY cid ORDER BY i "
        "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)) AS a FROM grid) "
        "SELECT MAX(s) FROM (SELECT cid, SUM(a) AS s FROM cum GROUP BY cid) AS __sums"
    )
    return float(found[0][0]) / (m - 1) if found and found[0][0] is not None else 0.0
