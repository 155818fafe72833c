"""santegarde's health data warehouse (EDS): OMOP CDM 5.4 on encrypted DuckDB, keyed pseudonyms, identity vault.

Usable without the web service::

    from santegarde.warehouse import Warehouse
    with Warehouse.open(directory, keyring) as wh:
        report = wh.feed_fhir(paths, DataList.load(path), source="dpi", operator=operator)
"""

from santegarde.warehouse.core import Warehouse, WarehouseError
from santegarde.warehouse.engine import WarehouseEngineError
from santegarde.warehouse.feed import DataList, DataListError, FeedError, FeedReport, Refusal

__all__ = [
    "DataList",
    "DataListError",
    "FeedError",
    "FeedReport",
    "Refusal",
    "Warehouse",
    "WarehouseEngineError",
    "WarehouseError",
]
