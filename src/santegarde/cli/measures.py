"""santegarde measure set | list: the status of each security measure, who recorded it and when (COM-SEC-1).

``set`` opens the organisation (its keys) to trace every change in the audit trail; ``list`` reads the
configuration file only. Both speak French by default (``--lang en``), as the documents do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from santegarde.cli.common import JsonOption, console, friendly_errors, show_table
from santegarde.cli.keys import opened
from santegarde.cli.organisation import ConfigOption
from santegarde.config import CONFIG_NAME, load
from santegarde.governance import doctext, measures
from santegarde.referentials import loader

app = typer.Typer(help="Record and list the status of the référentiel's security measures.", no_args_is_help=True)
Lang = Annotated[str, typer.Option("--lang", help="Language of the messages: fr (default) or en")]


@app.command("set")
@friendly_errors
def set_status(
    code: Annotated[str, typer.Argument(help="The measure's code in the référentiel, e.g. PHA-PRO-1")],
    status: Annotated[str, typer.Option("--status", help=" | ".join(measures.STATUS_CHOICES))],
    evidence: Annotated[str, typer.Option("--evidence", help="What shows the status: a document, a procedure")],
    by: Annotated[str, typer.Option("--by", help="Who records the status")],
    justification: Annotated[
        str | None,
        typer.Option("--justification", help="Why, for a status other than implemented (at least 20 characters)"),
    ] = None,
    config: ConfigOption = Path(CONFIG_NAME),
    lang: Lang = "fr",
) -> None:
    """Record a measure's status in the configuration (deviations.measures) and the audit trail."""
    doctext.check_lang(lang)
    cfg = load(config)
    # Validated before the keys are asked for: a refused status opens nothing and writes nothing.
    measures.statused(
        cfg, loader.get(cfg.referential), code, status, evidence=evidence, by=by, justification=justification
    )
    with opened(config) as org:
        entry = measures.record(
            config, code, status, evidence=evidence, by=by, justification=justification, trail=org.audit
        )
    when = (
        f"{entry.set_at:%d/%m/%Y %H:%M} UTC" if lang == "fr" and entry.set_at else f"{entry.set_at:%Y-%m-%d %H:%M} UTC"
    )
    console.print(
        measures.said(
            "recorded", lang, code=entry.code, status=measures.state_words(entry.status, lang), by=entry.set_by, at=when
        ),
        soft_wrap=True,
        markup=False,
    )


@app.command("list")
@friendly_errors
def list_statuses(
    missing: Annotated[bool, typer.Option("--missing", help="Only the measures with no status yet")] = False,
    config: ConfigOption = Path(CONFIG_NAME),
    lang: Lang = "fr",
    as_json: JsonOption = False,
) -> None:
    """List the référentiel's measures with their recorded status, evidence, author and date."""
    doctext.check_lang(lang)
    cfg = load(config)
    ref = loader.get(cfg.referential)
    found = measures.rows(cfg, ref, missing=missing)
    if not found and not as_json:
        console.print(measures.said("all_set", lang, rid=ref.id), markup=False)
        return
    columns: list[str] = doctext.words(lang)["cli"]["measure"]["columns"]
    table = Table(*columns, title=measures.said("table_title", lang, rid=ref.id))
    for row in found:
        s = row.status
        table.add_row(
            row.measure.code,
            escape(doctext.measure_title(row.measure, ref, lang)),
            row.measure.section,
            measures.state_words(s.status, lang) if s else f"[yellow]{measures.said('no_status', lang)}[/]",
            escape(s.evidence or "") if s else "",
            escape(s.set_by or "") if s else "",
            f"{s.set_at:%Y-%m-%d %H:%M}" if s and s.set_at else "",
        )
    show_table(table, as_json)
    if missing and not as_json:
        console.print(measures.said("without_status", lang, n=len(found)), soft_wrap=True, markup=False)
