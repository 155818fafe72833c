"""Sealed project workspaces (EDS-SEC-ESP-1..3, EDS-SEC-DAY-1, DAY-3, EDS-SEC-HAB-5).

A project with a favourable opinion gets its own encrypted DuckDB file holding a minimised extract: only the
variables the committee approved, only for the cohort it set. The file is encrypted with a workspace key derived
(HKDF) from the warehouse's health key and the project code, so one workspace cannot open another. Persons and
other identifiers get pseudonyms of the workspace's own (HMAC of the warehouse identifier under the workspace
key); a project declared as cohort follow-up keeps the warehouse's ``person_id`` (ESP-3). Every connection and
query is traced (the SHA-256 of the SQL text, never its results). Closing the project deletes the file and
starts the end-of-project reviews of authorisations and traces.

Extracts take only the OMOP health tables (``_group`` refuses anything else), so building a workspace never
mobilises the genetic/location key. The référentiel reserves that key to the feeding profile and to the
profile exporting data into workspaces, ``workspace_provisioning`` (EDS-SEC-LOG-6): an extract of genetic or
location data would have to read them through ``Warehouse.location_connection`` as an operator of that profile.
"""

# ruff: noqa: S608 - table and column names come from the OMOP 5.4 spec constants; the cohort SQL is the committee's, run read-only
from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
from sqlalchemy import Engine

from santegarde.audit.review import start_review
from santegarde.audit.trail import AuditEvent, AuditTrail
from santegarde.clock import utc_now
from santegarde.errors import SantegardeError
from santegarde.identity import accounts, grants, reviews
from santegarde.identity.context import IdentityContext
from santegarde.identity.errors import GrantError
from santegarde.warehouse import engine, governance, omop
from santegarde.warehouse.core import Warehouse
from santegarde.warehouse.keys import hkdf
from santegarde.warehouse.pseudonym import PseudonymKey, bigint_sql, hmac_sql

Clock = Callable[[], datetime]
DIRECTORY = "workspaces"
PROFILE = "project_member"
REFERENTIAL = "eds-2021-118"
SECTION = "10"
ALIAS = "ws"


class WorkspaceError(SantegardeError):
    """A workspace cannot be created, opened or used as asked."""


# ---- keys ----------------------------------------------------------------------------------------------------


def workspace_key(warehouse: Warehouse, project: str) -> bytes:
    """The workspace key of a project: HKDF of the warehouse's health key with the project code."""
    return hkdf(warehouse.keys.health, f"santegarde:warehouse:workspace:{project}:v1".encode())


def _file_key(key: bytes) -> bytes:
    return hkdf(key, b"santegarde:workspace:file:v1")


def _pseudonym_key(key: bytes) -> PseudonymKey:
    return PseudonymKey(hkdf(key, b"santegarde:workspace:pseudonym:v1"))


def sql_digest(sql: str) -> str:
    """What the trail keeps of a query: the SHA-256 of its text."""
    return hashlib.sha256(sql.encode("utf-8")).hexdigest()


# ---- values --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkspaceInfo:
    project: str
    path: Path
    tables: dict[str, tuple[str, ...]]
    persons: int
    cohort_follow_up: bool


@dataclass(frozen=True)
class QueryResult:
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


@dataclass(frozen=True)
class ClosureReport:
    project: str
    deleted: tuple[str, ...]
    authorisation_review: int | None
    audit_review: int
    note: str = ""


# ---- extraction ----------------------------------------------------------------------------------------------


def _is_identifier(column: str) -> bool:
    """Warehouse identifiers (BIGINT ``*_id``) get workspace pseudonyms; concept ids are vocabulary, kept."""
    return column.endswith("_id") and not column.endswith("_concept_id")


def _group(variables: Sequence[str]) -> dict[str, list[str]]:
    by_table: dict[str, list[str]] = defaultdict(list)
    for variable in variables:
        table, column = variable.split(".", 1)
        if table not in omop.HEALTH_TABLES or omop.column(table, column) is None:
            raise WorkspaceError(
                f"'{variable}' is not a column of the warehouse's OMOP health tables; a workspace extracts only "
                "those (ask the committee to approve OMOP variables)."
            )
        by_table[table].append(column)
    return by_table


def _select_list(table: str, columns: list[str], follow_up: bool) -> tuple[list[str], list[str]]:
    """Output column names and SQL expressions: the person column always first, identifiers re-keyed."""
    person = omop.person_column(table)
    wanted = list(dict.fromkeys(([person] if person else []) + columns))
    expressions = []
    for name in wanted:
        if not _is_identifier(name) or (follow_up and name == person):
            expressions.append(f"t.{omop.q(name)}")
            continue
        message = f"'ws|' || CAST(t.{name} AS VARCHAR)"
        expressions.append(f"CASE WHEN t.{name} IS NULL THEN NULL ELSE {bigint_sql(hmac_sql(message, 'ws'))} END")
    return wanted, expressions


def _cohort_rows(table: str, cohort: str) -> str:
    """The ``WHERE`` clause keeping the rows of the cohort's persons: by the person column, or for a table without
    one through the rows it refers to; none for the tables that hold no person's data (care sites, providers…)."""
    person = omop.person_column(table)
    if person:
        return f" WHERE t.{person} IN ({cohort})"
    if table in omop.DEPENDENT_ROWS:
        return f" WHERE {omop.dependent_rows(f' WHERE person_id IN ({cohort})')[table]}"
    return ""


class Workspaces:
    """Creates, opens and closes the workspaces of a warehouse's approved projects."""

    def __init__(
        self,
        warehouse: Warehouse,
        governance_engine: Engine,
        trail: AuditTrail,
        *,
        identity: IdentityContext | None = None,
        root: Path | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.warehouse = warehouse
        self.governance = governance_engine
        self.trail = trail
        self.identity = identity
        self.root = root or warehouse.directory / DIRECTORY
        self._clock = clock
        self._opened: dict[str, list[Workspace]] = defaultdict(list)

    def path(self, project: str) -> Path:
        return self.root / f"{project}.duckdb"

    def _trace(self, actor: str, operation: str, project: str, outcome: str, rule: str, purpose: str = "") -> None:
        self.trail.append(
            AuditEvent(
                actor=actor,
                profile=PROFILE,
                operation=operation,
                resource_type="workspace",
                resource_id=project,
                purpose=purpose,
                allowed=outcome == "success",
                rule=rule,
                section=SECTION,
                outcome=outcome,
                referential=REFERENTIAL,
            )
        )

    def _approved(self, project: str, actor: str) -> governance.Project:
        try:
            found = governance.get_project(self.governance, project)
        except governance.GovernanceError as exc:
            raise WorkspaceError(str(exc)) from None
        if found.status != "favourable" or not found.cohort_sql:
            self._trace(actor, "workspace.create", project, "denied", "EDS-3", found.purpose)
            raise WorkspaceError(
                f"The project '{project}' has no favourable opinion of the scientific and ethics committee "
                f"(status: {found.status}): no project uses the warehouse's data without one."
            )
        return found

    def create(self, project: str, *, by: str) -> WorkspaceInfo:
        """Build the project's workspace: approved variables only, cohort only, pseudonyms of its own."""
        found = self._approved(project, by)
        path = self.path(project)
        if path.exists():
            raise WorkspaceError(f"The workspace of '{project}' already exists; open it (`warehouse workspace query`).")
        by_table = _group(found.approved_variables)
        key = workspace_key(self.warehouse, project)
        params = _pseudonym_key(key).params("ws")
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        con = self.warehouse.omop
        alias = f"ws_{hashlib.sha256(project.encode()).hexdigest()[:12]}"
        engine.attach_encrypted(con, path, alias, _file_key(key))
        tables: dict[str, tuple[str, ...]] = {}
        try:
            cohort = f"SELECT DISTINCT person_id FROM ({found.cohort_sql}) AS cohort"
            con.execute("USE omop")
            try:
                con.execute(f"CREATE TEMP TABLE {alias}_cohort AS {cohort}")
            finally:
                con.execute("USE memory")
            for table, columns in by_table.items():
                names, expressions = _select_list(table, columns, found.cohort_follow_up)
                where = _cohort_rows(table, f"SELECT person_id FROM {alias}_cohort")
                select = ", ".join(f"{e} AS {n}" for e, n in zip(expressions, names, strict=True))
                statement = f"CREATE TABLE {alias}.{table} AS SELECT {select} FROM omop.{table} AS t{where}"
                con.execute(statement, params if "$ws_" in statement else None)
                tables[table] = tuple(names)
            row = con.execute(f"SELECT count(*) FROM {alias}_cohort").fetchone()
            persons = int(row[0]) if row else 0
            con.execute(
                f"CREATE TABLE {alias}._workspace AS SELECT $p AS project, $u AS purpose, $f AS cohort_follow_up, "
                "$t AS created_at",
                {
                    "p": project,
                    "u": found.purpose,
                    "f": found.cohort_follow_up,
                    "t": self._clock().replace(tzinfo=None),
                },
            )
        except duckdb.Error as exc:
            engine.detach(con, alias)
            _delete(path)
            self._trace(by, "workspace.create", project, "error", "EDS-SEC-ESP-2", found.purpose)
            raise WorkspaceError(
                f"The workspace of '{project}' could not be built ({type(exc).__name__}); check the cohort SQL the "
                "committee set. Nothing was kept."
            ) from None
        finally:
            con.execute(f"DROP TABLE IF EXISTS temp.{alias}_cohort")
        engine.detach(con, alias)
        self._trace(by, "workspace.create", project, "success", "EDS-SEC-ESP-2", found.purpose)
        return WorkspaceInfo(project, path, tables, persons, found.cohort_follow_up)

    def _check_grant(self, project: str, actor: str) -> None:
        if self.identity is None:
            return
        ctx = self.identity
        now = ctx.now()
        with ctx.engine.connect() as conn:
            row = accounts.find(conn, actor)
            held = [] if row is None else grants.active_for_user(conn, row.id, now)
        if not any(g.project == project for g in held):
            self._trace(actor, "workspace.connect", project, "denied", "EDS-SEC-HAB-3")
            raise WorkspaceError(
                f"'{actor}' holds no active authorisation for the project '{project}': only its validated team "
                "works in its workspace."
            )

    def open(self, project: str, actor: str) -> Workspace:
        """Connect ``actor`` to the project's workspace (traced; the authorisation is checked when known)."""
        found = governance.get_project(self.governance, project)
        if found.status != "favourable":
            self._trace(actor, "workspace.connect", project, "denied", "EDS-SEC-DAY-1", found.purpose)
            raise WorkspaceError(f"The project '{project}' is {found.status}: its workspace is not open to anyone.")
        self._check_grant(project, actor)
        workspace = Workspace(
            self.path(project),
            workspace_key(self.warehouse, project),
            self.trail,
            project=project,
            purpose=found.purpose,
        )
        self._trace(actor, "workspace.connect", project, "success", "EDS-SEC-DAY-1", found.purpose)
        self._opened[project].append(workspace)
        return workspace

    def close_project(self, project: str, *, by: str, identity: IdentityContext | None = None) -> ClosureReport:
        """End the project: delete its workspace, close its record and start the end-of-project reviews."""
        ctx = identity or self.identity
        if ctx is None:
            raise WorkspaceError(
                "Closing a project starts the review of its authorisations: give the identity context."
            )
        for workspace in self._opened.pop(project, []):
            workspace.close()
        deleted = _delete(self.path(project))
        try:
            record = governance.close_project_record(self.governance, project, by=by, clock=self._clock)
        except governance.GovernanceError as exc:
            raise WorkspaceError(str(exc)) from None
        self._trace(by, "workspace.close", project, "success", "EDS-SEC-HAB-5", record.purpose)
        note = ""
        try:
            authorisation_review: int | None = reviews.start(ctx, reason="project_end", project=project, by=by).id
        except GrantError as exc:
            authorisation_review = None
            note = f"The end-of-project authorisation review could not start: {exc}"
        audit_review = start_review(self.trail, by, clock=self._clock)
        return ClosureReport(project, deleted, authorisation_review, audit_review, note)


def _delete(path: Path) -> tuple[str, ...]:
    gone = []
    for candidate in (path, path.with_name(path.name + ".wal")):
        if candidate.exists():
            candidate.unlink()
            gone.append(candidate.name)
    return tuple(gone)


@dataclass
class Workspace:
    """One opened workspace: a DuckDB connection to its file alone, no file system access, every query traced."""

    path: Path
    key: bytes
    trail: AuditTrail
    project: str
    purpose: str = ""
    profile: str = PROFILE
    source: str = "local"
    _con: duckdb.DuckDBPyConnection | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.path.exists():
            raise WorkspaceError(
                f"There is no workspace for '{self.project}' (never created, or deleted when the project closed)."
            )
        con = engine.connect()
        try:
            engine.attach_encrypted(con, self.path, ALIAS, _file_key(self.key))
            con.execute(f"USE {ALIAS}")
            con.execute("SET enable_external_access = false")
            con.execute("SET lock_configuration = true")
        except (engine.WarehouseEngineError, duckdb.Error):
            con.close()
            raise WorkspaceError(
                f"The workspace file {self.path.name} cannot be opened with this key: each workspace opens only "
                "with its own project's key."
            ) from None
        self._con = con

    def __repr__(self) -> str:
        return f"Workspace(project={self.project!r})"

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def _trace(self, actor: str, digest: str, outcome: str) -> None:
        self.trail.append(
            AuditEvent(
                actor=actor,
                profile=self.profile,
                operation="workspace.query",
                resource_type=f"workspace/{self.project}",
                resource_id=digest,
                purpose=self.purpose,
                allowed=outcome != "denied",
                rule="EDS-SEC-DAY-1",
                section=SECTION,
                outcome=outcome,
                source=self.source,
                referential=REFERENTIAL,
            )
        )

    def query(self, sql: str, actor: str) -> QueryResult:
        """Run SQL in the workspace; the trail records who ran it and the SHA-256 of its text."""
        digest = sql_digest(sql)
        if self._con is None or not self.path.exists():
            self._trace(actor, digest, "denied")
            raise WorkspaceError(f"The workspace of '{self.project}' is closed: access ended with the project.")
        try:
            cursor = self._con.execute(sql)
            columns = tuple(d[0] for d in cursor.description or ())
            rows = tuple(tuple(r) for r in cursor.fetchall()) if columns else ()
        except duckdb.Error as exc:
            self._trace(actor, digest, "error")
            raise WorkspaceError(f"The query failed in the workspace of '{self.project}': {exc}") from None
        self._trace(actor, digest, "success")
        return QueryResult(columns, rows)

    def tables(self) -> dict[str, tuple[str, ...]]:
        """The workspace's tables and their columns (not traced: no data is read)."""
        if self._con is None:
            raise WorkspaceError(f"The workspace of '{self.project}' is closed.")
        rows = self._con.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_catalog = $c "
            "AND table_name <> '_workspace' ORDER BY table_name, ordinal_position",
            {"c": ALIAS},
        ).fetchall()
        out: dict[str, list[str]] = defaultdict(list)
        for table, column in rows:
            out[str(table)].append(str(column))
        return {t: tuple(c) for t, c in out.items()}
