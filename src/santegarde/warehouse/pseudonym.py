"""Keyed pseudonyms (EDS-SEC-PSE-1..3): HMAC-SHA256 computed inside DuckDB, vectorised over whole columns.

The SQL is plain RFC 2104: ``H((K ^ opad) || H((K ^ ipad) || m))`` with the two padded keys passed as
BLOB parameters (``$sg_ipad``, ``$sg_opad``), never stored in a table nor in a variable.

A person's pseudonym is the HMAC of a *normalised identity*:
``person|FAMILY|GIVEN|YYYY-MM-DD`` where names are upper-cased, accents stripped (œ→OE, æ→AE, ß→SS),
every run of characters other than A-Z and 0-9 (spaces, hyphens, apostrophes) becomes one space, and
the result is trimmed; GIVEN is the first given name as recorded (all its words); the birth date is ISO
8601. The INS is kept in the identity vault but not hashed, so an objection given by name and birth
date alone finds the same pseudonym. Other namespaces (``professional|``, ``import|``, ``event|``) keep
pseudonyms of different kinds apart; data that arrives already pseudonymised is hashed again under the
warehouse key, so it gets a new pseudonym. OMOP ``person_id`` is the first 8 bytes of the pseudonym
read as a positive BIGINT: never a source's internal number.
"""

# ruff: noqa: S608 - SQL is assembled from the OMOP 5.4 spec constants only; values, keys and names go as $parameters

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from dataclasses import dataclass
from typing import Any

import duckdb

from santegarde.errors import SantegardeError

BLOCK = 64
LIGATURES = {"Œ": "OE", "Æ": "AE", "ß": "SS", "ẞ": "SS"}


@dataclass(frozen=True, repr=False)
class PseudonymKey:
    """A 32-byte HMAC key with its two padded forms, as SQL parameters."""

    key: bytes

    def __repr__(self) -> str:
        return "PseudonymKey(<hidden>)"

    def params(self, prefix: str = "sg") -> dict[str, Any]:
        """The named parameters ``$<prefix>_ipad`` and ``$<prefix>_opad`` used by :func:`hmac_sql`."""
        padded = self.key.ljust(BLOCK, b"\0")
        return {
            f"{prefix}_ipad": bytes(b ^ 0x36 for b in padded),
            f"{prefix}_opad": bytes(b ^ 0x5C for b in padded),
        }

    def hexdigest(self, message: str) -> str:
        """The reference HMAC-SHA256 (Python ``hmac``) of a text message, in lower-case hex."""
        return hmac.new(self.key, message.encode("utf-8"), hashlib.sha256).hexdigest()


def hmac_sql(message_sql: str, prefix: str = "sg") -> str:
    """SQL for the lower-case hex HMAC-SHA256 of a VARCHAR expression, keyed by ``$<prefix>_ipad/_opad``."""
    inner = f"unhex(sha256(${prefix}_ipad || encode({message_sql})))"
    return f"sha256(${prefix}_opad || {inner})"


def bigint_sql(hex_sql: str) -> str:
    """SQL for the positive BIGINT made of the first 8 bytes of a hex digest."""
    return f"((('0x' || substr({hex_sql}, 1, 16))::UBIGINT & 9223372036854775807::UBIGINT)::BIGINT)"


def id_sql(message_sql: str, prefix: str = "sg") -> str:
    """SQL for a warehouse BIGINT identifier derived from a message under the pseudonym key."""
    return bigint_sql(hmac_sql(message_sql, prefix))


def normalise_sql(text_sql: str) -> str:
    """SQL normalising a name as described in the module docstring."""
    upper = f"upper(strip_accents(coalesce({text_sql}, '')))"
    for ligature, plain in LIGATURES.items():
        upper = f"replace({upper}, '{ligature}', '{plain}')"
    return f"trim(regexp_replace({upper}, '[^A-Z0-9]+', ' ', 'g'))"


def identity_message_sql(family_sql: str, given_sql: str, birth_date_sql: str) -> str:
    """SQL for the normalised identity message of a person."""
    return (
        f"'person|' || {normalise_sql(family_sql)} || '|' || {normalise_sql(given_sql)} || '|' || "
        f"coalesce(strftime(TRY_CAST({birth_date_sql} AS DATE), '%Y-%m-%d'), '')"
    )


def normalise(text: str) -> str:
    """Python reference of :func:`normalise_sql` (used in tests and documentation)."""
    upper = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).upper()
    for ligature, plain in LIGATURES.items():
        upper = upper.replace(ligature, plain)
    return " ".join("".join(c if ("A" <= c <= "Z" or "0" <= c <= "9") else " " for c in upper).split())


def identity_message(family: str, given: str, birth_date: str) -> str:
    """Python reference of :func:`identity_message_sql`."""
    return f"person|{normalise(family)}|{normalise(given)}|{birth_date}"


def person_id_of(pseudonym: str) -> int:
    """The OMOP person_id of a pseudonym: its first 8 bytes as a positive BIGINT."""
    return int(pseudonym[:16], 16) & 0x7FFFFFFFFFFFFFFF


def pseudonyms(con: duckdb.DuckDBPyConnection, key: PseudonymKey, messages: list[str]) -> list[str]:
    """Pseudonyms of many messages in one vectorised query."""
    rows = con.execute(
        f"SELECT {hmac_sql('m')} FROM (SELECT unnest($ms) AS m, generate_subscripts($ms, 1) AS i) ORDER BY i",
        {"ms": messages, **key.params()},
    ).fetchall()
    return [str(r[0]) for r in rows]


def identity_pseudonym(con: duckdb.DuckDBPyConnection, key: PseudonymKey, identity: dict[str, str]) -> str:
    """The pseudonym of one identity (``family``, ``given``, ``birthdate``), through the same SQL as feeds."""
    missing = [k for k in ("family", "given", "birthdate") if not str(identity.get(k) or "").strip()]
    if missing:
        raise IdentityIncomplete(missing)
    row = con.execute(
        f"SELECT {hmac_sql(identity_message_sql('$f', '$g', '$b'))}",
        {"f": identity["family"], "g": identity["given"], "b": identity["birthdate"], **key.params()},
    ).fetchone()
    if row is None or row[0] is None:
        raise IdentityIncomplete(["birthdate"])
    return str(row[0])


class IdentityIncomplete(SantegardeError, ValueError):
    """An identity lacks a part the pseudonym needs."""

    def __init__(self, missing: list[str]) -> None:
        super().__init__(
            f"The identity lacks {', '.join(missing)}: a pseudonym needs the family name, the first given name "
            "and the birth date (YYYY-MM-DD)."
        )
