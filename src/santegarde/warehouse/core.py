"""The warehouse: three encrypted DuckDB stores under separate keys, keyed pseudonyms, feeds and objections.

``Warehouse.open(directory, keyring)`` creates the stores on first use (or refuses if asked not to).
``omop`` is a DuckDB connection with the OMOP database attached as ``omop``; the identity vault
(``vault``) and the genetic/location store (``geo``) are attached only inside ``vault_connection()`` /
``location_connection()`` and during feeds and objections, then detached.

The genetic/location key (EDS-SEC-LOG-6) is mobilised only for an :class:`~santegarde.warehouse.access.Operator`
whose profile, chosen at login and granted, is one the référentiel lists as holding that key (the feeding and
workspace-export profiles): ``location_connection(operator)`` and every feed check it through the warehouse's
:class:`~santegarde.warehouse.access.WarehouseGuard` and trace it; a warehouse opened without a guard refuses.
The one exception is :meth:`Warehouse.erase_genetic_location`, the narrow deletion path of an objection (EDS-9)
or a rights erasure (EDS-SEC-REI-1): it deletes one person's rows, reads nothing back, and is traced.
"""

# ruff: noqa: S608 - SQL is assembled from the OMOP 5.4 spec constants only; values, keys and names go as $parameters

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from santegarde.crypto import Keyring
from santegarde.errors import SantegardeError
from santegarde.policy.rights import reuse_purposes
from santegarde.store import objections
from santegarde.warehouse import engine, keys, omop
from santegarde.warehouse.access import FEED_PURPOSE, KEY_RULE, Operator, WarehouseAccessRefused, WarehouseGuard
from santegarde.warehouse.pseudonym import (
    PseudonymKey,
    bigint_sql,
    hmac_sql,
    identity_message_sql,
    identity_pseudonym,
    normalise_sql,
    person_id_of,
)

if TYPE_CHECKING:
    from santegarde.store.service import RecordService, Request
    from santegarde.warehouse.feed import DataList, FeedReport, Progress, TextDeidentifier

LAYOUT = "warehouse.json"
OMOP_FILE = "omop.duckdb"
VAULT_FILE = "vault.duckdb"
LOCATION_FILE = "location.duckdb"
TRANSIT = "transit"
SPILL = ".spill"  # DuckDB's temporary files (encrypted), beyond the connection's memory limit
_PARAM = re.compile(r"\$([a-z_][a-z0-9_]*)")
MIGRATED_BY = "vault.objection"  # who recorded an objection moved from an older warehouse's identity vault


class WarehouseError(SantegardeError):
    """The warehouse cannot do what was asked; the message says why and what to do."""


class Warehouse:
    """An opened warehouse; close it (or use it as a context manager) to detach every store."""

    def __init__(
        self,
        directory: Path,
        warehouse_keys: keys.WarehouseKeys,
        con: duckdb.DuckDBPyConnection,
        guard: WarehouseGuard | None = None,
    ) -> None:
        self.directory = directory
        self.keys = warehouse_keys
        self.guard = guard
        self._con = con
        self._attached: dict[str, int] = {}

    # -- opening -------------------------------------------------------------------------------------------
    @classmethod
    def open(
        cls, directory: Path, keyring: Keyring, *, create: bool = True, guard: WarehouseGuard | None = None
    ) -> Warehouse:
        """Open the warehouse in ``directory``; create it there first if absent and ``create`` is true.

        ``guard`` checks who may mobilise the genetic/location key (EDS-SEC-LOG-6); without one, nobody may.
        The genetic/location store is not touched here: it is created by the first operator allowed to use it.
        """
        layout_path = directory / LAYOUT
        if not layout_path.exists():
            if not create:
                raise WarehouseError(f"There is no warehouse in {directory}: run 'santegarde warehouse init' first.")
            _create_layout(directory, keyring)
        layout = json.loads(layout_path.read_text(encoding="utf-8"))
        derived = keys.derive(keyring, layout["key_versions"], bytes.fromhex(layout["salt"]))
        con = engine.connect(spill=directory / SPILL)
        warehouse = cls(directory, derived, con, guard)
        try:
            engine.attach_encrypted(con, directory / OMOP_FILE, "omop", derived.health)
            for table in omop.HEALTH_TABLES:
                con.execute(omop.create_table_sql(table, "omop"))
                omop.migrate_types(con, table, "omop")
            for table in omop.REFERENCE_TABLES:
                con.execute(omop.create_table_sql(table, "omop"))
            with warehouse.vault_connection() as vault:
                for statement in omop.VAULT_DDL:
                    vault.execute(statement.replace("EXISTS ", "EXISTS vault.", 1))
                omop.migrate_vault(vault)
                omop.renumber_reviews(vault)
        except BaseException:
            con.close()
            raise
        return warehouse

    @classmethod
    def init(cls, directory: Path, keyring: Keyring, *, guard: WarehouseGuard | None = None) -> Warehouse:
        """Create a new warehouse in ``directory``; an existing one is never overwritten."""
        if (directory / LAYOUT).exists():
            raise WarehouseError(f"A warehouse already exists in {directory}; it is never overwritten.")
        return cls.open(directory, keyring, create=True, guard=guard)

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- connections ---------------------------------------------------------------------------------------
    @property
    def omop(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection with the OMOP database attached as ``omop``."""
        return self._con

    @property
    def pseudonym_key(self) -> PseudonymKey:
        return PseudonymKey(self.keys.pseudonym)

    @property
    def surrogate_key(self) -> bytes:
        """EDS-SEC-PSE-4: the key of the notes' consistent surrogates (32 bytes), derived from the pseudonym key."""
        return bytes.fromhex(self.pseudonym_key.hexdigest("deid|surrogates"))

    @property
    def mapping_key(self) -> PseudonymKey:
        return PseudonymKey(self.keys.mapping)

    @contextmanager
    def vault_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The connection with the identity vault attached as ``vault`` for the duration of the block."""
        with self._attach("vault", VAULT_FILE, self.keys.mapping):
            yield self._con

    @contextmanager
    def location_connection(
        self, operator: Operator, operation: str = "warehouse.genetic_location", *, guard: WarehouseGuard | None = None
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """The connection with the genetic/location store attached as ``geo`` for the duration of the block.

        EDS-SEC-LOG-6: only for an operator acting under a profile that holds the genetic/location key (chosen at
        login and granted); anyone else is refused and the refusal is traced. ``guard`` defaults to the
        warehouse's own.
        """
        checker = self.guard_for(operator, operation, guard)
        checker.mobilise_key(operator, operation)
        with self._geo():
            yield self._con

    def guard_for(self, operator: Operator, operation: str, guard: WarehouseGuard | None = None) -> WarehouseGuard:
        """The guard that checks ``operator`` (``guard`` or the warehouse's own); refused when there is none."""
        checker = guard or self.guard
        if checker is None:
            raise WarehouseAccessRefused(
                f"'{operator.login}' cannot be checked for '{operation}': this warehouse was opened without the "
                "identity database and audit trail that decide who may use its genetic and location data "
                "(EDS-SEC-LOG-6); open it with a guard (the CLI does so from your session)."
            )
        return checker

    @contextmanager
    def _geo(self) -> Iterator[None]:
        """Attach the genetic/location store (creating its tables on first use); callers check who asks first."""
        first = not self._attached.get("geo")
        with self._attach("geo", LOCATION_FILE, self.keys.genetic_location):
            if first:
                self._con.execute(omop.create_table_sql("location", "geo"))
                omop.migrate_types(self._con, "location", "geo")
                for statement in omop.GENETIC_DDL:
                    self._con.execute(statement.replace("EXISTS ", "EXISTS geo.", 1))
            yield

    def erase_genetic_location(
        self, person_id: int, *, by: Operator, rule: str, guard: WarehouseGuard | None = None
    ) -> int:
        """Delete one person's genetic results, for an objection (EDS-9) or a rights erasure (EDS-SEC-REI-1).

        The narrow exception to EDS-SEC-LOG-6: the key is used for this one ``DELETE`` only — no row is read,
        returned or left attached — so the person's right is honoured without giving the operator the data.
        The operator must be an active account acting under a granted profile (checked by the caller's own
        procedure too); the use of the key is traced under ``rule`` and EDS-SEC-LOG-6.
        """
        operation = "warehouse.genetic_location.erase"
        checker = self.guard_for(by, operation, guard)
        if not checker.granted(by):
            checker.refuse(
                by, operation, "genetic_location", KEY_RULE,
                f"'{by.login}' holds no active grant of the profile '{by.profile or 'no profile'}': a person's "
                "genetic and location data are erased only in a procedure run by an authorised person.",
            )  # fmt: skip
        try:
            with self._geo():
                deleted = _count(
                    self._con.execute("DELETE FROM geo.genetic_result WHERE person_id = $i", {"i": person_id})
                )
                # what an identity link noted of this person: nothing of it may come back by an undo
                self._con.execute("DELETE FROM geo.genetic_link WHERE kept = $i OR merged = $i", {"i": person_id})
        except BaseException:
            checker.trace(by, operation, "genetic_location", "error", f"{rule} {KEY_RULE}")
            raise
        checker.trace(by, operation, "genetic_location", "success", f"{rule} {KEY_RULE}")
        return deleted

    @contextmanager
    def _attach(self, alias: str, name: str, key: bytes) -> Iterator[None]:
        if not self._attached.get(alias):
            engine.attach_encrypted(self._con, self.directory / name, alias, key)
        self._attached[alias] = self._attached.get(alias, 0) + 1
        try:
            yield
        finally:
            self._attached[alias] -= 1
            if not self._attached[alias]:
                engine.detach(self._con, alias)

    def sql(self, statement: str, params: Mapping[str, Any] | None = None) -> duckdb.DuckDBPyConnection:
        """Run SQL whose ``$sg_*`` (pseudonym key) and ``$mk_*`` (mapping key) parameters are filled in."""
        available = {**self.pseudonym_key.params("sg"), **self.mapping_key.params("mk"), **(params or {})}
        used = set(_PARAM.findall(statement))
        return self._con.execute(statement, {k: v for k, v in available.items() if k in used})

    # -- pseudonyms ----------------------------------------------------------------------------------------
    def pseudonym_of(self, identity: dict[str, str]) -> str:
        """The warehouse pseudonym of an identity (``family``, ``given``, ``birthdate`` YYYY-MM-DD)."""
        return identity_pseudonym(self._con, self.pseudonym_key, identity)

    def persons_named(self, identity: dict[str, str]) -> set[str]:
        """The pseudonyms of every person of the vault recorded under this identity (family, given, birth date):
        more than one when homonyms were kept apart by identity matching."""
        stored, given = identity_message_sql("family", "given", "birth_date"), identity_message_sql("$f", "$g", "$b")
        with self.vault_connection():
            rows = self.sql(
                f"SELECT DISTINCT pseudonym FROM vault.identity WHERE {stored} = {given}",
                {"f": identity.get("family", ""), "g": identity.get("given", ""), "b": identity.get("birthdate", "")},
            ).fetchall()
        return {str(r[0]) for r in rows}

    def person_of(self, identity: dict[str, str], *, ins: str | None = None, birth_place: str | None = None) -> str:
        """The pseudonym of the one person recorded under this identity (family, given, birth date), narrowed by
        the INS or the birthplace when given; refused with a sentence when several persons match (homonyms kept
        apart by identity matching) or when the INS or birthplace given matches none of them.

        A person not in the vault (never fed, or only objected to) gets the pseudonym of the identity, so that an
        objection given before the first feed still keeps the person out.
        """
        from santegarde.warehouse.matching import checked_ins

        found = self.persons_named(identity)
        if not found:
            return self.pseudonym_of(identity)
        if ins:
            wanted = checked_ins(ins)
            if wanted is None:
                raise WarehouseError("L'INS donné n'est pas valide (clé de contrôle) : vérifiez-le.")
            found = found & self._persons_with("ins = $v", wanted)
        if birth_place:
            found = found & self._persons_with(f"{normalise_sql('birth_place')} = {normalise_sql('$v')}", birth_place)
        if not found:
            raise WarehouseError(
                "Aucune personne enregistrée sous cette identité n'a cet INS ou ce lieu de naissance : vérifiez-les, "
                "rien n'a été fait."
            )
        if len(found) > 1:
            raise WarehouseError(
                f"{len(found)} personnes de l'entrepôt portent ce nom, ce prénom et cette date de naissance "
                "(homonymes tenus séparés par le rapprochement d'identités) : donnez l'INS (--ins) ou le lieu de "
                "naissance (--birthplace) pour désigner la bonne ; rien n'a été fait."
            )
        return next(iter(found))

    def _persons_with(self, condition: str, value: str) -> set[str]:
        with self.vault_connection():
            rows = self.sql(f"SELECT DISTINCT pseudonym FROM vault.identity WHERE {condition}", {"v": value})
            return {str(r[0]) for r in rows.fetchall()}

    def person_id_of(self, identity: dict[str, str]) -> int:
        """The OMOP person_id of an identity."""
        return person_id_of(self.pseudonym_of(identity))

    # -- feeds and objections ------------------------------------------------------------------------------
    def feed_fhir(
        self, paths: Sequence[Path], data_list: DataList | Path, progress: Progress | None = None, *,
        source: str, operator: Operator, cutoff: date | None = None, deidentify: TextDeidentifier | None = None,
    ) -> FeedReport:  # fmt: skip
        """Feed FHIR Bundle JSON files from ``source`` as ``operator`` (a feeding profile); see :func:`.feed.feed_fhir`.

        ``source`` names the system the files come from: its identifiers are a namespace of their own.
        Rows collected on or before ``cutoff`` (default: 20 years ago, EDS-7) are not integrated.
        """
        from santegarde.warehouse import feed

        return feed.feed_fhir(
            self, paths, data_list, progress=progress, source=source, operator=operator, cutoff=cutoff,
            deidentify=deidentify,
        )  # fmt: skip

    def feed_omop(
        self,
        source: Path | Sequence[Path],
        data_list: DataList | Path,
        progress: Progress | None = None,
        *,
        source_name: str,
        operator: Operator,
        cutoff: date | None = None,
        deidentify: TextDeidentifier | None = None,
    ) -> FeedReport:
        """Feed OMOP CDM 5.4 CSV/Parquet files of the source ``source_name`` as ``operator``.

        Each source is a namespace: its ``person_id`` 1 is never another source's ``person_id`` 1. See
        :func:`santegarde.warehouse.feed.feed_omop`.
        """
        from santegarde.warehouse import feed

        return feed.feed_omop(
            self,
            source,
            data_list,
            progress=progress,
            source_name=source_name,
            operator=operator,
            cutoff=cutoff,
            deidentify=deidentify,
        )

    def feed_records(
        self,
        service: RecordService,
        request: Request,
        patient_ids: Iterable[str] | None,
        data_list: DataList | Path,
        progress: Progress | None = None,
    ) -> FeedReport:
        """Feed from santegarde's record store as the session's operator (two factors, EDS-SEC-ALI-2); see
        :mod:`santegarde.warehouse.from_store`."""
        from santegarde.warehouse import from_store

        return from_store.feed_records(self, service, request, patient_ids, data_list, progress=progress)

    def oppose(self, identity: dict[str, str], *, by: Operator) -> int:
        """Register a durable objection (EDS-9): returns the number of rows deleted from every store.

        ``identity`` may carry ``ins`` or ``birth_place`` to tell homonyms apart; several persons matching is refused
        (:meth:`person_of`)."""
        person = self.person_of(identity, ins=identity.get("ins"), birth_place=identity.get("birth_place"))
        return self.oppose_pseudonym(person, by=by)

    def oppose_pseudonym(self, pseudonym: str, *, by: Operator) -> int:
        """Register an objection for a known pseudonym; existing data is deleted, later feeds skip the person.

        The objection is recorded in the path's objection ledger (store/objections.py) under the pseudonym, for
        the warehouse's constitution: the same ledger the record path obeys, seen from the warehouse. ``by`` acts
        under a profile that handles the persons' rights (traced); the person's genetic results are deleted
        through :meth:`erase_genetic_location`, never read.
        """
        checker = self.guard_for(by, "warehouse.oppose")
        checker.oppose(by)
        person = person_id_of(pseudonym)
        self._migrate_objections(checker)
        with checker.records.begin() as conn:
            objections.oppose(conn, pseudonym, FEED_PURPOSE, self._now(checker), by.login, objections.PSEUDONYM)
        deleted = self._delete_person(pseudonym, person, by)
        checker.trace(by, "warehouse.oppose", "objection", "success", "EDS-9")
        return deleted

    def _delete_person(self, pseudonym: str, person: int, by: Operator, guard: WarehouseGuard | None = None) -> int:
        """Every row of one person in every store (health data, genetic results, identity, mapping); the count."""
        from santegarde.warehouse import vigilance  # imports this module: not at the top

        deleted = 0
        with self.vault_connection() as con:
            deleted += delete_person_rows(con, person)
            deleted += self.erase_genetic_location(person, by=by, rule="EDS-9", guard=guard)
            deleted += vigilance.forget(con, person)  # rows kept aside by an identity link, never to come back
            for table in ("identity", "mapping"):
                deleted += _count(con.execute(f"DELETE FROM vault.{table} WHERE pseudonym = $p", {"p": pseudonym}))
        return deleted

    def purge_objecting_records(
        self, source: str, patient_ids: Iterable[str], *, by: Operator, guard: WarehouseGuard | None = None
    ) -> int:
        """Delete what was fed earlier from ``source`` for patients who have since objected through the record path
        (their objection is in the ledger under their record id): EDS-9 — later feeds skip them, and what was
        already in the warehouse goes too. Only the source records' mapping is looked up; nothing is read. The
        number of persons whose rows were deleted; traced per person."""
        checker = self.guard_for(by, "warehouse.objection.purge", guard)
        keys = {self.mapping_key.hexdigest(f"{source}|Patient/{p}") for p in patient_ids}
        if not keys:
            return 0
        with self.vault_connection() as con:
            found = sorted(
                {
                    str(p)
                    for (p,) in con.execute(
                        "SELECT DISTINCT pseudonym FROM vault.mapping WHERE kind = 'fhir:Patient' AND "
                        "source_hash IN (SELECT unnest($k))",
                        {"k": sorted(keys)},
                    ).fetchall()
                }
            )
        for pseudonym in found:
            self._delete_person(pseudonym, person_id_of(pseudonym), by, checker)
            checker.trace(by, "warehouse.objection.purge", "objection", "success", "EDS-9")
        return len(found)

    def objected(self, guard: WarehouseGuard | None = None) -> set[str]:
        """The pseudonyms of every person whose objection to the warehouse, or to a re-use of the data, is in force
        in the objection ledger."""
        checker = guard or self.guard
        if checker is None:
            raise WarehouseError(
                "The objections are kept in the organisation's objection ledger: open the warehouse with the "
                "organisation's databases (the CLI does so from your session)."
            )
        self._migrate_objections(checker)
        with checker.records.connect() as conn:
            return objections.objecting(conn, _objection_purposes(checker), objections.PSEUDONYM)

    def load_objections(self, guard: WarehouseGuard) -> int:
        """Load into ``temp.objection`` (pseudonym, person_id) the persons a feed must skip; their number."""
        found = sorted(self.objected(guard))
        self._con.execute("CREATE OR REPLACE TEMP TABLE objection (pseudonym VARCHAR PRIMARY KEY, person_id BIGINT)")
        if found:
            self._con.executemany("INSERT INTO temp.objection VALUES ($1, $2)", [(p, person_id_of(p)) for p in found])
        return len(found)

    def _migrate_objections(self, guard: WarehouseGuard) -> None:
        """Move the objections an older warehouse kept in its identity vault (``vault.objection``) into the
        objection ledger, then drop that table: nothing is lost, and there is one list (EDS-9)."""
        with self.vault_connection() as con:
            exists = con.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'vault' AND table_name = 'objection'"
            ).fetchone()
            if not exists or not exists[0]:
                return
            rows = con.execute("SELECT pseudonym, registered_at FROM vault.objection ORDER BY registered_at").fetchall()
            with guard.records.begin() as conn:
                for pseudonym, at in rows:
                    when = at.replace(tzinfo=UTC) if at.tzinfo is None else at
                    objections.oppose(conn, str(pseudonym), FEED_PURPOSE, when, MIGRATED_BY, objections.PSEUDONYM)
            con.execute("DROP TABLE vault.objection")

    def _now(self, guard: WarehouseGuard) -> datetime:
        return guard.identity.now()

    def counts(self) -> dict[str, int]:
        """Rows per OMOP table (health store only)."""
        out = {}
        for table in omop.HEALTH_TABLES:
            row = self._con.execute(f"SELECT count(*) FROM omop.{table}").fetchone()
            out[table] = int(row[0]) if row else 0
        return out


def _objection_purposes(guard: WarehouseGuard) -> tuple[str, ...]:
    """The warehouse's constitution and every re-use purpose of the text: an objection to any keeps a person out."""
    return tuple(dict.fromkeys((FEED_PURPOSE, *reuse_purposes(guard.referential))))


def delete_person_rows(con: duckdb.DuckDBPyConnection, person: int) -> int:
    """Delete every OMOP row of one person, those that refer to the person's rows first (:data:`omop.PURGE_ORDER`),
    in one transaction of the health store; the count."""
    deleted = 0
    con.execute("BEGIN TRANSACTION")
    try:
        for table in omop.PURGE_ORDER:
            deleted += _count(con.execute(f"DELETE FROM omop.{table} WHERE {omop.person_rows(table)}", {"i": person}))
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
    return deleted


def _count(result: duckdb.DuckDBPyConnection) -> int:
    row = result.fetchone()
    return int(row[0]) if row else 0


def _create_layout(directory: Path, keyring: Keyring) -> None:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    (directory / TRANSIT).mkdir(exist_ok=True, mode=0o700)
    layout = {"format": 1, "key_versions": keys.current_versions(keyring), "salt": os.urandom(16).hex()}
    (directory / LAYOUT).write_text(json.dumps(layout, indent=2), encoding="utf-8")


__all__ = ["Warehouse", "WarehouseError", "bigint_sql", "hmac_sql"]
