"""Schema upgrades that keep the data: every store's migrations, in order, after a verified backup.

Each package with tables has its own Alembic history and version table (``organisation.SCHEMAS``); an
installation of a newer santegarde finds some of them behind the code. ``upgrade`` writes an encrypted backup
of both databases, verifies it (decrypted, restored into a scratch store, hashes compared), and only then runs
the migrations; the upgrade is an entry of the audit trail. A server refuses to start on a schema older than its
code (``refuse_outdated``), with the sentence saying to run the upgrade.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from santegarde.audit.trail import AuditEvent
from santegarde.errors import WordedError
from santegarde.lifecycle.backup import create_backup, verify_backup
from santegarde.organisation import SCHEMAS, migrate_all
from santegarde.refusals import joined, sentences
from santegarde.runtime import Organisation
from santegarde.store.db import alembic_config

RULE = "COM-BAK-1"  # the upgrade is guarded by a verified backup


class UpgradeRefused(WordedError):
    """An upgrade that cannot run safely, or a server asked to start on an outdated schema."""


@dataclass(frozen=True)
class SchemaState:
    version_table: str
    package: str
    current: tuple[str, ...]
    head: tuple[str, ...]

    @property
    def behind(self) -> bool:
        return set(self.current) != set(self.head)


@dataclass(frozen=True)
class UpgradeResult:
    upgraded: tuple[SchemaState, ...]  # the schemas that were behind, with the revisions they had
    backup: Path | None  # the verified backup taken first (None: nothing to upgrade)


def schema_states(records: Engine, audit: Engine) -> list[SchemaState]:
    """Every schema's current revision(s) and the code's head(s)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    states = []
    for database, package, version_table in SCHEMAS:
        engine = records if database == "records" else audit
        heads = tuple(sorted(ScriptDirectory.from_config(alembic_config(engine, package)).get_heads()))
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"version_table": version_table})
            current = tuple(sorted(context.get_current_heads()))
        states.append(SchemaState(version_table, package, current, heads))
    return states


def outdated(records: Engine, audit: Engine) -> list[SchemaState]:
    return [state for state in schema_states(records, audit) if state.behind]


def refuse_outdated(org: Organisation, config: Path) -> None:
    """Refuse to serve an organisation whose schemas are older than the code."""
    behind = outdated(org.engine, org.audit.engine)
    if behind:
        names = ", ".join(state.package.removeprefix("santegarde.") for state in behind)
        raise UpgradeRefused(sentences("upgrade", "outdated", names=names, config=config))


def upgrade(org: Organisation, backup_directory: Path, *, by: str = "") -> UpgradeResult:
    """Back up and verify, then bring every schema to the code's head; nothing is migrated if the backup fails."""
    if not org.databases_present():
        raise UpgradeRefused(sentences("upgrade", "no_databases"))
    behind = outdated(org.engine, org.audit.engine)
    if not behind:
        return UpgradeResult((), None)
    path = create_backup(org, backup_directory, by=by)
    report = verify_backup(org, path, by=by)
    if not report.ok:
        raise UpgradeRefused(
            sentences("upgrade", "backup_unverified", name=path.name, problems=joined(report.problems))
        )
    migrate_all(org.engine, org.audit.engine)
    for state in behind:
        org.audit.append(
            AuditEvent(
                actor=by or "santegarde",
                profile="",
                operation="schema.upgrade",
                resource_type="Schema",
                resource_id=f"{state.version_table}:{','.join(state.current) or 'none'}->{','.join(state.head)}",
                purpose="security",
                allowed=True,
                rule=RULE,
                section="",
                outcome="success",
                source="admin",
                referential=org.referential.id,
            )
        )
    return UpgradeResult(tuple(behind), path)
