"""Shared set-up for identity tests: a migrated database, a keyring, a clock the test moves, a trace log."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from santegarde.crypto import ScryptParams, create_keyring, create_keystore
from santegarde.identity.context import IdentityContext, IdentitySettings
from santegarde.identity.hashing import FAST_TEST_PARAMS
from santegarde.referentials import loader
from santegarde.store.db import make_engine, migrate

START = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
NEW_PASSWORD = "Tisane-Violette-7-Horloge!"  # 26 characters of 4 classes


@dataclass
class Clock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@dataclass
class TraceLog:
    events: list[tuple[str, str, str, str]] = field(default_factory=list)

    def __call__(self, action: str, outcome: str, *, actor: str, source: str, rule: str, detail: str = "") -> None:
        self.events.append((action, outcome, actor, detail))

    def actions(self, outcome: str | None = None) -> list[str]:
        return [a for a, o, _, _ in self.events if outcome is None or o == outcome]


def make_context(database_url: str, tmp_path: Path, referential: str = "pra-2020-081") -> IdentityContext:
    engine = make_engine(database_url)
    migrate(engine, package="santegarde.identity")
    master = create_keystore(tmp_path / "keyring", "correct horse battery staple", ScryptParams(n=2**10, r=8, p=1))
    ring = create_keyring(master, tmp_path / "keyring")
    settings = IdentitySettings(hash_params=FAST_TEST_PARAMS)
    return IdentityContext(engine, loader.get(referential), ring, TraceLog(), settings, clock=Clock())
