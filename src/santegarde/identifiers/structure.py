"""Identifiers of organisations: FINESS, idNatSt ("1" + FINESS), SIREN and SIRET.

- FINESS: 9 characters — department (2 digits, or 2A/2B for Corsica) then 7 digits, the last a
  Luhn check digit computed on the digits of the number (ARCHITECTURE.md: "Luhn on the digits"):
  for 2A/2B the letter is left out and the Luhn check runs on the 8 remaining digits.
- idNatSt: "1" + FINESS (10 characters). Other prefixes of the ANS nomenclature (SIREN, SIRET,
  cabinet ids) are refused here.
- SIREN (9 digits) and SIRET (14 digits): Luhn, with La Poste's exception (SIRET of SIREN
  356000000: the digit sum is a multiple of 5) — both through python-stdnum.
"""

from __future__ import annotations

from types import ModuleType

from stdnum import luhn
from stdnum.exceptions import InvalidChecksum, ValidationError
from stdnum.fr import siren as stdnum_siren
from stdnum.fr import siret as stdnum_siret

from santegarde.identifiers.errors import InvalidIdentifier, compact, length_note

FINESS_PREFIX = "1"
FINESS_SHAPE = "A FINESS number is 9 characters: department (2 digits, or 2A/2B) then 7 digits, the last a Luhn key"


def _finess_digits(number: str) -> str:
    """The digits the FINESS Luhn key is computed on (the Corsica letter left out)."""
    return "".join(c for c in number if c.isdigit())


def _finess_body_ok(body: str) -> bool:
    return (body[:2].isdigit() or body[:2] in ("2A", "2B")) and body[2:].isdigit()


def compute_finess_key(body: str) -> str:
    """The Luhn key of the first 8 characters of a FINESS number."""
    body = compact(body)
    if len(body) != 8 or not _finess_body_ok(body):
        raise InvalidIdentifier("FINESS", f"A FINESS key is computed on 8 characters; {length_note(body)}.")
    return str(luhn.calc_check_digit(_finess_digits(body)))


def validate_finess(value: str) -> str:
    """The FINESS number in compact form, or :class:`InvalidIdentifier`."""
    number = compact(value)
    if len(number) != 9:
        raise InvalidIdentifier("FINESS", f"{FINESS_SHAPE}; {length_note(number)}.")
    if not _finess_body_ok(number):
        raise InvalidIdentifier("FINESS", f"{FINESS_SHAPE}; this value has other characters.")
    if not luhn.is_valid(_finess_digits(number)):
        raise InvalidIdentifier(
            "FINESS", "The FINESS key (Luhn, last digit) does not match; check for a mistyped digit."
        )
    return number


def validate_idnatst(value: str) -> str:
    """The idNatSt ("1" + FINESS) in compact form, or :class:`InvalidIdentifier`."""
    number = compact(value)
    if not number.startswith(FINESS_PREFIX) or len(number) != 10:
        raise InvalidIdentifier(
            "idNatSt", f"An idNatSt is '1' followed by a FINESS number (10 characters); {length_note(number)}."
        )
    try:
        validate_finess(number[1:])
    except InvalidIdentifier as exc:
        raise InvalidIdentifier("idNatSt", f"This idNatSt holds an invalid FINESS number: {exc.message}") from exc
    return number


def _stdnum(kind: str, digits: int, value: str, check: ModuleType) -> str:
    number = compact(value)
    shape = f"A {kind} number is {digits} digits with a Luhn check digit"
    if len(number) != digits:
        raise InvalidIdentifier(kind, f"{shape}; {length_note(number)}.")
    if not number.isdigit():
        raise InvalidIdentifier(kind, f"{shape}; this value has non-digit characters.")
    try:
        return str(check.validate(number))
    except InvalidChecksum as exc:
        raise InvalidIdentifier(kind, f"The {kind} check digit does not match; check for a mistyped digit.") from exc
    except ValidationError as exc:
        raise InvalidIdentifier(kind, f"{shape}; this value is not one.") from exc


def validate_siren(value: str) -> str:
    """The SIREN (9 digits, Luhn) in compact form, or :class:`InvalidIdentifier`."""
    return _stdnum("SIREN", 9, value, stdnum_siren)


def validate_siret(value: str) -> str:
    """The SIRET (14 digits, Luhn, La Poste exception) in compact form, or :class:`InvalidIdentifier`."""
    return _stdnum("SIRET", 14, value, stdnum_siret)


def compute_luhn_key(body: str) -> str:
    """The Luhn check digit of a string of digits (SIREN, SIRET, RPPS bodies)."""
    if not body.isdigit():
        raise ValueError("A Luhn key is computed on digits only.")
    return str(luhn.calc_check_digit(body))


def make_finess(body: str) -> str:
    """A FINESS number from its first 8 characters."""
    return compact(body) + compute_finess_key(body)


def make_siren(body: str) -> str:
    """A SIREN from its first 8 digits."""
    return body + compute_luhn_key(body)


def make_siret(siren: str, establishment: str) -> str:
    """A SIRET from a SIREN and a 4-digit establishment number (NIC without its key)."""
    body = validate_siren(siren) + establishment
    return body + compute_luhn_key(body)
