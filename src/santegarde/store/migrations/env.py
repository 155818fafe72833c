"""Alembic environment: the engine is handed over by santegarde.store.db.migrate."""

from alembic import context

from santegarde.store.schema import metadata

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
