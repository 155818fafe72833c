"""NIR (numéro d'inscription au répertoire, "numéro de sécurité sociale") and the INS built on it.

Shape, 15 characters: ``S AA MM DD CCC OOO KK``

- ``S`` sex: 1 (male), 2 (female); also 3/4 (persons born abroad being registered) and 7/8
  (temporary numbers, as in INS-NIA) — odd is male, even is female;
- ``AA`` year of birth (two digits, no century);
- ``MM`` month: 01–12, or the INSEE special months 20–42 and 50–99 used when the civil-status
  record does not give the month;
- ``DD`` department of birth: 01–99 (20 for Corsica before 1976, 96 former protectorates, 97 and 98
  overseas with a 3-digit department, 99 born abroad), ``2A`` or ``2B``; ``00`` is refused;
- ``CCC`` commune (or country for 99), ``OOO`` order number — digits only;
- ``KK`` key = 97 − (n mod 97), n being the first 13 characters read as a number with ``2A`` → 19
  and ``2B`` → 18.

The key arithmetic is python-stdnum's (``stdnum.fr.nir``, which handles Corsica correctly); the
shape checks (sex, month, department) that stdnum does not make are ours. INS-NIR and INS-NIA
have the same shape (an INS-NIA is usually a temporary number, sex 7/8).
"""

from __future__ import annotations

from dataclasses import dataclass

from stdnum.fr import nir as stdnum_nir

from santegarde.identifiers.errors import InvalidIdentifier, compact, length_note

NIR_SHAPE = "15 characters 'S AA MM DD CCC OOO KK' (sex, year, month, department, commune, order, 2-digit key)"
SEX_DIGITS = frozenset("123478")
CORSICA = {"2A": "19", "2B": "18"}


@dataclass(frozen=True, slots=True)
class NirParts:
    """A NIR split into its fields (all strings, as they appear in the number)."""

    sex: str
    year: str
    month: str
    department: str
    commune: str
    order: str
    key: str

    @property
    def is_male(self) -> bool:
        return int(self.sex) % 2 == 1

    def __str__(self) -> str:
        return "".join((self.sex, self.year, self.month, self.department, self.commune, self.order, self.key))


def _month_ok(month: str) -> bool:
    value = int(month)
    return 1 <= value <= 12 or 20 <= value <= 42 or 50 <= value <= 99


def _department_ok(department: str) -> bool:
    return department in CORSICA or (department.isdigit() and department != "00")


def _check_body(body: str, kind: str) -> None:
    """Shape checks of the first 13 characters (``S AA MM DD CCC OOO``)."""
    fail = f"A {kind} is {NIR_SHAPE}; "
    if body[0] not in SEX_DIGITS:
        raise InvalidIdentifier(kind, fail + "its first character (sex) must be 1 or 2 (or 3, 4, 7, 8).")
    if not body[1:5].isdigit() or not _month_ok(body[3:5]):
        raise InvalidIdentifier(kind, fail + "characters 2–5 must be the year and a month 01–12, 20–42 or 50–99.")
    if not _department_ok(body[5:7]):
        raise InvalidIdentifier(kind, fail + "characters 6–7 (department) must be 01–99, 2A or 2B.")
    if not body[7:13].isdigit():
        raise InvalidIdentifier(kind, fail + "characters 8–13 (commune and order) must be digits.")


def compute_nir_key(body: str, kind: str = "NIR") -> str:
    """The 2-digit key of the 13 first characters of a NIR (Corsica 2A/2B handled)."""
    body = compact(body)
    if len(body) != 13:
        raise InvalidIdentifier(kind, f"A {kind} key is computed on 13 characters; {length_note(body)}.")
    _check_body(body, kind)
    return str(stdnum_nir.calc_check_digits(body))


def validate_nir(value: str, kind: str = "NIR") -> str:
    """The NIR in compact form (no spaces, upper case), or :class:`InvalidIdentifier`."""
    number = compact(value)
    if len(number) != 15:
        raise InvalidIdentifier(kind, f"A {kind} is {NIR_SHAPE}; {length_note(number)}.")
    _check_body(number[:13], kind)
    if not number[13:].isdigit():
        raise InvalidIdentifier(kind, f"A {kind} is {NIR_SHAPE}; its last 2 characters (key) must be digits.")
    if stdnum_nir.calc_check_digits(number) != number[13:]:
        raise InvalidIdentifier(
            kind,
            f"The {kind} key does not match: the last 2 digits must be 97 − (first 13 mod 97), with 2A read "
            "as 19 and 2B as 18; check for a mistyped digit.",
        )
    return number


def parse_nir(value: str, kind: str = "NIR") -> NirParts:
    """The fields of a valid NIR."""
    n = validate_nir(value, kind)
    return NirParts(n[0], n[1:3], n[3:5], n[5:7], n[7:10], n[10:13], n[13:])


def validate_ins(value: str, kind: str = "INS") -> str:
    """An INS (INS-NIR or INS-NIA): same shape and key as a NIR."""
    return validate_nir(value, kind)


def make_nir(*, male: bool, year: int, month: int, department: str, commune: int, order: int) -> str:
    """A NIR with its key, from its fields (used by the synthetic generator)."""
    body = f"{1 if male else 2}{year % 100:02d}{month:02d}{department.upper():0>2}{commune:03d}{order:03d}"
    return body + compute_nir_key(body)
