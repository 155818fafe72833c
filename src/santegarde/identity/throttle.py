"""Limited login attempts (AAC-SEC-AUT-5, COM-AUT-2): after a number of failures, a temporary block that grows.

Counters are kept per account and per source address. A block lasts ``first_block`` after the first
series of failures and doubles with each new series, up to ``max_block``; a success clears the
account's counters. The caller traces every failure and block.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, insert, select, update

from santegarde.errors import SantegardeError
from santegarde.identity.clock import aware
from santegarde.identity.tables import throttle


@dataclass(frozen=True)
class ThrottleSettings:
    account_limit: int = 5
    source_limit: int = 20
    first_block: timedelta = timedelta(minutes=1)
    max_block: timedelta = timedelta(hours=24)
    forget_after: timedelta = timedelta(hours=24)


class Blocked(SantegardeError):
    """Too many failed attempts: the account or the source is blocked for a while."""

    def __init__(self, key: str, until: datetime) -> None:
        self.key = key
        self.until = until
        what = "this account" if key.startswith("account:") else "this workstation's address"
        super().__init__(
            f"Too many failed login attempts: {what} is blocked until {until:%Y-%m-%d %H:%M:%S} UTC. "
            "Wait, or ask an administrator if you have forgotten your password."
        )


@dataclass(frozen=True)
class Failure:
    key: str
    failures: int
    blocked_until: datetime | None


def account_key(user_id: int | None, login: str) -> str:
    # An unknown login is counted too (by its lower-case form), so guessing logins is throttled as well.
    return f"account:{user_id}" if user_id is not None else f"account:?{login.strip().lower()[:100]}"


def source_key(source: str) -> str:
    return f"source:{source[:100]}"


class Throttle:
    def __init__(self, settings: ThrottleSettings | None = None) -> None:
        self.settings = settings or ThrottleSettings()

    def check(self, conn: Connection, keys: list[str], now: datetime) -> None:
        """Raise Blocked if any of the keys is blocked now."""
        for key in keys:
            row = conn.execute(select(throttle.c.blocked_until).where(throttle.c.key == key)).first()
            if row is not None and row.blocked_until is not None and aware(row.blocked_until) > now:
                raise Blocked(key, aware(row.blocked_until))

    def _limit(self, key: str) -> int:
        return self.settings.account_limit if key.startswith("account:") else self.settings.source_limit

    def fail(self, conn: Connection, key: str, now: datetime) -> Failure:
        """Count one failure; start a block (longer each time) when the limit is reached."""
        row = conn.execute(select(throttle).where(throttle.c.key == key).with_for_update()).first()
        if row is None:
            conn.execute(insert(throttle).values(key=key, failures=0, blocks=0, blocked_until=None))
            failures, blocks = 0, 0
        else:
            failures, blocks = int(row.failures), int(row.blocks)
            last = aware(row.last_failure_at) if row.last_failure_at is not None else None
            if last is not None and now - last > self.settings.forget_after:
                failures, blocks = 0, 0
        failures += 1
        blocked_until = None
        if failures >= self._limit(key):
            length = min(self.settings.first_block * (2**blocks), self.settings.max_block)
            blocked_until = now + length
            blocks += 1
            failures = 0
        conn.execute(
            update(throttle)
            .where(throttle.c.key == key)
            .values(failures=failures, blocks=blocks, blocked_until=blocked_until, last_failure_at=now)
        )
        return Failure(key, failures, blocked_until)

    def succeed(self, conn: Connection, key: str) -> None:
        conn.execute(update(throttle).where(throttle.c.key == key).values(failures=0, blocks=0, blocked_until=None))
