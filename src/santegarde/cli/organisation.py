"""santegarde init | config check."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from santegarde.cli.common import EXIT_REFUSED, ReportJson, console, friendly_errors
from santegarde.config import CONFIG_NAME, ConfigurationRefused, Finding, check, errors, load
from santegarde.errors import WordedError
from santegarde.governance import doctext, vocabulary
from santegarde.governance.gaps import MEASURE_STATUS, Gap, gaps
from santegarde.organisation import (
    LEGAL_BASIS_PREFIX,
    InitAnswers,
    LegalBasisRefused,
    build_config,
    check_art6,
    check_art9,
    check_basis_justification,
    init_organisation,
    needs_art9,
    parse_assignment,
)
from santegarde.policy import dpo_required, trigger_facts
from santegarde.referentials import loader
from santegarde.referentials.model import Art6Basis, Art9Condition, OrganisationProfile, Referential

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", envvar="SANTEGARDE_CONFIG", help="The organisation's configuration file")
]

config_app = typer.Typer(help="Check the organisation's configuration against its référentiel.", no_args_is_help=True)


def findings_document(findings: list[Finding], ref: Referential, lang: str = "fr") -> list[dict[str, Any]]:
    """config check's findings as ``--json`` prints them: codes under stable keys, the sentence in ``lang``."""
    return [
        {
            "severity": f.severity,
            "kind": f.kind,
            "setting": f.subject,
            "finding": doctext.finding(f, ref, lang),
            "section": f.section,
            "justification": f.justification,
        }
        for f in findings
    ]


def gaps_document(found: list[Gap], lang: str = "fr") -> list[dict[str, Any]]:
    """The gaps the documents would report, as ``--json`` prints them (the sentence in ``lang``)."""
    return [
        {"kind": g.kind, "setting": g.subject, "gap": g.in_language(lang), "documents": list(g.documents)}
        for g in found
    ]


def print_findings(findings: list[Finding], ref: Referential, lang: str = "fr") -> None:
    """config check's findings as a table in ``lang``."""
    t = doctext.words(lang)["findings"]
    if not findings:
        console.print(t["none"], markup=False)
        return
    table = Table(*t["columns"], title=t["title"])
    colours = {"error": "red", "deviation": "yellow", "warning": "cyan"}
    for f in findings:
        table.add_row(
            f"[{colours[f.severity]}]{t['severities'][f.severity]}[/]",
            escape(doctext.setting(f.subject, ref, lang)),
            escape(doctext.finding(f, ref, lang)),
            f.section or "",
            escape(f.justification or ""),
        )
    console.print(table)


# The gaps init can answer, in the order it asks: the facts decide whether a DPO is required.
INIT_GAPS = (
    "trigger_fact",
    "controller_contact",
    "dpo_missing",
    "no_dpo_reason",
    "dpo_email",
    "data_protection_policy",
)
# Asked at a terminal, otherwise left to config check and the notices (which refuse until it is recorded):
# the legal basis of a purpose the text leaves open (--set legal_basis.PURPOSE=ART6[+ART9]).
ASKED_AT_A_TERMINAL = ("legal_basis",)


def _refusal(lang: str, lines: list[str], *, then_dpo: bool) -> str:
    """Why init cannot go on without a terminal, naming every option to give, in ``lang``."""
    words = doctext.words(lang)["gaps"]
    listed = [*lines, words["init_then_dpo"]] if then_dpo else lines
    return str(words["init_refused"]) + "".join(f"\n  - {line}" for line in listed)


def _interactive() -> bool:
    """Prompts only when a person is at the terminal; CI=true runs and pipes get a refusal naming the option."""
    return sys.stdin.isatty()


def _ask_legal_basis(gap: Gap, ref: Referential, answers: InitAnswers, lang: str) -> InitAnswers:
    """The legal basis of a purpose the text leaves open: art. 6.1, the art. 9.2 condition for health data, why."""
    said = doctext.words(lang)["init"]
    purpose_id = gap.subject.removeprefix("deviations.legal_basis.")
    purpose = ref.purpose(purpose_id)
    name = vocabulary.label(ref, "purpose", purpose_id, lang) if purpose else purpose_id
    console.print(said["legal_basis_intro"].format(name=name), markup=False, soft_wrap=True)
    question = said["art6"].format(options=", ".join(b.value for b in Art6Basis))
    art6 = _ask_until(question, lambda text: check_art6(purpose_id, text), lang)
    value = art6
    if purpose is not None and needs_art9(ref, purpose):
        question = said["art9"].format(options=", ".join(c.value for c in Art9Condition))
        health = purpose
        value += "+" + _ask_until(question, lambda text: check_art9(ref, health, art6, text.strip()), lang)
    why = _ask_until(said["why_basis"], lambda text: check_basis_justification(purpose_id, text), lang)
    return replace(answers, legal_bases={**answers.legal_bases, purpose_id: (value, why)})


def _ask_until(question: str, check: Callable[[str], str], lang: str) -> str:
    """Ask until the answer stands: a mistyped one is told why, with the valid choices, and asked again."""
    while True:
        try:
            return check(typer.prompt(question))
        except LegalBasisRefused as refused:
            console.print(f"[yellow]{escape(refused.in_language(lang))}[/]", soft_wrap=True)


def _ask(
    gap: Gap, ref: Referential, answers: InitAnswers, facts: dict[str, float | int | bool], lang: str = "fr"
) -> InitAnswers:
    """One prompt (or a few) that answers this gap, in ``lang``."""
    said = doctext.words(lang)["init"]
    if gap.kind == "trigger_fact":
        name = gap.subject.removeprefix("facts.")
        cond = trigger_facts(ref)[name]
        question = said["fact_question"].format(question=said["facts"].get(name, cond.description), name=name)
        value: str | bool = (
            typer.confirm(f"{question} ?" if lang == "fr" else f"{question}?")
            if cond.op == "is_true"
            else typer.prompt(question + said["a_number"])
        )
        return replace(answers, facts={**answers.facts, name: value})
    if gap.kind == "controller_contact":
        console.print(said["controller_intro"], markup=False)
        email = typer.prompt(said["controller_email"], default="", show_default=False)
        address = typer.prompt(said["controller_address"], default="", show_default=False)
        phone = typer.prompt(said["controller_phone"], default="", show_default=False)
        return replace(
            answers, controller_email=email or None, controller_address=address or None, controller_phone=phone or None
        )
    if gap.kind == "no_dpo_reason":
        decision = dpo_required(ref, facts)
        rule = ref.dpo
        console.print(
            said["no_dpo"].format(decision=doctext.trigger(decision, rule, lang).rstrip(".")),
            markup=False,
            soft_wrap=True,
        )
        if not typer.confirm(said["designate_anyway"], default=False):
            return replace(answers, no_dpo_reason=typer.prompt(said["why_no_dpo"]))
    if gap.kind == "legal_basis":
        return _ask_legal_basis(gap, ref, answers, lang)
    if gap.kind == "data_protection_policy":
        policy = typer.prompt(said["policy"])
        return replace(answers, data_protection_policy=policy)
    if gap.kind != "dpo_email":
        answers = replace(answers, dpo_name=typer.prompt(said["dpo_name"]))
    return replace(answers, dpo_email=typer.prompt(said["dpo_email"]))


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
    controller_name: Annotated[
        str | None, typer.Option("--controller-name", help="The controller (default: the organisation's name)")
    ] = None,
    controller_email: Annotated[str | None, typer.Option("--controller-email", help="The controller's email")] = None,
    controller_phone: Annotated[str | None, typer.Option("--controller-phone", help="The controller's phone")] = None,
    controller_address: Annotated[
        str | None, typer.Option("--controller-address", help="The controller's postal address")
    ] = None,
    dpo_name: Annotated[str | None, typer.Option("--dpo-name", help="The data protection officer's name")] = None,
    dpo_email: Annotated[str | None, typer.Option("--dpo-email", help="The data protection officer's email")] = None,
    no_dpo_reason: Annotated[
        str | None,
        typer.Option("--no-dpo-reason", help="Why no DPO is designated (only when the triggers say none is required)"),
    ] = None,
    fact: Annotated[
        list[str] | None,
        typer.Option("--fact", help="A fact the DPIA/DPO triggers use: NAME=VALUE (repeatable; see policy triggers)"),
    ] = None,
    data_protection_policy: Annotated[
        str | None,
        typer.Option("--data-protection-policy", help="A warehouse's data protection policy: its address or text"),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Re-initialise an existing organisation")] = False,
    lang: Annotated[str, typer.Option("--lang", help="Language of the gaps and refusals: fr (default) or en")] = "fr",
    as_json: ReportJson = False,
) -> None:
    """Create an organisation: its configuration file, its databases and its keyring location.

    Asks, at a terminal, for the controller's contact details, the DPO (or why none is required) and the facts
    the DPIA and DPO triggers use; without a terminal (CI=true, a pipe) give them as options, or init refuses
    and names them. Nothing is written when init refuses.
    """
    doctext.check_lang(lang)
    assigned = dict(parse_assignment(c) for c in choice or [])
    justified = {k: str(v) for k, v in (parse_assignment(j) for j in justify or [])}
    # --set legal_basis.PURPOSE=ART6[+ART9] (with --justify legal_basis.PURPOSE=TEXT): a basis the text leaves open.
    legal_bases = {
        key.removeprefix(LEGAL_BASIS_PREFIX): (str(value), justified.get(key, ""))
        for key, value in assigned.items()
        if key.startswith(LEGAL_BASIS_PREFIX)
    }
    choices = {k: v for k, v in assigned.items() if not k.startswith(LEGAL_BASIS_PREFIX)}
    justifications = {k: v for k, v in justified.items() if not k.startswith(LEGAL_BASIS_PREFIX)}
    answers = InitAnswers(
        controller_name=controller_name,
        controller_email=controller_email,
        controller_phone=controller_phone,
        controller_address=controller_address,
        dpo_name=dpo_name,
        dpo_email=dpo_email,
        no_dpo_reason=no_dpo_reason,
        facts=dict(parse_assignment(f) for f in fact or []),
        data_protection_policy=data_protection_policy,
        legal_bases=legal_bases,
    )
    asked: set[tuple[str, str]] = set()
    while True:
        config, ref = build_config(
            directory,
            profile.value,
            base=from_file,
            database_url=database_url,
            audit_database_url=audit_database_url,
            organisation_name=name,
            choices=choices,
            justifications=justifications,
            answers=answers,
        )
        asks = INIT_GAPS + ASKED_AT_A_TERMINAL if _interactive() else INIT_GAPS
        open_gaps = sorted((g for g in gaps(config, ref) if g.kind in asks), key=lambda g: asks.index(g.kind))
        problems = errors(check(config, ref))
        if not open_gaps or (problems and _interactive()):
            break  # init_organisation refuses the configuration's errors, each as a sentence
        if not _interactive():
            raise WordedError(
                {
                    language: _refusal(
                        language,
                        [doctext.finding(f, ref, language) for f in problems]
                        + [g.in_language(language) for g in open_gaps],
                        then_dpo=any(g.kind == "trigger_fact" for g in open_gaps)
                        and not (config.organisation.dpo or no_dpo_reason),
                    )
                    for language in doctext.LANGS
                }
            )
        gap = open_gaps[0]
        if (gap.kind, gap.subject) in asked and gap.kind not in ("trigger_fact",):
            console.print(
                f"[yellow]{doctext.words(lang)['gaps']['init_still']}[/] {escape(gap.in_language(lang))}",
                soft_wrap=True,
            )
        asked.add((gap.kind, gap.subject))
        answers = _ask(gap, ref, answers, config.facts, lang)
    try:
        result = init_organisation(directory, config, ref, force=force)
    except ConfigurationRefused as refused:
        raise WordedError(
            {
                language: str(doctext.words(language)["findings"]["refused"])
                + "".join(f"\n  - {doctext.finding(f, ref, language)}" for f in refused.findings)
                for language in doctext.LANGS
            }
        ) from None
    programme = None
    if profile is OrganisationProfile.COMPASSIONATE:
        from santegarde.compassionate.registry import Registry, example_text

        programme, _ = Registry.beside(result.config_path, ref).add(
            example_text(granted=date.today()), "the example programme"
        )
    if as_json:
        document = {
            "organisation": config.organisation.name,
            "referential": {"id": ref.id, "title": vocabulary.label(ref, "referential", ref.id, lang)},
            "config": str(result.config_path),
            "keyring": str(config.keyring_path),
            "findings": findings_document(result.findings, ref, lang),
            "programme": (
                {"key": programme.key, "title": programme.title, "id": programme.id} if programme is not None else None
            ),
            "gaps": gaps_document(gaps(config, ref), lang),
        }
        print(json.dumps(document, ensure_ascii=False, indent=2))
        return
    print_findings(result.findings, ref, lang)
    said = doctext.words(lang)["cli"]
    console.print(
        said["init_done"].format(
            name=config.organisation.name,
            rid=ref.id,
            title=vocabulary.label(ref, "referential", ref.id, lang),
            config=result.config_path,
            keyring=config.keyring_path,
        ),
        markup=False,
        soft_wrap=True,
    )
    if programme is not None:
        console.print(
            said["init_programme"].format(key=programme.key, title=programme.title, id=programme.id),
            markup=False,
            soft_wrap=True,
        )
    print_gaps(gaps(config, ref), ref, lang)


def print_gaps(found: list[Gap], ref: Referential, lang: str = "fr") -> None:
    """The gaps the documents would report, in ``lang``; the measures with no status in one line, with the commands."""
    t = doctext.words(lang)["gaps"]
    measures = [g for g in found if g.kind == MEASURE_STATUS]
    others = [g for g in found if g.kind != MEASURE_STATUS]
    if not found:
        console.print(t["none"], markup=False)
        return
    if others:
        table = Table(*t["columns"], title=t["table_title"])
        for g in others:
            name = doctext.setting(g.subject, ref, lang)
            table.add_row(escape(name), escape(g.in_language(lang)), ", ".join(t["documents"][d] for d in g.documents))
        console.print(table)
    if measures:
        console.print(t["measures"].format(n=len(measures)), soft_wrap=True, markup=False)


@config_app.command("check")
@friendly_errors
def config_check(
    config: ConfigOption = Path(CONFIG_NAME),
    strict: Annotated[
        bool, typer.Option("--strict", help="Also exit non-zero when a document would report a gap")
    ] = False,
    lang: Annotated[str, typer.Option("--lang", help="Language of the gaps: fr (default) or en")] = "fr",
    as_json: ReportJson = False,
) -> None:
    """List deviations, missing choices and the gaps the documents would report; exit non-zero on an error."""
    lang = doctext.check_lang(lang)
    cfg = load(config)
    ref = loader.get(cfg.referential)
    findings = check(cfg, ref)
    found = gaps(cfg, ref)
    if as_json:
        document = {"findings": findings_document(findings, ref, lang), "gaps": gaps_document(found, lang)}
        print(json.dumps(document, ensure_ascii=False, indent=2))
    else:
        print_findings(findings, ref, lang)
        print_gaps(found, ref, lang)
    if any(f.severity == "error" for f in findings) or (strict and found):
        raise typer.Exit(EXIT_REFUSED)
