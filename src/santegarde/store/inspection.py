"""What the record store can say about itself without decrypting anything (evidence for the conformity report)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, inspect, select

from santegarde.crypto.envelope import token_family
from santegarde.errors import SantegardeError
from santegarde.store.schema import (
    archive_access,
    archive_record,
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
