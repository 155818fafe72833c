"""Alembic environment of the governance registers (their own version table in the records database)."""

from alembic import context

from santegarde.governance.tables import metadata

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=metadata, version_table="governance_alembic_version")
    with context.begin_transaction():
        context.run_migrations()
