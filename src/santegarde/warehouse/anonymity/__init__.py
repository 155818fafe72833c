"""Measured anonymity for exports and indicators: metrics in SQL, generalisation, indicators, risks.

``risks`` imports anonymeter (heavy); import it explicitly: ``from santegarde.warehouse.anonymity import risks``.
"""

from santegarde.warehouse.anonymity._sql import AnonymityError, Query, Source, Table, quote_ident
from santegarde.warehouse.anonymity.generalise import (
    AgeBands,
    DateTruncation,
    Generaliser,
    Hierarchy,
    InformationLoss,
    PostalPrefix,
    Proposal,
    Suppress,
    generalised_sql,
    propose,
)
from santegarde.warehouse.anonymity.indicators import TOTAL, Cell, Indicator, IndicatorRefused, indicator
from santegarde.warehouse.anonymity.metrics import AnonymityReport, SensitiveReport, Thresholds, measure

__all__ = [
    "TOTAL",
    "AgeBands",
    "AnonymityError",
    "AnonymityReport",
    "Cell",
    "DateTruncation",
    "Generaliser",
    "Hierarchy",
    "Indicator",
    "IndicatorRefused",
    "InformationLoss",
    "PostalPrefix",
    "Proposal",
    "Query",
    "SensitiveReport",
    "Source",
    "Suppress",
    "Table",
    "Thresholds",
    "generalised_sql",
    "indicator",
    "measure",
    "propose",
    "quote_ident",
]
