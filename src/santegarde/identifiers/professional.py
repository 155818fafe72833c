"""Identifiers of health professionals: RPPS, ADELI and the national id idNatPs built from them.

- RPPS: 11 digits, the last one a Luhn check digit on the first 10 (python-stdnum's ``luhn``).
- ADELI: 9 characters — department (2 digits, or 2A/2B), profession code (2 digits), order
  (4 digits) and a check digit. No reliable public specification of that check digit was found,
  so only the shape is validated; the synthetic generator still makes Luhn-valid ADELI numbers.
- idNatPs: "8" + RPPS (12 characters) or "0" + ADELI (10 characters). The other prefixes of the
  ANS nomenclature (3, 4, 5, 6: staff identified through their structure) are refused here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from stdnum import luhn

from santegarde.identifiers.errors import InvalidIdentifier, compact, length_note

RPPS_PREFIX = "8"
ADELI_PREFIX = "0"


@dataclass(frozen=True, slots=True)
class IdNatPs:
    """A parsed idNatPs: which register the number comes from, and the number itself."""

    register: Literal["RPPS", "ADELI"]
    number: str

    def __str__(self) -> str:
        return (RPPS_PREFIX if self.register == "RPPS" else ADELI_PREFIX) + self.number


def compute_rpps_key(body: str) -> str:
    """The Luhn check digit of the first 10 digits of an RPPS number."""
    body = compact(body)
    if len(body) != 10 or not body.isdigit():
        raise InvalidIdentifier("RPPS", f"An RPPS key is computed on 10 digits; {length_note(body)}.")
    return str(luhn.calc_check_digit(body))


def validate_rpps(value: str) -> str:
    """The RPPS number (11 digits, Luhn), or :class:`InvalidIdentifier`."""
    number = compact(value)
    shape = "An RPPS number is 11 digits, the last a Luhn check digit"
    if len(number) != 11:
        raise InvalidIdentifier("RPPS", f"{shape}; {length_note(number)}.")
    if not number.isdigit():
        raise InvalidIdentifier("RPPS", f"{shape}; this value has non-digit characters.")
    if not luhn.is_valid(number):
        raise InvalidIdentifier(
            "RPPS", "The RPPS check digit (Luhn, last digit) does not match; check for a mistyped digit."
        )
    return number


def validate_adeli(value: str) -> str:
    """The ADELI number (shape only: see the module docstring), or :class:`InvalidIdentifier`."""
    number = compact(value)
    shape = "An ADELI number is 9 characters: department (2 digits, or 2A/2B), profession (2 digits), order (4 digits)"
    if len(number) != 9:
        raise InvalidIdentifier("ADELI", f"{shape} and a check digit; {length_note(number)}.")
    department_ok = number[:2].isdigit() or number[:2] in ("2A", "2B")
    if not department_ok or not number[2:].isdigit():
        raise InvalidIdentifier("ADELI", f"{shape} and a check digit; this value has other characters.")
    return number


def validate_idnatps(value: str) -> str:
    """The idNatPs in compact form ("8"+RPPS or "0"+ADELI), or :class:`InvalidIdentifier`."""
    return str(parse_idnatps(value))


def parse_idnatps(value: str) -> IdNatPs:
    """Split an idNatPs into its register and number, validating the number."""
    number = compact(value)
    expected = "An idNatPs is '8' followed by an RPPS number (12 characters) or '0' followed by an ADELI number (10)"
    try:
        if number.startswith(RPPS_PREFIX) and len(number) == 12:
            return IdNatPs("RPPS", validate_rpps(number[1:]))
        if number.startswith(ADELI_PREFIX) and len(number) == 10:
            return IdNatPs("ADELI", validate_adeli(number[1:]))
    except InvalidIdentifier as exc:
        raise InvalidIdentifier("idNatPs", f"This idNatPs holds an invalid number: {exc.message}") from exc
    raise InvalidIdentifier("idNatPs", f"{expected}; {length_note(number)}.")


def validate_person_ref(value: str) -> str:
    """An account's person reference: an RPPS number (11 digits) or an idNatPs ("8"+RPPS) has its key checked.

    Any other value is taken as an ADELI or staff number, whose key santegarde cannot check; it is kept
    as given, without surrounding blanks.
    """
    number = compact(value)
    if number.isdigit() and len(number) == 11:
        return validate_rpps(number)
    if number.isdigit() and len(number) == 12 and number.startswith(RPPS_PREFIX):
        return validate_idnatps(number)
    return value.strip()


def make_rpps(body: str) -> str:
    """An RPPS number from its first 10 digits."""
    return body + compute_rpps_key(body)


def make_idnatps(register: Literal["RPPS", "ADELI"], number: str) -> str:
    """The idNatPs of a valid RPPS or ADELI number."""
    if register == "RPPS":
        return RPPS_PREFIX + validate_rpps(number)
    return ADELI_PREFIX + validate_adeli(number)
