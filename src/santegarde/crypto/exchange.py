"""Secure exchange (COM-EXC-1): a document encrypted for a verified recipient, its secret sent apart.

The sender names the recipient by RPPS number or secure health messaging (MSSanté) address, seals
the document under a one-time secret and sends the envelope by ordinary e-mail; the secret goes by
another channel (phone, SMS, in person). No database is involved.

Secret: 20 characters of Crockford's base-32 alphabet (no I, L, O, U; 100 bits from :mod:`secrets`),
shown in groups of four (``7KQ2-…``). Reading it back ignores case, spaces and hyphens and takes
O for 0 and I or L for 1.

Envelope format (version 1), all integers big-endian::

    b"SGX1" | header length (4 bytes) | header (UTF-8 JSON) | AES-256-GCM ciphertext + 16-byte tag

The header holds ``version`` (1), ``recipient`` (``{"kind": "rpps"|"mssante", "value": …}``),
``filename`` (a base name), ``cipher`` ("AES-256-GCM"), ``nonce`` (96 bits, base64), ``kdf``
(``{"name": "scrypt", "salt": base64 of 16 random bytes, "n": 32768, "r": 8, "p": 1, "length": 64}``),
``key_check`` (base64 of the first 16 bytes of SHA-256 of the second half of the scrypt output) and
``created_at`` (UTC, ISO 8601). It holds no secret and no content. Scrypt turns the normalised secret
into 64 bytes: the first 32 are the AES-256 key, the last 32 only feed ``key_check``, which tells a
wrong secret from an altered envelope. The associated data of the encryption is the exact header
bytes, so the version, the recipient and the file name (and every other header field) are bound to
the content: changing any of them makes the envelope refuse to open.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, cast

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from santegarde.errors import SantegardeError
from santegarde.identifiers import InvalidIdentifier, validate_rpps

MAGIC = b"SGX1"
VERSION = 1
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base 32: 5 bits a character
SECRET_LENGTH = 20
GROUP = 4
SCRYPT_N, SCRYPT_R, SCRYPT_P, KEY_MATERIAL = 2**15, 8, 1, 64
KDF: dict[str, object] = {"name": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P, "length": KEY_MATERIAL}
SALT_BYTES = 16
NONCE_BYTES = 12
MAX_HEADER = 64 * 1024
_LENGTH = struct.Struct(">I")
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_EMAIL = re.compile(r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@([a-z0-9-]+\.)+mssante\.fr")

ACCEPTED = (
    "Give the recipient's RPPS number (11 digits) or secure health messaging address ending in .mssante.fr: "
    "an ordinary e-mail address is not a verified recipient."
)
NOT_ENVELOPE = "This file is not a santegarde exchange envelope (it does not start with SGX1); check the file received."
TAMPERED = (
    "The envelope is damaged or has been altered since it was sealed, so it is not opened; "
    "ask the sender to send it again."
)
REFUSED_CODE = (
    "The secret does not open this envelope; check it is the one received for this envelope, "
    "typed as received, or ask the sender for it again."
)
SECRET_SHAPE = (
    f"A secret has {SECRET_LENGTH} letters and digits, shown in groups of {GROUP} separated by hyphens; "
    "check it was typed as received."
)
OTHER_RECIPIENT = (
    "This envelope is addressed to another recipient than the one given, so it is not opened; "
    "check the recipient or ask the sender."
)


class ExchangeError(SantegardeError):
    """A secure exchange refused: unverified recipient, wrong secret, altered or foreign file."""


@dataclass(frozen=True)
class Recipient:
    """A verified recipient: an RPPS number or an MSSanté address (lower-cased)."""

    kind: Literal["rpps", "mssante"]
    value: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


@dataclass(frozen=True)
class Opened:
    """An opened envelope: the document, its file name, its recipient and when it was sealed."""

    document: bytes
    filename: str
    recipient: Recipient
    created_at: datetime


def parse_recipient(text: str) -> Recipient:
    """The recipient named by ``text`` (RPPS number or ``….mssante.fr`` address), or :class:`ExchangeError`."""
    value = text.strip()
    if "@" in value:
        address = value.lower()
        if _EMAIL.fullmatch(address) is None:
            raise ExchangeError(ACCEPTED)
        return Recipient("mssante", address)
    compact = "".join(value.split())
    if compact.isdigit() and compact.isascii():
        try:
            return Recipient("rpps", validate_rpps(compact))
        except InvalidIdentifier as exc:
            raise ExchangeError(f"{exc.message} {ACCEPTED}") from None
    raise ExchangeError(ACCEPTED)


def new_secret() -> str:
    """A one-time secret: 20 characters (100 bits) in groups of four, e.g. ``7KQ2-M9XD-…``."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(SECRET_LENGTH))
    return "-".join(raw[i : i + GROUP] for i in range(0, SECRET_LENGTH, GROUP))


def normalise_secret(secret: str) -> str:
    """The secret as 20 upper-case characters, ignoring case, spaces, hyphens and look-alike letters."""
    raw = "".join(secret.split()).replace("-", "").upper().translate(_LOOKALIKES)
    if len(raw) != SECRET_LENGTH or any(c not in ALPHABET for c in raw):
        raise ExchangeError(SECRET_SHAPE)
    return raw


def _derive(secret: str, salt: bytes) -> tuple[bytes, bytes]:
    """The AES-256 key and the key-check value of a normalised secret."""
    material = Scrypt(salt=salt, length=KEY_MATERIAL, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P).derive(secret.encode("ascii"))
    return material[:32], hashlib.sha256(material[32:]).digest()[:16]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def safe_filename(filename: str) -> str:
    """``filename`` if it is a plain base name (no directory, no ``..``, at most 255 characters), else ``""``."""
    bad = not filename or filename in {".", ".."} or any(c in filename for c in "/\\\0") or len(filename) > 255
    return "" if bad else filename


def _check_filename(filename: str) -> str:
    """A plain base name, or :class:`ExchangeError`."""
    if not safe_filename(filename):
        raise ExchangeError("The file name must be a plain name without directories, of at most 255 characters.")
    return filename


def seal(document: bytes, recipient: Recipient, *, filename: str) -> tuple[bytes, str]:
    """The envelope of ``document`` for ``recipient`` and the one-time secret that opens it."""
    name = _check_filename(filename)
    secret = new_secret()
    salt, nonce = os.urandom(SALT_BYTES), os.urandom(NONCE_BYTES)
    key, check = _derive(normalise_secret(secret), salt)
    header = {
        "version": VERSION,
        "recipient": {"kind": recipient.kind, "value": recipient.value},
        "filename": name,
        "cipher": "AES-256-GCM",
        "nonce": _b64(nonce),
        "kdf": {**KDF, "salt": _b64(salt)},
        "key_check": _b64(check),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    header_bytes = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    ciphertext = AESGCM(key).encrypt(nonce, document, header_bytes)
    return MAGIC + _LENGTH.pack(len(header_bytes)) + header_bytes + ciphertext, secret


def _split(envelope: bytes) -> tuple[bytes, dict[str, Any], bytes]:
    """The header bytes, the parsed header and the ciphertext of an envelope."""
    if not envelope.startswith(MAGIC):
        raise ExchangeError(NOT_ENVELOPE)
    start = len(MAGIC) + _LENGTH.size
    if len(envelope) < start:
        raise ExchangeError(TAMPERED)
    (length,) = _LENGTH.unpack_from(envelope, len(MAGIC))
    if length > MAX_HEADER or len(envelope) < start + length:
        raise ExchangeError(TAMPERED)
    header_bytes = envelope[start : start + length]
    try:
        header = json.loads(header_bytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ExchangeError(TAMPERED) from None
    if not isinstance(header, dict) or header.get("version") != VERSION:
        raise ExchangeError(TAMPERED)
    return header_bytes, header, envelope[start + length :]


def read_header(envelope: bytes) -> dict[str, Any]:
    """The envelope's clear header (recipient, file name, date…) without opening it."""
    return _split(envelope)[1]


@dataclass(frozen=True)
class _Fields:
    recipient: Recipient
    filename: str
    created_at: datetime
    salt: bytes
    nonce: bytes
    check: bytes


def _fields(header: dict[str, Any]) -> _Fields:
    """The typed header fields, or the 'altered' refusal if one is missing or malformed."""
    try:
        kdf = header["kdf"]
        if {k: v for k, v in kdf.items() if k != "salt"} != KDF or header["cipher"] != "AES-256-GCM":
            raise ExchangeError(TAMPERED)
        who = header["recipient"]
        if who["kind"] not in ("rpps", "mssante") or not isinstance(who["value"], str):
            raise ExchangeError(TAMPERED)
        filename = header["filename"]
        if not isinstance(filename, str) or not safe_filename(filename):
            raise ExchangeError(TAMPERED)
        created = datetime.fromisoformat(header["created_at"])
        return _Fields(
            recipient=Recipient(cast(Literal["rpps", "mssante"], who["kind"]), who["value"]),
            filename=filename,
            created_at=created,
            salt=base64.b64decode(kdf["salt"], validate=True),
            nonce=base64.b64decode(header["nonce"], validate=True),
            check=base64.b64decode(header["key_check"], validate=True),
        )
    except (KeyError, TypeError, AttributeError, ValueError, binascii.Error):
        raise ExchangeError(TAMPERED) from None


def open_envelope(envelope: bytes, secret: str, *, recipient: Recipient | None = None) -> Opened:
    """The document inside ``envelope``, if ``secret`` opens it and it is addressed to ``recipient`` (if given)."""
    header_bytes, header, ciphertext = _split(envelope)
    fields = _fields(header)
    if recipient is not None and recipient != fields.recipient:
        raise ExchangeError(OTHER_RECIPIENT)
    if len(fields.nonce) != NONCE_BYTES:
        raise ExchangeError(TAMPERED)
    key, check = _derive(normalise_secret(secret), fields.salt)
    if not hmac.compare_digest(check, fields.check):
        raise ExchangeError(REFUSED_CODE)
    try:
        document = AESGCM(key).decrypt(fields.nonce, ciphertext, header_bytes)
    except InvalidTag:
        raise ExchangeError(TAMPERED) from None
    return Opened(document, fields.filename, fields.recipient, fields.created_at)
