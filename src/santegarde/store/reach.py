"""Whether a database answers, and the free space beside a SQLite file: what readiness and ``doctor`` both check."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

# Below this, the audit trail's disk is about to refuse appends, and with them every access to a record.
MIN_FREE_BYTES = 256 * 1024 * 1024


def reachable(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except SQLAlchemyError:
        return False


def free_bytes(engine: Engine) -> int | None:
    """Free space where a SQLite database lives (None for a server database, whose disk is its operator's)."""
    if engine.dialect.name != "sqlite" or not engine.url.database or engine.url.database == ":memory:":
        return None
    return shutil.disk_usage(Path(engine.url.database).resolve().parent).free
