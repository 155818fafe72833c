"""Secure exchange (COM-EXC-1): a document encrypted for a verified recipient, its secret sent apart.

The sender names the recipient by RPPS number or secure health messaging (MSSanté) address, seals
the document under a one-time secret and sends the envelope by ordinary e-mail; the secret goes by
another channel (phone, SMS, in person). No database is involved.

Secret: 20 characters of Crockford's base-32 alphabet (no I, L, O, U; 100 bits from :mod:`secrets`),
shown in groups of four (``7KQ2-…``). Reading it back ignores case, spaces and hyphens and takes
O for 0 and I or L for 1.

Envelope format (version 2), all integers big-endian::

    b"SGX2" | header length (4 bytes) | header (UTF-8 JSON) | AES-256-GCM ciphertext + 16-byte tag
    plaintext = metadata length (4 bytes) | metadata (UTF-8 JSON: {"filename": base name}) | document

The clear header holds only ``version`` (2), ``recipient`` (``{"kind": "rpps"|"mssante", "value": …}``),
``nonce`` (96 bits, base64), ``kdf`` (``{"name": "scrypt", "salt": base64 of 16 random bytes, "n": 32768,
"r": 8, "p": 1, "length": 64}``), ``key_check`` (base64 of the first 16 bytes of SHA-256 of the second
half of the scrypt output) and ``created_at`` (UTC, ISO 8601). It holds no secret, no content and no
file name: file names often carry a patient's name, so the name travels encrypted with the document.
Scrypt turns the normalised secret into 64 bytes: the first 32 are the AES-256 key, the last 32 only
feed ``key_check``, which tells a wrong secret from an altered envelope. The associated data of the
encryption is the exact header bytes, so the version, the recipient and every other header field are
bound to the content: changing any of them makes the envelope refuse to open. Version 1 envelopes
(``SGX1``, file name in clear) are refused: the sender must send them again.
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

from santegarde import refusals
from santegarde.errors import WordedError
from santegarde.identifiers import InvalidIdentifier, validate_rpps

MAGIC = b"SGX2"
VERSION = 2
OLD_MAGIC = b"SGX1"
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


class ExchangeError(WordedError):
    """A secure exchange refused: unverified recipient, wrong secret, altered or foreign file (catalogue
    ``exchange``: French by default, English as the option)."""

    def __init__(self, key: str, /, **facts: object) -> None:
        super().__init__(refusals.sentences("exchange", key, **facts))
        self.key = key


@dataclass(frozen=True)
class Recipient:
    """A verified recipient: an RPPS number or an MSSanté address (lower-cased)."""

    kind: Literal["rpps", "mssante"]
    value: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


@dataclass(frozen=True)
class Opened:
    """An opened envelope: the document, its file name (``""`` if unusable), its recipient and when it was sealed."""

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
            raise ExchangeError("accepted")
        return Recipient("mssante", address)
    compact = "".join(value.split())
    if compact.isdigit() and compact.isascii():
        try:
            return Recipient("rpps", validate_rpps(compact))
        except InvalidIdentifier as exc:
            why = {"fr": "Ce numéro RPPS n'est pas valide (11 chiffres, dont une clé de contrôle).", "en": exc.message}
            raise ExchangeError("rpps_invalid", why=why) from None
    raise ExchangeError("accepted")


def new_secret() -> str:
    """A one-time secret: 20 characters (100 bits) in groups of four, e.g. ``7KQ2-M9XD-…``."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(SECRET_LENGTH))
    return "-".join(raw[i : i + GROUP] for i in range(0, SECRET_LENGTH, GROUP))


def normalise_secret(secret: str) -> str:
    """The secret as 20 upper-case characters, ignoring case, spaces, hyphens and look-alike letters."""
    raw = "".join(secret.split()).replace("-", "").upper().translate(_LOOKALIKES)
    if len(raw) != SECRET_LENGTH or any(c not in ALPHABET for c in raw):
        raise ExchangeError("secret_shape", length=SECRET_LENGTH, group=GROUP)
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
        raise ExchangeError("filename")
    return filename


def _payload(document: bytes, filename: str) -> bytes:
    """The plaintext: the length-prefixed metadata (the file name) then the document."""
    metadata = json.dumps({"filename": filename}, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return _LENGTH.pack(len(metadata)) + metadata + document


def _envelope(plaintext: bytes, recipient: Recipient) -> tuple[bytes, str]:
    """The envelope of ``plaintext`` for ``recipient`` under a fresh one-time secret, and that secret."""
    secret = new_secret()
    salt, nonce = os.urandom(SALT_BYTES), os.urandom(NONCE_BYTES)
    key, check = _derive(normalise_secret(secret), salt)
    header = {
        "version": VERSION,
        "recipient": {"kind": recipient.kind, "value": recipient.value},
        "nonce": _b64(nonce),
        "kdf": {**KDF, "salt": _b64(salt)},
        "key_check": _b64(check),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    header_bytes = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    ciphertext = AESGCM(key).encrypt(nonce, plaintext, header_bytes)
    return MAGIC + _LENGTH.pack(len(header_bytes)) + header_bytes + ciphertext, secret


def seal(document: bytes, recipient: Recipient, *, filename: str) -> tuple[bytes, str]:
    """The envelope of ``document`` (its file name encrypted with it) for ``recipient`` and the secret that opens it."""
    return _envelope(_payload(document, _check_filename(filename)), recipient)


def _split(envelope: bytes) -> tuple[bytes, dict[str, Any], bytes]:
    """The header bytes, the parsed header and the ciphertext of an envelope."""
    if envelope.startswith(OLD_MAGIC):
        raise ExchangeError("older_format")
    if not envelope.startswith(MAGIC):
        raise ExchangeError("not_envelope")
    start = len(MAGIC) + _LENGTH.size
    if len(envelope) < start:
        raise ExchangeError("tampered")
    (length,) = _LENGTH.unpack_from(envelope, len(MAGIC))
    if length > MAX_HEADER or len(envelope) < start + length:
        raise ExchangeError("tampered")
    header_bytes = envelope[start : start + length]
    try:
        header = json.loads(header_bytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ExchangeError("tampered") from None
    if not isinstance(header, dict) or header.get("version") != VERSION:
        raise ExchangeError("tampered")
    return header_bytes, header, envelope[start + length :]


def read_header(envelope: bytes) -> dict[str, Any]:
    """The envelope's clear header (version, recipient, date, key derivation…) without opening it; no file name."""
    return _split(envelope)[1]


@dataclass(frozen=True)
class _Fields:
    recipient: Recipient
    created_at: datetime
    salt: bytes
    nonce: bytes
    check: bytes


def _fields(header: dict[str, Any]) -> _Fields:
    """The typed header fields, or the 'altered' refusal if one is missing or malformed."""
    try:
        kdf = header["kdf"]
        if {k: v for k, v in kdf.items() if k != "salt"} != KDF:
            raise ExchangeError("tampered")
        who = header["recipient"]
        if who["kind"] not in ("rpps", "mssante") or not isinstance(who["value"], str):
            raise ExchangeError("tampered")
        created = datetime.fromisoformat(header["created_at"])
        return _Fields(
            recipient=Recipient(cast(Literal["rpps", "mssante"], who["kind"]), who["value"]),
            created_at=created,
            salt=base64.b64decode(kdf["salt"], validate=True),
            nonce=base64.b64decode(header["nonce"], validate=True),
            check=base64.b64decode(header["key_check"], validate=True),
        )
    except (KeyError, TypeError, AttributeError, ValueError, binascii.Error):
        raise ExchangeError("tampered") from None


def _unpack(plaintext: bytes) -> tuple[bytes, str]:
    """The document and its file name (``""`` if not a plain base name) from a decrypted payload."""
    try:
        (length,) = _LENGTH.unpack_from(plaintext)
        if length > MAX_HEADER or len(plaintext) < _LENGTH.size + length:
            raise ExchangeError("tampered")
        metadata = json.loads(plaintext[_LENGTH.size : _LENGTH.size + length].decode("utf-8"))
        filename = metadata["filename"]
    except (struct.error, UnicodeDecodeError, ValueError, KeyError, TypeError):
        raise ExchangeError("tampered") from None
    if not isinstance(filename, str):
        raise ExchangeError("tampered")
    return plaintext[_LENGTH.size + length :], safe_filename(filename)


def check_recipient(envelope: bytes, recipient: Recipient) -> None:
    """Nothing if ``envelope`` is addressed to ``recipient``, else :class:`ExchangeError` (no secret needed)."""
    if _fields(_split(envelope)[1]).recipient != recipient:
        raise ExchangeError("other_recipient")


def open_envelope(envelope: bytes, secret: str, *, recipient: Recipient | None = None) -> Opened:
    """The document inside ``envelope``, if ``secret`` opens it and it is addressed to ``recipient`` (if given).

    The file name comes from inside the envelope; it is ``""`` if it is not a plain base name.
    """
    header_bytes, header, ciphertext = _split(envelope)
    fields = _fields(header)
    if recipient is not None and recipient != fields.recipient:
        raise ExchangeError("other_recipient")
    if len(fields.nonce) != NONCE_BYTES:
        raise ExchangeError("tampered")
    key, check = _derive(normalise_secret(secret), fields.salt)
    if not hmac.compare_digest(check, fields.check):
        raise ExchangeError("refused_code")
    try:
        plaintext = AESGCM(key).decrypt(fields.nonce, ciphertext, header_bytes)
    except InvalidTag:
        raise ExchangeError("tampered") from None
    document, filename = _unpack(plaintext)
    return Opened(document, filename, fields.recipient, fields.created_at)
