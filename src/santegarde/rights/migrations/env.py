"""Alembic environment of the data-subject rights register (its own version table in the records database)."""

from alembic import context

from santegarde.rights.tables import metadata

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=metadata, version_table="rights_alembic_version")
    with context.begin_transaction():
        context.run_migrations()
