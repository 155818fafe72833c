"""DuckDB with encrypted databases: the signed httpfs extension (AES through OpenSSL) loaded from the pinned wheel.

DuckDB 1.4 writes encrypted database files only once httpfs is loaded. The extension comes from the
``duckdb-ext-httpfs`` wheel matching ``duckdb.__version__``; it is signed, and unsigned extensions stay
disallowed. Nothing is ever downloaded: automatic install and load of extensions are switched off.
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path

import duckdb

from santegarde.errors import SantegardeError
from santegarde.warehouse import hmac_kernel

EXTENSION = "httpfs.duckdb_extension"


class WarehouseEngineError(SantegardeError):
    """DuckDB cannot give the warehouse what it needs (the encryption extension, an encrypted file)."""


def platform_name() -> str:
    """DuckDB's own name of this platform (e.g. ``linux_amd64``), as used in extension directories."""
    row = duckdb.connect().execute("PRAGMA platform").fetchone()
    return str(row[0]) if row else ""


def extension_path() -> Path:
    """The signed httpfs extension shipped by ``duckdb-ext-httpfs`` for this DuckDB version and platform."""
    relative = Path("extensions", f"v{duckdb.__version__}", platform_name(), EXTENSION)
    try:
        candidate = importlib.resources.files("duckdb_ext")
        for part in relative.parts:  # one part at a time: namespace packages take a single argument
            candidate = candidate.joinpath(part)
        if candidate.is_file():
            return Path(str(candidate))
    except (ModuleNotFoundError, TypeError, ValueError):
        pass
    raise WarehouseEngineError(
        f"The DuckDB encryption extension {relative.as_posix()} is missing: install "
        f"duckdb-ext-httpfs matching duckdb {duckdb.__version__} in this environment before opening a warehouse."
    )


def connect(spill: Path | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection able to read and write encrypted database files, with ``sg_hmac``; what
    exceeds its memory limit (its temporary tables included) spills, encrypted, into ``spill`` (DuckDB's default
    is ``.tmp`` in the working directory, and it cannot be changed once used)."""
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    path = extension_path()
    try:
        con.execute(f"LOAD '{_quoted(str(path))}'")
        con.execute("SET temp_file_encryption = true")
        if spill is not None:
            con.execute(f"SET temp_directory = '{_quoted(str(spill))}'")
        hmac_kernel.register(con)
    except duckdb.Error as exc:
        con.close()
        raise WarehouseEngineError(
            f"DuckDB refused to load the encryption extension {path.name}: {exc}. Reinstall duckdb-ext-httpfs."
        ) from None
    return con


def _create_encrypted(con: duckdb.DuckDBPyConnection, path: Path, key: bytes) -> None:
    """Create an empty encrypted database file at ``path`` all at once: written under a temporary name, then
    renamed, so a process killed while DuckDB writes its first blocks leaves no half-made file behind."""
    scratch = path.with_name(f".{path.name}.creating")
    for leftover in (scratch, scratch.with_name(scratch.name + ".wal")):
        leftover.unlink(missing_ok=True)  # from a creation killed earlier
    con.execute(f"ATTACH '{_quoted(str(scratch))}' AS sg_creating (ENCRYPTION_KEY '{key.hex()}')")
    con.execute("DETACH sg_creating")
    os.replace(scratch, path)


def attach_encrypted(con: duckdb.DuckDBPyConnection, path: Path, alias: str, key: bytes) -> None:
    """Attach an encrypted database file (created if absent) under ``alias``; a wrong key is refused."""
    statement = f"ATTACH '{_quoted(str(path))}' AS {alias} (ENCRYPTION_KEY '{key.hex()}')"
    try:
        if not path.exists():
            _create_encrypted(con, path, key)
        con.execute(statement)
    except duckdb.Error as exc:
        reason = "the key is not this database's key" if "encryption key" in str(exc).lower() else type(exc).__name__
        raise WarehouseEngineError(
            f"The encrypted database {path.name} cannot be opened ({reason}); open it with the keyring it was "
            "created with."
        ) from None


def detach(con: duckdb.DuckDBPyConnection, alias: str) -> None:
    """Detach a database attached under ``alias`` (its file is closed)."""
    con.execute(f"DETACH {alias}")


def _quoted(text: str) -> str:
    return text.replace("'", "''")
