"""Anonymous indicators: counts and sums or means by dimensions, with small-cell and complementary suppression.

Every cell and every margin (a dimension at ``TOTAL``) counting between 1 and ``threshold - 1`` persons is
suppressed (primary). Then, along every dimension, each line of the table (the cells sharing the other
coordinates, with their margin) that holds exactly one suppressed entry gets a second one, the smallest
non-zero entry left (a zero if none), repeated until stable, so that a line total minus the shown cells
never gives a suppressed value. Zero cells are shown. Aggregates are limited to sums and means (minima
and maxima reveal one person's value) and are withheld wherever the count is. Filters are checked too:
each combination of the requested filters must select either nobody or at least ``threshold`` persons,
and so must the difference made by adding any one filter, so that two requests cannot be subtracted.

The SQL (GROUP BY CUBE, GROUPING, FILTER, ``?`` parameters) is read alike by DuckDB and Spark SQL: the same
indicator is computed on either engine through a :class:`~._sql.Runner`.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from santegarde.warehouse.anonymity._sql import (
    AnonymityError,
    Runner,
    Source,
    check_columns,
    column_list,
    quote_ident,
    runner_of,
)

DEFAULT_THRESHOLD = 10
MAX_FILTERS = 6
AGGREGATES = {"sum": "SUM", "mean": "AVG"}


class IndicatorRefused(AnonymityError):
    """An indicator whose filters would isolate fewer persons than the threshold.

    ``columns`` are the filters at fault, ``threshold`` the small-cell threshold, and ``leaves_out`` tells whether
    the filter leaves out (rather than selects) too few persons: what a document words in its own language.
    """

    def __init__(self, message: str, *, columns: tuple[str, ...] = (), threshold: int = 0,
                 leaves_out: bool = False) -> None:
        super().__init__(message)
        self.columns = columns
        self.threshold = threshold
        self.leaves_out = leaves_out


class Margin(enum.Enum):
    """The coordinate of a margin: all values of the dimension."""

    TOTAL = "TOTAL"


TOTAL = Margin.TOTAL
Key = tuple[object, ...]


@dataclass(frozen=True)
class Cell:
    """One published entry; ``count`` and ``aggregates`` are ``None`` when suppressed."""

    key: Key
    count: int | None
    aggregates: tuple[tuple[str, float | None], ...]
    suppressed: bool
    reason: str | None


@dataclass(frozen=True)
class Indicator:
    """An anonymous indicator: cells and margins after suppression."""

    dimensions: tuple[str, ...]
    threshold: int
    filters: tuple[tuple[str, tuple[object, ...]], ...]
    cells: tuple[Cell, ...]

    def cell(self, *key: object) -> Cell:
        """The entry at ``key`` (use ``TOTAL`` for a margin)."""
        for cell in self.cells:
            if cell.key == key:
                return cell
        raise AnonymityError(f"The indicator has no cell {key!r}; use values present in the dimensions or TOTAL.")

    @property
    def suppressed(self) -> tuple[Key, ...]:
        """Keys of the suppressed entries."""
        return tuple(c.key for c in self.cells if c.suppressed)


def indicator(
    conn: duckdb.DuckDBPyConnection | Runner,
    source: Source | Any,
    dimensions: Sequence[str],
    *,
    filters: Mapping[str, object] | None = None,
    aggregates: Mapping[str, tuple[str, str]] | None = None,
    threshold: int = DEFAULT_THRESHOLD,
    person: str | None = None,
) -> Indicator:
    """Count persons (``person`` column, distinct) or rows by ``dimensions``, with margins and suppression.

    ``filters`` maps a column to a value or a list of values; ``aggregates`` maps an output name to
    ``(function, column)`` with function ``sum`` or ``mean``.
    """
    dims = tuple(dimensions)
    if not dims:
        raise AnonymityError("An indicator needs at least one dimension; name the columns to count by.")
    if threshold < 1:
        raise AnonymityError("The small-cell threshold must be at least 1; set it in configuration.")
    wanted = _filters(filters or {})
    aggs = _aggregates(aggregates or {})
    run = runner_of(conn)
    with run.resolved(source) as src:
        types = run.types(src)
        check_columns(types, dims, "dimensions")
        check_columns(types, [name for name, _ in wanted], "filter columns")
        check_columns(types, [col for _, _, col in aggs], "aggregated columns")
        if person is not None:
            check_columns(types, [person], "person column")
        _check_filters(run, src, wanted, threshold, person)
        grid = _grid(run, src, dims, wanted, aggs, person)
    reasons = _suppress(grid, dims, threshold)
    cells = tuple(_cell(key, values, aggs, reasons.get(key)) for key, values in sorted(grid.items(), key=_order))
    return Indicator(dimensions=dims, threshold=threshold, filters=wanted, cells=cells)


def _filters(filters: Mapping[str, object]) -> tuple[tuple[str, tuple[object, ...]], ...]:
    """Normalise filters to (column, values)."""
    if len(filters) > MAX_FILTERS:
        raise AnonymityError(f"An indicator takes at most {MAX_FILTERS} filters; combine fewer criteria.")
    result = []
    for name, value in filters.items():
        values = tuple(value) if isinstance(value, list | tuple | set | frozenset) else (value,)
        if not values:
            raise AnonymityError(f"The filter on {name} has no value; give at least one value.")
        result.append((name, values))
    return tuple(result)


def _aggregates(aggregates: Mapping[str, tuple[str, str]]) -> tuple[tuple[str, str, str], ...]:
    """Normalise aggregates to (output, SQL function, column)."""
    result = []
    for output, (function, column) in aggregates.items():
        if function not in AGGREGATES:
            raise AnonymityError(
                f"The aggregate {function!r} is not allowed; use {' or '.join(AGGREGATES)} "
                "(minima and maxima reveal a person's value)."
            )
        result.append((output, AGGREGATES[function], column))
    return tuple(result)


def _condition(name: str, values: tuple[object, ...]) -> tuple[str, list[object]]:
    """SQL condition and parameters of one filter."""
    present = [v for v in values if v is not None]
    parts = [f"{quote_ident(name)} IN ({', '.join('?' for _ in present)})"] if present else []
    if len(present) < len(values):
        parts.append(f"{quote_ident(name)} IS NULL")
    return "(" + " OR ".join(parts) + ")", present


def _where(filters: Sequence[tuple[str, tuple[object, ...]]]) -> tuple[str, list[object]]:
    """WHERE clause (possibly ``TRUE``) and parameters of a set of filters."""
    clauses, params = [], []
    for name, values in filters:
        clause, values_params = _condition(name, values)
        clauses.append(clause)
        params.extend(values_params)
    return (" AND ".join(clauses) or "TRUE"), params


def _counter(person: str | None, where: str | None = None) -> str:
    """COUNT expression: distinct persons or rows, optionally filtered."""
    counted = f"COUNT(DISTINCT {quote_ident(person)})" if person else "COUNT(*)"
    return f"{counted} FILTER (WHERE {where})" if where else counted


def _check_filters(
    run: Runner,
    src: str,
    filters: tuple[tuple[str, tuple[object, ...]], ...],
    threshold: int,
    person: str | None,
) -> None:
    """Refuse filters whose combinations, or the difference one filter makes, isolate under ``threshold``."""
    if not filters:
        return
    subsets = [s for r in range(len(filters) + 1) for s in itertools.combinations(range(len(filters)), r)]
    selects, params = [], []
    for subset in subsets:
        where, values = _where([filters[i] for i in subset])
        selects.append(_counter(person, where))
        params.extend(values)
    found = run.rows(f"SELECT {', '.join(selects)} FROM {src} AS __src", params)  # noqa: S608
    row = found[0] if found else None
    counts = dict(zip(subsets, (int(v) for v in row or ()), strict=True))
    for subset, count in counts.items():
        if subset and 0 < count < threshold:
            names = ", ".join(filters[i][0] for i in subset)
            raise IndicatorRefused(
                f"The filters on {names} select fewer than {threshold} persons; widen or remove them.",
                columns=tuple(filters[i][0] for i in subset), threshold=threshold,
            )
        for extra in set(range(len(filters))) - set(subset):
            difference = count - counts[tuple(sorted((*subset, extra)))]
            if 0 < difference < threshold:
                raise IndicatorRefused(
                    f"The filter on {filters[extra][0]} leaves out fewer than {threshold} persons, who could be "
                    "found by subtracting two indicators; widen or remove it.",
                    columns=(filters[extra][0],), threshold=threshold, leaves_out=True,
                )


def _grid(
    run: Runner,
    src: str,
    dims: tuple[str, ...],
    filters: tuple[tuple[str, tuple[object, ...]], ...],
    aggs: tuple[tuple[str, str, str], ...],
    person: str | None,
) -> dict[Key, tuple[int, tuple[float | None, ...]]]:
    """Counts and aggregates of every cell and margin, zero-filled over the product of the dimensions."""
    where, params = _where(filters)
    groupings = ", ".join(f"GROUPING({quote_ident(d)})" for d in dims)
    agg_sql = "".join(f", {fn}({quote_ident(col)})" for _, fn, col in aggs)
    sql = (
        f"SELECT {column_list(dims)}, {groupings}, {_counter(person)}{agg_sql} "  # noqa: S608
        f"FROM {src} AS __src WHERE {where} GROUP BY CUBE ({column_list(dims)})"
    )
    n = len(dims)
    grid: dict[Key, tuple[int, tuple[float | None, ...]]] = {}
    for row in run.rows(sql, params):
        key = tuple(TOTAL if row[n + i] else row[i] for i in range(n))
        grid[key] = (int(row[2 * n]), tuple(None if v is None else float(v) for v in row[2 * n + 1 :]))
    domains = [[*sorted({k[i] for k in grid if k[i] is not TOTAL}, key=_sortable), TOTAL] for i in range(n)]
    empty: tuple[float | None, ...] = tuple(None for _ in aggs)
    for key in itertools.product(*domains):
        grid.setdefault(key, (0, empty))
    return grid


def _sortable(value: object) -> tuple[int, str]:
    """Sort key putting NULL first and comparing values by type then text."""
    return (0, "") if value is None else (1, f"{type(value).__name__}:{value!s}")


def _order(item: tuple[Key, object]) -> tuple[tuple[int, int, str], ...]:
    """Order cells with margins last along each dimension."""
    return tuple((1, 0, "") if v is TOTAL else (0, *_sortable(v)) for v in item[0])


def _suppress(
    grid: Mapping[Key, tuple[int, tuple[float | None, ...]]], dims: tuple[str, ...], threshold: int
) -> dict[Key, str]:
    """Primary suppression of small entries, then complementary suppression along every line."""
    reasons = {key: "primary" for key, (count, _) in grid.items() if 0 < count < threshold}
    lines = _lines(list(grid), len(dims))
    changed = True
    while changed:
        changed = False
        for line in lines:
            hidden = [key for key in line if key in reasons]
            if len(hidden) != 1:
                continue
            shown = [key for key in line if key not in reasons]
            if not shown:
                continue
            pick = min(shown, key=lambda key: (grid[key][0] == 0, grid[key][0], _order((key, None))))
            reasons[pick] = "complementary"
            changed = True
    return reasons


def _lines(keys: list[Key], n: int) -> list[list[Key]]:
    """Additive lines: entries sharing all coordinates but one, the free one running over values and TOTAL."""
    lines: list[list[Key]] = []
    for axis in range(n):
        groups: dict[Key, list[Key]] = {}
        for key in keys:
            groups.setdefault(key[:axis] + key[axis + 1 :], []).append(key)
        lines.extend(groups.values())
    return lines


def _cell(
    key: Key, values: tuple[int, tuple[float | None, ...]], aggs: tuple[tuple[str, str, str], ...], reason: str | None
) -> Cell:
    """A published entry, withheld when suppressed."""
    count, agg_values = values
    hidden = reason is not None
    return Cell(
        key=key,
        count=None if hidden else count,
        aggregates=tuple((name, None if hidden else v) for (name, _, _), v in zip(aggs, agg_values, strict=True)),
        suppressed=hidden,
        reason=reason,
    )
