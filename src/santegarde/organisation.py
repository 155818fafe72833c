"""Setting up an organisation: configuration file, database and keyring location (COM-REF-2).

Everything is validated before anything is written: a refused configuration leaves no file, no
database and no directory behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from santegarde.config import CONFIG_NAME, ConfigurationRefused, Finding, OrganisationConfig, check, errors, save
from santegarde.config.io import parse, read_raw
from santegarde.errors import SantegardeError
from santegarde.private import private_directory
from santegarde.referentials import loader
from santegarde.referentials.model import Referential
from santegarde.store.db import make_engine, migrate, normalise_url
from santegarde.store.schema import organisation


class AlreadyInitialised(SantegardeError):
    pass


@dataclass(frozen=True, slots=True)
class InitResult:
    config_path: Path
    config: OrganisationConfig
    referential: Referential
    findings: list[Finding]


def parse_assignment(text: str) -> tuple[str, str | bool]:
    """``id=value`` from the command line; true/false become booleans."""
    if "=" not in text:
        raise SantegardeError(f"'{text}' is not of the form CHOICE=VALUE (e.g. dispensing_legal_basis=contract)")
    key, value = (part.strip() for part in text.split("=", 1))
    lowered = value.lower()
    return key, (lowered == "true") if lowered in ("true", "false") else value


def _audit_default(database_url: str, directory: Path) -> str:
    """The audit trail lives apart: its own SQLite file, or the same PostgreSQL server's database."""
    if database_url.startswith("sqlite"):
        return f"sqlite:///{directory / 'audit.db'}"
    return database_url


def build_config(
    directory: Path,
    profile: str,
    *,
    base: Path | None = None,
    database_url: str | None = None,
    audit_database_url: str | None = None,
    organisation_name: str | None = None,
    choices: dict[str, str | bool] | None = None,
    justifications: dict[str, str] | None = None,
) -> tuple[OrganisationConfig, Referential]:
    """Assemble the configuration from a base file and command-line values; validate, write nothing."""
    raw: dict[str, Any] = read_raw(base) if base else {}
    ref = loader.get(raw["referential"]) if "referential" in raw else loader.for_profile(profile)
    directory = directory.resolve()
    raw.setdefault("profile", profile)
    raw.setdefault("referential", ref.id)
    raw.setdefault(
        "organisation",
        {"name": organisation_name or directory.name, "controller": {"name": organisation_name or directory.name}},
    )
    if organisation_name:
        raw["organisation"]["name"] = organisation_name
    raw["database_url"] = normalise_url(
        database_url or raw.get("database_url") or f"sqlite:///{directory / 'santegarde.db'}"
    )
    raw["audit_database_url"] = normalise_url(
        audit_database_url or raw.get("audit_database_url") or _audit_default(raw["database_url"], directory)
    )
    raw.setdefault("keyring_path", str(directory / "keyring"))
    answers = raw.setdefault("choices", {})
    for key, value in (choices or {}).items():
        answers[key] = {"value": value}
    for key, text in (justifications or {}).items():
        answers.setdefault(key, {})["justification"] = text
    config = parse(raw, base or directory / CONFIG_NAME)
    return config, ref


# Every schema santegarde migrates, in order: (database, package, its Alembic version table).
SCHEMAS = (
    ("audit", "santegarde.audit", "audit_alembic_version"),
    ("records", "santegarde.store", "alembic_version"),
    ("records", "santegarde.identity", "identity_alembic_version"),
    ("records", "santegarde.governance", "governance_alembic_version"),
    ("records", "santegarde.rights", "rights_alembic_version"),
)


def migrate_all(records: Engine, audit: Engine, revisions: dict[str, str] | None = None) -> None:
    """Bring every schema to its head (or to the revision given per version table)."""
    for database, package, version_table in SCHEMAS:
        revision = (revisions or {}).get(version_table, "head")
        migrate(records if database == "records" else audit, revision, package=package)


def init_organisation(
    directory: Path, config: OrganisationConfig, ref: Referential, *, force: bool = False
) -> InitResult:
    """Create the configuration file, the database (migrated) and the keyring directory."""
    findings = check(config, ref)
    problems = errors(findings)
    if problems:
        raise ConfigurationRefused(problems)
    config_path = directory / CONFIG_NAME
    if config_path.exists() and not force:
        raise AlreadyInitialised(
            f"{config_path} already exists: this directory is already an organisation; "
            "use another directory, or --force to re-initialise it"
        )
    private_directory(directory)
    audit_engine = make_engine(config.audit_database_url)
    engine = make_engine(config.database_url)
    try:
        migrate_all(engine, audit_engine)
        with engine.begin() as conn:
            conn.execute(organisation.delete())
            conn.execute(
                organisation.insert().values(
                    name=config.organisation.name,
                    profile=config.profile,
                    referential=config.referential,
                    created_at=datetime.now(UTC),
                )
            )
    finally:
        engine.dispose()
        audit_engine.dispose()
    private_directory(Path(config.keyring_path))
    save(config, config_path)
    return InitResult(config_path, config, ref, findings)
