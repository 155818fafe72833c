"""Database engines and migrations: SQLite (WAL) by default, PostgreSQL (psycopg 3) by URL."""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from santegarde.errors import SantegardeError
from santegarde.private import private_sqlite

if TYPE_CHECKING:
    from alembic.config import Config


class DatabaseUrlError(SantegardeError, ValueError):
    pass


def normalise_url(url: str) -> str:
    """Accept postgres:// and postgresql:// URLs and make them use psycopg 3."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseUrlError(
            f"'{url}' is not a database URL; use sqlite:///path/to/file.db or postgresql://user@host/db"
        ) from exc
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise DatabaseUrlError(f"santegarde runs on SQLite or PostgreSQL, not on '{parsed.get_backend_name()}'")
    return parsed.render_as_string(hide_password=False)


class _NoRows(logging.Filter):
    """SQLAlchemy logs each row it fetches when its logger is at DEBUG: rows hold identifiers, free text and
    ciphertext, so those records are dropped (statements and timings stay, for an operator who debugs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith("Row "))


# Installed once, on the logger every engine's statements go to (an engine's logging_name would make a child of it).
logging.getLogger("sqlalchemy.engine.Engine").addFilter(_NoRows())


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # FULL: a commit is on disk when it returns (NORMAL in WAL mode may roll back the last commits after a power
    # loss, while the audit anchor written after commit already counts them).
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url``; a SQLite database file (and its -wal/-shm) is owner-only (0600).

    Statement parameters are never written into a log line or an error message (``hide_parameters``): they carry
    what the records and the identity tables hold."""
    engine = create_engine(normalise_url(url), future=True, hide_parameters=True)
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        if database and database != ":memory:" and not database.startswith("file:"):
            path = Path(database)

            def owner_only(*_: object) -> None:
                private_sqlite(path)  # just before SQLite opens (and perhaps creates) the file: never a 0644 window

            if path.exists():
                private_sqlite(path)  # an existing file is tightened at once
            event.listen(engine, "do_connect", owner_only)
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def alembic_config(engine: Engine, package: str = "santegarde.store") -> Config:
    """Alembic configuration for the migrations shipped in ``package``/migrations."""
    from alembic.config import Config  # Alembic (a quarter of a second) only for commands that migrate

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files(package) / "migrations"))
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine, revision: str = "head", package: str = "santegarde.store") -> None:
    """Bring the schema of ``package`` (the records by default, or santegarde.audit) to ``revision``."""
    from alembic import command

    command.upgrade(alembic_config(engine, package), revision)


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())
