"""Atomic file writes: a reader sees the old content or the new, never half of it; new files never overwrite.

Files are owner-only (0600) unless a mode is given; missing parent directories are created owner-only.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from santegarde import refusals
from santegarde.errors import WordedError
from santegarde.private import PRIVATE_FILE, missing_parents


def write_atomic(path: Path, text: str, mode: int = PRIVATE_FILE) -> None:
    """Write ``text`` to ``path`` through a temporary file, fsync and rename, with ``mode`` permissions."""
    missing_parents(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class AlreadyExists(WordedError):
    """A new file was to be written where a file already exists; it is never overwritten.

    Worded in French (the default) and English from the catalogue (``data/refusals.yaml``, ``files``)."""

    def __init__(self, path: Path) -> None:
        super().__init__(refusals.sentences("files", "already_exists", path=path))
        self.path = path


def write_new_bytes(path: Path, data: bytes, mode: int = PRIVATE_FILE) -> None:
    """Write ``data`` to a new file ``path`` atomically (temporary file, fsync, link); never over an existing file."""
    missing_parents(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.link(tmp, path)  # fails if path exists, unlike a rename
    except FileExistsError:
        raise AlreadyExists(path) from None
    finally:
        Path(tmp).unlink(missing_ok=True)
