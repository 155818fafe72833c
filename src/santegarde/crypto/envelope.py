"""Field encryption: AES-256-GCM under a family's data key, bound to its record, field and key version.

A token is ``b"SG1" | family code | key version (4 bytes) | nonce (12) | ciphertext + tag``. The
associated data binds the value to the record and field it belongs to and to the key that sealed
it, so a value copied into another record or field, or re-labelled with another key version, fails
to decrypt instead of being read in the wrong place.
"""

from __future__ import annotations

import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from santegarde.crypto.keyring import KeyFamily, Keyring
from santegarde.crypto.keystore import KeystoreError

MAGIC = b"SG1"
_CODES = {family: i for i, family in enumerate(KeyFamily)}
_FAMILIES = {i: family for family, i in _CODES.items()}
_HEADER = struct.Struct(">3sBI")


class DecryptionRefused(KeystoreError):
    """A value cannot be decrypted here: wrong record or field, altered, or its key destroyed."""


def _aad(family: KeyFamily, version: int, record: str, field: str) -> bytes:
    return f"{family}|{version}|{record}|{field}".encode()


def encrypt(ring: Keyring, family: KeyFamily, plaintext: bytes, *, record: str, field: str) -> bytes:
    version, key = ring.key(family)
    nonce = os.urandom(12)
    header = _HEADER.pack(MAGIC, _CODES[family], version)
    return header + nonce + AESGCM(key).encrypt(nonce, plaintext, _aad(family, version, record, field))


def token_family(token: bytes) -> tuple[KeyFamily, int]:
    magic, code, version = _HEADER.unpack_from(token)
    if magic != MAGIC or code not in _FAMILIES:
        raise DecryptionRefused("not_a_token")
    return _FAMILIES[code], version


def decrypt(ring: Keyring, token: bytes, *, record: str, field: str) -> bytes:
    family, version = token_family(token)
    _, key = ring.key(family, version)
    nonce = token[_HEADER.size : _HEADER.size + 12]
    try:
        return AESGCM(key).decrypt(nonce, token[_HEADER.size + 12 :], _aad(family, version, record, field))
    except InvalidTag as exc:
        raise DecryptionRefused("field_elsewhere", field=field) from exc
