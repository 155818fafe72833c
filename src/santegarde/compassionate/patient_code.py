"""The patient's indirect code (§7.2, AAC-5): initials of the surname and first name, plus a platform number.

Normalisation, applied to both names before taking the letters:

1. accents and ligatures are removed (Unicode NFKD, combining marks dropped; Œ → OE, Æ → AE, ß → SS);
2. upper case;
3. for the surname only, leading particles are dropped when something remains after them: DE, DU, DES, D',
   DE LA, DE L', LE, LA, LES, L', VAN, VON, DER, DEN, DI, DA, DEL, DELLA, DOS, DAS (``de La Fontaine`` → FON);
4. hyphens, apostrophes, spaces and every other non-letter are removed (``Jean-Pierre`` → JEANPIERRE → JE);
5. the first three letters of the surname and the first two of the first name are kept; a shorter name is
   completed with X (``Ba`` → BAX).

The code is ``<3 letters><2 letters>-<number>``, e.g. ``FONJE-00042``: the number is allocated by the platform,
once, in one transaction, so two patients with the same initials never share a code. The names themselves are
never stored.
"""

from __future__ import annotations

import re
import unicodedata

from santegarde import refusals
from santegarde.errors import WordedError

PARTICLES = (
    "DE LA ",
    "DE L'",
    "DE ",
    "DU ",
    "DES ",
    "D'",
    "LE ",
    "LA ",
    "LES ",
    "L'",
    "VAN ",
    "VON ",
    "DER ",
    "DEN ",
    "DI ",
    "DA ",
    "DEL ",
    "DELLA ",
    "DOS ",
    "DAS ",
)
LIGATURES = {"Œ": "OE", "Æ": "AE", "ß": "SS", "œ": "OE", "æ": "AE"}
CODE = re.compile(r"^[A-Z]{5}-[0-9]{5,}$")


class InitialsError(WordedError, ValueError):
    """A name from which no initials can be taken; ``field`` names which (surname or first_name)."""

    def __init__(self, sentences: dict[str, str], field: str) -> None:
        super().__init__(sentences)
        self.field = field


def _plain(text: str) -> str:
    for src, dst in LIGATURES.items():
        text = text.replace(src, dst)
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.upper().replace("’", "'").split())


def _letters(text: str) -> str:
    return "".join(c for c in text if "A" <= c <= "Z")


def surname_letters(surname: str) -> str:
    plain = _plain(surname)
    changed = True
    while changed:
        changed = False
        for particle in PARTICLES:
            if plain.startswith(particle) and _letters(plain[len(particle) :]):
                plain, changed = plain[len(particle) :].lstrip(), True
                break
    letters = _letters(plain)
    if not letters:
        raise InitialsError(refusals.sentences("aac", "surname_no_letter"), "surname")
    return (letters + "XXX")[:3]


def first_name_letters(first_name: str) -> str:
    letters = _letters(_plain(first_name))
    if not letters:
        raise InitialsError(refusals.sentences("aac", "first_name_no_letter"), "first_name")
    return (letters + "XX")[:2]


def initials(surname: str, first_name: str) -> str:
    return surname_letters(surname) + first_name_letters(first_name)


def patient_code(surname: str, first_name: str, number: int) -> str:
    return f"{initials(surname, first_name)}-{number:05d}"
