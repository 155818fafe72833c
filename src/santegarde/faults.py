"""Crash points: where the crash-injection tests end the process on purpose (tests only; inert otherwise).

``crash_point(name)`` ends the process at once, as ``kill -9`` would (no cleanup, no commit, no
flush), when the environment variable ``SANTEGARDE_CRASH_AT`` named that point when this module
was imported, or when a test process set :data:`armed` itself (e.g. in a forked child). Unset, a
crash point costs one comparison with ``None``. Points are named ``<operation>.<step>``, e.g.
``retention.intent`` (the batch's audit entries are durable, its deletion not yet committed).
"""

from __future__ import annotations

import os

CRASH_ENV = "SANTEGARDE_CRASH_AT"
CRASH_EXIT = 137  # the status of a process killed by SIGKILL, as a shell reports it

armed: str | None = os.environ.get(CRASH_ENV) or None


def crash_point(name: str) -> None:
    """End the process now if the armed crash point is ``name``; otherwise do nothing."""
    if armed is not None and armed == name:
        os._exit(CRASH_EXIT)
