"""santegarde dpia check | generate | export-pia | status: the DPIA (COM-DPIA-1, AAC-13, EDS-13).

Works from the configuration and the référentiel only: no database, no keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from santegarde.cli.common import EXIT_REFUSED, console, friendly_errors
from santegarde.cli.organisation import ConfigOption
from santegarde.config import CONFIG_NAME, load
from santegarde.governance import doctext, dpia, gaps
from santegarde.policy import trigger_facts
from santegarde.referentials import loader

app = typer.Typer(help="The data protection impact assessment: required?, pre-filled, exported.", no_args_is_help=True)

OutOption = Annotated[Path, typer.Option("--out", "-o", help="The file to write")]
StrictOption = Annotated[bool, typer.Option("--strict", help="Exit non-zero when the configuration lacks something")]
LangOption = Annotated[str, typer.Option("--lang", help="fr (default) or en")]


def _missing(missing: list[str], strict: bool, lang: str = "en") -> None:
    label = doctext.words(lang)["cli"]["missing"]
    for line in missing:
        console.print(f"[yellow]{label}[/] {escape(line)}", soft_wrap=True)
    if strict and missing:
        raise typer.Exit(EXIT_REFUSED)


@app.command("check")
@friendly_errors
def check_command(
    config: ConfigOption = Path(CONFIG_NAME), strict: StrictOption = False, lang: LangOption = "fr"
) -> None:
    """Say whether a DPIA and a DPO are required, and why (in French unless --lang en); name what is missing."""
    doctext.check_lang(lang)
    cfg = load(config)
    ref = loader.get(cfg.referential)
    duty = dpia.obligations(cfg, ref, lang)
    for decision, rule in ((duty.dpia, ref.dpia), (duty.dpo, ref.dpo)):
        console.print(doctext.trigger(decision, rule, lang), soft_wrap=True, markup=False)
    declared = {name: cfg.facts[name] for name in trigger_facts(ref) if name in cfg.facts}
    if declared:
        facts = ", ".join(f"{name} = {value}" for name, value in declared.items())
        console.print(doctext.words(lang)["cli"]["facts"].format(facts=facts), soft_wrap=True, markup=False)
    _missing([g.in_language(lang) for g in gaps.gaps_for(cfg, ref, gaps.DPIA)], strict, lang)


@app.command("generate")
@friendly_errors
def generate(
    out: OutOption, config: ConfigOption = Path(CONFIG_NAME), strict: StrictOption = False, lang: LangOption = "fr"
) -> None:
    """Write the pre-filled DPIA (.html, .pdf or .json, in French unless --lang en) and remember what it covered."""
    document = dpia.generate(config, out, lang)
    plan = len(document["action_plan"])
    said = doctext.words(lang)["cli"]
    console.print(said["dpia"].format(out=out, plan=plan), markup=False)
    console.print(said["snapshot"].format(path=dpia.snapshot_path(config)), markup=False)
    _missing(document["obligations"]["missing"], strict, lang)


@app.command("export-pia")
@friendly_errors
def export_pia(out: OutOption, config: ConfigOption = Path(CONFIG_NAME), lang: LangOption = "fr") -> None:
    """Write the DPIA as JSON for the CNIL's PIA tool (import it there), in French unless --lang en."""
    pia = dpia.export_pia(config, out, lang)
    said = doctext.words(lang)["cli"]
    console.print(said["pia"].format(out=out, answers=len(pia["answers"]), measures=len(pia["measures"])), markup=False)


@app.command("status")
@friendly_errors
def status(config: ConfigOption = Path(CONFIG_NAME), lang: LangOption = "fr") -> None:
    """Say whether the DPIA needs a review and what changed since it was generated (exit 1 when it does)."""
    found = dpia.review_needed(config, lang)
    said = doctext.words(lang)["dpia_review"]
    if not found:
        console.print(said["up_to_date"], markup=False)
        return
    console.print(said["needs_review"], markup=False)
    for line in found:
        console.print(f"  - {line}", soft_wrap=True, markup=False)
    raise typer.Exit(1)
