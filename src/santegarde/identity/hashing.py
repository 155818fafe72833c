"""Password hashing with argon2id (argon2-cffi), with the same work for known and unknown logins.

The default parameters are RFC 9106's second recommended option (3 passes, 64 MiB, 4 lanes). A
stored hash made with other parameters still verifies and asks to be rehashed. An unknown login is
verified against a dummy hash made with the same parameters, so the response time does not tell
whether the account exists; a corrupt stored hash is treated the same way and never raises.
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher, Type, extract_parameters
from argon2.exceptions import VerificationError

HASH_LENGTH = 32
SALT_LENGTH = 16
STORED_COST_MARGIN = 4
"""A stored hash asking for more than this many times the configured memory or passes is treated as corrupt."""


@dataclass(frozen=True)
class HashParams:
    """Argon2id cost parameters; the defaults are RFC 9106's second recommended option."""

    time_cost: int = 3
    memory_cost_kib: int = 65_536
    parallelism: int = 4


FAST_TEST_PARAMS = HashParams(time_cost=1, memory_cost_kib=1024, parallelism=1)
"""Cheap parameters for tests only; never for stored passwords."""


@dataclass(frozen=True)
class Verification:
    """The outcome of a verification: whether the password matches, and whether to rehash it now."""

    ok: bool
    needs_rehash: bool


_REFUSED = Verification(ok=False, needs_rehash=False)


class PasswordHashing:
    """Hashes and verifies passwords with argon2id under one set of parameters."""

    def __init__(self, params: HashParams = HashParams()) -> None:
        self.params = params
        self._hasher = PasswordHasher(
            time_cost=params.time_cost,
            memory_cost=params.memory_cost_kib,
            parallelism=params.parallelism,
            hash_len=HASH_LENGTH,
            salt_len=SALT_LENGTH,
            type=Type.ID,
        )
        self._dummy = self._hasher.hash(secrets.token_urlsafe(32))

    def hash(self, password: str) -> str:
        """The encoded argon2id hash of ``password``, with a fresh random salt."""
        return self._hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> Verification:
        """Check ``password`` against ``stored``; None (unknown login) or a corrupt hash costs the same and fails."""
        if stored is None or not self._is_usable(stored):
            self._spend_dummy_work(password)
            return _REFUSED
        try:
            self._hasher.verify(stored, password)
        except (VerificationError, ValueError):
            return _REFUSED
        return Verification(ok=True, needs_rehash=self._hasher.check_needs_rehash(stored))

    def _is_usable(self, stored: str) -> bool:
        """True when ``stored`` parses as an Argon2 hash whose costs are within a sane margin of ours."""
        try:
            found = extract_parameters(stored)
        except ValueError:
            return False
        return (
            found.memory_cost <= STORED_COST_MARGIN * self.params.memory_cost_kib
            and found.time_cost <= STORED_COST_MARGIN * self.params.time_cost
        )

    def _spend_dummy_work(self, password: str) -> None:
        """Verify against the dummy hash so a refusal costs as much as a real verification."""
        with contextlib.suppress(VerificationError):
            self._hasher.verify(self._dummy, password)
