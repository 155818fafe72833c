"""A printable register (PHA-3): an HTML document whose header (pharmacy, register title) repeats on every page.

Plain string building with ``html.escape``. The lines given here were read through the record service by
:meth:`PharmacyRegister.print_lines`, so every read is authorised and traced; this module only lays them out.
The wording is the documents' (``documents_text.yaml``, ``pharmacy_print``): French by default, dates as
``dd/mm/yyyy`` in Paris time; English on request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from santegarde.errors import SantegardeError
from santegarde.governance.doctext import words

PARIS = ZoneInfo("Europe/Paris")  # the pharmacy's registers are kept in the time of metropolitan France

STYLE = """
@page { size: A4 landscape; margin: 18mm 12mm 14mm 12mm;
        @top-center { content: element(running-header); }
        @bottom-right { content: "%PAGE% " counter(page) " / " counter(pages); font-size: 8pt; } }
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


def wording(lang: str) -> dict[str, Any]:
    """The registers' fixed words in ``lang`` (titles, columns, classes, statuses), also those of the console's
    register page."""
    table: dict[str, Any] = words(lang)["pharmacy_print"]
    return table


def status_of(line: PrintLine, w: dict[str, Any]) -> str:
    """An entry's state as the register says it: cancelled, validated or to validate, and what it corrects."""
    parts = [w["cancelled"] if line.cancelled else (w["validated"] if line.validated else w["not_validated"])]
    if line.corrects is not None:
        parts.append(w["corrects"].format(n=line.corrects))
    return ", ".join(parts)


def title_of(register: str, lang: str = "fr") -> str:
    """The printed title of a register."""
    return str(wording(lang)["titles"].get(register, register))


def _row(line: PrintLine, w: dict[str, Any]) -> str:
    cells = (
        line.entered_at.astimezone(PARIS).strftime(w["moment"]),
        w["classes"].get(line.dispense_class, line.dispense_class),
        line.patient,
        line.prescriber,
        line.product,
        line.quantity,
        status_of(line, w),
    )
    css = ' class="cancelled"' if line.cancelled else ""
    tds = "".join(f"<td>{escape(c)}</td>" for c in cells)
    return f'<tr{css}><td class="number">{line.number}</td>{tds}</tr>'


def render_html(entries: Sequence[PrintLine], pharmacy_name: str, lang: str = "fr") -> str:
    """A complete HTML document of the entries of one register, numbered, the header repeated on each page, in
    ``lang`` (French by default)."""
    w = wording(lang)
    registers = {e.register for e in entries}
    if len(registers) > 1:
        raise PrintRefused(
            f"These lines come from several registers ({', '.join(sorted(registers))}); print one register at a time."
        )
    if not pharmacy_name.strip():
        raise PrintRefused("Give the pharmacy's name: it heads every printed page of the register.")
    title = title_of(next(iter(registers)), lang) if registers else w["register"]
    header = f"{escape(pharmacy_name)} — {escape(title)}"
    columns = w["columns"]
    heads = "".join(f"<th>{escape(c)}</th>" for c in columns)
    rows = "\n".join(_row(e, w) for e in sorted(entries, key=lambda e: e.number))
    if not rows:
        rows = f'<tr><td colspan="{len(columns)}">{escape(w["empty"])}</td></tr>'
    style = STYLE.replace("%PAGE%", w["page"])
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{header}</title>\n<style>{style}</style>\n</head>\n<body>\n"
        f'<header class="running">{header}</header>\n'
        "<table>\n<thead>\n"
        f'<tr><th class="banner" colspan="{len(columns)}">{header}</th></tr>\n'
        f"<tr>{heads}</tr>\n</thead>\n<tbody>\n{rows}\n</tbody>\n</table>\n</body>\n</html>\n"
    )
