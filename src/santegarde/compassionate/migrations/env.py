"""Alembic environment of the compassionate-access case index (its own version table in the records database)."""

from alembic import context

from santegarde.compassionate.tables import metadata

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=metadata, version_table="compassionate_alembic_version")
    with context.begin_transaction():
        context.run_migrations()
