"""Feeding the warehouse from santegarde's own record store (EDS-4, EDS-SEC-ALI-1).

Each patient's current records are read through ``RecordService.patient_records`` — the one request path:
the session, the policy of the référentiel under each record's purpose, the audit trail. Records the
session may not read are refused there (and traced), never fed. What was read becomes one FHIR Bundle,
written only into the warehouse's transit directory and fed by the FHIR feed; the transit directory is
purged afterwards, whether the feed succeeded or failed.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from santegarde.store import inspection
from santegarde.warehouse.core import TRANSIT
from santegarde.warehouse.feed import DataList, FeedError, FeedReport, Progress, Refusal, feed_fhir, purge_transit

if TYPE_CHECKING:
    from santegarde.store.service import RecordService, Request
    from santegarde.warehouse.core import Warehouse

SOURCE = "store"


def feed_records(
    warehouse: Warehouse,
    service: RecordService,
    request: Request,
    patient_ids: Iterable[str] | None,
    data_list: DataList | Path,
    progress: Progress | None = None,
) -> FeedReport:
    """Feed the current records of ``patient_ids`` (default: every patient of the store) read through the session."""
    wanted = stored_patients(service) if patient_ids is None else list(dict.fromkeys(patient_ids))
    if not wanted:
        raise FeedError("There is no patient to feed from the record store; write records first or name patients.")
    entries: list[dict[str, Any]] = []
    unreadable = 0
    for done, patient_id in enumerate(wanted, start=1):
        records = service.patient_records(request, patient_id)
        unreadable += 0 if records else 1
        entries.extend({"resource": r} for r in records)
        if progress is not None:
            progress("Read the patients' records", done, len(wanted))
    if not entries:
        raise FeedError(
            f"None of the records of the {len(wanted)} patient(s) could be read with this session under their "
            "purpose (the référentiel refuses it; each refusal is traced); nothing was fed. Feed with a profile "
            "allowed to read them."
        )
    report = _feed_bundle(warehouse, {"resourceType": "Bundle", "type": "collection", "entry": entries}, data_list,
                          progress)  # fmt: skip
    if unreadable:
        refusal = Refusal(
            f"records of {unreadable} patient(s)", "the session may not read them under their purpose (traced)"
        )
        return FeedReport(report.rows, (*report.refused, refusal), report.objected_skipped, report.files)
    return report


def stored_patients(service: RecordService) -> list[str]:
    """The ids of every patient holding current records in the store (ids only; contents are read per patient)."""
    return inspection.patient_ids(service.engine)


def _feed_bundle(
    warehouse: Warehouse, bundle: dict[str, Any], data_list: DataList | Path, progress: Progress | None
) -> FeedReport:
    """Write the bundle into the transit directory only, feed it as FHIR, then purge the transit directory."""
    root = warehouse.directory / TRANSIT
    root.mkdir(mode=0o700, exist_ok=True)
    path = root / f"{SOURCE}-{uuid.uuid4().hex}.json"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(bundle, out, ensure_ascii=False)
        return feed_fhir(warehouse, [path], data_list, progress=progress, source=SOURCE)
    finally:
        purge_transit(warehouse)
