"""The organisation's warehouse as the console's warehouse desk opens it: the governance tables (the organisation's
records database, as ``santegarde warehouse committee|project`` open them), the export gate with the configured
thresholds and the reviewers from the identity grants (as ``santegarde warehouse export`` builds it), and the
warehouse itself, opened for one request and closed after (its DuckDB files are never held between requests).

Imported only when the organisation has a warehouse (its referential names export reviewers): the warehouse's
libraries (DuckDB, Arrow) are the ``warehouse`` extra.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import duckdb

from santegarde.identity.context import IdentityContext
from santegarde.runtime import Organisation
from santegarde.warehouse import Warehouse
from santegarde.warehouse.access import WarehouseGuard
from santegarde.warehouse.gate import Gate, GrantReviewers
from santegarde.warehouse.place import exports_directory, load_thresholds, warehouse_directory


@dataclass(frozen=True)
class WarehousePlace:
    org: Organisation
    identity: IdentityContext

    def gate(self) -> Gate:
        """The export gate, as the CLI's export commands build it (thresholds read afresh: a change applies)."""
        thresholds = load_thresholds(self.org.config_path)
        return Gate(
            exports_directory(self.org.config_path), self.org.audit, GrantReviewers(self.identity),
            thresholds=thresholds,
        )  # fmt: skip

    @contextmanager
    def warehouse(self) -> Iterator[Warehouse]:
        """The warehouse, guarded by the identity database (the objection's and the key's profiles)."""
        guard = WarehouseGuard(self.identity, self.org.audit)
        warehouse = Warehouse.open(
            warehouse_directory(self.org.config_path), self.org.keyring, create=False, guard=guard
        )
        try:
            yield warehouse
        finally:
            warehouse.close()

    @contextmanager
    def source(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Where an export's source query runs: the warehouse's own encrypted OMOP store (as the CLI's default)."""
        with self.warehouse() as warehouse:
            warehouse.omop.execute("USE omop")
            yield warehouse.omop
