"""Owner-only files and directories: what santegarde creates is readable by the account that runs it, no other.

The entry points (the ``santegarde`` command, ``serve``, the demo) set the process umask to 077;
the places that create the organisation's folder, keyring, databases, backups and documents also
set owner-only modes explicitly, since a library caller may not go through those entry points.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

OWNER_ONLY_UMASK = 0o077
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def owner_only_umask() -> None:
    """From now on, this process creates files 0600 and directories 0700 unless told otherwise."""
    os.umask(OWNER_ONLY_UMASK)


def private_directory(path: Path) -> Path:
    """Create ``path`` (and its missing parents) owner-only; an existing ``path`` is made owner-only too.

    Parents that already exist are left as they are: they may be the user's own folders.
    """
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for directory in reversed(missing):
        directory.mkdir(mode=PRIVATE_DIR, exist_ok=True)
        os.chmod(directory, PRIVATE_DIR)
    os.chmod(path, PRIVATE_DIR)
    return path


def missing_parents(path: Path) -> None:
    """Create the missing parents of the file ``path`` owner-only (existing ones are left as they are)."""
    if not path.parent.exists():
        private_directory(path.parent)


def private_sqlite(path: Path) -> None:
    """Create the SQLite database file ``path`` owner-only before SQLite opens it, and tighten its companions.

    SQLite creates the -wal, -shm and -journal files with the database file's permissions. A missing
    folder is left missing (SQLite refuses to open the database, as it always did); files of another
    account are left as they are.
    """
    if not path.parent.is_dir():
        return
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    for suffix in SQLITE_COMPANIONS:
        companion = path.with_name(path.name + suffix)
        if companion.exists() and companion.stat().st_uid == os.getuid():
            os.chmod(companion, PRIVATE_FILE)
