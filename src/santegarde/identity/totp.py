"""Second factor: time-based one-time codes (RFC 6238) and single-use recovery codes.

Pure functions without storage: the caller keeps the secret, the last accepted time step and the
recovery code hashes, and passes them back in. The CNIL expects two factors for anyone reaching health data.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import pyotp
import qrcode  # type: ignore[import-untyped]
import qrcode.image.svg  # type: ignore[import-untyped]

from santegarde.errors import SantegardeError

STEP_SECONDS = 30
DIGITS = 6
RECOVERY_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: nothing to confuse when typed
RECOVERY_LENGTH = 10

_CODE = re.compile(r"[0-9]{6}")
_WHITESPACE = re.compile(r"\s+")

Reason = Literal["invalid", "replayed", "recovery"]


class InvalidCode(SantegardeError, ValueError):
    """A one-time or recovery code was refused; `reason` tells which case, without the code itself."""

    INVALID = "The code is not valid: type the 6-digit code your authenticator app shows now."
    REPLAYED = "This code was already used; wait for the next one."
    RECOVERY = "This recovery code is not valid or was already used."

    def __init__(self, reason: Reason) -> None:
        messages = {"invalid": self.INVALID, "replayed": self.REPLAYED, "recovery": self.RECOVERY}
        super().__init__(messages[reason])
        self.reason: Reason = reason


@dataclass(frozen=True)
class Enrolment:
    """What a person needs to register an authenticator app; active only after `confirm_enrolment`."""

    secret: str
    uri: str
    qr_svg: str

    def __repr__(self) -> str:
        """Keep the secret out of logs and tracebacks."""
        return "Enrolment(secret=<hidden>, uri=<hidden>, qr_svg=<hidden>)"


def new_secret() -> str:
    """Return a fresh random base32 TOTP secret of 32 characters (160 bits)."""
    return pyotp.random_base32(length=32)


def provisioning_uri(secret: str, account: str, issuer: str = "santegarde") -> str:
    """Return the otpauth:// URI that authenticator apps read from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(name=account, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """Return the QR code of `uri` as an SVG document string, for a web page."""
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage)
    svg: str = image.to_string(encoding="unicode")
    return svg


def qr_text(uri: str, *, invert: bool = False) -> str:
    """Return the QR code of `uri` as text blocks for a terminal; `invert=True` suits dark backgrounds."""
    code = qrcode.QRCode(border=2)
    code.add_data(uri)
    out = io.StringIO()
    code.print_ascii(out=out, invert=invert)
    return out.getvalue().replace("\xa0", " ")  # qrcode draws light cells as no-break spaces


def _current_step(at: datetime | None) -> int:
    """Return the RFC 6238 time step of `at` (now if None; a naive datetime is read as local time)."""
    moment = at if at is not None else datetime.now(UTC)
    return int(moment.timestamp()) // STEP_SECONDS


def _normalise_code(code: str) -> str:
    """Remove spaces from a typed code and check it is exactly six ASCII digits."""
    cleaned = _WHITESPACE.sub("", code)
    if not _CODE.fullmatch(cleaned):
        raise InvalidCode("invalid")
    return cleaned


def verify(secret: str, code: str, *, last_step: int | None, at: datetime | None = None, window: int = 1) -> int:
    """Return the time step matched by `code` (± `window` steps of drift); raise InvalidCode if wrong or replayed.

    The caller stores the returned step as the new `last_step`; a step at or before it is refused as a replay.
    """
    typed = _normalise_code(code)
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = _current_step(at)
    matched: list[int] = []
    for step in range(current - window, current + window + 1):
        # Every candidate is compared, in constant time, so timing does not reveal which one matched.
        if step >= 0 and hmac.compare_digest(totp.generate_otp(step), typed):
            matched.append(step)
    if not matched:
        raise InvalidCode("invalid")
    fresh = [step for step in matched if last_step is None or step > last_step]
    if not fresh:
        raise InvalidCode("replayed")
    return max(fresh)


def start_enrolment(account: str, issuer: str = "santegarde") -> Enrolment:
    """Create a secret with its URI and QR code; store the secret only once `confirm_enrolment` succeeds."""
    secret = new_secret()
    uri = provisioning_uri(secret, account, issuer)
    return Enrolment(secret=secret, uri=uri, qr_svg=qr_svg(uri))


def confirm_enrolment(secret: str, code: str, at: datetime | None = None) -> int:
    """Check the person can produce a valid code for `secret`; return the step to store as `last_step`."""
    return verify(secret, code, last_step=None, at=at)


def new_recovery_codes(n: int = 10) -> list[str]:
    """Return `n` distinct random recovery codes formatted "XXXXX-XXXXX"; show them once, store only hashes."""
    codes: set[str] = set()
    while len(codes) < n:
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))
        codes.add(f"{raw[:5]}-{raw[5:]}")
    return sorted(codes)


def _normalise_recovery(code: str) -> str:
    """Upper-case a typed recovery code and drop spaces and hyphens."""
    return re.sub(r"[\s-]+", "", code).upper()


def hash_recovery_code(code: str) -> str:
    """Return the SHA-256 hex digest of the normalised code.

    A fast hash is acceptable: each code holds 10 random symbols from 31 (about 49.5 bits), is single use,
    and only replaces the second factor, never the password.
    """
    return hashlib.sha256(_normalise_recovery(code).encode()).hexdigest()


def use_recovery_code(code: str, hashes: Sequence[str]) -> int:
    """Return the index in `hashes` of the code's hash (the caller then removes it); raise InvalidCode if absent."""
    candidate = hash_recovery_code(code)
    found: int | None = None
    for index, stored in enumerate(hashes):
        # Compare against every hash, without stopping early, so timing does not tell which one matched.
        if hmac.compare_digest(stored, candidate) and found is None:
            found = index
    if found is None:
        raise InvalidCode("recovery")
    return found
