"""The organisation's keyring: one data key per family, versioned, wrapped by the master key.

Families follow ARCHITECTURE.md: identity and administrative data; health data; genetic and
location data; warehouse mapping tables; warehouse pseudonymisation; audit sealing. Rotation adds a
new version of a data key (old versions stay to decrypt older values) or re-wraps every data key
under a new master key; no data is lost either way.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from santegarde.atomic import write_atomic
from santegarde.crypto.keystore import (
    KeystoreError,
    MasterKey,
    ScryptParams,
    new_master_key,
    open_keystore,
    write_keystore,
)
from santegarde.faults import crash_point

KEYRING_NAME = "keyring.json"
PENDING_NAME = "keyring.next.json"


class KeyFamily(StrEnum):
    IDENTITY = "identity"
    HEALTH = "health"
    GENETIC_LOCATION = "genetic_location"
    WAREHOUSE_MAPPING = "warehouse_mapping"
    WAREHOUSE_PSEUDONYM = "warehouse_pseudonym"
    AUDIT_SEAL = "audit_seal"
    ARCHIVE = "archive"  # the intermediate archive, a separate store under its own key (COM-ARC-1)


def _context(family: KeyFamily, version: int) -> bytes:
    return f"santegarde:data-key:{family}:{version}".encode()


@dataclass
class Keyring:
    """Unwrapped data keys in memory; ``save`` writes them wrapped, never in clear."""

    master: MasterKey
    keys: dict[KeyFamily, dict[int, bytes]] = field(default_factory=dict)

    def current_version(self, family: KeyFamily) -> int:
        versions = self.keys.get(family)
        if not versions:
            raise KeystoreError("no_family_key", family=family)
        return max(versions)

    def key(self, family: KeyFamily, version: int | None = None) -> tuple[int, bytes]:
        """The data key of a family: the current version, or a given older one."""
        chosen = self.current_version(family) if version is None else version
        try:
            return chosen, self.keys[family][chosen]
        except KeyError:
            raise KeystoreError("no_key_version", version=chosen, family=family) from None

    def rotate(self, family: KeyFamily) -> int:
        """Add a new version of a family's data key; values under older versions stay readable."""
        version = self.current_version(family) + 1 if self.keys.get(family) else 1
        self.keys.setdefault(family, {})[version] = os.urandom(32)
        return version

    def save(self, directory: Path, name: str = KEYRING_NAME) -> None:
        document = {
            "version": 1,
            "master_key_id": self.master.key_id,
            "families": {
                family.value: {
                    str(v): base64.b64encode(self.master.wrap(k, _context(family, v))).decode("ascii")
                    for v, k in sorted(versions.items())
                }
                for family, versions in self.keys.items()
            },
        }
        write_atomic(directory / name, json.dumps(document, indent=2))


def create_keyring(master: MasterKey, directory: Path) -> Keyring:
    """A new keyring with a first data key for every family."""
    if (directory / KEYRING_NAME).exists():
        raise KeystoreError("keyring_exists", path=directory / KEYRING_NAME)
    ring = Keyring(master)
    for family in KeyFamily:
        ring.rotate(family)
    ring.save(directory)
    return ring


def load_keyring(master: MasterKey, directory: Path) -> Keyring:
    path = directory / KEYRING_NAME
    pending = directory / PENDING_NAME
    if pending.exists() and json.loads(pending.read_text(encoding="utf-8")).get("master_key_id") == master.key_id:
        os.replace(pending, path)  # finish a master-key rotation interrupted after the keystore was written
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise KeystoreError("no_keyring", path=path) from exc
    if document.get("master_key_id") != master.key_id:
        raise KeystoreError("other_master", path=path)
    ring = Keyring(master)
    for family_name, versions in document["families"].items():
        family = KeyFamily(family_name)
        ring.keys[family] = {
            int(v): master.unwrap(base64.b64decode(blob), _context(family, int(v))) for v, blob in versions.items()
        }
    return ring


def rotate_master_key(
    directory: Path, passphrase: str, new_passphrase: str, params: ScryptParams | None = None
) -> Keyring:
    """Re-wrap every data key under a master key from a new passphrase, without losing any key.

    The re-wrapped keyring is written aside first, then the keystore, then the keyring is swapped in;
    an interruption between the two leaves a state that ``load_keyring`` completes.
    """
    ring = load_keyring(open_keystore(directory, passphrase), directory)
    master, document = new_master_key(new_passphrase, params)
    ring.master = master
    ring.save(directory, PENDING_NAME)
    crash_point("keys.master.pending")
    write_keystore(directory, document)
    crash_point("keys.master.keystore")
    os.replace(directory / PENDING_NAME, directory / KEYRING_NAME)
    return ring
