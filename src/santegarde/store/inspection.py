"""What the record store can say about itself without decrypting anything (evidence for the conformity report)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, inspect, select

from santegarde.crypto.envelope import token_family
from santegarde.errors import SantegardeError
from santegarde.identity.clock import aware
from santegarde.store.schema import (
    archive_access,
    archive_record,
    consent_ledger,
    objection_ledger,
    record,
    record_freeze,
    record_part,
    retention_aggregate,
)

PATIENT_TOKEN_PREFIX = b"SGP1"  # vault.seal_part: a part under the patient's own key
NONCE_AND_TAG = 12 + 16


@dataclass(frozen=True)
class EncryptionAtRest:
    store_present: bool
    parts: int
    not_encrypted: int


def is_ciphertext(token: bytes) -> bool:
    """A token sealed under a per-patient key (``SGP1`` | nonce | ciphertext+tag) or a keyring envelope token."""
    if token.startswith(PATIENT_TOKEN_PREFIX):
        return len(token) >= len(PATIENT_TOKEN_PREFIX) + NONCE_AND_TAG
    try:
        token_family(token)
    except (SantegardeError, struct.error, ValueError):
        return False
    return True


def encryption_at_rest(engine: Engine) -> EncryptionAtRest:
    """How many record parts there are, and how many lack santegarde's encrypted-token header (headers only)."""
    if not inspect(engine).has_table(record_part.name):
        return EncryptionAtRest(False, 0, 0)
    total = clear = 0
    with engine.connect() as conn:
        for token in conn.execution_options(yield_per=500).execute(select(record_part.c.token)).scalars():
            total += 1
            clear += not is_ciphertext(bytes(token))
    return EncryptionAtRest(True, total, clear)


def record_purposes(engine: Engine, patient_id: str, *, current_only: bool) -> dict[str, str]:
    """{record id: purpose it was written under} for a patient — metadata in clear, nothing decrypted."""
    query = select(record.c.id, record.c.purpose).where(record.c.patient_id == patient_id)
    if current_only:
        query = query.where(record.c.current.is_(True))
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(record.c.id, record.c.version)).all()
    return {r.id: r.purpose for r in rows}


def permanently_frozen(engine: Engine, patient_id: str) -> list[str]:
    """Ids of a patient's records frozen for good (validated register entries)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(record_freeze.c.record_id).where(
                record_freeze.c.permanent.is_(True),
                record_freeze.c.record_id.in_(select(record.c.id).where(record.c.patient_id == patient_id)),
            )
        ).scalars()
        return [str(r) for r in rows]


def versions_after(engine: Engine, record_id: str, moment: datetime) -> int:
    """How many versions of a record were written after ``moment`` (e.g. after a register entry's validation)."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(record).where(record.c.id == record_id, record.c.created_at > moment)
            ).scalar_one()
        )


@dataclass(frozen=True)
class ArchiveStatus:
    archived_versions: int
    justified_accesses: int
    anonymised_counts: int


def archive_status(engine: Engine) -> ArchiveStatus:
    """Counts of the intermediate archive: versions held, justified accesses, aggregate rows kept after anonymising."""
    with engine.connect() as conn:
        versions = conn.execute(select(func.count()).select_from(archive_record)).scalar_one()
        accesses = conn.execute(select(func.count()).select_from(archive_access)).scalar_one()
        aggregates = conn.execute(select(func.count()).select_from(retention_aggregate)).scalar_one()
    return ArchiveStatus(int(versions), int(accesses), int(aggregates))


def patient_ids(engine: Engine) -> list[str]:
    """The ids of every patient holding current records (random ids only; contents are read per patient)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(record.c.patient_id)
            .where(record.c.current.is_(True), record.c.patient_id.is_not(None))
            .distinct()
            .order_by(record.c.patient_id)
        ).scalars()
        return [str(r) for r in rows]


@dataclass(frozen=True)
class LedgerCounts:
    """Per purpose, what the consent and objection ledgers hold: counts only, no patient (COM-MIN-1, COM-RGT-1)."""

    consents_given: int = 0  # Consents ever recorded for the purpose
    consents_withdrawn: int = 0  # of which withdrawn by the person
    consents_expired: int = 0  # of which past their end date
    objections_in_force: int = 0
    objections_lifted: int = 0  # the person withdrew it
    objections_overridden: int = 0  # compelling legitimate grounds, written and flagged for review


def ledger_counts(engine: Engine, at: datetime) -> dict[str, LedgerCounts]:
    """The consent and objection ledgers counted per purpose at ``at`` (empty when the store has no ledgers yet).

    A Consent whose scope changed keeps one identity: it is withdrawn only when none of its entries for the
    purpose is still in force and the latest of them was withdrawn.
    """
    if not {"consent_ledger", "objection_ledger"} <= set(inspect(engine).get_table_names()):
        return {}
    consents: dict[tuple[str, str], list[tuple[datetime | None, datetime | None]]] = {}
    objected: dict[str, list[str]] = {}
    with engine.connect() as conn:
        c = consent_ledger.c
        for row in conn.execute(select(c.consent_id, c.purpose, c.end, c.withdrawn_at).order_by(c.id)):
            consents.setdefault((row.consent_id, row.purpose), []).append(
                (aware(row.end) if row.end else None, aware(row.withdrawn_at) if row.withdrawn_at else None)
            )
        o = objection_ledger.c
        for row in conn.execute(select(o.purpose, o.lifted_at, o.lift_kind)):
            objected.setdefault(row.purpose, []).append("in_force" if row.lifted_at is None else str(row.lift_kind))
    given: dict[str, list[str]] = {}
    for (_, purpose), entries in consents.items():
        withdrawn = entries[-1][1]
        if any(w is None and (e is None or at < e) for e, w in entries):
            state = "active"
        elif withdrawn is not None:
            state = "withdrawn"
        else:
            state = "expired"
        given.setdefault(purpose, []).append(state)
    return {
        purpose: LedgerCounts(
            len(states := given.get(purpose, [])),
            states.count("withdrawn"),
            states.count("expired"),
            (kinds := objected.get(purpose, [])).count("in_force"),
            kinds.count("lifted"),
            kinds.count("compelling_grounds"),
        )
        for purpose in sorted({*given, *objected})
    }
