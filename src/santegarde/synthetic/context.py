"""The seeded state of one generation: a private random source, a private Faker, a reference date.

Nothing here reads the clock or a global random state: the same seed gives the same data, today
and in ten years.
"""

from __future__ import annotations

import random
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from faker import Faker

PARIS = ZoneInfo("Europe/Paris")
REFERENCE_DATE = date(2025, 1, 6)

# Number ranges ARCEP reserves for works of fiction: they never ring anyone.
FICTION_PHONE_PREFIXES = ("01 99 00", "02 61 91", "03 53 73", "04 65 71", "05 36 49", "06 39 98", "09 53 87")
EMAIL_DOMAIN = "example.org"  # reserved (RFC 2606)

JSON = dict[str, Any]


def ascii_letters(text: str) -> str:
    """Upper-case ASCII letters of a name ("Lelièvre-Dupré" → "LELIEVREDUPRE")."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in plain.upper() if c.isalpha())


@dataclass
class Context:
    """Randomness and helpers shared by the builders of one dataset."""

    seed: int
    today: date = REFERENCE_DATE
    rng: random.Random = field(init=False)
    fake: Faker = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(f"santegarde-synthetic:{self.seed}")  # noqa: S311 - fictitious data, not security
        self.fake = Faker("fr_FR")
        self.fake.seed_instance(self.rng.getrandbits(64))

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def digits(self, count: int) -> str:
        return "".join(self.rng.choice("0123456789") for _ in range(count))

    def chance(self, probability: float) -> bool:
        return self.rng.random() < probability

    def phone(self) -> str:
        return f"{self.rng.choice(FICTION_PHONE_PREFIXES)} {self.digits(2)} {self.digits(2)}"

    def email(self, given: str, family: str) -> str:
        local = f"{ascii_letters(given)}.{ascii_letters(family)}".lower()
        return f"{local}{self.rng.randint(1, 99)}@{EMAIL_DOMAIN}"

    def telecom(self, given: str, family: str, use: str) -> list[JSON]:
        return [
            {"system": "phone", "value": self.phone(), "use": use},
            {"system": "email", "value": self.email(given, family), "use": "work" if use == "work" else "home"},
        ]

    def birth_date(self, min_age: int, max_age: int) -> date:
        days = self.rng.randint(min_age * 365 + 1, max_age * 365 + 364)
        return self.today - timedelta(days=days)

    def age(self, born: date) -> int:
        return self.today.year - born.year - ((self.today.month, self.today.day) < (born.month, born.day))

    def day_in(self, earliest: date, latest: date) -> date:
        """A weekday between two dates (inclusive)."""
        day = earliest + timedelta(days=self.rng.randint(0, max((latest - earliest).days, 0)))
        if day.weekday() >= 5:
            friday = day - timedelta(days=day.weekday() - 4)
            day = friday if friday >= earliest else day + timedelta(days=7 - day.weekday())
        return day

    def office_time(self, day: date) -> datetime:
        """A quarter-hour between 8:00 and 18:45 on ``day``, Paris time."""
        slot = self.rng.randint(0, 43)
        return datetime.combine(day, time(8 + slot // 4, (slot % 4) * 15), tzinfo=PARIS)

    def past_visit(self, years: int = 2) -> datetime:
        return self.office_time(self.day_in(self.today - timedelta(days=365 * years), self.today - timedelta(days=1)))


def ref(resource_type: str, resource_id: str) -> JSON:
    return {"reference": f"{resource_type}/{resource_id}"}


def coding(system: str, code: str, display: str) -> JSON:
    return {"coding": [{"system": system, "code": code, "display": display}]}


def identifier(system: str, value: str, type_system: str, type_code: str, use: str = "official") -> JSON:
    kind = {"coding": [{"system": type_system, "code": type_code}]}
    return {"use": use, "type": kind, "system": system, "value": value}
