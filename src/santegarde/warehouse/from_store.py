"""Feeding the warehouse from santegarde's own record store (EDS-4, EDS-SEC-ALI-1).

Each patient's current records are read through ``RecordService.patient_records`` — the one request path:
the session, the policy of the référentiel under each record's purpose, the audit trail. Records the
session may not read are refused there (and traced), never fed. What was read becomes one FHIR Bundle,
written only into the warehouse's transit directory and fed by the FHIR feed; the transit directory is
purged afterwards, whether the feed succeeded or failed.

The record store is input software that also lets its users consult what they entered, so feeding the
warehouse from it needs a session opened with strong authentication — two distinct factors (EDS-SEC-ALI-2,
EDS-SEC-AUT-1) — checked before any record is read; otherwise the feed is refused and the refusal traced. The
operator is the session's login and the profile chosen at login, which must be a feeding profile holding the
genetic/location key (EDS-SEC-LOG-6).
"""

from __future__ import annotations

import dataclasses
import json
import os
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from santegarde.audit.trail import AuditEvent
from santegarde.errors import SantegardeError
from santegarde.identity import sessions
from santegarde.policy.rights import reuse_purposes
from santegarde.referentials.model import Sensitivity
from santegarde.store import inspection, objections
from santegarde.warehouse.access import SECTION, Operator, WarehouseAccessRefused, WarehouseGuard
from santegarde.warehouse.core import TRANSIT
from santegarde.warehouse.feed import DataList, FeedError, FeedReport, Progress, Refusal, feed_fhir, purge_transit

if TYPE_CHECKING:
    from santegarde.store.service import RecordService, Request
    from santegarde.warehouse.core import Warehouse

SOURCE = "store"
RULE = "EDS-SEC-ALI-2"
OPERATION = "warehouse.feed.store"


def feed_records(
    warehouse: Warehouse,
    service: RecordService,
    request: Request,
    patient_ids: Iterable[str] | None,
    data_list: DataList | Path,
    progress: Progress | None = None,
) -> FeedReport:
    """Feed the current records of ``patient_ids`` (default: every patient of the store) read through the session."""
    operator = strongly_authenticated(service, request)
    guard = warehouse.guard or WarehouseGuard(service.identity, service.audit)
    guard.feed(operator, OPERATION)
    wanted = stored_patients(service) if patient_ids is None else list(dict.fromkeys(patient_ids))
    if not wanted:
        raise FeedError("There is no patient to feed from the record store; write records first or name patients.")
    objecting = objecting_patients(service, request.purpose)
    # Those who objected after an earlier feed: what was fed goes too (EDS-9), not only what comes next.
    warehouse.purge_objecting_records(SOURCE, objecting, by=operator, guard=guard)
    skipped = len([p for p in wanted if p in objecting])
    wanted = [p for p in wanted if p not in objecting]
    if not wanted:
        raise FeedError(
            f"Every one of the {skipped} patient(s) objected to the warehouse or to a re-use of their data (GDPR art. "
            "21, EDS-9): nothing was read and nothing was fed."
        )
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
                          progress, operator, guard)  # fmt: skip
    report = dataclasses.replace(report, objected_skipped=report.objected_skipped + skipped)
    if unreadable:
        refusal = Refusal(
            f"records of {unreadable} patient(s)", "the session may not read them under their purpose (traced)"
        )
        return dataclasses.replace(report, refused=(*report.refused, refusal))
    return report


def objecting_patients(service: RecordService, purpose: str) -> set[str]:
    """The store's patients whose objection to the feed's purpose, or to a re-use of their data (``internal_studies``,
    ``research``…: ``reuse`` in the text), is in force in the objection ledger: never read, never fed."""
    with service.engine.connect() as conn:
        return objections.objecting(conn, (purpose, *reuse_purposes(service.ref)))


def strongly_authenticated(service: RecordService, request: Request) -> Operator:
    """EDS-SEC-ALI-2: the session's operator if it was opened with two factors; refused (traced) otherwise."""
    try:
        current = sessions.require(service.identity, request.token, sensitivity=Sensitivity.SPECIAL)
    except SantegardeError as exc:
        _refuse(service, request, "", "", f"{exc} The session was refused")
    if current.factors < 2:
        _refuse(service, request, current.login, current.profile or "", "The session has a single factor")
    return Operator(current.login, current.profile)


def _refuse(service: RecordService, request: Request, login: str, profile: str, why: str) -> NoReturn:
    service.audit.append(
        AuditEvent(
            actor=login or "unknown session",
            profile=profile,
            operation=OPERATION,
            resource_type="warehouse",
            resource_id=SOURCE,
            purpose=request.purpose,
            allowed=False,
            rule=RULE,
            section=SECTION,
            outcome="denied",
            source=request.source,
            referential=service.ref.id,
        )
    )
    raise WarehouseAccessRefused(
        f"{why}: feeding the warehouse from the record store, which also lets its users consult what they "
        "entered, needs a session opened with strong authentication — the password and a second factor "
        "(EDS-SEC-ALI-2, EDS-SEC-AUT-1). Log in again giving your authenticator code (or with Pro Santé "
        "Connect), then feed again."
    )


def stored_patients(service: RecordService) -> list[str]:
    """The ids of every patient holding current records in the store (ids only; contents are read per patient)."""
    return inspection.patient_ids(service.engine)


def _feed_bundle(
    warehouse: Warehouse,
    bundle: dict[str, Any],
    data_list: DataList | Path,
    progress: Progress | None,
    operator: Operator,
    guard: WarehouseGuard,
) -> FeedReport:
    """Write the bundle into the transit directory only, feed it as FHIR, then purge the transit directory."""
    root = warehouse.directory / TRANSIT
    root.mkdir(mode=0o700, exist_ok=True)
    path = root / f"{SOURCE}-{uuid.uuid4().hex}.json"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(bundle, out, ensure_ascii=False)
        return feed_fhir(warehouse, [path], data_list, progress=progress, source=SOURCE, operator=operator, guard=guard)
    finally:
        purge_transit(warehouse)
