"""Consistent surrogates, the optional replacement mode of EDS-SEC-PSE-4 (generic tags stay the default).

Under the warehouse's key, within one patient's documents: the same real first name or surname always becomes
the same fictitious one (drawn from the shipped gazetteers, never the real name itself), and every date is
shifted by one offset of 1 to 365 days, forwards or backwards, that belongs to the patient, so the intervals
between a patient's dates are kept. Everything else keeps its generic tag, as does a date whose form is not
understood (it is never left as it was). The mapping is a keyed hash: nothing is stored, and without the key a
surrogate cannot be traced back to the name.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Iterable

from santegarde.deid import rules
from santegarde.deid.entities import TAGS, Entity
from santegarde.deid.replace import resolve

MONTHS = ("janvier", "fevrier", "mars", "avril", "mai", "juin", "juillet", "aout", "septembre", "octobre",
          "novembre", "decembre")  # fmt: skip
NUMERIC = re.compile(r"^(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})$")
WRITTEN = re.compile(r"^(\d{1,2})(?:er)?\s+([a-zéû]+)\.?\s+(\d{4})$", re.IGNORECASE)


class Surrogates:
    """Fictitious names and shifted dates for one key; ``patient`` scopes the consistency."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("A surrogate key needs at least 32 random bytes.")
        self._key = key
        self._names = {
            "PRENOM": sorted(n for n in rules.gazetteer("prenoms") if n.isalpha() and len(n) > 2),
            "NOM": sorted(n for n in rules.gazetteer("noms") if n.isalpha() and len(n) > 2),
        }

    def _number(self, *parts: str) -> int:
        digest = hmac.new(self._key, "|".join(parts).encode("utf-8"), hashlib.sha256).digest()
        return int.from_bytes(digest[:8], "big")

    def shift(self, patient: str) -> int:
        """The patient's date offset in days: 1 to 365, forwards or backwards, never 0."""
        n = self._number("date-shift", patient)
        return (n % 365 + 1) * (1 if n & (1 << 62) else -1)

    def name(self, label: str, real: str, patient: str) -> str:
        choices = self._names[label]
        at = self._number("name", label, patient, rules.fold(real)) % len(choices)
        if choices[at] == rules.fold(real):
            at = (at + 1) % len(choices)
        fictitious = choices[at]
        return fictitious.upper() if real.isupper() and len(real) > 1 else fictitious.capitalize()

    def date(self, real: str, patient: str) -> str | None:
        """``real`` shifted by the patient's offset, in the same form; None if the form is not understood."""
        text = real.strip()
        try:
            if m := NUMERIC.match(text):
                day, sep, month, year = int(m[1]), m[2], int(m[3]), m[4]
                full = int(year) if len(year) == 4 else 1900 + int(year) + (100 if int(year) < 50 else 0)
                new = dt.date(full, month, day) + dt.timedelta(days=self.shift(patient))
                shown_year = f"{new.year:04d}" if len(year) == 4 else f"{new.year % 100:02d}"
                return f"{new.day:02d}{sep}{new.month:02d}{sep}{shown_year}"
            if m := WRITTEN.match(text):
                month_name = rules.fold(m[2])
                month = next(i for i, name in enumerate(MONTHS, 1) if name.startswith(month_name[:3]))
                new = dt.date(int(m[3]), month, int(m[1])) + dt.timedelta(days=self.shift(patient))
                return f"{new.day} {MONTHS[new.month - 1]} {new.year}"
        except (ValueError, StopIteration):
            return None
        return None

    def replace(self, text: str, entities: Iterable[Entity], patient: str) -> str:
        """``text`` with names and dates replaced by the patient's surrogates, every other span by its tag."""
        out: list[str] = []
        at = 0
        for e in resolve(entities):
            out.append(text[at : e.start])
            real = text[e.start : e.end]
            value: str | None = None
            if e.label in self._names:
                words = re.split(r"([\s-]+)", real)
                value = "".join(w if not w.strip(" -") else self.name(e.label, w, patient) for w in words)
            elif e.label in ("DATE", "DATE_NAISSANCE"):
                value = self.date(real, patient)
            out.append(value if value is not None else TAGS.get(e.label, "<IDENTIFIANT>"))
            at = e.end
        out.append(text[at:])
        return "".join(out)
