"""santegarde policy decide | rights | triggers — ask the policy core a question."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from santegarde.cli.common import EXIT_REFUSED, JsonOption, LangOption, console, friendly_errors, show_table
from santegarde.config import basis_choice, effective_referential, load
from santegarde.errors import SantegardeError
from santegarde.governance import rights_text, vocabulary
from santegarde.organisation import parse_assignment
from santegarde.policy import AccessRequest, Decision, decide, dpia_required, dpo_required, rights_for
from santegarde.policy.triggers import Fact
from santegarde.referentials import loader
from santegarde.referentials.model import Art6Basis, Operation, Referential

app = typer.Typer(help="Ask the policy core: access decisions, rights, DPIA and DPO triggers.", no_args_is_help=True)

RefOption = Annotated[str | None, typer.Option("--referential", "-r", help="Référentiel id (instead of --config)")]
CfgOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", envvar="SANTEGARDE_CONFIG", help="Decide as this organisation applies its référentiel"
    ),
]


def _referential(ref_id: str | None, config: Path | None) -> tuple[Referential, Path | None]:
    if config is not None:
        cfg = load(config)
        return effective_referential(cfg, loader.get(cfg.referential)), config
    if ref_id is None:
        raise SantegardeError("say which référentiel to use: --referential ID, or --config FILE for an organisation")
    return loader.get(ref_id), None


@app.command("decide")
@friendly_errors
def decide_cmd(
    profile: Annotated[str, typer.Option(help="Profile of the person acting, e.g. secretariat")],
    operation: Annotated[Operation, typer.Option(help="Operation")],
    category: Annotated[str, typer.Option(help="Data category id, e.g. health")],
    purpose: Annotated[str, typer.Option(help="Declared purpose id, e.g. appointments")],
    referential: RefOption = None,
    config: CfgOption = None,
    consent: Annotated[
        bool, typer.Option(help="Suppose a stored, active Consent covers it (the record path looks it up)")
    ] = False,
    formality: Annotated[str | None, typer.Option(help="Reference of the research formality")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the decision as JSON")] = False,
    lang: LangOption = "fr",
) -> None:
    """Decide one access: allowed or denied, with the rule and the section. Exits 2 when denied."""
    from santegarde.governance import doctext

    said = doctext.words(lang)["policy_desk"]  # checks the language before anything is decided
    ref, _ = _referential(referential, config)
    d = decide(ref, AccessRequest(profile, operation, category, purpose, consent, formality))
    if as_json:
        console.print_json(
            json.dumps(
                {
                    "allowed": d.allowed,
                    "referential": d.referential,
                    "rule": d.rule,
                    "section": d.section,
                    "reason": d.reason,
                    "granularity": d.granularity,
                    "condition": d.condition,
                }
            )
        )
    else:
        console.print(_decision_words(ref, d, said, lang), soft_wrap=True, markup=False)
    if not d.allowed:
        raise typer.Exit(EXIT_REFUSED)


def _named(ref: Referential, kind: str, item_id: str, lang: str) -> str:
    """An item of the référentiel by its name in ``lang`` (what was typed, for an item it does not have)."""
    try:
        return vocabulary.label(ref, kind, item_id, lang)
    except vocabulary.VocabularyError:
        return item_id


def _decision_words(ref: Referential, d: Decision, said: dict[str, Any], lang: str) -> str:
    """A decision as a sentence in ``lang``: the verdict, the rule and section, why, and who/what/for what by name."""
    req = d.request
    facts = {
        "referential": d.referential,
        "section": d.section,
        "rule": d.rule,
        "profile": _named(ref, "accessor", req.profile, lang),
        "operation": said["operations"][str(req.operation)],
        "category": _named(ref, "category", req.category, lang),
        "purpose": _named(ref, "purpose", req.purpose, lang),
    }
    if d.allowed:
        return str(said["allowed"]).format(**facts)
    return str(said["denied"]).format(reason=d.reason_in(lang), **facts)


@app.command()
@friendly_errors
def rights(
    purpose: Annotated[str, typer.Option(help="Purpose id")],
    referential: RefOption = None,
    config: CfgOption = None,
    basis: Annotated[Art6Basis | None, typer.Option(help="Legal basis, when the text leaves the choice")] = None,
    lang: Annotated[str, typer.Option("--lang", help="fr or en")] = "fr",
    as_json: JsonOption = False,
) -> None:
    """Which rights apply to a purpose, with the article, the section and the reason (French by default)."""
    ref, cfg_path = _referential(referential, config)
    chosen = basis or (basis_choice(load(cfg_path), ref, purpose) if cfg_path else None)
    fr = lang == "fr"
    name = vocabulary.label(ref, "purpose", purpose, lang) if ref.purpose(purpose) else purpose
    table = Table(
        *(("droit", "s'applique", "article", "§", "pourquoi") if fr else ("right", "applies", "article", "§", "why")),
        title=(f"Droits pour « {name} » ({ref.id})" if fr else f"Rights for '{name}' under {ref.id}"),
    )
    for decision in rights_for(ref, purpose, chosen).values():
        table.add_row(
            rights_text.right_name(decision.right, lang),
            ("oui" if fr else "yes") if decision.applies else ("[red]non[/]" if fr else "[red]no[/]"),
            rights_text.article(decision, lang),
            decision.section,
            rights_text.reason(decision, lang),
        )
    show_table(table, as_json)


@app.command()
@friendly_errors
def triggers(
    referential: RefOption = None,
    config: CfgOption = None,
    fact: Annotated[list[str] | None, typer.Option(help="An organisation fact: NAME=VALUE (repeatable)")] = None,
) -> None:
    """Whether a DPIA and a DPO are required, and why."""
    ref, cfg_path = _referential(referential, config)
    facts: dict[str, Fact] = dict(load(cfg_path).facts) if cfg_path else {}
    for key, value in (parse_assignment(f) for f in fact or []):
        try:
            facts[key] = value if isinstance(value, bool) else float(value)
        except ValueError:
            raise SantegardeError(f"the fact '{key}' must be a number or true/false, not '{value}'") from None
    for decision in (dpia_required(ref, facts), dpo_required(ref, facts)):
        console.print(str(decision), soft_wrap=True)
