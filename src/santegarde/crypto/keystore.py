"""The master key: derived from a passphrase (scrypt) and kept in a file keystore.

The master key never leaves memory and never encrypts data itself: it wraps the data keys
(``keyring.py``). The keystore file holds only the KDF salt and parameters and a verifier, so a
wrong passphrase is recognised without revealing anything. An external KMS (e.g. HashiCorp
Vault transit) plugs in through the ``MasterKey`` protocol.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from santegarde.atomic import write_atomic
from santegarde.errors import WordedError
from santegarde.private import private_directory
from santegarde.refusals import sentences

KEYSTORE_NAME = "keystore.json"
MIN_PASSPHRASE = 12
PLACEHOLDERS = frozenset({"changeme", "change-me", "password", "passphrase", "secret", "santegarde", "demo", "test"})
_VERIFIER = b"santegarde master key verifier v1"


class KeystoreError(WordedError):
    """The keystore is missing, unreadable, or the passphrase is wrong or unacceptable (worded in fr and en)."""

    def __init__(self, key: str, /, **facts: Any) -> None:
        super().__init__(sentences("keystore", key, **facts))


class MasterKey(Protocol):
    @property
    def key_id(self) -> str: ...

    def wrap(self, key: bytes, context: bytes) -> bytes: ...

    def unwrap(self, blob: bytes, context: bytes) -> bytes: ...


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"))


def seal(key: bytes, plaintext: bytes, context: bytes) -> bytes:
    """AES-256-GCM: a fresh 96-bit nonce, then ciphertext and tag; ``context`` is authenticated."""
    nonce = os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, context)


def open_sealed(key: bytes, blob: bytes, context: bytes) -> bytes:
    return AESGCM(key).decrypt(blob[:12], blob[12:], context)


def check_passphrase(passphrase: str) -> None:
    """Refuse an empty, short or placeholder passphrase (settings fail closed)."""
    if not passphrase or not passphrase.strip():
        raise KeystoreError("no_passphrase", env="SANTEGARDE_PASSPHRASE")
    if passphrase.strip().lower() in PLACEHOLDERS:
        raise KeystoreError("placeholder")
    if len(passphrase) < MIN_PASSPHRASE:
        raise KeystoreError("too_short", count=len(passphrase), minimum=MIN_PASSPHRASE)


@dataclass(frozen=True)
class PassphraseMasterKey:
    """A master key derived from a passphrase with scrypt; ``key_id`` names the derivation."""

    key: bytes
    key_id: str

    def wrap(self, key: bytes, context: bytes) -> bytes:
        return seal(self.key, key, context)

    def unwrap(self, blob: bytes, context: bytes) -> bytes:
        try:
            return open_sealed(self.key, blob, context)
        except InvalidTag as exc:
            raise KeystoreError("unwrap") from exc


@dataclass(frozen=True)
class ScryptParams:
    n: int = 2**15
    r: int = 8
    p: int = 1

    def derive(self, passphrase: str, salt: bytes) -> bytes:
        return Scrypt(salt=salt, length=32, n=self.n, r=self.r, p=self.p).derive(passphrase.encode("utf-8"))


def create_keystore(directory: Path, passphrase: str, params: ScryptParams | None = None) -> PassphraseMasterKey:
    """Create the keystore file in ``directory``; refuses to overwrite an existing one."""
    check_passphrase(passphrase)
    path = directory / KEYSTORE_NAME
    if path.exists():
        raise KeystoreError("keystore_exists", path=path)
    master, document = new_master_key(passphrase, params)
    write_keystore(directory, document)
    return master


def new_master_key(passphrase: str, params: ScryptParams | None = None) -> tuple[PassphraseMasterKey, dict[str, Any]]:
    """Derive a new master key and the keystore document that describes it (nothing written)."""
    check_passphrase(passphrase)
    params = params or ScryptParams()
    salt = os.urandom(16)
    key = params.derive(passphrase, salt)
    key_id = _b64(os.urandom(9))
    document = {
        "version": 1,
        "kdf": "scrypt",
        "n": params.n,
        "r": params.r,
        "p": params.p,
        "salt": _b64(salt),
        "key_id": key_id,
        "verifier": _b64(seal(key, _VERIFIER, key_id.encode())),
    }
    return PassphraseMasterKey(key, key_id), document


def write_keystore(directory: Path, document: dict[str, Any]) -> None:
    private_directory(directory)
    write_atomic(directory / KEYSTORE_NAME, json.dumps(document, indent=2))


def open_keystore(directory: Path, passphrase: str) -> PassphraseMasterKey:
    """Derive the master key and check it against the verifier; a wrong passphrase is refused."""
    path = directory / KEYSTORE_NAME
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise KeystoreError("no_keystore", path=path) from exc
    except (OSError, ValueError) as exc:
        raise KeystoreError("unreadable_keystore", path=path, why=exc) from exc
    check_passphrase(passphrase)
    params = ScryptParams(document["n"], document["r"], document["p"])
    key = params.derive(passphrase, _unb64(document["salt"]))
    try:
        open_sealed(key, _unb64(document["verifier"]), document["key_id"].encode())
    except InvalidTag as exc:
        raise KeystoreError("wrong_passphrase") from exc
    return PassphraseMasterKey(key, document["key_id"])
