"""Keyed pseudonyms (EDS-SEC-PSE-1..3): HMAC-SHA256 vectorised over whole columns, in SQL or over Arrow.

The HMAC is RFC 2104 computed by :mod:`santegarde.warehouse.hmac_kernel` (OpenSSL's SHA-256 block function
called from a compiled loop over Arrow buffers). In SQL it is the function ``sg_hmac`` registered on every
warehouse connection, with the key's two padded-key states passed as BLOB parameters (``$sg_istate``,
``$sg_ostate``), never stored in a table nor in a variable. :func:`pseudonyms` computes a whole column
outside SQL on every core.

A person's pseudonym is the HMAC of a *normalised identity*:
``person|FAMILY|GIVEN|YYYY-MM-DD`` where names are upper-cased, accents stripped (œ→OE, æ→AE, ß→SS),
every run of characters other than A-Z and 0-9 (spaces, hyphens, apostrophes) becomes one space, and
the result is trimmed; GIVEN is the first given name as recorded (all its words); the birth date is ISO
8601. The INS is kept in the identity vault but not hashed, so an objection given by name and birth
date alone finds the same pseudonym. Which person an incoming record *is* is decided by identity matching
(:mod:`santegarde.warehouse.matching`: INS, then Fellegi–Sunter over the identity traits), not by this hash:
a homonym who is another person gets the hash of the identity and of its source record instead.
Other namespaces (``professional|``, ``import|``, ``event|``) keep pseudonyms of different kinds apart; data
that arrives already pseudonymised is hashed again under the warehouse key, so it gets a new pseudonym.
OMOP ``person_id`` is the first 8 bytes of the pseudonym read as a positive BIGINT: never a source's internal
number.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import duckdb
import pyarrow as pa

from santegarde.errors import SantegardeError
from santegarde.warehouse import hmac_kernel

LIGATURES = {"Œ": "OE", "Æ": "AE", "ß": "SS", "ẞ": "SS"}


@dataclass(frozen=True, repr=False)
class PseudonymKey:
    """A 32-byte HMAC key with its two padded-key states, as SQL parameters."""

    key: bytes

    def __repr__(self) -> str:
        return "PseudonymKey(<hidden>)"

    @cached_property
    def states(self) -> tuple[bytes, bytes]:
        """The inner and outer states of the key (:func:`santegarde.warehouse.hmac_kernel.key_states`)."""
        return hmac_kernel.key_states(self.key)

    def params(self, prefix: str = "sg") -> dict[str, Any]:
        """The named parameters ``$<prefix>_istate`` and ``$<prefix>_ostate`` used by :func:`hmac_sql`."""
        inner, outer = self.states
        return {f"{prefix}_istate": inner, f"{prefix}_ostate": outer}

    def hexdigest(self, message: str) -> str:
        """The reference HMAC-SHA256 (Python ``hmac``) of a text message, in lower-case hex."""
        return hmac.new(self.key, message.encode("utf-8"), hashlib.sha256).hexdigest()


def hmac_sql(message_sql: str, prefix: str = "sg") -> str:
    """SQL for the lower-case hex HMAC-SHA256 of a VARCHAR expression, keyed by ``$<prefix>_istate/_ostate``."""
    return f"{hmac_kernel.FUNCTION}(${prefix}_istate, ${prefix}_ostate, {message_sql})"


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


def pseudonyms(
    key: PseudonymKey, messages: pa.Array | pa.ChunkedArray | Sequence[str], threads: int | None = None
) -> pa.ChunkedArray:
    """The hex pseudonyms of a whole column of messages, on ``threads`` cores (default: every core)."""
    column = messages if isinstance(messages, pa.Array | pa.ChunkedArray) else pa.array(messages, pa.string())
    return hmac_kernel.hmac_hex_parallel(column, *key.states, threads=threads or os.cpu_count() or 1)


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
