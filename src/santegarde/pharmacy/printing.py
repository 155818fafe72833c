"""A printable register (PHA-3): an HTML document whose header (pharmacy, register title) repeats on every page.

Plain string building with ``html.escape`` (Jinja2 is not a dependency). The lines given here were
read through the record service by :meth:`PharmacyRegister.print_lines`, so every read is authorised
and traced; this module only lays them out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

from santegarde.errors import SantegardeError

TITLES = {
    "prescription_book": "Ordonnancier — prescription book (lists I and II, narcotics, preparations)",
    "blood_derived_register": "Register of medicinal products derived from blood",
    "toxic_substances_register": "Register of very toxic, toxic or CMR substances for non-therapeutic use",
}

STYLE = """
@page { size: A4 landscape; margin: 18mm 12mm 14mm 12mm;
        @top-center { content: element(running-header); }
        @bottom-right { content: "Page " counter(page) " / " counter(pages); font-size: 8pt; } }
body { font-family: sans-serif; font-size: 9pt; }
header.running { position: running(running-header); }
table { width: 100%; border-collapse: collapse; }
thead { display: table-header-group; }
tr { page-break-inside: avoid; break-inside: avoid; }
th, td { border: 1px solid #555; padding: 2px 4px; text-align: left; vertical-align: top; }
th.banner { border: none; font-size: 11pt; padding-bottom: 6px; }
td.number { text-align: right; font-weight: bold; }
tr.cancelled td { text-decoration: line-through; color: #666; }
"""

COLUMNS = ("No.", "Date", "Class", "Patient", "Prescriber", "Product", "Quantity", "Status")


class PrintRefused(SantegardeError, ValueError):
    """The lines cannot be printed as one register."""


@dataclass(frozen=True)
class PrintLine:
    """One numbered entry as printed: what the register shows, read from its encrypted MedicationDispense."""

    register: str
    number: int
    entered_at: datetime
    dispense_class: str
    patient: str
    prescriber: str
    product: str
    quantity: str
    validated: bool
    cancelled: bool
    corrects: int | None


def title_of(register: str) -> str:
    """The printed title of a register."""
    return TITLES.get(register, register)


def _status(line: PrintLine) -> str:
    parts = ["cancelled" if line.cancelled else ("validated" if line.validated else "not yet validated")]
    if line.corrects is not None:
        parts.append(f"corrects No. {line.corrects}")
    return ", ".join(parts)


def _row(line: PrintLine) -> str:
    cells = (
        line.entered_at.strftime("%Y-%m-%d %H:%M"),
        line.dispense_class,
        line.patient,
        line.prescriber,
        line.product,
        line.quantity,
        _status(line),
    )
    css = ' class="cancelled"' if line.cancelled else ""
    tds = "".join(f"<td>{escape(c)}</td>" for c in cells)
    return f'<tr{css}><td class="number">{line.number}</td>{tds}</tr>'


def render_html(entries: Sequence[PrintLine], pharmacy_name: str) -> str:
    """A complete HTML document of the entries of one register, numbered, the header repeated on each page."""
    registers = {e.register for e in entries}
    if len(registers) > 1:
        raise PrintRefused(
            f"These lines come from several registers ({', '.join(sorted(registers))}); print one register at a time."
        )
    if not pharmacy_name.strip():
        raise PrintRefused("Give the pharmacy's name: it heads every printed page of the register.")
    title = title_of(next(iter(registers))) if registers else "Register"
    header = f"{escape(pharmacy_name)} — {escape(title)}"
    heads = "".join(f"<th>{escape(c)}</th>" for c in COLUMNS)
    rows = "\n".join(_row(e) for e in sorted(entries, key=lambda e: e.number))
    if not rows:
        rows = f'<tr><td colspan="{len(COLUMNS)}">No entry in this period.</td></tr>'
    return (
        "<!DOCTYPE html>\n"
        '<html lang="fr">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{header}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f'<header class="running">{header}</header>\n'
        "<table>\n<thead>\n"
        f'<tr><th class="banner" colspan="{len(COLUMNS)}">{header}</th></tr>\n'
        f"<tr>{heads}</tr>\n</thead>\n<tbody>\n{rows}\n</tbody>\n</table>\n</body>\n</html>\n"
    )
