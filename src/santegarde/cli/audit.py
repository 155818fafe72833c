"""santegarde audit verify | seal-head | restart-anchor | review | close | export | purge."""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from santegarde.audit.review import close_anomaly, overdue_warning, report, start_review, to_json
from santegarde.audit.trail import AuditEvent
from santegarde.cli.common import EXIT_REFUSED, LangOption, console, err_console, friendly_errors
from santegarde.cli.keys import opened
from santegarde.cli.organisation import ConfigOption
from santegarde.config import CONFIG_NAME
from santegarde.errors import WordedError
from santegarde.store import justifications

app = typer.Typer(help="The audit trail: verify it, review it, export it, purge it.", no_args_is_help=True)


def _said(lang: str) -> dict[str, Any]:
    """What the audit commands print, in ``lang`` (documents_text.yaml, audit_desk)."""
    from santegarde.governance import doctext

    found: dict[str, Any] = doctext.words(lang)["audit_desk"]
    return found


@app.command()
@friendly_errors
def verify(lang: LangOption = "fr", config: ConfigOption = Path(CONFIG_NAME)) -> None:
    """Check the whole trail; exits 2 on any edited, deleted, inserted, re-ordered or truncated entry.

    The sealed head must be the last entry, every checkpoint must be there, and the anchor file
    (audit.anchor beside the configuration) must agree: an emptied, rewritten or older copy of the
    audit database fails.
    """
    # The report is printed before the command is journaled, which a tampered trail refuses in a sentence of its own.
    said = _said(lang)
    with opened(config) as org:
        result = org.audit.verify()
        if result.intact:
            agreement = "" if result.notes else said["agreement"]
            intact = said["intact"].format(entries=result.entries, checkpoints=result.checkpoints, agreement=agreement)
            console.print(intact)
            for note in result.notes:
                console.print(said["note"].format(note=note.in_language(lang)), markup=False)
            return
        err_console.print(said["not_intact"].format(n=len(result.problems)))
        for problem in result.problems:
            said_problem = problem.in_language(lang)  # a clause: a capital letter as an item of the list
            err_console.print(f"  - {said_problem[:1].upper()}{said_problem[1:]}", markup=False)
        raise typer.Exit(EXIT_REFUSED)


@app.command("seal-head")
@friendly_errors
def seal_head(lang: LangOption = "fr", config: ConfigOption = Path(CONFIG_NAME)) -> None:
    """Seal the head of a trail written before heads were sealed (once, after an upgrade), if nothing else is wrong."""
    said = _said(lang)
    with opened(config) as org:
        seq = org.audit.seal_head()
    console.print(said["sealed"].format(seq=seq))


@app.command("restart-anchor")
@friendly_errors
def restart_anchor(lang: LangOption = "fr", config: ConfigOption = Path(CONFIG_NAME)) -> None:
    """After restoring the audit database from a verified backup on purpose: keep the old anchor file, start anew."""
    said = _said(lang)
    with opened(config) as org:
        kept = org.audit.restart_anchor(getpass.getuser())
    console.print(said["anchor_kept"].format(name=kept.name) if kept else said["anchor_none"], markup=False)


@app.command()
@friendly_errors
def review(
    reviewer: Annotated[str, typer.Option(help="Who runs the review")],
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Look for anomalies since the last review and print the report."""
    with opened(config) as org:
        review_id = start_review(org.audit, reviewer)
        with org.audit.engine.connect() as conn:
            typer.echo(to_json(report(conn, review_id)))


@app.command()
@friendly_errors
def close(
    anomaly: Annotated[int, typer.Argument(help="Anomaly number from the report")],
    operator: Annotated[str, typer.Option(help="Who closes it")],
    comment: Annotated[str, typer.Option(help="What was checked and concluded")],
    lang: LangOption = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Close one anomaly with a comment; the review closes when its last anomaly does."""
    said = _said(lang)
    with opened(config) as org, org.audit.engine.begin() as conn:
        close_anomaly(conn, anomaly, operator, comment)
    console.print(said["closed"].format(n=anomaly))


@app.command()
@friendly_errors
def justification(
    number: Annotated[int, typer.Argument(help="Justification number, from the review report or the trail entry")],
    reviewer: Annotated[str, typer.Option(help="Who reads it (the reading is traced)")],
    lang: LangOption = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Show the written reason of an exceptional access (break-the-glass, research formality); the reading is traced."""
    said = _said(lang)
    with opened(config) as org:
        found = justifications.read(org.engine, number)
        org.audit.append(
            AuditEvent(
                actor=reviewer,
                profile="audit_reviewer",
                operation="audit.justification.read",
                resource_type="Justification",
                resource_id=str(number),
                purpose="trace_review",
                allowed=True,
                rule="COM-LOG-4",
                section="",
                outcome="success",
                patient=found.patient or "",
            )
        )
    kind = said["kinds_and"].join(said["kinds"].get(k, k) for k in found.kind.split("+"))
    at = found.at.strftime(said["date_time"])
    heading = said["justification"].format(n=found.number, kind=kind, at=at, login=found.login, resource=found.resource)
    console.print(heading, markup=False)
    console.print(f"  {found.text}", markup=False, highlight=False)


@app.command()
@friendly_errors
def status(lang: LangOption = "fr", config: ConfigOption = Path(CONFIG_NAME)) -> None:
    """Say whether a review of the traces is due (at least every two months)."""
    said = _said(lang)
    with opened(config) as org, org.audit.engine.connect() as conn:
        warning = overdue_warning(conn)
    console.print(warning or said["review_recent"])


@app.command()
@friendly_errors
def export(
    config: ConfigOption = Path(CONFIG_NAME),
    request_id: Annotated[
        str | None,
        typer.Option(help="Only the entries written while answering this request (the request_id of a log line)"),
    ] = None,
) -> None:
    """Print the trail as a FHIR Bundle of AuditEvent resources (references only)."""
    with opened(config) as org:
        events = list(org.audit.as_fhir_audit_events(request_id))
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": e} for e in events]}
    typer.echo(json.dumps(bundle, ensure_ascii=False, indent=2))


@app.command()
@friendly_errors
def purge(
    months: Annotated[int, typer.Option(help="Keep this many months of traces (6 to 12)")] = 12,
    lang: LangOption = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Delete traces older than the retention, keeping the rest verifiable (COM-LOG-3)."""
    said = _said(lang)
    if not 6 <= months <= 12:
        from santegarde import refusals

        raise WordedError(refusals.sentences("audit_cli", "purge_months"))
    with opened(config) as org:
        removed = org.audit.purge(datetime.now(UTC) - timedelta(days=round(months * 30.44)))
    console.print(said["purged"].format(n=removed, months=months))
