"""santegarde conformity: the security measures of the référentiel, their status and evidence (COM-SEC-1)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from santegarde.cli.common import EXIT_REFUSED, ReportJson, console, err_console, friendly_errors
from santegarde.cli.keys import opened
from santegarde.cli.organisation import ConfigOption
from santegarde.config import CONFIG_NAME
from santegarde.governance import conformity as report_module
from santegarde.governance import doctext
from santegarde.governance.documents import FORMATS, DocumentError

app = typer.Typer(help="The conformity report of the security measures.", no_args_is_help=True)


@friendly_errors
def conformity(
    out: Annotated[Path, typer.Option("--out", "-o", help="The report to write: FILE.html, FILE.pdf or FILE.json")],
    strict: Annotated[
        bool, typer.Option(help="Exit non-zero when a measure has no status, lacks a justification or is contradicted")
    ] = False,
    lang: Annotated[str, typer.Option("--lang", help="The report's language: fr (default) or en")] = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
    as_json: ReportJson = False,
) -> None:
    """Write the conformity report: every security measure, its declared status and automatic evidence."""
    if out.suffix.lstrip(".").lower() not in FORMATS:
        raise DocumentError(doctext.refusal("suffix", name=out.name))
    doctext.check_lang(lang)
    with opened(config) as org:
        report = report_module.conformity_report(org, lang=lang)
    report_module.write(report, out)
    s = report.summary()
    problems = report.problems()
    if as_json:  # the summary's counts under their codes, and what --strict refuses
        print(json.dumps({"out": str(out), "summary": s, "problems": problems}, ensure_ascii=False, indent=2))
        if strict and problems:
            raise typer.Exit(EXIT_REFUSED)
        return
    console.print(doctext.words(lang)["cli"]["conformity"].format(out=out, **s), soft_wrap=True, markup=False)
    if strict and problems:
        for problem in problems:
            err_console.print(problem, soft_wrap=True, markup=False)
        err_console.print(f"[bold red]Refused (--strict):[/] {len(problems)} point(s) to complete.", markup=True)
        raise typer.Exit(EXIT_REFUSED)


app.command()(conformity)
