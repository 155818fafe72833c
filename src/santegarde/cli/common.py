"""What every CLI command shares: the console and the translation of domain errors into sentences."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from santegarde.errors import SantegardeError, WordedError

# The language of what a command prints, its refusals included (friendly_errors reads it): French by default.
LangOption = Annotated[str, typer.Option("--lang", help="The language of what the command prints: fr (default) or en")]

P = ParamSpec("P")
R = TypeVar("R")

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

EXIT_REFUSED = 2

# Every command that prints a table takes --json: the same rows for scripts (show_table).
JsonOption = Annotated[bool, typer.Option("--json", help="Print the rows as JSON (a list of objects), for scripts")]
# A report's --json: one object with the facts the report prints, under stable English keys (whatever --lang says).
ReportJson = Annotated[
    bool, typer.Option("--json", help="Print the report as one JSON object (stable English keys), for scripts")
]


def show_table(table: Table, as_json: bool = False) -> None:
    """A command's table, whole: on a terminal as Rich lays it out; piped or redirected, as wide as its content needs
    (ids and values never cut at 80 columns); with ``--json``, its rows as a JSON list of objects keyed by the column
    headers, the cells' plain text."""
    if as_json:
        print(json.dumps(table_rows(table), ensure_ascii=False, indent=2))
        return
    if console.is_terminal:
        console.print(table)
        return
    wanted = Measurement.get(console, console.options.update_width(10_000), table).maximum
    Console(highlight=False, width=max(console.width, wanted)).print(table)


def table_rows(table: Table) -> list[dict[str, str]]:
    """The rows of a table as objects keyed by its column headers (plain text, markup removed)."""
    headers = [_plain(c.header) for c in table.columns]
    columns = [[_plain(cell) for cell in c.cells] for c in table.columns]
    return [dict(zip(headers, row, strict=True)) for row in zip(*columns, strict=True)]


def _plain(cell: Any) -> str:
    if isinstance(cell, Text):
        return cell.plain
    if isinstance(cell, str):
        return Text.from_markup(cell).plain
    return str(cell)


def friendly_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Print a domain error as the sentence it carries, and exit non-zero; never a traceback.

    An error worded in several languages (``WordedError``) is printed in the command's ``--lang`` (French
    when the command has none), as the command's documents are.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except SantegardeError as exc:
            if isinstance(exc, WordedError):
                asked = str(kwargs.get("lang") or "fr")
                lang = asked if asked in exc.sentences else "fr"  # e.g. --lang de: refused in French
                label = "Erreur :" if lang == "fr" else "Error:"
                err_console.print(f"[bold red]{label}[/] {exc.in_language(lang)}", markup=True, soft_wrap=True)
            else:
                err_console.print(f"[bold red]Error:[/] {exc}", markup=True, soft_wrap=True)
            raise typer.Exit(EXIT_REFUSED) from None

    return wrapper
