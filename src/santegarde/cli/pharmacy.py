"""santegarde pharmacy …: the pharmacy's registers (pha-2022-067) from the command line, as the console's screens.

Each command does what a pharmacy screen does, through the same pieces: a dispensing checked by
``pharmacy.desk.Typed`` and entered by ``PharmacyRegister.enter``; a register browsed by register, period and
product (``pharmacy.desk.Period``, ``with_product``) from ``PharmacyRegister.print_lines``; the period printed by
``PharmacyRegister.render_html``; the period validated and frozen by ``pharmacy.desk.validate_period``. Everything
runs under your own session (santegarde login) for the registers' purpose, each read and write authorised and traced.
French by default, ``--lang en`` for English; ``--json`` on the table.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from santegarde.cli.common import JsonOption, LangOption, console, friendly_errors, show_table
from santegarde.cli.organisation import ConfigOption
from santegarde.config import CONFIG_NAME
from santegarde.errors import WordedError

if TYPE_CHECKING:
    from santegarde.cli.session import CliSession
    from santegarde.pharmacy import PharmacyRegister
    from santegarde.pharmacy.desk import Period

app = typer.Typer(
    help="The pharmacy's registers: enter a dispensing, browse, print, validate and freeze (pha-2022-067).",
    no_args_is_help=True,
)

RegisterOption = Annotated[
    str,
    typer.Option("--register", help="prescription_book (default), blood_derived_register or toxic_substances_register"),
]
FromOption = Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD (default: thirty days ago)")]
ToOption = Annotated[str, typer.Option("--to", help="Last day, YYYY-MM-DD (default: today)")]
# A mistake of the dispensing or of the period is named by the option it comes from.
OPTIONS = {
    "dispense_class": "--class",
    "code": "--code",
    "product": "--product",
    "quantity": "--quantity",
    "rpps": "--rpps",
    "first": "--from",
    "last": "--to",
}


def _said(lang: str) -> dict[str, Any]:
    from santegarde.governance import doctext

    doctext.check_lang(lang)
    found: dict[str, Any] = doctext.words(lang)["pharmacy_desk"]
    return found


def _refused(key: str) -> WordedError:
    """The console's refusal ``key`` (data/refusals.yaml, ``console``): what happened, then what to do."""
    from santegarde import refusals

    what, todo = refusals.sentences("console", key), refusals.sentences("console", f"{key}_todo")
    return WordedError({lang: f"{what[lang]} {todo[lang]}" for lang in what})


def _mistakes(problems: dict[str, str]) -> WordedError:
    """Every mistake at once, each after the option it comes from."""
    from santegarde import refusals
    from santegarde.governance import doctext

    lines: dict[str, list[str]] = {"fr": [], "en": []}
    for where, key in problems.items():
        for lang, sentence in refusals.sentences("console", key).items():
            line = doctext.words(lang)["pharmacy_desk"]["problem"]
            lines[lang].append(line.format(option=OPTIONS[where], sentence=sentence))
    return WordedError({lang: "\n".join(said) for lang, said in lines.items()})


def _register(s: CliSession) -> PharmacyRegister:
    from santegarde.cli.records import records_of
    from santegarde.pharmacy import PharmacyRegister, RegisterRefused

    try:
        return PharmacyRegister(records_of(s))
    except RegisterRefused:
        raise _refused("not_pharmacy") from None


def _period(pharmacy: PharmacyRegister, register: str, first: str, last: str) -> Period:
    from santegarde.pharmacy.desk import Period
    from santegarde.pharmacy.printing import PARIS

    today = pharmacy.service.identity.now().astimezone(PARIS).date()
    period = Period.asked(today, register, first, last)
    if register and register != period.kind:
        raise _refused("unknown_register")
    if period.problems:
        raise _mistakes(period.problems)
    return period


def _named(period: Period, lang: str) -> dict[str, str]:
    from santegarde.pharmacy import printing

    said = _said(lang)
    return {
        "title": printing.title_of(period.kind, lang),
        "register": _register_name(period.kind, lang),
        "first": period.first.strftime(said["date"]),
        "last": period.last.strftime(said["date"]),
    }


def _register_name(kind: str, lang: str) -> str:
    from santegarde.governance import doctext

    return str(doctext.words(lang)["console"]["register_names"].get(kind, kind))


@app.command("dispense")
@friendly_errors
def dispense(
    patient_id: Annotated[str, typer.Argument(metavar="PATIENT_ID", help="The patient's record id")],
    dispense_class: Annotated[
        str,
        typer.Option(
            "--class",
            help="list_i, list_ii, narcotic, blood_derived, preparation, toxic_substance or other (names the register)",
        ),
    ],
    code: Annotated[str, typer.Option("--code", help="The product's CIP code (13 digits)")],
    product: Annotated[str, typer.Option("--product", help="The product's name")],
    quantity: Annotated[str, typer.Option("--quantity", help="The quantity dispensed, e.g. 2 or 1,5")],
    unit: Annotated[str, typer.Option("--unit", help="The unit (boîte, flacon…)")] = "",
    rpps: Annotated[str, typer.Option("--rpps", help="The prescriber's RPPS number (none without prescription)")] = "",
    prescriber: Annotated[str, typer.Option("--prescriber", help="The prescriber's name")] = "",
    lang: LangOption = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Enter a dispensing: its MedicationDispense through the record path, numbered in the register of its class."""
    from santegarde.api.params import fhir_id
    from santegarde.cli.records import request_for
    from santegarde.cli.session import logged_in
    from santegarde.pharmacy import RegisterRefused
    from santegarde.pharmacy.desk import Typed
    from santegarde.pharmacy.register import PURPOSE

    said = _said(lang)
    typed = Typed(dispense_class, code, product, quantity, unit, rpps, prescriber)
    if typed.problems():
        raise _mistakes(typed.problems())
    with logged_in(config) as s:
        pharmacy = _register(s)
        dispensing = typed.dispensing(fhir_id(patient_id), pharmacy.service.identity.now())
        try:
            entry = pharmacy.enter(request_for(s, PURPOSE), dispense_class, dispensing)
        except RegisterRefused:
            raise _refused("register") from None
    line = said["entered"].format(register=_register_name(entry.register, lang), number=entry.number)
    console.print(line, markup=False, soft_wrap=True)


@app.command("register")
@friendly_errors
def register(
    register: RegisterOption = "",
    first: FromOption = "",
    last: ToOption = "",
    product: Annotated[str, typer.Option("--product", help="Only the lines whose product (name or code) has it")] = "",
    lang: LangOption = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
    as_json: JsonOption = False,
) -> None:
    """Browse a register by period and product: each line read through the record path (authorised and traced)."""
    from rich.table import Table

    from santegarde.cli.records import request_for
    from santegarde.cli.session import logged_in
    from santegarde.pharmacy import printing
    from santegarde.pharmacy.desk import to_validate, with_product
    from santegarde.pharmacy.register import PURPOSE

    said, w = _said(lang), printing.wording(lang)
    with logged_in(config) as s:
        pharmacy = _register(s)
        period = _period(pharmacy, register, first, last)
        lines = pharmacy.print_lines(request_for(s, PURPOSE), period.kind, period.since, period.until)
    table = Table(*w["columns"], title=None if as_json else said["period"].format(**_named(period, lang)))
    for line in with_product(lines, product[:100]):
        table.add_row(
            str(line.number),
            line.entered_at.astimezone(printing.PARIS).strftime(w["moment"]),
            w["classes"].get(line.dispense_class, line.dispense_class),
            line.patient,
            line.prescriber or "—",
            line.product,
            line.quantity,
            printing.status_of(line, w),
        )
    show_table(table, as_json)
    if not as_json:
        waiting = to_validate(lines)
        said_line = said["to_validate"].format(n=waiting) if waiting else said["all_validated"]
        console.print(said_line, markup=False, soft_wrap=True)


@app.command("print")
@friendly_errors
def print_register(
    out: Annotated[Path, typer.Option("--out", help="The register of the period: .pdf or .html")],
    register: RegisterOption = "",
    first: FromOption = "",
    last: ToOption = "",
    lang: LangOption = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Print the register of a period (numbered, the pharmacy's name heading every page), as the console's PDF."""
    from santegarde.cli.records import request_for
    from santegarde.cli.session import logged_in
    from santegarde.governance.documents import write_document
    from santegarde.pharmacy.register import PURPOSE

    said = _said(lang)
    if out.suffix.lower() not in (".pdf", ".html"):
        from santegarde.governance.documents import DocumentError, refusal

        raise DocumentError(refusal("suffix", name=out.name))
    with logged_in(config) as s:
        name = s.org.config.organisation.name
        if not name.strip():
            raise _refused("no_name")
        pharmacy = _register(s)
        period = _period(pharmacy, register, first, last)
        req = request_for(s, PURPOSE)
        html = pharmacy.render_html(req, period.kind, name, period.since, period.until, lang)
        count = len(pharmacy.entries(period.kind, period.since, period.until))
    write_document(out, html=html)
    line = said["printed"].format(**_named(period, lang), n=count, out=out)
    console.print(line, markup=False, soft_wrap=True)


@app.command("validate")
@friendly_errors
def validate(
    register: RegisterOption = "",
    first: FromOption = "",
    last: ToOption = "",
    lang: LangOption = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Validate and freeze every entry of the period not yet validated (a pharmacist only, PHA-3, §6.1)."""
    from santegarde.cli.records import request_for
    from santegarde.cli.session import logged_in
    from santegarde.pharmacy import RegisterRefused
    from santegarde.pharmacy.desk import validate_period
    from santegarde.pharmacy.register import PURPOSE

    said = _said(lang)
    with logged_in(config) as s:
        pharmacy = _register(s)
        period = _period(pharmacy, register, first, last)
        try:
            done = validate_period(pharmacy, request_for(s, PURPOSE), period)
        except RegisterRefused:
            raise _refused("only_pharmacist") from None
    console.print(said["validated"].format(**_named(period, lang), n=done), markup=False, soft_wrap=True)
