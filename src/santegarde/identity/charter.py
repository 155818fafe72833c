"""The confidentiality charter and logging notice accepted at first login (COM-LOG-1, EDS-SEC-SEN-2).

Charters are versioned files shipped with santegarde (``identity/charters/<version>.md``); a new
version in the settings makes everyone accept it again before anything else.
"""

from __future__ import annotations

from importlib import resources

from santegarde.identity.errors import IdentityError


def charter_text(version: str) -> str:
    entry = resources.files("santegarde.identity") / "charters" / f"{version}.md"
    if not entry.is_file():
        raise IdentityError(f"There is no charter version '{version}'; shipped versions are in identity/charters/.")
    return entry.read_text(encoding="utf-8")
