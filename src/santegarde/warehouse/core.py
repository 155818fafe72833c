"""The warehouse: three encrypted DuckDB stores under separate keys, keyed pseudonyms, feeds and objections.

``Warehouse.open(directory, keyring)`` creates the stores on first use (or refuses if asked not to).
``omop`` is a DuckDB connection with the OMOP database attached as ``omop``; the identity vault
(``vault``) and the genetic/location store (``geo``) are attached only inside ``vault_connection()`` /
``location_connection()`` and during feeds and objections, then detached.
"""

# ruff: noqa: S608 - SQL is assembled from the OMOP 5.4 spec constants only; values, keys and names go as $parameters

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from santegarde.crypto import Keyring
from santegarde.errors import SantegardeError
from santegarde.warehouse import engine, keys, omop
from santegarde.warehouse.pseudonym import PseudonymKey, bigint_sql, hmac_sql, identity_pseudonym, person_id_of

if TYPE_CHECKING:
    from santegarde.store.service import RecordService, Request
    from santegarde.warehouse.feed import DataList, FeedReport, Progress

LAYOUT = "warehouse.json"
OMOP_FILE = "omop.duckdb"
VAULT_FILE = "vault.duckdb"
LOCATION_FILE = "location.duckdb"
TRANSIT = "transit"
_PARAM = re.compile(r"\$([a-z_][a-z0-9_]*)")


class WarehouseError(SantegardeError):
    """The warehouse cannot do what was asked; the message says why and what to do."""


class Warehouse:
    """An opened warehouse; close it (or use it as a context manager) to detach every store."""

    def __init__(self, directory: Path, warehouse_keys: keys.WarehouseKeys, con: duckdb.DuckDBPyConnection) -> None:
        self.directory = directory
        self.keys = warehouse_keys
        self._con = con
        self._attached: dict[str, int] = {}

    # -- opening -------------------------------------------------------------------------------------------
    @classmethod
    def open(cls, directory: Path, keyring: Keyring, *, create: bool = True) -> Warehouse:
        """Open the warehouse in ``directory``; create it there first if absent and ``create`` is true."""
        layout_path = directory / LAYOUT
        if not layout_path.exists():
            if not create:
                raise WarehouseError(f"There is no warehouse in {directory}: run 'santegarde warehouse init' first.")
            _create_layout(directory, keyring)
        layout = json.loads(layout_path.read_text(encoding="utf-8"))
        derived = keys.derive(keyring, layout["key_versions"], bytes.fromhex(layout["salt"]))
        con = engine.connect()
        warehouse = cls(directory, derived, con)
        try:
            engine.attach_encrypted(con, directory / OMOP_FILE, "omop", derived.health)
            for table in omop.HEALTH_TABLES:
                con.execute(omop.create_table_sql(table, "omop"))
            with warehouse.vault_connection() as vault:
                for statement in omop.VAULT_DDL:
                    vault.execute(statement.replace("EXISTS ", "EXISTS vault.", 1))
            with warehouse.location_connection() as geo:
                geo.execute(omop.create_table_sql("location", "geo"))
                for statement in omop.GENETIC_DDL:
                    geo.execute(statement.replace("EXISTS ", "EXISTS geo.", 1))
        except BaseException:
            con.close()
            raise
        return warehouse

    @classmethod
    def init(cls, directory: Path, keyring: Keyring) -> Warehouse:
        """Create a new warehouse in ``directory``; an existing one is never overwritten."""
        if (directory / LAYOUT).exists():
            raise WarehouseError(f"A warehouse already exists in {directory}; it is never overwritten.")
        return cls.open(directory, keyring, create=True)

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
    def mapping_key(self) -> PseudonymKey:
        return PseudonymKey(self.keys.mapping)

    @contextmanager
    def vault_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The connection with the identity vault attached as ``vault`` for the duration of the block."""
        with self._attach("vault", VAULT_FILE, self.keys.mapping):
            yield self._con

    @contextmanager
    def location_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The connection with the genetic/location store attached as ``geo`` for the duration of the block."""
        with self._attach("geo", LOCATION_FILE, self.keys.genetic_location):
            yield self._con

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

    def person_id_of(self, identity: dict[str, str]) -> int:
        """The OMOP person_id of an identity."""
        return person_id_of(self.pseudonym_of(identity))

    # -- feeds and objections ------------------------------------------------------------------------------
    def feed_fhir(
        self, paths: Sequence[Path], data_list: DataList | Path, progress: Progress | None = None
    ) -> FeedReport:
        """Feed FHIR Bundle JSON files; see :func:`santegarde.warehouse.feed.feed_fhir`."""
        from santegarde.warehouse import feed

        return feed.feed_fhir(self, paths, data_list, progress=progress)

    def feed_omop(
        self,
        source: Path | Sequence[Path],
        data_list: DataList | Path,
        progress: Progress | None = None,
        source_name: str = "omop",
    ) -> FeedReport:
        """Feed OMOP CDM 5.4 CSV/Parquet files; see :func:`santegarde.warehouse.feed.feed_omop`."""
        from santegarde.warehouse import feed

        return feed.feed_omop(self, source, data_list, progress=progress, source_name=source_name)

    def feed_records(
        self,
        service: RecordService,
        request: Request,
        patient_ids: Iterable[str] | None,
        data_list: DataList | Path,
        progress: Progress | None = None,
    ) -> FeedReport:
        """Feed from santegarde's record store, read through the session; see :mod:`santegarde.warehouse.from_store`."""
        from santegarde.warehouse import from_store

        return from_store.feed_records(self, service, request, patient_ids, data_list, progress=progress)

    def oppose(self, identity: dict[str, str]) -> int:
        """Register a durable objection (EDS-9): returns the number of rows deleted from every store."""
        return self.oppose_pseudonym(self.pseudonym_of(identity))

    def oppose_pseudonym(self, pseudonym: str) -> int:
        """Register an objection for a known pseudonym; existing data is deleted, later feeds skip the person."""
        person = person_id_of(pseudonym)
        deleted = 0
        with self.vault_connection() as con, self.location_connection():
            con.execute(
                "INSERT OR IGNORE INTO vault.objection VALUES ($p, $i, $t)",
                {"p": pseudonym, "i": person, "t": datetime.now(UTC).replace(tzinfo=None)},
            )
            for table in omop.PERSON_TABLES:
                deleted += _count(con.execute(f"DELETE FROM omop.{table} WHERE person_id = $i", {"i": person}))
            deleted += _count(con.execute("DELETE FROM geo.genetic_result WHERE person_id = $i", {"i": person}))
            for table in ("identity", "mapping"):
                deleted += _count(con.execute(f"DELETE FROM vault.{table} WHERE pseudonym = $p", {"p": pseudonym}))
        return deleted

    def objected(self) -> set[str]:
        """The pseudonyms of every person who objected."""
        with self.vault_connection() as con:
            return {str(r[0]) for r in con.execute("SELECT pseudonym FROM vault.objection").fetchall()}

    def counts(self) -> dict[str, int]:
        """Rows per OMOP table (health store only)."""
        out = {}
        for table in omop.HEALTH_TABLES:
            row = self._con.execute(f"SELECT count(*) FROM omop.{table}").fetchone()
            out[table] = int(row[0]) if row else 0
        return out


def _count(result: duckdb.DuckDBPyConnection) -> int:
    row = result.fetchone()
    return int(row[0]) if row else 0


def _create_layout(directory: Path, keyring: Keyring) -> None:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    (directory / TRANSIT).mkdir(exist_ok=True, mode=0o700)
    layout = {"format": 1, "key_versions": keys.current_versions(keyring), "salt": os.urandom(16).hex()}
    (directory / LAYOUT).write_text(json.dumps(layout, indent=2), encoding="utf-8")


__all__ = ["Warehouse", "WarehouseError", "bigint_sql", "hmac_sql"]
