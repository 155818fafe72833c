"""The one domain error of the identifiers package.

Its message says what is wrong and what a valid value looks like; it never repeats the value (an
identifier is personal data), at most its length.
"""

from __future__ import annotations

from santegarde.errors import SantegardeError


class InvalidIdentifier(SantegardeError, ValueError):
    """A value that is not a valid identifier of the given kind (``"NIR"``, ``"RPPS"``, ``"FINESS"``…)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class UnknownIdentifierSystem(SantegardeError, ValueError):
    """A FHIR ``identifier.system`` that :func:`santegarde.identifiers.validate` has no rule for."""

    def __init__(self, system: str) -> None:
        super().__init__(
            f"No validation rule for identifier system {system!r}; known systems are listed in "
            "santegarde.identifiers.KNOWN_SYSTEMS."
        )
        self.system = system


def compact(value: str) -> str:
    """The value without spaces, dots or surrounding blanks, upper-cased (how identifiers are stored)."""
    return "".join(value.split()).replace(".", "").upper()


def length_note(value: str) -> str:
    """A fragment for error messages that tells the length of a value without showing it."""
    return f"this value has {len(value)} character{'s' if len(value) != 1 else ''}"
