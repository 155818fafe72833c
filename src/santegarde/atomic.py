"""Atomic file writes: a reader sees the old content or the new, never half of it; new files never overwrite."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from santegarde.errors import SantegardeError


def write_atomic(path: Path, text: str, mode: int = 0o600) -> None:
    """Write ``text`` to ``path`` through a temporary file, fsync and rename, with ``mode`` permissions."""
    path.parent.mkdir(parents=True, exist_ok=True)
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


class AlreadyExists(SantegardeError):
    """A new file was to be written where a file already exists; it is never overwritten."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path} already exists and is never overwritten; choose another name.")
        self.path = path


def write_new_bytes(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to a new file ``path`` atomically (temporary file, fsync, link); never over an existing file."""
    path.parent.mkdir(parents=True, exist_ok=True)
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
