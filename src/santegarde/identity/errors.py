"""Refusals of the identity gate: each says what is wrong and what to do."""

from __future__ import annotations

from santegarde.errors import SantegardeError


class IdentityError(SantegardeError):
    """Base of identity refusals."""


class AccountError(IdentityError, ValueError):
    """An account cannot be created or changed as asked."""


class LoginRefused(IdentityError):
    """The login is refused (the message never says whether the login exists)."""


class SessionRefused(IdentityError):
    """The session cannot be used: unknown, ended, expired or locked."""


class SessionLocked(SessionRefused):
    """The session locked itself after inactivity; unlock it by authenticating again."""


class StepRequired(IdentityError):
    """The session must complete a step first (password change, charter, profile, second factor)."""

    def __init__(self, step: str, message: str) -> None:
        self.step = step
        super().__init__(message)


class GrantError(IdentityError, ValueError):
    """A grant cannot be given, used or withdrawn as asked."""
