"""What every CLI command shares: the console and the translation of domain errors into sentences."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console

from santegarde.errors import SantegardeError, WordedError

# The language of what a command prints, its refusals included (friendly_errors reads it): French by default.
LangOption = Annotated[
    str, typer.Option("--lang", help="The language of what the command prints: fr (default) or en")
]

P = ParamSpec("P")
R = TypeVar("R")

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

EXIT_REFUSED = 2


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
