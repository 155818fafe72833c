"""An organisation opened for work: its configuration, référentiel as applied, keys, databases, trail.

This is what the CLI commands and the API share once identity is established; it refuses to open
without keys (COM-CRY-1: no key, no service).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, inspect
from sqlalchemy.exc import SQLAlchemyError

from santegarde.audit.anchor import NAME as ANCHOR_NAME
from santegarde.audit.trail import AuditEvent, AuditTrail
from santegarde.audit.witness import SyslogWitness
from santegarde.config import OrganisationConfig, effective_referential, load
from santegarde.crypto import KeyFamily, Keyring, KeystoreError, load_keyring, open_keystore
from santegarde.identity.context import IdentityContext, IdentitySettings, Tracer
from santegarde.referentials import loader
from santegarde.referentials.model import Referential
from santegarde.store.db import make_engine

PASSPHRASE_ENV = "SANTEGARDE_PASSPHRASE"  # noqa: S105 (the name of the variable, not a secret)


def passphrase_from_env() -> str:
    value = os.environ.get(PASSPHRASE_ENV, "")
    if not value:
        raise KeystoreError("no_passphrase", env=PASSPHRASE_ENV)
    return value


def database_present(engine: Engine, table: str) -> bool:
    """Whether ``engine``'s database exists and holds ``table``; never creates a database (no empty SQLite file)."""
    if engine.dialect.name == "sqlite":
        name = engine.url.database
        if not name or name == ":memory:":
            return False
        path = Path(name)
        if not path.is_file() or path.stat().st_size == 0:
            return False
    try:
        return table in inspect(engine).get_table_names()
    except SQLAlchemyError:
        return False


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

    def databases_present(self) -> bool:
        """Whether the records and audit databases are set up (only the configuration and keyring may be here)."""
        return database_present(self.engine, "organisation") and database_present(self.audit.engine, "audit_entry")


def open_organisation(config_path: Path, passphrase: str) -> Organisation:
    config = load(config_path)
    ref = effective_referential(config, loader.get(config.referential))
    keydir = Path(config.keyring_path)
    ring = load_keyring(open_keystore(keydir, passphrase), keydir)
    _, seal_key = ring.key(KeyFamily.AUDIT_SEAL)
    audit = AuditTrail(
        make_engine(config.audit_database_url),
        seal_key,
        anchor=audit_anchor_path(config_path, config),
        witness=SyslogWitness(config.audit_syslog) if config.audit_syslog else None,
    )
    if database_present(audit.engine, "audit_head"):  # with only the configuration and keyring, create nothing
        audit.initialise()  # a new trail's first entry; a trail in use (or tampered with) is left as it is
    return Organisation(config_path, config, ref, ring, make_engine(config.database_url), audit)


def audit_anchor_path(config_path: Path, config: OrganisationConfig) -> Path:
    """The audit trail's anchor file: as configured (relative to the configuration file), else beside it."""
    configured = Path(config.audit_anchor_path) if config.audit_anchor_path else Path(ANCHOR_NAME)
    return (config_path.resolve().parent / configured).resolve()  # an absolute path stays as it is


def audit_tracer(org: Organisation) -> Tracer:
    """Identity events into the organisation's audit trail: references and outcomes only, never a secret."""

    def trace(action: str, outcome: str, *, actor: str, source: str, rule: str, detail: str = "") -> None:
        org.audit.append(
            AuditEvent(
                actor=actor,
                profile="",
                operation=f"identity.{action}",
                resource_type="Account",
                resource_id=detail,
                purpose="access_control",
                allowed=outcome == "success",
                rule=rule,
                section="",
                outcome=outcome,
                source=source,
                referential=org.referential.id,
            )
        )

    return trace


def identity_settings(config: OrganisationConfig) -> IdentitySettings:
    """The organisation's access settings (config ``access``) as the identity package takes them."""
    return IdentitySettings(
        idle_limits={name: timedelta(minutes=m) for name, m in config.access.idle_minutes.items()},
        session_lifetime=timedelta(hours=config.access.session_hours),
        charter_version=config.access.charter_version,
        training_months=config.access.training_months,
    )


def identity_context(org: Organisation) -> IdentityContext:
    return IdentityContext(org.engine, org.referential, org.keyring, audit_tracer(org), identity_settings(org.config))
