"""Alembic environment of the audit database (its own version table, apart from the records')."""

from alembic import context

from santegarde.audit.tables import metadata

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=metadata, version_table="audit_alembic_version")
    with context.begin_transaction():
        context.run_migrations()
