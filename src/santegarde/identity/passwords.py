"""Password strength as the CNIL measures it (deliberation 2022-100): a minimum entropy, computed.

The CNIL asks for 80 bits when the password is the only protection and 50 bits when attempts are
limited (account blocking or throttling). Entropy is estimated from the character classes present,
or, for a passphrase, from the number of words; known weaknesses (the account's own details, long
repetitions, very common passwords) bring it to zero. The CNIL rounds: 12 characters of the four
classes give 79.6 bits and count as 80.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from santegarde.errors import SantegardeError

ONLY_PROTECTION_BITS = 80
"""Entropy required when the password is the only protection of the account."""

ATTEMPTS_LIMITED_BITS = 50
"""Entropy required when failed attempts are limited (account blocking or throttling)."""

LOWERCASE_SIZE = 26
UPPERCASE_SIZE = 26
DIGIT_SIZE = 10
SPECIAL_SIZE = 37
"""The CNIL counts a list of at least 37 special characters; any other non-alphanumeric character is special."""

WORDLIST_SIZE = 2_700
"""Size of the common-word list a passphrase is assumed drawn from.

Chosen so that the CNIL's example of a 7-word passphrase reaches about 80 bits (7 × log2(2700) ≈ 79.8).
"""

MIN_CONTEXT_LENGTH = 3
"""Context strings (login, name…) shorter than this are not searched for in the password."""

MAX_SAME_CHARACTER_RUN = 3
"""A run of the same character longer than this is a weakness."""

COMMON_PASSWORDS = frozenset(
    {
        "motdepasse", "azerty", "azertyuiop", "qwerty", "qwertyuiop", "password", "passw0rd",
        "123456", "1234567", "12345678", "123456789", "1234567890", "000000", "111111", "123123",
        "abc123", "soleil", "bonjour", "bienvenue", "doudou", "loulou", "chouchou", "coucou",
        "marseille", "iloveyou", "jetaime", "admin", "administrateur", "welcome", "letmein",
        "football", "princesse", "sunshine", "dragon",
    }
)  # fmt: skip
"""Very common passwords, compared case-insensitively, with and without trailing digits and specials."""

_PASSPHRASE = re.compile(r"[^\W\d_]+(?:[ ._-][^\W\d_]+)+")
_WORD_SEPARATORS = re.compile(r"[ ._-]")
_TRAILING_NON_LETTERS = re.compile(r"[\W\d_]+$")
_CONTEXT_TOKENS = re.compile(r"[\W_]+")
_LONG_RUN = re.compile(rf"(.)\1{{{MAX_SAME_CHARACTER_RUN},}}", re.DOTALL)

_CONTEXT_PROBLEM = "It contains the login, the name or another detail of the account, which are guessed first."
_RUN_PROBLEM = "It repeats the same character four times or more in a row."
_PATTERN_PROBLEM = "It is one short pattern repeated."
_COMMON_PROBLEM = "It is one of the most common passwords."


@dataclass(frozen=True)
class Strength:
    """The estimated entropy of a password, the entropy required, and the weaknesses found."""

    bits: float
    required: int
    method: Literal["characters", "passphrase"]
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when no weakness was found and the rounded entropy reaches the requirement."""
        return not self.problems and round(self.bits) >= self.required


class WeakPassword(SantegardeError, ValueError):
    """A password refused because its entropy is below the CNIL minimum; the message never quotes it."""

    def __init__(self, strength: Strength) -> None:
        self.strength = strength
        super().__init__(_refusal_message(strength))


def required_bits(attempts_limited: bool) -> int:
    """The CNIL minimum entropy: 50 bits when attempts are limited, 80 when the password stands alone."""
    return ATTEMPTS_LIMITED_BITS if attempts_limited else ONLY_PROTECTION_BITS


def strength(password: str, *, attempts_limited: bool, context: Sequence[str] = ()) -> Strength:
    """Estimate the entropy of ``password`` and list its weaknesses against the CNIL minimum."""
    required = required_bits(attempts_limited)
    bits, method = _estimate(password)
    problems = _problems(password, context)
    return Strength(bits=0.0 if problems else bits, required=required, method=method, problems=problems)


def require_strong(password: str, *, attempts_limited: bool, context: Sequence[str] = ()) -> Strength:
    """Return the strength of ``password``, or raise :class:`WeakPassword` when it is not enough."""
    result = strength(password, attempts_limited=attempts_limited, context=context)
    if not result.ok:
        raise WeakPassword(result)
    return result


def character_bits(password: str) -> float:
    """Entropy as length × log2(alphabet), the alphabet being the sum of the character classes present."""
    alphabet = _alphabet_size(password)
    return len(password) * math.log2(alphabet) if alphabet else 0.0


def passphrase_bits(words: int) -> float:
    """Entropy of a passphrase of ``words`` words drawn from a list of WORDLIST_SIZE words."""
    return words * math.log2(WORDLIST_SIZE)


def _estimate(password: str) -> tuple[float, Literal["characters", "passphrase"]]:
    """The passphrase estimate for words of letters with separators, else the character estimate.

    For a passphrase the lower of the two estimates is kept, so a "phrase" of one-letter words is not
    credited with a word list's entropy.
    """
    by_characters = character_bits(password)
    if _PASSPHRASE.fullmatch(password):
        by_words = passphrase_bits(len(_WORD_SEPARATORS.split(password)))
        if by_words <= by_characters:
            return by_words, "passphrase"
    return by_characters, "characters"


def _alphabet_size(password: str) -> int:
    """Sum of the sizes of the classes present; caseless letters count as lower case."""
    lower = upper = digit = special = False
    for char in password:
        if char.isdigit():
            digit = True
        elif char.isupper():
            upper = True
        elif char.isalpha():
            lower = True
        else:
            special = True
    return LOWERCASE_SIZE * lower + UPPERCASE_SIZE * upper + DIGIT_SIZE * digit + SPECIAL_SIZE * special


def _problems(password: str, context: Sequence[str]) -> tuple[str, ...]:
    """The weaknesses that bring the entropy to zero, as sentences that never quote the password."""
    checks = (
        (_contains_context(password, context), _CONTEXT_PROBLEM),
        (_has_long_run(password), _RUN_PROBLEM),
        (_is_repeated_pattern(password), _PATTERN_PROBLEM),
        (_is_common(password), _COMMON_PROBLEM),
    )
    return tuple(problem for found, problem in checks if found)


def _fold(text: str) -> str:
    """Case- and accent-insensitive form of ``text``."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _context_needles(context: Sequence[str]) -> set[str]:
    """Each context string and its alphanumeric parts (``jean.martin@x.fr`` → ``jean``, ``martin``…)."""
    needles: set[str] = set()
    for item in context:
        folded = _fold(item.strip())
        needles.add(folded)
        needles.update(_CONTEXT_TOKENS.split(folded))
    return {needle for needle in needles if len(needle) >= MIN_CONTEXT_LENGTH}


def _contains_context(password: str, context: Sequence[str]) -> bool:
    """True when the password contains the login, the name or another given detail."""
    folded = _fold(password)
    return any(needle in folded for needle in _context_needles(context))


def _has_long_run(password: str) -> bool:
    """True when the same character appears more than MAX_SAME_CHARACTER_RUN times in a row."""
    return _LONG_RUN.search(password) is not None


def _is_repeated_pattern(password: str) -> bool:
    """True when the whole password is a shorter unit repeated at least twice (a truncated tail allowed)."""
    return any(password[size:] == password[:-size] for size in range(1, len(password) // 2 + 1))


def _is_common(password: str) -> bool:
    """True when the password, with or without its trailing digits and specials, is a very common one."""
    lowered = password.casefold()
    stem = _TRAILING_NON_LETTERS.sub("", lowered)
    return lowered in COMMON_PASSWORDS or stem in COMMON_PASSWORDS


def _minimum(bits_per_unit: float, required: int) -> int:
    """The smallest count of units (characters or words) whose rounded entropy reaches ``required``."""
    count = max(1, math.floor(required / bits_per_unit))
    while round(count * bits_per_unit) < required:
        count += 1
    return count


def advice(required: int) -> str:
    """How to reach ``required`` bits, computed from the estimates: lengths for 4 and 3 classes, words."""
    four_classes = _minimum(math.log2(LOWERCASE_SIZE + UPPERCASE_SIZE + DIGIT_SIZE + SPECIAL_SIZE), required)
    no_special = _minimum(math.log2(LOWERCASE_SIZE + UPPERCASE_SIZE + DIGIT_SIZE), required)
    words = _minimum(math.log2(WORDLIST_SIZE), required)
    return (
        f"Use {four_classes} characters mixing upper and lower case, digits and special characters, "
        f"{no_special} without special characters, or a passphrase of {words} words."
    )


def _refusal_message(result: Strength) -> str:
    """The refusal sentence: the entropy found, the entropy needed, the weaknesses and how to do better."""
    parts = [f"This password has about {round(result.bits)} bits of entropy; at least {result.required} are needed."]
    parts.extend(result.problems)
    parts.append(advice(result.required))
    return " ".join(parts)
