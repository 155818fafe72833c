"""santegarde init | config check."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from santegarde.cli.common import EXIT_REFUSED, console, friendly_errors
from santegarde.config import CONFIG_NAME, Finding, check, load
from santegarde.governance.gaps import MEASURE_STATUS, Gap, gaps
from santegarde.organisation import build_config, init_organisation, parse_assignment
from santegarde.referentials import loader
from santegarde.referentials.model import OrganisationProfile

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", envvar="SANTEGARDE_CONFIG", help="The organisation's configuration file")
]

config_app = typer.Typer(help="Check the organisation's configuration against its référentiel.", no_args_is_help=True)


def print_findings(findings: list[Finding]) -> None:
    if not findings:
        console.print("No deviation and no missing choice: the configuration follows the référentiel's choices.")
        return
    table = Table("severity", "subject", "what", "§", "justification", title="Configuration check")
    colours = {"error": "red", "deviation": "yellow", "warning": "cyan"}
    for f in findings:
        table.add_row(
            f"[{colours[f.severity]}]{f.severity}[/]", f.subject, f.message, f.section or "", f.justification or ""
        )
    console.print(table)


@friendly_errors
def init(
    profile: Annotated[OrganisationProfile, typer.Option("--profile", "-p", help="Kind of organisation")],
    directory: Annotated[Path, typer.Option("--dir", "-d", help="Where to create the organisation")] = Path("."),
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="PostgreSQL URL; SQLite in --dir by default")
    ] = None,
    audit_database_url: Annotated[
        str | None, typer.Option("--audit-database-url", help="The audit trail's own database (default: apart)")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="The organisation's name")] = None,
    from_file: Annotated[
        Path | None, typer.Option("--from", help="Start from this configuration file (choices, deviations)")
    ] = None,
    choice: Annotated[
        list[str] | None, typer.Option("--set", help="Answer a controller choice: ID=VALUE (repeatable)")
    ] = None,
    justify: Annotated[
        list[str] | None, typer.Option("--justify", help="Justify a choice: ID=TEXT (repeatable)")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Re-initialise an existing organisation")] = False,
) -> None:
    """Create an organisation: its configuration file, its databases and its keyring location."""
    choices = dict(parse_assignment(c) for c in choice or [])
    justifications = {k: str(v) for k, v in (parse_assignment(j) for j in justify or [])}
    config, ref = build_config(
        directory,
        profile.value,
        base=from_file,
        database_url=database_url,
        audit_database_url=audit_database_url,
        organisation_name=name,
        choices=choices,
        justifications=justifications,
    )
    result = init_organisation(directory, config, ref, force=force)
    print_findings(result.findings)
    console.print(
        f"Organisation '{config.organisation.name}' set up under {ref.id} ({ref.title}).\n"
        f"  configuration: {result.config_path}\n  keyring: {config.keyring_path}"
    )


def print_gaps(found: list[Gap]) -> None:
    """The gaps the documents would report; the measures with no status in one line, with the commands."""
    measures = [g for g in found if g.kind == MEASURE_STATUS]
    others = [g for g in found if g.kind != MEASURE_STATUS]
    if not found:
        console.print("No gap: every document (notices, register, DPIA, conformity report) has what it needs.")
        return
    if others:
        table = Table("setting", "what is missing and what to do", "reported by", title="Gaps in the documents")
        for g in others:
            table.add_row(g.subject, g.message, ", ".join(g.documents))
        console.print(table)
    if measures:
        console.print(
            f"{len(measures)} security measure(s) have no recorded status, so the conformity report lists them as "
            "points to complete: 'santegarde measure list --missing' shows them, 'santegarde measure set CODE "
            "--status … --evidence … --by NAME' records each.",
            soft_wrap=True,
        )


@config_app.command("check")
@friendly_errors
def config_check(
    config: ConfigOption = Path(CONFIG_NAME),
    strict: Annotated[
        bool, typer.Option("--strict", help="Also exit non-zero when a document would report a gap")
    ] = False,
) -> None:
    """List deviations, missing choices and the gaps the documents would report; exit non-zero on an error."""
    cfg = load(config)
    ref = loader.get(cfg.referential)
    findings = check(cfg, ref)
    print_findings(findings)
    found = gaps(cfg, ref)
    print_gaps(found)
    if any(f.severity == "error" for f in findings) or (strict and found):
        raise typer.Exit(EXIT_REFUSED)
