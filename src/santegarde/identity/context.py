"""What every identity operation needs: the database, the référentiel, keys, hashing, clock and tracer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import Engine

from santegarde.crypto import Keyring
from santegarde.identity.clock import Clock, utc_now
from santegarde.identity.hashing import HashParams, PasswordHashing
from santegarde.identity.throttle import Throttle, ThrottleSettings
from santegarde.referentials.model import Referential

# Inactivity before a session locks, per workstation class (COM-AUT-4: 5 minutes in areas open to the public).
DEFAULT_IDLE_LIMITS = {
    "public_area": timedelta(minutes=5),
    "office": timedelta(minutes=15),
}


class Tracer(Protocol):
    """Where identity events go (the audit trail, wired by the runtime). Never given a secret."""

    def __call__(self, action: str, outcome: str, *, actor: str, source: str, rule: str, detail: str = "") -> None: ...


def no_trace(action: str, outcome: str, *, actor: str, source: str, rule: str, detail: str = "") -> None:
    """A tracer that drops events, for tools that have no trail yet (never used by the runtime)."""


@dataclass(frozen=True)
class IdentitySettings:
    idle_limits: dict[str, timedelta] = field(default_factory=lambda: dict(DEFAULT_IDLE_LIMITS))
    session_lifetime: timedelta = timedelta(hours=12)
    # Attempts are always limited (throttle), so the CNIL's 50-bit floor applies; set False to demand 80 bits.
    attempts_limited: bool = True
    charter_version: str = "1"
    # How long a sensitisation training stays valid (AAC-SEC-SEN-1); None: trainings are recorded, not checked.
    training_months: int | None = None
    throttle: ThrottleSettings = field(default_factory=ThrottleSettings)
    hash_params: HashParams = field(default_factory=HashParams)


@dataclass
class IdentityContext:
    engine: Engine
    referential: Referential
    keyring: Keyring
    trace: Tracer
    settings: IdentitySettings = field(default_factory=IdentitySettings)
    clock: Clock = utc_now
    hashing: PasswordHashing = field(init=False)
    throttle: Throttle = field(init=False)

    def __post_init__(self) -> None:
        self.hashing = PasswordHashing(self.settings.hash_params)
        self.throttle = Throttle(self.settings.throttle)

    def now(self) -> datetime:
        return self.clock()
