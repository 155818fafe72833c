"""santegarde register | notice: the Art. 30 record and the Art. 13/14 notices (COM-REG-1, COM-INF-1).

Both read the organisation's configuration, without keys; the register adds what the records database counts of
consents and objections (counts only, nothing decrypted), when the database exists.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from santegarde.cli.common import EXIT_REFUSED, console, err_console, friendly_errors
from santegarde.cli.organisation import ConfigOption
from santegarde.clock import utc_now
from santegarde.config import CONFIG_NAME, load
from santegarde.governance import doctext, notices

if TYPE_CHECKING:
    from santegarde.config.model import OrganisationConfig
    from santegarde.governance.transfers import Transfer
    from santegarde.referentials.model import Referential
from santegarde.governance.register import Party, build_register, write_register
from santegarde.referentials import loader

register_app = typer.Typer(help="The record of processing activities (GDPR art. 30).")
notice_app = typer.Typer(help="Information notices for the persons concerned (GDPR art. 13 and 14).")


def _party(text: str) -> Party:
    """``NAME`` or ``NAME <email>`` from the command line."""
    if "<" in text and text.rstrip().endswith(">"):
        name, email = text.rstrip()[:-1].split("<", 1)
        return Party(name.strip(), email.strip() or None)
    return Party(text.strip())


@register_app.callback(invoke_without_command=True)
@friendly_errors
def register(
    out: Annotated[Path, typer.Option("--out", "-o", help="FILE.html, .pdf, .xlsx (CNIL model) or .json")],
    processor: Annotated[bool, typer.Option("--processor", help="The processor's register (art. 30.2)")] = False,
    controller: Annotated[
        list[str] | None, typer.Option("--controller", help="A controller served, 'NAME <email>' (repeatable)")
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Exit non-zero when something is missing")] = False,
    lang: Annotated[str, typer.Option("--lang", help="fr (default) or en")] = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Generate the record of processing activities from the configuration (in French unless --lang en)."""
    from santegarde.config import effective_referential
    from santegarde.governance import ledgers

    cfg = load(config)
    ref = loader.get(cfg.referential)
    reg = build_register(
        cfg,
        ref,
        processor=processor,
        controllers_served=[_party(c) for c in controller or []],
        lang=lang,
        ledgers=ledgers.of_config(cfg, effective_referential(cfg, ref), utc_now(), lang),
        declared=_declared_transfers(cfg),
    )
    write_register(reg, out)
    said = doctext.words(lang)["cli"]
    console.print(said["register"].format(out=out, n=len(reg.activities), rid=reg.referential), markup=False)
    for line in reg.missing:
        err_console.print(f"[yellow]{said['missing']}[/] {escape(line)}", markup=True, soft_wrap=True)
    if strict and reg.missing:
        raise typer.Exit(EXIT_REFUSED)


def _declared_transfers(cfg: OrganisationConfig) -> list[Transfer]:
    """The organisation's transfer register (none before ``santegarde init`` created its database)."""
    from santegarde.governance import transfers
    from santegarde.runtime import database_present
    from santegarde.store.db import make_engine

    engine = make_engine(cfg.database_url)
    try:
        return transfers.entries(engine) if database_present(engine, "transfers") else []
    finally:
        engine.dispose()


def _programmes(config: Path, ref: Referential, asked: list[str] | None) -> list[notices.ProgrammeFacts]:
    """The compassionate-access programmes registered beside the configuration that the notice names."""
    if ref.id != notices.COMPASSIONATE:
        return []
    from santegarde.compassionate.registry import Registry

    return Registry.beside(config, ref).notice_facts(asked)


@notice_app.callback(invoke_without_command=True)
@friendly_errors
def notice(
    out: Annotated[Path, typer.Option("--out", "-o", help="FILE.html or .pdf (.txt for the e-mail)")],
    fmt: Annotated[str, typer.Option("--format", "-f", help=" | ".join(notices.FORMATS))] = "leaflet",
    lang: Annotated[str, typer.Option("--lang", help="fr or en")] = "fr",
    programme: Annotated[
        list[str] | None,
        typer.Option("--programme", help="Compassionate access: the programme the notice names (default: every one)"),
    ] = None,
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Generate an information notice from the configuration; refuses, naming the settings, if a fact is missing.

    It lists the transfers of the organisation's transfer register and, under compassionate access, names the
    programmes registered beside the configuration (medicine, indication, ANSM decision)."""
    cfg = load(config)
    ref = loader.get(cfg.referential)
    built = notices.build_notice(
        cfg, ref, fmt, lang, programmes=_programmes(config, ref, programme), declared=_declared_transfers(cfg)
    )
    notices.write_notice(built, out)
    said = doctext.words(lang)["cli"]
    console.print(said["notice"].format(format=said["notice_formats"].get(fmt, fmt), out=out), markup=False)
