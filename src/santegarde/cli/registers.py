"""santegarde breach | processor | transfer: the breach register (COM-BRE-1), processors (COM-SUB-1), transfers
(COM-TRF-1). Every write is traced in the audit trail."""

from __future__ import annotations

import getpass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from santegarde.audit.trail import AuditEvent
from santegarde.cli.common import EXIT_REFUSED, JsonOption, console, err_console, friendly_errors, show_table
from santegarde.cli.keys import opened
from santegarde.cli.organisation import ConfigOption
from santegarde.config import CONFIG_NAME, load
from santegarde.governance import breaches, doctext, processors, transfers
from santegarde.governance.documents import write_document
from santegarde.runtime import Organisation

breach_app = typer.Typer(help="The breach register: document, assess, notify within 72 hours.", no_args_is_help=True)
processor_app = typer.Typer(help="The processors' register: art. 28 clauses, HDS certificate.", no_args_is_help=True)
transfer_app = typer.Typer(help="Transfers outside the EU: adequacy, safeguards, derogations.", no_args_is_help=True)

By = Annotated[str, typer.Option("--by", help="Who records it (recorded in the audit trail)")]
Lang = Annotated[str, typer.Option("--lang", help="The language of what the command prints: fr (default) or en")]


def _said(lang: str) -> dict[str, Any]:
    found: dict[str, Any] = doctext.words(lang)["registers"]
    return found


def _list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _when(value: str | None, label: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise breaches.BreachError(doctext.refusal("breach_when", option=label)) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _trace(org: Organisation, actor: str, operation: str, resource: str, ident: str, rule: str) -> None:
    org.audit.append(
        AuditEvent(
            actor, "", operation, resource, ident, "security", True, rule, "", "success", "admin", org.referential.id
        )
    )


# ---- breaches ---------------------------------------------------------------------------------------------------


@breach_app.command("add")
@friendly_errors
def breach_add(
    nature: Annotated[str, typer.Option(help="confidentiality, integrity and/or availability (comma-separated)")],
    description: Annotated[str, typer.Option(help="What happened")],
    data_categories: Annotated[str, typer.Option(help="Categories of data concerned (comma-separated)")],
    persons_categories: Annotated[str, typer.Option(help="Categories of persons concerned (comma-separated)")],
    consequences: Annotated[str, typer.Option(help="Likely consequences for the persons")],
    measures_taken: Annotated[str, typer.Option(help="Measures taken to end the breach and limit its effects")],
    measures_planned: Annotated[str, typer.Option(help="Measures planned")] = "",
    persons: Annotated[int | None, typer.Option(help="Approximate number of persons concerned")] = None,
    records: Annotated[int | None, typer.Option(help="Approximate number of records concerned")] = None,
    discovered_at: Annotated[str | None, typer.Option(help="When the organisation became aware (default: now)")] = None,
    occurred_at: Annotated[str | None, typer.Option(help="When it occurred, if known")] = None,
    reported_by: Annotated[str, typer.Option(help=", ".join(breaches.REPORTERS))] = "staff",
    processor: Annotated[str | None, typer.Option(help="The processor that reported it")] = None,
    by: By = "",
    lang: Lang = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Document an incident in the breach register, whatever its seriousness."""
    doctext.check_lang(lang)
    with opened(config) as org:
        breach = breaches.record(
            org.engine,
            nature=_list(nature),
            description=description,
            data_categories=_list(data_categories),
            person_categories=_list(persons_categories),
            likely_consequences=consequences,
            measures_taken=measures_taken,
            measures_planned=measures_planned,
            approx_persons=persons,
            approx_records=records,
            discovered_at=_when(discovered_at, "--discovered-at") or datetime.now(UTC),
            occurred_at=_when(occurred_at, "--occurred-at"),
            reported_by=reported_by,
            processor_name=processor,
            recorded_by=by or getpass.getuser(),
        )
        _trace(org, breach.recorded_by, "breach.add", "Breach", str(breach.id), "COM-BRE-1")
    clock = breaches.clock_status(breach, lang=lang).sentence
    console.print(_said(lang)["breach_recorded"].format(id=breach.id, clock=clock), markup=False, soft_wrap=True)


@breach_app.command("assess")
@friendly_errors
def breach_assess(
    breach_id: Annotated[int, typer.Argument(help="The breach number")],
    likelihood: Annotated[str, typer.Option(help=", ".join(breaches.LEVELS))],
    severity: Annotated[str, typer.Option(help=", ".join(breaches.LEVELS))],
    reasoning: Annotated[str, typer.Option(help="Why this likelihood and this severity")],
    notify: Annotated[bool | None, typer.Option("--notify/--no-notify", help="Override the computed decision")] = None,
    communicate: Annotated[
        bool | None, typer.Option("--communicate/--no-communicate", help="Override the computed decision")
    ] = None,
    justification: Annotated[str, typer.Option(help="Written justification of an override")] = "",
    by: By = "",
    lang: Lang = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Record the seriousness assessment; it decides notification (art. 33) and communication (art. 34)."""
    doctext.check_lang(lang)
    with opened(config) as org:
        breach = breaches.assess(
            org.engine,
            breach_id,
            likelihood=likelihood,
            severity=severity,
            reasoning=reasoning,
            assessed_by=by or getpass.getuser(),
            notify=notify,
            communicate=communicate,
            justification=justification,
        )
        _trace(org, breach.assessed_by or "", "breach.assess", "Breach", str(breach.id), "COM-BRE-1")
    line = _said(lang)["breach_assessed"].format(
        id=breach.id,
        notify=breaches.yes_no(breach.notify_authority, lang),
        communicate=breaches.yes_no(breach.communicate_persons, lang),
        clock=breaches.clock_status(breach, lang=lang).sentence,
    )
    console.print(line, markup=False, soft_wrap=True)


@breach_app.command("notified")
@friendly_errors
def breach_notified(
    breach_id: Annotated[int, typer.Argument(help="The breach number")],
    at: Annotated[str | None, typer.Option(help="When (default: now)")] = None,
    persons: Annotated[bool, typer.Option("--persons", help="The persons were told (art. 34), not the CNIL")] = False,
    by: By = "",
    lang: Lang = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Record that the CNIL was notified (or, with --persons, that the persons were told)."""
    doctext.check_lang(lang)
    what = "communicated" if persons else "notified"
    with opened(config) as org:
        breach = breaches.mark(org.engine, breach_id, what=what, at=_when(at, "--at") or datetime.now(UTC))
        _trace(org, by or getpass.getuser(), f"breach.{what}", "Breach", str(breach.id), "COM-BRE-1")
    clock = breaches.clock_status(breach, lang=lang).sentence
    console.print(_said(lang)["breach_marked"][what].format(id=breach.id, clock=clock), markup=False, soft_wrap=True)


@breach_app.command("list")
@friendly_errors
def breach_list(lang: Lang = "fr", config: ConfigOption = Path(CONFIG_NAME), as_json: JsonOption = False) -> None:
    """Print the register with the state of each 72-hour clock."""
    doctext.check_lang(lang)
    said, words = _said(lang), doctext.words(lang)["breach"]
    with opened(config) as org:
        rows = breaches.entries(org.engine)
    table = Table(*said["breach_columns"])
    for b in rows:
        status = breaches.clock_status(b, lang=lang)
        shown = said["breach_statuses"][status.status]
        table.add_row(
            str(b.id),
            b.discovered_at.strftime(words["datetime"]),
            ", ".join(_nature(n, lang) for n in b.nature),
            f"{words['levels'][b.likelihood]}/{words['levels'][b.severity]}"
            if b.assessed and b.likelihood and b.severity
            else said["no"],
            _yn(b.notify_authority, lang),
            _yn(b.communicate_persons, lang),
            ("[bold red]" + shown.upper() + "[/]") if status.flagged else shown,
        )
    show_table(table, as_json)


def _nature(nature: str, lang: str) -> str:
    """confidentiality → confidentialité (the breach's nature as a noun in ``lang``)."""
    return str(doctext.words(lang)["breach"]["natures"][nature]).removeprefix("de l'").removeprefix("de la ")


def _yn(value: bool | None, lang: str) -> str:
    return "?" if value is None else breaches.yes_no(value, lang)


@breach_app.command("show")
@friendly_errors
def breach_show(
    breach_id: Annotated[int, typer.Argument(help="The breach number")],
    lang: Lang = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Print one breach, its assessment and its clock."""
    doctext.check_lang(lang)
    said, words = _said(lang), doctext.words(lang)["breach"]
    with opened(config) as org:
        b = breaches.get(org.engine, breach_id)

    def count(value: int | None) -> str:
        return "?" if value is None else str(value)

    reported = (
        words["reported_by_processor"].format(name=b.processor_name)
        if b.processor_name
        else words["reported_by"].format(who=words["reporters"].get(b.reported_by, b.reported_by))
    )
    lines = [
        said["show_title"].format(id=b.id, nature=", ".join(_nature(n, lang) for n in b.nature)),
        said["show_description"].format(text=b.description),
        said["show_when"].format(
            occurred=b.occurred_at.strftime(words["datetime"]) if b.occurred_at else words["unknown"],
            aware=b.discovered_at.strftime(words["datetime"]),
            reported=reported,
        ),
        said["show_data"].format(data=", ".join(b.data_categories), persons=", ".join(b.person_categories)),
        said["show_counts"].format(persons=count(b.approx_persons), records=count(b.approx_records)),
        said["show_consequences"].format(text=b.likely_consequences),
        said["show_taken"].format(text=b.measures_taken),
        said["show_planned"].format(text=b.measures_planned or said["show_none"]),
    ]
    if b.assessed and b.likelihood and b.severity:
        lines.append(
            said["show_assessment"].format(
                likelihood=words["levels"][b.likelihood], severity=words["levels"][b.severity], reasoning=b.reasoning
            )
        )
        lines.append(
            said["show_decision"].format(
                notify=_yn(b.notify_authority, lang), communicate=_yn(b.communicate_persons, lang)
            )
        )
        if b.override_justification:
            lines.append(said["show_override"].format(text=b.override_justification))
    else:
        lines.append(said["show_not_assessed"])
    lines.append(breaches.clock_status(b, lang=lang).sentence)
    for line in lines:
        console.print(line, markup=False, soft_wrap=True)


def _draft(
    config: Path, breach_id: int, out: Path, *, notification: bool, delay_reasons: str, strict: bool, lang: str
) -> None:
    doctext.check_lang(lang)
    with opened(config) as org:
        breach = breaches.get(org.engine, breach_id)
        if notification:
            data = breaches.notification_draft(
                breach, org.config, org.referential, delay_reasons=delay_reasons, lang=lang
            )
        else:
            data = breaches.communication_draft(breach, org.config, org.referential, lang=lang)
    write_document(out, html=breaches.render(data), data=data)
    console.print(doctext.words(lang)["cli"]["breach_draft"].format(out=out), markup=False, soft_wrap=True)
    for item in data["missing"]:
        err_console.print(doctext.words(lang)["breach"]["missing_line"].format(item=item), markup=False, soft_wrap=True)
    if strict and data["missing"]:
        raise typer.Exit(EXIT_REFUSED)


LangOption = Annotated[str, typer.Option("--lang", help="The draft's language: fr (default) or en")]


@breach_app.command("draft-notification")
@friendly_errors
def draft_notification(
    breach_id: Annotated[int, typer.Argument(help="The breach number")],
    out: Annotated[Path, typer.Option(help="Output file: .html, .pdf or .json")],
    delay_reasons: Annotated[str, typer.Option(help="Reasons for a notification later than 72 hours")] = "",
    strict: Annotated[bool, typer.Option(help="Exit non-zero when something the form needs is missing")] = False,
    lang: LangOption = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Draft the notification to the CNIL (fields of its online form, GDPR art. 33), in French unless --lang en."""
    _draft(config, breach_id, out, notification=True, delay_reasons=delay_reasons, strict=strict, lang=lang)


@breach_app.command("draft-communication")
@friendly_errors
def draft_communication(
    breach_id: Annotated[int, typer.Argument(help="The breach number")],
    out: Annotated[Path, typer.Option(help="Output file: .html, .pdf or .json")],
    strict: Annotated[bool, typer.Option(help="Exit non-zero when something the letter needs is missing")] = False,
    lang: LangOption = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Draft the communication to the persons, in clear and plain language (GDPR art. 34), French unless --lang en."""
    _draft(config, breach_id, out, notification=False, delay_reasons="", strict=strict, lang=lang)


# ---- processors -------------------------------------------------------------------------------------------------


@processor_app.command("add")
@friendly_errors
def processor_add(
    name: Annotated[str, typer.Argument(help="The processor's name")],
    service: Annotated[str, typer.Option(help="The service it provides")],
    country: Annotated[str, typer.Option(help="Where it processes the data (ISO code, e.g. FR)")],
    data_categories: Annotated[str, typer.Option(help="Categories of data it processes (comma-separated)")] = "",
    hosts_health_data: Annotated[bool, typer.Option(help="It hosts, stores or retains health data")] = False,
    clause: Annotated[list[str] | None, typer.Option(help="An art. 28 clause in the contract (repeat); 'all'")] = None,
    jurisdiction: Annotated[list[str] | None, typer.Option(help="A country whose law it comes under (repeat)")] = None,
    hds_number: Annotated[str | None, typer.Option(help="HDS certificate number")] = None,
    hds_certifier: Annotated[str | None, typer.Option(help="Body that issued the HDS certificate")] = None,
    hds_expires: Annotated[str | None, typer.Option(help="HDS certificate expiry date YYYY-MM-DD")] = None,
    by: By = "",
    lang: Lang = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Register a processor as a draft; activate it once its contract and certificate are complete."""
    doctext.check_lang(lang)
    clauses = list(processors.CLAUSES) if clause == ["all"] else list(clause or [])
    try:
        expires = date.fromisoformat(hds_expires) if hds_expires else None
    except ValueError:
        raise processors.ProcessorError(doctext.refusal("processor_expires")) from None
    with opened(config) as org:
        processor = processors.add(
            org.engine,
            name=name,
            service=service,
            data_categories=_list(data_categories),
            hosts_health_data=hosts_health_data,
            clauses=clauses,
            country=country,
            jurisdictions=jurisdiction,
            hds_number=hds_number,
            hds_certifier=hds_certifier,
            hds_expires=expires,
            recorded_by=by or getpass.getuser(),
        )
        _trace(org, processor.recorded_by, "processor.add", "Processor", str(processor.id), "COM-SUB-1")
        reasons = processors.refusals(processor, org.referential, date.today(), lang)
    said = _said(lang)
    console.print(said["processor_draft"].format(name=processor.name), markup=False, soft_wrap=True)
    for reason in reasons:
        err_console.print(said["before_activation"].format(reason=reason), markup=False, soft_wrap=True)


@processor_app.command("activate")
@friendly_errors
def processor_activate(
    name: Annotated[str, typer.Argument(help="The processor's name")],
    by: By = "",
    lang: Lang = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Activate a processor: refused without every art. 28 clause, a valid HDS certificate when it hosts health data."""
    doctext.check_lang(lang)
    with opened(config) as org:
        processor = processors.activate(org.engine, name, referential=org.referential)
        _trace(org, by or getpass.getuser(), "processor.activate", "Processor", str(processor.id), "COM-SUB-1")
    said = _said(lang)
    console.print(said["processor_active"].format(name=processor.name), markup=False, soft_wrap=True)
    for warning in processors.warnings(processor, date.today(), lang):
        err_console.print(f"{said['warning']} {warning}", markup=False, soft_wrap=True)


@processor_app.command("end")
@friendly_errors
def processor_end(
    name: Annotated[str, typer.Argument(help="The processor's name")],
    by: By = "",
    lang: Lang = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """End the relationship; the contract's deletion/return clause then applies."""
    doctext.check_lang(lang)
    with opened(config) as org:
        processor = processors.end(org.engine, name)
        _trace(org, by or getpass.getuser(), "processor.end", "Processor", str(processor.id), "COM-SUB-1")
    console.print(_said(lang)["processor_end"].format(name=processor.name), markup=False, soft_wrap=True)


@processor_app.command("list")
@friendly_errors
def processor_list(lang: Lang = "fr", config: ConfigOption = Path(CONFIG_NAME), as_json: JsonOption = False) -> None:
    """Print the register; warn of HDS certificates expiring within 60 days."""
    doctext.check_lang(lang)
    said = _said(lang)
    with opened(config) as org:
        rows = processors.entries(org.engine)
    today = date.today()
    table = Table(*said["processor_columns"])
    for p in rows:
        expires = p.hds_expires.strftime(said["date"]) if p.hds_expires else "?"
        hds = (
            said["hds_cell"].format(number=p.hds_number, certifier=p.hds_certifier, date=expires)
            if p.hds_number
            else "-"
        )
        clauses = (
            said["clauses_complete"]
            if not p.missing_clauses
            else said["clauses_missing"].format(n=len(p.missing_clauses))
        )
        table.add_row(
            p.name,
            p.service,
            said["processor_statuses"][p.status],
            transfers.country_name(p.country, lang),
            breaches.yes_no(p.hosts_health_data, lang),
            hds,
            clauses,
        )
    show_table(table, as_json)
    for p in rows if not as_json else []:  # JSON: the rows alone (the warnings are the table's reading)
        for warning in processors.warnings(p, today, lang):
            console.print(f"[bold red]{said['warning']}[/] {warning}")


# ---- transfers --------------------------------------------------------------------------------------------------


@transfer_app.command("add")
@friendly_errors
def transfer_add(
    country: Annotated[str, typer.Option(help="Destination country (ISO code), or where remote access is from")],
    recipient: Annotated[str, typer.Option(help="Who receives or accesses the data")],
    data_categories: Annotated[str, typer.Option(help="Category ids of the référentiel (comma-separated)")],
    basis: Annotated[str | None, typer.Option(help=", ".join(transfers.BASES))] = None,
    safeguard: Annotated[str | None, typer.Option(help=", ".join(transfers.SAFEGUARDS))] = None,
    derogation: Annotated[str | None, typer.Option(help=", ".join(transfers.DEROGATIONS))] = None,
    remote_access: Annotated[bool, typer.Option(help="Remote access (viewing) from that country")] = False,
    strictly_necessary: Annotated[bool, typer.Option(help="The transfer is strictly necessary")] = False,
    persons_informed: Annotated[bool, typer.Option(help="The persons were informed beforehand")] = False,
    dpf_certified: Annotated[bool, typer.Option(help="The US recipient is certified under the EU-US DPF")] = False,
    purpose: Annotated[str, typer.Option(help="Why the data goes there")] = "",
    by: By = "",
    lang: Lang = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Check a transfer against the référentiel and GDPR chapter V, then record it."""
    doctext.check_lang(lang)
    request = transfers.TransferRequest(
        country=country,
        recipient=recipient,
        data_categories=tuple(_list(data_categories)),
        basis=basis,
        safeguard=safeguard,
        derogation=derogation,
        remote_access=remote_access,
        strictly_necessary=strictly_necessary,
        persons_informed=persons_informed,
        dpf_certified=dpf_certified,
        purpose=purpose,
    )
    with opened(config) as org:
        transfer = transfers.record(
            org.engine, request, profile=org.referential.organisation_profile, recorded_by=by or getpass.getuser()
        )
        _trace(org, transfer.recorded_by, "transfer.add", "Transfer", str(transfer.id), "COM-TRF-1")
    line = _said(lang)["transfer_recorded"].format(
        id=transfer.id,
        country=transfers.country_name(transfer.country, lang),
        basis=transfers.basis_sentence(transfer, lang),
    )
    console.print(line, markup=False, soft_wrap=True)


@transfer_app.command("list")
@friendly_errors
def transfer_list(lang: Lang = "fr", config: ConfigOption = Path(CONFIG_NAME), as_json: JsonOption = False) -> None:
    """Print the transfer register."""
    doctext.check_lang(lang)
    with opened(config) as org:
        rows = transfers.entries(org.engine)
    table = Table(*_said(lang)["transfer_columns"])
    for t in rows:
        table.add_row(
            str(t.id),
            transfers.country_name(t.country, lang),
            t.recipient,
            ", ".join(t.data_categories),
            transfers.basis_sentence(t, lang),
            breaches.yes_no(t.remote_access, lang),
        )
    show_table(table, as_json)


@transfer_app.command("check")
@friendly_errors
def transfer_check(
    country: Annotated[str, typer.Argument(help="ISO code or name of the country")],
    lang: Lang = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Say whether a country is in the EU/EEA, covered by an adequacy decision, or needs a basis."""
    doctext.check_lang(lang)
    said = _said(lang)
    status = transfers.country_status(country)
    console.print(status.said(lang), markup=False, soft_wrap=True)
    if status.kind != "eea" and config.exists():
        rule = transfers.profile_rule(load(config).profile, lang)
        if rule:
            console.print(rule, markup=False, soft_wrap=True)
    as_of = transfers.adequacy().as_of.strftime(said["date"])
    console.print(said["adequacy_as_of"].format(date=as_of), markup=False, soft_wrap=True)
