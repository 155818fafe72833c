"""Generalisation operators as SQL and a lattice search for the least-generalised release meeting thresholds.

Each operator maps a column to SQL at a level: 0 is the raw value, the top level is ``'*'`` (the
attribute withheld). ``propose`` walks the lattice of level vectors breadth-first by total height, from
least to most generalised, suppresses (drops) the records of classes that fail k or distinct l, and
stops at the first height where some node meets the thresholds with at most ``max_suppression`` of the
records suppressed; among those nodes it keeps the one losing least (suppressed share, then the
discernibility metric).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from santegarde.warehouse.anonymity._sql import (
    AnonymityError,
    Query,
    Runner,
    Table,
    check_columns,
    column_list,
    from_sql,
    quote_ident,
    quote_literal,
    runner_of,
)
from santegarde.warehouse.anonymity.metrics import AnonymityReport, Thresholds, measure

TOP = "'*'"
DATE_FORMATS = {"month": "%Y-%m", "year": "%Y"}


class Generaliser(Protocol):
    """A generalisation hierarchy: ``height`` levels above the raw value, the last one being ``'*'``."""

    @property
    def height(self) -> int:
        """Number of levels above the raw value (the top one withholds the value)."""
        ...

    def expression(self, column: str, level: int) -> str:
        """SQL expression generalising the quoted ``column`` to ``level``."""
        ...


def _check_level(level: int, height: int) -> None:
    """Refuse a level outside 0..height."""
    if not 0 <= level <= height:
        raise AnonymityError(f"The generalisation level {level} is outside 0..{height}; choose a level in range.")


@dataclass(frozen=True)
class Suppress:
    """No intermediate level: the raw value, then ``'*'``."""

    @property
    def height(self) -> int:
        """One level: withheld."""
        return 1

    def expression(self, column: str, level: int) -> str:
        """Raw value or ``'*'``."""
        _check_level(level, self.height)
        return column if level == 0 else TOP


@dataclass(frozen=True)
class AgeBands:
    """Age bands of increasing widths (each a multiple of the previous), labelled ``'30-34'``."""

    widths: tuple[int, ...] = (5, 10, 20)

    def __post_init__(self) -> None:
        """Refuse widths that do not nest."""
        if not self.widths or any(w < 1 for w in self.widths):
            raise AnonymityError("Age band widths must be positive integers; give for example (5, 10, 20).")
        if any(b % a for a, b in itertools.pairwise(self.widths)):
            raise AnonymityError("Each age band width must be a multiple of the previous one so that bands nest.")

    @property
    def height(self) -> int:
        """One level per width, then ``'*'``."""
        return len(self.widths) + 1

    def expression(self, column: str, level: int) -> str:
        """Band label ``low-high`` of the given width."""
        _check_level(level, self.height)
        if level == 0:
            return column
        if level == self.height:
            return TOP
        width = self.widths[level - 1]
        low = f"CAST(FLOOR({column} / {width}) * {width} AS BIGINT)"
        return f"CAST({low} AS VARCHAR) || '-' || CAST({low} + {width - 1} AS VARCHAR)"


@dataclass(frozen=True)
class DateTruncation:
    """Dates truncated to month then year (as text ``'2024-03'``, ``'2024'``)."""

    units: tuple[str, ...] = ("month", "year")

    def __post_init__(self) -> None:
        """Refuse unknown units."""
        if not self.units or any(u not in DATE_FORMATS for u in self.units):
            raise AnonymityError(f"Date truncation units must be among {', '.join(DATE_FORMATS)}; fix the list.")

    @property
    def height(self) -> int:
        """One level per unit, then ``'*'``."""
        return len(self.units) + 1

    def expression(self, column: str, level: int) -> str:
        """The date formatted to the unit of the level."""
        _check_level(level, self.height)
        if level == 0:
            return column
        if level == self.height:
            return TOP
        return f"strftime(CAST({column} AS DATE), '{DATE_FORMATS[self.units[level - 1]]}')"


@dataclass(frozen=True)
class PostalPrefix:
    """French postal or commune codes cut to prefixes of decreasing length (at least 2, the department).

    Codes are handled as text, upper-cased, so Corsica's ``2A``/``2B`` stay as they are; a four-digit
    code whose leading zero was lost as a number gets it back.
    """

    digits: tuple[int, ...] = (3, 2)

    def __post_init__(self) -> None:
        """Refuse prefixes that are not decreasing or shorter than a department."""
        if not self.digits or any(d < 2 or d > 5 for d in self.digits):
            raise AnonymityError("Postal prefixes must have between 2 and 5 characters; give for example (3, 2).")
        if any(b >= a for a, b in itertools.pairwise(self.digits)):
            raise AnonymityError("Postal prefix lengths must decrease from one level to the next; fix the order.")

    @property
    def height(self) -> int:
        """One level per prefix length, then ``'*'``."""
        return len(self.digits) + 1

    def expression(self, column: str, level: int) -> str:
        """The first characters of the normalised code."""
        _check_level(level, self.height)
        if level == 0:
            return column
        if level == self.height:
            return TOP
        text = f"upper(trim(CAST({column} AS VARCHAR)))"
        normal = f"(CASE WHEN regexp_full_match({text}, '[0-9]{{4}}') THEN '0' || {text} ELSE {text} END)"
        return f"left({normal}, {self.digits[level - 1]})"


@dataclass(frozen=True)
class Hierarchy:
    """A hierarchy from configuration: a value → parent mapping, applied once per level, then ``'*'``."""

    parents: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Refuse cycles."""
        for value in self.parents:
            self._chain(value)

    def _chain(self, value: str) -> list[str]:
        """The value then its ancestors."""
        chain = [value]
        while chain[-1] in self.parents:
            parent = self.parents[chain[-1]]
            if parent in chain:
                raise AnonymityError(f"The hierarchy has a cycle through {parent!r}; fix the configuration.")
            chain.append(parent)
        return chain

    @property
    def height(self) -> int:
        """The longest chain of parents, then ``'*'``."""
        return max((len(self._chain(v)) - 1 for v in self.parents), default=0) + 1

    def expression(self, column: str, level: int) -> str:
        """A CASE mapping each known value to its ancestor at the level; unknown values stay as they are."""
        _check_level(level, self.height)
        if level == 0:
            return column
        if level == self.height:
            return TOP
        text = f"CAST({column} AS VARCHAR)"
        whens = []
        for value in self.parents:
            chain = self._chain(value)
            whens.append(f"WHEN {quote_literal(value)} THEN {quote_literal(chain[min(level, len(chain) - 1)])}")
        return f"(CASE {text} {' '.join(whens)} ELSE {text} END)"


@dataclass(frozen=True)
class InformationLoss:
    """What a generalisation costs: suppressed share, generalisation height and discernibility."""

    suppressed_records: int
    suppressed_share: float
    average_height: float
    discernibility: int
    classes: int
    average_class_size: float


@dataclass(frozen=True)
class Proposal:
    """A generalisation meeting the thresholds, its SQL, its metrics and its loss."""

    levels: tuple[tuple[str, int], ...]
    sql: str
    report: AnonymityReport
    loss: InformationLoss
    nodes_evaluated: int


def generalised_sql(
    source_sql: str,
    columns: Sequence[str],
    generalisers: Mapping[str, Generaliser],
    levels: Mapping[str, int],
    *,
    k: int = 1,
    l_distinct: int | None = None,
    sensitive: Sequence[str] = (),
) -> str:
    """SQL producing the generalised table, without the records of classes under ``k`` or distinct ``l``."""
    qis = list(levels)
    if not qis:
        raise AnonymityError("No quasi-identifier was declared; declare at least one column.")
    select = ", ".join(
        f"{generalisers[c].expression(quote_ident(c), levels[c])} AS {quote_ident(c)}" if c in levels
        else quote_ident(c)
        for c in columns
    )
    counts = ["COUNT(*) AS __n"]  # per class, joined back: Spark has no COUNT(DISTINCT) over a window
    conditions = ["__n >= " + str(int(k))]
    if l_distinct is not None:
        for i, name in enumerate(sensitive):
            counts.append(f"COUNT(DISTINCT {quote_ident(name)}) AS __l{i}")
            conditions.append(f"__l{i} >= {int(l_distinct)}")
    same_class = " AND ".join(f"__gen.{quote_ident(q)} IS NOT DISTINCT FROM __cls.{quote_ident(q)}" for q in qis)
    return (
        f"WITH __gen AS (SELECT {select} FROM {source_sql} AS __src), "  # noqa: S608
        f"__cls AS (SELECT {column_list(qis)}, {', '.join(counts)} FROM __gen GROUP BY {column_list(qis)}) "
        f"SELECT {', '.join('__gen.' + quote_ident(c) for c in columns)} FROM __gen JOIN __cls ON {same_class} "
        f"WHERE {' AND '.join(conditions)}"
    )


def propose(
    conn: Any,
    table: str | Table | Query,
    qis: Sequence[str],
    sensitive: Sequence[str],
    thresholds: Thresholds,
    hierarchies: Mapping[str, Generaliser | Mapping[str, str]] | None = None,
    *,
    max_nodes: int = 5000,
) -> Proposal:
    """Search the generalisation lattice breadth-first and return the least-loss node meeting ``thresholds``.

    ``conn``: a DuckDB connection or an engine runner (the built-in generalisers' SQL is DuckDB's; suppression,
    the gate's default, reads alike on Spark)."""
    run = runner_of(conn)
    if not qis:
        raise AnonymityError("No quasi-identifier was declared; declare at least one column.")
    src = from_sql(table)
    columns = list(run.types(src))
    check_columns(dict.fromkeys(columns, ""), [*qis, *sensitive], "quasi-identifiers or sensitive attributes")
    gens = _generalisers(qis, hierarchies or {})
    total = _count(run, src)
    evaluated = 0
    for height in range(sum(g.height for g in gens.values()) + 1):
        candidates: list[Proposal] = []
        for node in _nodes_at(gens, qis, height):
            evaluated += 1
            if evaluated > max_nodes:
                raise AnonymityError(
                    f"The search evaluated {max_nodes} generalisations without success; "
                    "declare coarser hierarchies or fewer quasi-identifiers."
                )
            proposal = _evaluate(run, src, columns, gens, node, sensitive, thresholds, total, evaluated)
            if proposal is not None:
                candidates.append(proposal)
        if candidates:
            return min(candidates, key=lambda p: (p.loss.suppressed_share, p.loss.discernibility))
    raise AnonymityError(
        "No generalisation meets the thresholds within the allowed suppression; "
        "allow more suppression, lower the thresholds or add hierarchy levels."
    )


def _generalisers(
    qis: Sequence[str], hierarchies: Mapping[str, Generaliser | Mapping[str, str]]
) -> dict[str, Generaliser]:
    """One generaliser per quasi-identifier; a plain mapping is a value → parent hierarchy."""
    unknown = [name for name in hierarchies if name not in qis]
    if unknown:
        raise AnonymityError(f"Hierarchies were given for {', '.join(unknown)}, which are not quasi-identifiers.")
    result: dict[str, Generaliser] = {}
    for name in qis:
        gen = hierarchies.get(name, Suppress())
        result[name] = Hierarchy(dict(gen)) if isinstance(gen, Mapping) else gen
    return result


def _nodes_at(gens: Mapping[str, Generaliser], qis: Sequence[str], height: int) -> list[dict[str, int]]:
    """All level vectors of the given total height, in lexicographic order."""
    ranges = [range(gens[q].height + 1) for q in qis]
    return [dict(zip(qis, levels, strict=True)) for levels in itertools.product(*ranges) if sum(levels) == height]


def _count(run: Runner, src: str) -> int:
    """Number of rows of the source."""
    found = run.rows(f"SELECT COUNT(*) FROM {src} AS __src")  # noqa: S608
    row = found[0] if found else None
    if row is None or not row[0]:
        raise AnonymityError("The source has no rows; there is nothing to generalise.")
    return int(row[0])


def _evaluate(
    run: Runner,
    src: str,
    columns: list[str],
    gens: Mapping[str, Generaliser],
    node: dict[str, int],
    sensitive: Sequence[str],
    thresholds: Thresholds,
    total: int,
    evaluated: int,
) -> Proposal | None:
    """Measure one node after suppression; return a proposal if it meets the thresholds."""
    sql = generalised_sql(
        src, columns, gens, node, k=thresholds.k, l_distinct=thresholds.l_distinct, sensitive=sensitive
    )
    kept = _count_or_zero(run, sql)
    suppressed = total - kept
    if kept == 0 or suppressed / total > thresholds.max_suppression:
        return None
    report = measure(run, Query(sql), list(node), sensitive, k_threshold=thresholds.k)
    if report.failures(thresholds):
        return None
    return Proposal(
        levels=tuple(node.items()),
        sql=sql,
        report=report,
        loss=_loss(run, sql, node, gens, total, suppressed, report),
        nodes_evaluated=evaluated,
    )


def _count_or_zero(run: Runner, sql: str) -> int:
    """Rows produced by a query."""
    found = run.rows(f"SELECT COUNT(*) FROM ({sql}) AS __gen")  # noqa: S608
    return int(found[0][0]) if found else 0


def _loss(
    run: Runner,
    sql: str,
    node: Mapping[str, int],
    gens: Mapping[str, Generaliser],
    total: int,
    suppressed: int,
    report: AnonymityReport,
) -> InformationLoss:
    """Information loss of a node: discernibility = sum of squared class sizes + suppressed x total."""
    found = run.rows(
        f"SELECT SUM(n * n) FROM (SELECT COUNT(*) AS n FROM ({sql}) AS __gen "  # noqa: S608
        f"GROUP BY {column_list(list(node))}) AS __classes"
    )
    row = found[0] if found else None
    squares = int(row[0]) if row and row[0] is not None else 0
    return InformationLoss(
        suppressed_records=suppressed,
        suppressed_share=suppressed / total,
        average_height=sum(level / gens[q].height for q, level in node.items()) / len(node),
        discernibility=squares + suppressed * total,
        classes=report.classes,
        average_class_size=report.rows / report.classes,
    )
