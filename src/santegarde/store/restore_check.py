"""The proof that restored keys open the records: a few records decrypted in memory, their content discarded.

Used by a restore (``santegarde.lifecycle.restore``) before the restored organisation is put in place. It lives in
the store because only the store opens record parts; nothing it decrypts is returned, printed or logged.
"""

from __future__ import annotations

from collections.abc import Set

from sqlalchemy import Engine, select

from santegarde.crypto import Keyring
from santegarde.referentials.model import Referential
from santegarde.store import vault
from santegarde.store.schema import record


def sample_decrypts(engine: Engine, ring: Keyring, ref: Referential, escrowed: Set[str], limit: int) -> int:
    """Decrypt every part of up to ``limit`` current records of patients whose keys are escrowed; how many opened.

    A part that does not open raises DecryptionRefused; an erased patient's records are skipped (crypto-shredded,
    unreadable by design).
    """
    keys = vault.PatientKeys(ring)
    read = 0
    with engine.connect() as conn:
        rows = conn.execute(
            select(record.c.id, record.c.patient_id).where(record.c.current.is_(True)).order_by(record.c.id)
        ).all()
        for rid, patient in rows:
            if read == limit:
                break
            if patient is not None and patient not in escrowed:
                continue
            for v in vault.versions(conn, rid, current_only=True):
                for category, token in vault.part_tokens(conn, v).items():
                    vault.open_part(keys, conn, ref, v, category, token)
            read += 1
    return read
