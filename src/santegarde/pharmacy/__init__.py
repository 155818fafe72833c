"""The pharmacy's prescription book and dispensing registers (PHA-3), over the one request path."""

from santegarde.pharmacy.printing import PrintLine, render_html
from santegarde.pharmacy.register import (
    CLASSES,
    DispenseClass,
    Dispensing,
    Entry,
    EntryFrozen,
    EntryNotFound,
    PharmacyRegister,
    RegisterKind,
    RegisterRefused,
    RegisterReport,
    verify_register,
)

__all__ = [
    "CLASSES",
    "DispenseClass",
    "Dispensing",
    "Entry",
    "EntryFrozen",
    "EntryNotFound",
    "PharmacyRegister",
    "PrintLine",
    "RegisterKind",
    "RegisterRefused",
    "RegisterReport",
    "render_html",
    "verify_register",
]
