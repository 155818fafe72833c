"""An organisation opened for work: its configuration, référentiel as applied, keys, databases, trail.

This is what the CLI commands and the API share once identity is established; it refuses to open
without keys (COM-CRY-1: no key, no service).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from santegarde.audit.trail import AuditTrail
from santegarde.config import OrganisationConfig, effective_referential, load
from santegarde.crypto import KeyFamily, Keyring, KeystoreError, load_keyring, open_keystore
from santegarde.referentials import loader
from santegarde.referentials.model import Referential
from santegarde.store.db import make_engine

PASSPHRASE_ENV = "SANTEGARDE_PASSPHRASE"  # noqa: S105 (the name of the variable, not a secret)


def passphrase_from_env() -> str:
    value = os.environ.get(PASSPHRASE_ENV, "")
    if not value:
        raise KeystoreError(f"no keystore passphrase: set {PASSPHRASE_ENV} or type it when asked")
    return value


@dataclass
class Organisation:
    config_path: Path
    config: OrganisationConfig
    referential: Referential
    keyring: Keyring
    engine: Engine
    audit: AuditTrail

    def close(self) -> None:
        self.engine.dispose()
        self.audit.engine.dispose()


def open_organisation(config_path: Path, passphrase: str) -> Organisation:
    config = load(config_path)
    ref = effective_referential(config, loader.get(config.referential))
    keydir = Path(config.keyring_path)
    ring = load_keyring(open_keystore(keydir, passphrase), keydir)
    _, seal_key = ring.key(KeyFamily.AUDIT_SEAL)
    audit = AuditTrail(make_engine(config.audit_database_url), seal_key)
    return Organisation(config_path, config, ref, ring, make_engine(config.database_url), audit)
