"""Refusals of the identity gate: each says what is wrong and what to do."""

from __future__ import annotations

from santegarde import refusals
from santegarde.errors import SantegardeError, WordedError


class IdentityError(SantegardeError):
    """Base of identity refusals."""


class AccountError(WordedError, IdentityError, ValueError):
    """An account cannot be created or changed as asked: a sentence of the catalogue (``accounts``), in French by
    default and in English."""

    def __init__(self, key: str, /, **facts: object) -> None:
        super().__init__(refusals.sentences("accounts", key, **facts))
        self.key = key


class LoginRefused(IdentityError):
    """The login is refused (the message never says whether the login exists)."""


class SessionRefused(IdentityError):
    """The session cannot be used: unknown, ended, expired or locked."""


class SessionLocked(SessionRefused):
    """The session locked itself after inactivity; unlock it by authenticating again."""


class StepRequired(WordedError, IdentityError):
    """The session must complete a step first (password change, charter, profile, second factor): ``step`` names
    it; the sentence is the catalogue's (``steps``: ``key``, the step's own by default), French by default."""

    def __init__(self, step: str, key: str | None = None, /, **facts: object) -> None:
        self.step = step
        super().__init__(refusals.sentences("steps", key or step, **facts))


class GrantError(WordedError, IdentityError, ValueError):
    """A grant cannot be given, used or withdrawn as asked: a sentence of the catalogue (``grants``), in French
    by default and in English (``data/refusals.yaml``)."""

    def __init__(self, key: str, /, **facts: object) -> None:
        super().__init__(refusals.sentences("grants", key, **facts))
        self.key = key
