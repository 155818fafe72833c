"""Retention of the warehouse's data (EDS-7; référentiel eds-2021-118 sections 7.1-7.3 and 8.3.2).

The rules come from the référentiel, with the record store's vocabulary (:mod:`santegarde.store.retention`):

- ``patient_data`` (7.2): health data are kept at most 20 years from their **collection**; an organisation may
  set a shorter period (a justified retention deviation on ``patient_data`` in its configuration) but never a
  longer one: a run with a longer period is refused and the refusal traced;
- ``identifying_data`` (7.2): directly identifying data (identity vault) and the correspondence tables
  (mapping rows) are deleted when the person's health data have expired, that is when no health data of the
  person is left in the warehouse, together with the person's OMOP ``person`` row, genetic results and the
  location rows no one else refers to;
- at the end (7.3) data are destroyed, or, if the organisation chose ``anonymise`` for
  ``retention_end_action``, destroyed with only anonymous counts kept (see :data:`ANONYMISATION_METHOD`);
- 8.3.2: feeds skip incoming rows whose collection date is already past the limit
  (:func:`skip_expired_stage`, called from :mod:`santegarde.warehouse.feed`);
- research data live only while their project runs: workspace files of projects that are no longer running
  (closed, or with no project record) are removed by the same run.

**Collection date** of a row: the OMOP CDM 5.4 date column of the event it records (:data:`COLLECTED_ON`):
the start of a visit, condition or drug exposure, the date of a procedure, measurement, observation, note or
death, the date of a genetic result. An observation period is derived from the events it spans: it expires
with its last day (``observation_period_end_date``) and a period that straddles the limit is shortened to
start the day after it. The ``person`` row has no date of its own: it ends with the person's identifying
data. Providers and care sites are professionals' and structures' data, governed by the separate
``healthcare_professional_data`` rule (a controller choice), and are not touched here.

A row is expired when ``collection date + limit <= today``, i.e. collected on or before the *cutoff*
``today - limit``. A person's identifying data end when the person has no live health data (dated after the
cutoff, or undated) and either some of their health data expired, or their identity was itself last collected
on or before the cutoff (the rule's ``max_duration``), or no identity is left for them in the vault.

DuckDB lets a transaction write to one attached database only, so a run is one transaction per store, in
this order: identity vault, genetic/location store, OMOP store, then the workspace files. Each store's step is
all or nothing. The persons to end are recomputed from what is stored at every run, and each step leaves
what the later steps need to find them again, so a run interrupted between two stores is completed by the next
run; a finished run re-run changes nothing. Every committed step appends an audit event carrying counts only.
"""

# ruff: noqa: S608 - SQL is assembled from the OMOP 5.4 spec constants only; dates and names go as $parameters

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from santegarde.audit.trail import AuditEvent, AuditTrail
from santegarde.clock import Clock, utc_now
from santegarde.errors import SantegardeError
from santegarde.referentials.model import Duration, EndAction, Referential, RetentionRule
from santegarde.store.retention import END_ACTION_CHOICE
from santegarde.store.retention import end_action as rule_end_action
from santegarde.warehouse import omop
from santegarde.warehouse.pseudonym import bigint_sql

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from santegarde.config.model import ChoiceAnswer
    from santegarde.warehouse.access import Operator, WarehouseGuard
    from santegarde.warehouse.core import Warehouse

REFERENTIAL = "eds-2021-118"
HEALTH_RULE = "patient_data"
IDENTITY_RULE = "identifying_data"
MAXIMUM = Duration(years=20)  # 7.2, used only if the référentiel's rule were to lack its max_duration
OPERATION = "warehouse.retention"
REQUIREMENT = "EDS-7"
SECTION = "7.2"
AGGREGATE = "retention_aggregate"

COLLECTED_ON: dict[str, str] = {
    "visit_occurrence": "visit_start_date",
    "condition_occurrence": "condition_start_date",
    "drug_exposure": "drug_exposure_start_date",
    "procedure_occurrence": "procedure_date",
    "measurement": "measurement_date",
    "observation": "observation_date",
    "death": "death_date",
    "note": "note_date",
    "observation_period": "observation_period_end_date",
    "visit_detail": "visit_detail_start_date",
    "device_exposure": "device_exposure_start_date",
    "specimen": "specimen_date",
    "payer_plan_period": "payer_plan_period_end_date",
    "episode": "episode_start_date",
    "dose_era": "dose_era_end_date",
}
"""The collection date of each OMOP health table (official CDM 5.4 column names, see :mod:`omop`)."""
GENETIC = ("genetic_result", "result_date")
"""The genetic results of the genetic/location store and their collection date (nullable: undated rows)."""
PERIOD_START = "observation_period_start_date"
VISIT_REFERENCES = (
    *(
        (table, "visit_occurrence_id")
        for table in COLLECTED_ON
        if table != "visit_occurrence" and (ref := omop.column(table, "visit_occurrence_id")) is not None
        and not ref.required
    ),
    ("visit_occurrence", "preceding_visit_occurrence_id"),
)

ANONYMISATION_METHOD = (
    "Anonymisation by aggregation (santegarde warehouse retention): at the end of their retention period the "
    "warehouse's rows are deleted from the OMOP and genetic/location stores; the only thing kept is a count per "
    "(table, year of collection) in a 'retention_aggregate' table of the same store. No identifier, pseudonym, "
    "date finer than the year, code, value or free text is kept, and no key links a count to a person or a row, "
    "so the counts cannot single out, link or infer anything about an individual (EDPB/G29 opinion 05/2014). "
    "Row-level anonymisation of OMOP data is not offered here: it needs a re-identification risk study per data "
    "set, which the project workspaces' anonymity checks provide before any export. Identifying data are never "
    "anonymised, always deleted (7.2)."
)

# temporary tables of one run (dropped at its end)
_HEALTH = "sg_retention_health"
_VAULT = "sg_retention_vault"
_ENDED = "sg_retention_ended"
_LOCATIONS = "sg_retention_locations"

_Body = Callable[[duckdb.DuckDBPyConnection], Mapping[str, int]]


class RetentionError(SantegardeError):
    """The warehouse's retention cannot run as asked; the message says what is wrong and what to do."""


# -- the policy -----------------------------------------------------------------------------------------------


def minus(day: date, duration: Duration) -> date:
    """``day`` minus a calendar duration (a month end is clamped: 29 Feb - 1 year = 28 Feb)."""
    months = day.year * 12 + day.month - 1 - duration.months - 12 * duration.years
    year, month = divmod(months, 12)
    moved = day.replace(year=year, month=month + 1, day=min(day.day, calendar.monthrange(year, month + 1)[1]))
    return date.fromordinal(moved.toordinal() - duration.days)


def feed_cutoff(today: date | None = None, limit: Duration = MAXIMUM) -> date:
    """The cutoff a feed applies (8.3.2): rows collected on or before it are not integrated."""
    return minus(today or utc_now().date(), limit)


@dataclass(frozen=True)
class Policy:
    """How long the warehouse keeps health data and what happens at the end."""

    limit: Duration
    maximum: Duration
    end_action: EndAction  # delete or anonymise
    rule: str = HEALTH_RULE
    section: str = SECTION

    def cutoff(self, today: date) -> date:
        """The last collection date that has expired at ``today``; refused if the limit exceeds the maximum."""
        cutoff = minus(today, self.limit)
        if cutoff < minus(today, self.maximum):
            raise RetentionError(
                f"The organisation keeps the warehouse's health data for {self.limit.human()}, longer than the "
                f"{self.maximum.human()} from collection that the référentiel {REFERENTIAL} allows (section "
                f"{self.section}): set the retention deviation for '{self.rule}' in the configuration to "
                f"{self.maximum.human()} or less, then run again."
            )
        if cutoff >= today:
            raise RetentionError(
                f"The retention period set for '{self.rule}' is {self.limit.human()}: it would delete every health "
                "data of the warehouse on the day it is collected; set a positive duration in the configuration."
            )
        return cutoff


def warehouse_rule(ref: Referential) -> RetentionRule:
    """The référentiel's ``patient_data`` rule; an organisation on another référentiel gets eds-2021-118's own."""
    rule = ref.retention_rule(HEALTH_RULE) if ref.id == REFERENTIAL else None
    if rule is None:
        from santegarde.referentials import loader

        rule = loader.get(REFERENTIAL).retention_rule(HEALTH_RULE)
    if rule is None:
        raise RetentionError(f"The référentiel {REFERENTIAL} has no '{HEALTH_RULE}' retention rule; reinstall it.")
    return rule


def policy(ref: Referential, choices: Mapping[str, ChoiceAnswer]) -> Policy:
    """The warehouse's policy from the organisation's effective référentiel and its choices.

    The duration is the rule's (a justified deviation replaces it in the effective référentiel), bounded by the
    rule's ``max_duration``; the end action is the rule's, where it leaves both the choice
    ``patient_data_end_action`` or ``retention_end_action``, else delete (as the record store).
    """
    rule = warehouse_rule(ref)
    maximum = rule.active.max_duration or MAXIMUM
    limit = rule.active.duration or maximum
    return Policy(limit, maximum, rule_end_action(rule, choices), rule.id, rule.section)


# -- reports --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TableLine:
    """One table: rows past the cutoff (expired), persons they belong to, rows kept."""

    store: str
    table: str
    collected_on: str
    expired: int
    persons: int
    kept: int
    undated: int = 0


@dataclass(frozen=True)
class WorkspaceLine:
    project: str
    status: str  # the project's status, or 'no project record'
    files: tuple[str, ...]


@dataclass(frozen=True)
class RetentionReport:
    """What a run found (dry run) or did (``applied``): counts only."""

    today: date
    cutoff: date
    limit: Duration
    end_action: EndAction
    applied: bool
    tables: tuple[TableLine, ...]
    persons_affected: int  # persons with at least one expired row
    persons_ended: int  # persons with no health data left: identifying data, person row and the rest deleted
    deleted: Mapping[str, int] = field(default_factory=dict)  # other deletions: identity, mapping, person, ...
    periods_shortened: int = 0
    references_cleared: int = 0
    workspaces: tuple[WorkspaceLine, ...] = ()
    workspaces_checked: bool = False

    @property
    def expired_rows(self) -> int:
        return sum(line.expired for line in self.tables)

    @property
    def undated(self) -> int:
        return sum(line.undated for line in self.tables)


# -- the run --------------------------------------------------------------------------------------------------


class WarehouseRetention:
    """Plans (dry run) and applies the warehouse's retention at the clock's date, traced in the audit trail."""

    def __init__(
        self,
        warehouse: Warehouse,
        trail: AuditTrail,
        policy: Policy,
        *,
        operator: Operator,
        guard: WarehouseGuard | None = None,
        governance: Engine | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.warehouse = warehouse
        self.trail = trail
        self.policy = policy
        self.operator = operator
        self.guard = guard
        self.governance = governance
        self._clock = clock

    # -- tracing ------------------------------------------------------------------------------------------------
    def _trace(self, resource_type: str, resource_id: str, outcome: str, operation: str = OPERATION) -> None:
        self.trail.append(
            AuditEvent(
                actor=self.operator.login,
                profile=self.operator.profile or "",
                operation=operation,
                resource_type=resource_type,
                resource_id=resource_id,
                purpose="retention",
                allowed=outcome != "denied",
                rule=REQUIREMENT,
                section=self.policy.section,
                outcome=outcome,
                referential=REFERENTIAL,
            )
        )

    def _cutoff(self, today: date) -> date:
        try:
            return self.policy.cutoff(today)
        except RetentionError:
            self._trace("warehouse", f"limit={self.policy.limit}", "denied")
            raise

    # -- public -------------------------------------------------------------------------------------------------
    def plan(self, today: date | None = None) -> RetentionReport:
        """What a run would delete at ``today`` (default: the clock's date); nothing is written."""
        day = today or self._clock().date()
        cutoff = self._cutoff(day)
        with self._surveyed(cutoff) as survey:
            return self._report(day, cutoff, survey, applied=False, workspaces=self._workspaces())

    def apply(self) -> RetentionReport:
        """Delete what expired at the clock's date, one transaction per store, then trace the counts."""
        day = self._clock().date()
        cutoff = self._cutoff(day)
        with self._surveyed(cutoff) as survey:
            deleted: dict[str, int] = {}
            stats = _Stats()
            self._step("warehouse/vault", cutoff, lambda con: _purge_vault(con, deleted))
            self._step(
                "warehouse/location",
                cutoff,
                lambda con: _purge_location(con, cutoff, self.policy.end_action, deleted),
            )
            self._step(
                "warehouse/omop", cutoff, lambda con: _purge_omop(con, cutoff, self.policy.end_action, deleted, stats)
            )
            workspaces = self._workspaces()
            if workspaces:
                removed = self._remove_workspaces(workspaces)
                deleted["workspace files"] = removed
            report = self._report(day, cutoff, survey, applied=True, workspaces=workspaces)
        return replace(report, deleted=deleted, periods_shortened=stats.shortened, references_cleared=stats.cleared)

    # -- internals ----------------------------------------------------------------------------------------------
    @contextmanager
    def _surveyed(self, cutoff: date) -> Iterator[_Survey]:
        wh = self.warehouse
        with wh.vault_connection() as con, wh.location_connection(self.operator, OPERATION, guard=self.guard):
            try:
                yield _survey(wh, cutoff)
            finally:
                for name in (_HEALTH, _VAULT, _ENDED, _LOCATIONS):
                    con.execute(f"DROP TABLE IF EXISTS temp.{name}")

    def _step(self, store: str, cutoff: date, body: _Body) -> None:
        con = self.warehouse.omop
        con.execute("BEGIN TRANSACTION")
        try:
            counts = body(con)
            con.execute("COMMIT")
        except duckdb.Error as exc:
            con.execute("ROLLBACK")
            self._trace(store, f"cutoff={cutoff.isoformat()}", "error", "warehouse.retention.purge")
            raise RetentionError(
                f"The retention step of {store} failed ({type(exc).__name__}); nothing of that step was kept. "
                "Steps already committed stay done: run the retention again, it completes the rest."
            ) from None
        except BaseException:
            con.execute("ROLLBACK")
            raise
        summary = " ".join(f"{k}={v}" for k, v in counts.items())
        self._trace(store, f"cutoff={cutoff.isoformat()} {summary}".strip(), "success", "warehouse.retention.purge")

    def _workspaces(self) -> tuple[WorkspaceLine, ...]:
        """Workspace files whose project is not running (research data live only while their project runs)."""
        if self.governance is None:
            return ()
        from santegarde.warehouse import governance
        from santegarde.warehouse.workspace import DIRECTORY

        root = self.warehouse.directory / DIRECTORY
        files = sorted(root.glob("*.duckdb")) if root.is_dir() else []
        if not files:
            return ()
        statuses = {p.code: p.status for p in governance.list_projects(self.governance)}
        out = []
        for path in files:
            status = statuses.get(path.stem, "no project record")
            if status != "favourable":
                names = tuple(p.name for p in (path, path.with_name(path.name + ".wal")) if p.exists())
                out.append(WorkspaceLine(path.stem, status, names))
        return tuple(out)

    def _remove_workspaces(self, lines: tuple[WorkspaceLine, ...]) -> int:
        from santegarde.warehouse.workspace import DIRECTORY

        root = self.warehouse.directory / DIRECTORY
        removed = 0
        for line in lines:
            for name in line.files:
                Path(root / name).unlink(missing_ok=True)
            removed += 1
            self._trace(f"workspace/{line.project}", f"status={line.status}", "success", "warehouse.retention.purge")
        return removed

    def _report(
        self, day: date, cutoff: date, survey: _Survey, *, applied: bool, workspaces: tuple[WorkspaceLine, ...]
    ) -> RetentionReport:
        return RetentionReport(
            today=day,
            cutoff=cutoff,
            limit=self.policy.limit,
            end_action=self.policy.end_action,
            applied=applied,
            tables=survey.tables,
            persons_affected=survey.persons_affected,
            persons_ended=survey.persons_ended,
            deleted=survey.to_delete,
            workspaces=workspaces,
            workspaces_checked=self.governance is not None,
        )


# -- the survey: what is expired, who ends --------------------------------------------------------------------


@dataclass(frozen=True)
class _Survey:
    tables: tuple[TableLine, ...]
    persons_affected: int
    persons_ended: int
    to_delete: dict[str, int]


@dataclass
class _Stats:
    shortened: int = 0
    cleared: int = 0


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, object] | None = None) -> int:
    row = con.execute(sql, dict(params or {})).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _dated_rows() -> str:
    """Every dated health row of a person (omop and genetic stores), as ``(person_id, d)``."""
    parts = [f"SELECT person_id, {column} AS d FROM omop.{table}" for table, column in COLLECTED_ON.items()]
    parts.append(f"SELECT person_id, {GENETIC[1]} AS d FROM geo.{GENETIC[0]}")
    return " UNION ALL ".join(parts)


def _survey(wh: Warehouse, cutoff: date) -> _Survey:
    """Build the run's temporary tables (persons' health state, vault entries, persons to end) and count."""
    con = wh.omop
    at = {"c": cutoff}
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_HEALTH} AS
            SELECT person_id, bool_or(d IS NULL OR d > $c) AS live, bool_or(d <= $c) AS expired
            FROM ({_dated_rows()}) GROUP BY person_id""",
        at,
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_VAULT} AS
            SELECT pseudonym, {bigint_sql("pseudonym")} AS person_id, max(seen) AS collected
            FROM (SELECT pseudonym, updated_at AS seen FROM vault.identity
                  UNION ALL SELECT pseudonym, recorded_at FROM vault.mapping) GROUP BY pseudonym"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_ENDED} AS
            SELECT person_id FROM (
                SELECT person_id FROM omop.person UNION SELECT person_id FROM temp.{_HEALTH}
                UNION SELECT person_id FROM temp.{_VAULT}) AS ids
            LEFT JOIN temp.{_HEALTH} h USING (person_id)
            LEFT JOIN (SELECT person_id, max(collected) AS collected FROM temp.{_VAULT} GROUP BY person_id) v
                USING (person_id)
            WHERE NOT coalesce(h.live, false)
              AND (coalesce(h.expired, false) OR v.person_id IS NULL OR v.collected < $c::DATE + 1)""",
        at,
    )
    ended = f"(SELECT person_id FROM temp.{_ENDED})"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_LOCATIONS} AS
            SELECT DISTINCT location_id FROM omop.person
            WHERE person_id IN {ended} AND location_id IS NOT NULL
              AND location_id NOT IN (SELECT location_id FROM omop.person
                                      WHERE person_id NOT IN {ended} AND location_id IS NOT NULL)
              AND location_id NOT IN (SELECT location_id FROM omop.care_site WHERE location_id IS NOT NULL)"""
    )
    lines = []
    for table, column in COLLECTED_ON.items():
        expired, persons, kept = con.execute(
            f"""SELECT count(*) FILTER (WHERE {column} <= $c), count(DISTINCT person_id) FILTER (WHERE {column} <= $c),
                       count(*) FILTER (WHERE {column} > $c OR {column} IS NULL) FROM omop.{table}""",
            at,
        ).fetchone() or (0, 0, 0)
        lines.append(TableLine("omop", table, column, int(expired), int(persons), int(kept)))
    table, column = GENETIC
    expired, persons, kept, undated = con.execute(
        f"""SELECT count(*) FILTER (WHERE {column} <= $c OR person_id IN {ended}),
                   count(DISTINCT person_id) FILTER (WHERE {column} <= $c OR person_id IN {ended}),
                   count(*) FILTER (WHERE {column} > $c OR ({column} IS NULL AND person_id NOT IN {ended})),
                   count(*) FILTER (WHERE {column} IS NULL) FROM geo.{table}""",
        at,
    ).fetchone() or (0, 0, 0, 0)
    lines.append(TableLine("geo", table, column, int(expired), int(persons), int(kept), int(undated)))
    in_ended_vault = f"pseudonym IN (SELECT pseudonym FROM temp.{_VAULT} WHERE person_id IN {ended})"
    to_delete = {
        "identity": _one(con, f"SELECT count(*) FROM vault.identity WHERE {in_ended_vault}"),
        "mapping": _one(con, f"SELECT count(*) FROM vault.mapping WHERE {in_ended_vault}"),
        "person": _one(con, f"SELECT count(*) FROM omop.person WHERE person_id IN {ended}"),
        "location": _one(
            con, f"SELECT count(*) FROM geo.location WHERE location_id IN (SELECT location_id FROM temp.{_LOCATIONS})"
        ),
    }
    return _Survey(
        tuple(lines),
        _one(con, f"SELECT count(*) FROM temp.{_HEALTH} WHERE expired"),
        _one(con, f"SELECT count(*) FROM temp.{_ENDED}"),
        to_delete,
    )


# -- the purge, one store at a time ---------------------------------------------------------------------------


def _deleted(con: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, object] | None = None) -> int:
    return _one(con, sql, params)


def _purge_vault(con: duckdb.DuckDBPyConnection, deleted: dict[str, int]) -> Mapping[str, int]:
    """Identifying data and correspondence rows of the persons whose health data are all gone (7.2)."""
    ended = f"(SELECT person_id FROM temp.{_ENDED})"
    which = f"pseudonym IN (SELECT pseudonym FROM temp.{_VAULT} WHERE person_id IN {ended})"
    counts = {
        "identity": _deleted(con, f"DELETE FROM vault.identity WHERE {which}"),
        "mapping": _deleted(con, f"DELETE FROM vault.mapping WHERE {which}"),
    }
    deleted.update(counts)
    return counts


def _aggregate(
    con: duckdb.DuckDBPyConnection, schema: str, table: str, column: str, where: str, at: Mapping[str, object]
) -> None:
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {schema}.{AGGREGATE} (table_name VARCHAR NOT NULL,
            year_of_collection INTEGER NOT NULL, count BIGINT NOT NULL, PRIMARY KEY (table_name, year_of_collection))"""
    )
    con.execute(
        f"""INSERT INTO {schema}.{AGGREGATE}
            SELECT '{table}', year({column}), count(*) FROM {schema}.{table} WHERE {where} GROUP BY ALL
            ON CONFLICT (table_name, year_of_collection) DO UPDATE SET count = count + EXCLUDED.count""",
        dict(at),
    )


def _purge_location(
    con: duckdb.DuckDBPyConnection, cutoff: date, action: EndAction, deleted: dict[str, int]
) -> Mapping[str, int]:
    """Expired genetic results, those of the persons who end, and the location rows only they referred to."""
    table, column = GENETIC
    at = {"c": cutoff}
    where = f"{column} <= $c OR person_id IN (SELECT person_id FROM temp.{_ENDED})"
    if action == EndAction.ANONYMISE:
        _aggregate(con, "geo", table, column, f"{column} <= $c", at)
    counts = {
        table: _deleted(con, f"DELETE FROM geo.{table} WHERE {where}", at),
        "location": _deleted(
            con, f"DELETE FROM geo.location WHERE location_id IN (SELECT location_id FROM temp.{_LOCATIONS})"
        ),
    }
    deleted.update(counts)
    return counts


def _purge_omop(
    con: duckdb.DuckDBPyConnection, cutoff: date, action: EndAction, deleted: dict[str, int], stats: _Stats
) -> Mapping[str, int]:
    """Expired health rows, shortened observation periods, then the person rows of the persons who end."""
    at = {"c": cutoff}
    counts: dict[str, int] = {}
    expired_visits = "(SELECT visit_occurrence_id FROM omop.visit_occurrence WHERE visit_start_date <= $c)"
    for table, reference in VISIT_REFERENCES:  # kept rows no longer point at a deleted visit
        stats.cleared += _deleted(
            con,
            f"UPDATE omop.{table} SET {reference} = NULL WHERE {reference} IN {expired_visits} "
            f"AND {COLLECTED_ON[table]} > $c",
            at,
        )
    for table, column in COLLECTED_ON.items():
        if action == EndAction.ANONYMISE:
            _aggregate(con, "omop", table, column, f"{column} <= $c", at)
        counts[table] = _deleted(con, f"DELETE FROM omop.{table} WHERE {column} <= $c", at)
    for table, attached in omop.ATTACHED_ROWS.items():  # rows whose referents all expired go with them
        counts[table] = _deleted(con, f"DELETE FROM omop.{table} WHERE NOT ({attached})")
    stats.shortened = _deleted(
        con, f"UPDATE omop.observation_period SET {PERIOD_START} = $c::DATE + 1 WHERE {PERIOD_START} <= $c", at
    )
    counts["person"] = _deleted(
        con, f"DELETE FROM omop.person WHERE person_id IN (SELECT person_id FROM temp.{_ENDED})"
    )
    deleted["person"] = counts["person"]
    deleted.update({f"omop.{t}": n for t, n in counts.items() if t != "person"})
    return {k: v for k, v in counts.items() if v} | {"periods_shortened": stats.shortened}


# -- feeds (8.3.2) --------------------------------------------------------------------------------------------


def skip_expired_stage(con: duckdb.DuckDBPyConnection, table: str, cutoff: date | None) -> int:
    """Drop from a feed's ``temp.stage`` the rows of ``table`` collected on or before ``cutoff``; their count.

    Only data whose retention period has not expired may be integrated (8.3.2). An observation period that
    straddles the cutoff enters shortened to start the day after it.
    """
    column = COLLECTED_ON.get(table)
    if cutoff is None or column is None:
        return 0
    staged = {str(r[0]) for r in con.execute("DESCRIBE temp.stage").fetchall()}
    if column not in staged:
        return 0
    skipped = _one(con, f"DELETE FROM temp.stage WHERE {column} <= $c", {"c": cutoff})
    if table == "observation_period" and PERIOD_START in staged:
        con.execute(f"UPDATE temp.stage SET {PERIOD_START} = $c::DATE + 1 WHERE {PERIOD_START} <= $c", {"c": cutoff})
    return skipped


__all__ = [
    "ANONYMISATION_METHOD",
    "COLLECTED_ON",
    "END_ACTION_CHOICE",
    "GENETIC",
    "Policy",
    "RetentionError",
    "RetentionReport",
    "TableLine",
    "WarehouseRetention",
    "WorkspaceLine",
    "feed_cutoff",
    "minus",
    "policy",
    "skip_expired_stage",
    "warehouse_rule",
]
