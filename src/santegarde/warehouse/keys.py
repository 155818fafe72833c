"""The warehouse's own keys, derived (HKDF-SHA256, one ``info`` each) from the organisation's keyring families.

Each key serves one store or one purpose (EDS-SEC-LOG-3, LOG-5, PSE-1): the pseudonym HMAC key, the
identity vault and mapping tables, the OMOP health data, the genetic and location data. The keyring
versions used are recorded when the warehouse is created so that a later rotation of a family never
changes existing pseudonyms or locks existing files.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from santegarde.crypto import KeyFamily, Keyring

PURPOSES: dict[str, KeyFamily] = {
    "pseudonym": KeyFamily.WAREHOUSE_PSEUDONYM,
    "mapping": KeyFamily.WAREHOUSE_MAPPING,
    "health": KeyFamily.HEALTH,
    "genetic_location": KeyFamily.GENETIC_LOCATION,
}


@dataclass(frozen=True, repr=False)
class WarehouseKeys:
    """The four warehouse keys, 32 bytes each; never printed (no repr)."""

    pseudonym: bytes
    mapping: bytes
    health: bytes
    genetic_location: bytes

    def __repr__(self) -> str:
        return "WarehouseKeys(<hidden>)"


def current_versions(keyring: Keyring) -> dict[str, int]:
    """The keyring version of each family the warehouse uses, to record at creation."""
    return {purpose: keyring.current_version(family) for purpose, family in PURPOSES.items()}


def derive(keyring: Keyring, versions: dict[str, int] | None = None, salt: bytes = b"") -> WarehouseKeys:
    """The warehouse keys from the keyring families (given versions, or the current ones)."""
    chosen = versions or current_versions(keyring)
    out = {}
    for purpose, family in PURPOSES.items():
        _, family_key = keyring.key(family, chosen[purpose])
        out[purpose] = hkdf(family_key, f"santegarde:warehouse:{purpose}:v1".encode(), salt)
    return WarehouseKeys(**out)


def hkdf(key: bytes, info: bytes, salt: bytes = b"") -> bytes:
    """32 bytes of HKDF-SHA256 output over ``key`` for ``info``."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt or None, info=info).derive(key)
