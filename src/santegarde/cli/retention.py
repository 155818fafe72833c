"""santegarde retention plan | run | event | assign | hold: automatic archiving and end of retention (COM-RET-1).

Access to the archive (``santegarde archive access``) needs a user session, which the CLI does not
open yet: it is available through ``RecordService.read_archived`` (and so the API) only.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from santegarde import refusals
from santegarde.cli.common import JsonOption, LangOption, console, friendly_errors, show_table, table_rows
from santegarde.cli.keys import opened
from santegarde.cli.organisation import ConfigOption
from santegarde.config import CONFIG_NAME
from santegarde.errors import WordedError
from santegarde.lifecycle import retention
from santegarde.referentials.model import Referential
from santegarde.store.retention import Note

app = typer.Typer(
    help="Retention: automatic archiving, then deletion or anonymisation at expiry.", no_args_is_help=True
)
hold_app = typer.Typer(help="Legal holds: data under a hold are never destroyed.", no_args_is_help=True)
app.add_typer(hold_app, name="hold")

At = Annotated[str | None, typer.Option("--at", help="The date to plan at (ISO 8601, UTC); default now")]
RunAt = Annotated[
    str | None,
    typer.Option("--at", help="Run as at this past date (ISO 8601, UTC); default now. Never in the future: plan it."),
]
By = Annotated[str, typer.Option("--by", help="Who records it (recorded in the audit trail)")]


def _said(lang: str) -> dict[str, Any]:
    """What the retention commands print, in ``lang`` (documents_text.yaml, retention_desk)."""
    from santegarde.governance import doctext

    found: dict[str, Any] = doctext.words(lang)["retention_desk"]
    return found


def _refused(key: str, **facts: Any) -> WordedError:
    """A refusal of the retention commands in French and English (refusals.yaml, retention)."""
    from santegarde import refusals

    return WordedError(refusals.sentences("retention", key, **facts))


def _when(value: str | None, label: str = "--at") -> datetime:
    if not value:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _refused("bad_date", option=label) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


@app.command("plan")
@friendly_errors
def plan(
    at: At = None, lang: LangOption = "fr", config: ConfigOption = Path(CONFIG_NAME), as_json: JsonOption = False
) -> None:
    """Show, per rule, what a run would archive and end now, and what is held or waiting."""
    said = _said("en" if as_json else lang)  # --json: stable keys for scripts
    with opened(config) as org:
        p = retention.plan(org, _when(at))
    table = Table(title=said["plan_title"].format(at=p.at.strftime(said["date_time"])))
    for column in said["columns"]:
        table.add_column(column)
    ref = org.referential
    for line in p.lines:
        table.add_row(
            line.rule if as_json else _named(ref, "retention", line.rule, lang),
            line.section,
            line.end_action if as_json else _end_action(line.end_action, lang),
            *(str(n) for n in (line.active, line.archived, line.archive_now, line.end_now, line.held, line.waiting)),
        )
    if as_json:  # the rows with their notes, and the records no rule covers
        notes = [[_note(ref, n, "en") for n in line.notes] for line in p.lines]
        rules = [{**row, "Notes": found} for row, found in zip(table_rows(table), notes, strict=True)]
        found = {"at": p.at.isoformat(), "rules": rules, "unruled": p.unruled, "unruled_purposes": p.unruled_purposes}
        print(json.dumps(found, ensure_ascii=False, indent=2))
        return
    show_table(table)
    for line in p.lines:
        for note in line.notes:
            rule = _named(ref, "retention", line.rule, lang)
            console.print(f"{rule}{' : ' if lang == 'fr' else ': '}{_note(ref, note, lang)}", markup=False)
    if p.unruled:
        purposes = ", ".join(_named(ref, "purpose", purpose, lang) for purpose in p.unruled_purposes)
        console.print(said["unruled"].format(n=p.unruled, purposes=purposes), markup=False)


def _named(ref: Referential, kind: str, item_id: str, lang: str) -> str:
    """An item of the référentiel by its name in ``lang`` (its identifier only if the text has no such item)."""
    from santegarde.governance import vocabulary

    try:
        return vocabulary.label(ref, kind, item_id, lang)
    except vocabulary.VocabularyError:
        return item_id


def _end_action(action: str, lang: str) -> str:
    return refusals.sentences("retention_notes", f"end_{action}")[lang]


def _note(ref: Referential, note: Note, lang: str) -> str:
    """A note of the plan in ``lang``, the référentiel's items named (catalogue area ``retention_notes``)."""
    facts = {
        "event": _named(ref, "event", note.event, lang) if note.event else "",
        "rule": _named(ref, "retention", note.rule, lang) if note.rule else "",
        "others": ", ".join(_named(ref, "retention", other, lang) for other in note.others),
        "purpose": _named(ref, "purpose", note.purpose, lang) if note.purpose else "",
    }
    return refusals.sentences("retention_notes", note.key, **facts)[lang]


@app.command("run")
@friendly_errors
def run(
    at: RunAt = None,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Records per transaction")] = 500,
    lang: LangOption = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Archive and end what is due now, in transactional batches traced before they commit (safe to kill, re-run)."""
    said = _said(lang)
    when = _when(at)
    if when > datetime.now(UTC):
        raise _refused("future_run", at=at)
    label = TextColumn(said["progress"])
    with (
        opened(config) as org,
        Progress(label, BarColumn(), MofNCompleteColumn(), console=console, transient=True) as bar,
    ):
        task = bar.add_task("retention", total=None)
        report = retention.run(org, when, batch, lambda done, total: bar.update(task, completed=done, total=total))
    counts = {"archived": report.archived, "deleted": report.deleted, "anonymised": report.anonymised}
    console.print(
        said["ran"].format(**counts, keys=report.keys_destroyed, held=report.held, waiting=report.waiting),
        markup=False,
    )
    if report.keys_destroyed:
        console.print(said["escrow"])


@app.command("event")
@friendly_errors
def event(
    name: Annotated[str, typer.Option("--event", help="e.g. summary_report_approved, authorisation_expired")],
    at: Annotated[str, typer.Option("--at", help="When it happened (ISO 8601)")],
    by: By,
    patient: Annotated[str | None, typer.Option("--patient", help="The patient's id")] = None,
    record: Annotated[str | None, typer.Option("--record", help="The record's id")] = None,
    lang: LangOption = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Record the date of an event a retention phase runs from (per patient or per record)."""
    said = _said(lang)
    if (patient is None) == (record is None):
        raise _refused("one_scope")
    scope, ident = ("patient", patient) if patient is not None else ("record", record)
    assert ident is not None
    with opened(config) as org:
        retention.record_event(org, scope, ident, name, _when(at), datetime.now(UTC), by)
    console.print(said["event"].format(name=name, scope=said["scopes"][scope], id=ident), markup=False)


@app.command("assign")
@friendly_errors
def assign(
    record: Annotated[str, typer.Argument(help="The record's id")],
    rule: Annotated[str, typer.Argument(help="The retention rule's id, e.g. fse_duplicates")],
    by: By,
    lang: LangOption = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Record the retention rule that governs one record, instead of its purpose's."""
    said = _said(lang)
    with opened(config) as org:
        retention.assign_rule(org, record, rule, by)
    console.print(said["assigned"].format(record=record, rule=rule), markup=False)


@hold_app.command("add")
@friendly_errors
def hold_add(
    reason: Annotated[str, typer.Option("--reason", help="Why (e.g. litigation pending)")],
    by: By,
    patient: Annotated[str | None, typer.Option("--patient")] = None,
    record: Annotated[str | None, typer.Option("--record")] = None,
    until: Annotated[str | None, typer.Option("--until", help="End of the hold, if known")] = None,
    lang: LangOption = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Put a patient's file or a record under a legal hold."""
    said = _said(lang)
    if (patient is None) == (record is None):
        raise _refused("one_scope")
    scope, ident = ("patient", patient) if patient is not None else ("record", record)
    assert ident is not None
    with opened(config) as org:
        number = retention.add_hold(
            org, scope, ident, reason, datetime.now(UTC), by, _when(until, "--until") if until else None
        )
    console.print(said["held"].format(number=number, scope=said["scopes"][scope], id=ident), markup=False)


@hold_app.command("release")
@friendly_errors
def hold_release(
    number: Annotated[int, typer.Argument(help="The hold's number")],
    by: By,
    lang: LangOption = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Release a legal hold: the data follow their retention rule again."""
    said = _said(lang)
    with opened(config) as org:
        retention.release_hold(org, number, datetime.now(UTC), by)
    console.print(said["released"].format(number=number))
