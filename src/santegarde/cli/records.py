"""santegarde record read | search | history, santegarde archive access: records under your own session.

Every command goes the one request path (COM-PUR-1): your session (``santegarde login``) → policy
for your profile and the declared purpose → the encrypted store → the audit trail. Search criteria
are options of the command and never reach a URL.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from santegarde.cli.common import JsonOption, LangOption, console, friendly_errors, show_table
from santegarde.cli.organisation import ConfigOption
from santegarde.cli.session import CliSession, cli_source, logged_in
from santegarde.config import CONFIG_NAME
from santegarde.config.check import chosen_bases
from santegarde.errors import WordedError
from santegarde.governance import doctext
from santegarde.store.service import CARE_BASES, RecordService, Request

record_app = typer.Typer(
    help="Read and search records under your session, for a declared purpose.", no_args_is_help=True
)
archive_app = typer.Typer(help="Exceptional access to the intermediate archive (COM-ARC-1).", no_args_is_help=True)

TypeArg = Annotated[str, typer.Argument(metavar="TYPE", help="FHIR resource type, e.g. Patient or Observation")]
IdArg = Annotated[str, typer.Argument(metavar="ID", help="The resource id")]
PurposeOption = Annotated[
    str, typer.Option("--purpose", help="The declared purpose of this access, e.g. medical_record")
]


def records_of(s: CliSession) -> RecordService:
    """The record service of the organisation, as the API builds it."""
    return RecordService(
        s.org.engine,
        s.org.referential,
        s.org.keyring,
        s.org.audit,
        s.identity,
        formalities=s.org.config.formalities,
        legal_bases=chosen_bases(s.org.config, s.org.referential),
    )


ReasonOption = Annotated[
    str | None,
    typer.Option("--reason", help="An ad hoc access (e.g. the audit service): its written reason, kept and traced"),
]
FormalityOption = Annotated[
    str | None,
    typer.Option(
        "--formality",
        help="For research purposes: the reference of the formality your organisation recorded (santegarde.yaml)",
    ),
]


def request_for(
    s: CliSession,
    purpose: str,
    break_glass: str | None = None,
    formality: str | None = None,
    reason: str | None = None,
) -> Request:
    return Request(s.token, purpose, source=cli_source(), break_glass=break_glass, formality=formality, reason=reason)


def _said(lang: str, key: str, **facts: Any) -> str:
    """A line of the record commands in ``lang`` (documents_text.yaml, ``records_desk``)."""
    return str(doctext.words(lang)["records_desk"][key]).format(**facts)


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _text(concept: Any) -> str:
    if not isinstance(concept, dict):
        return ""
    codings = concept.get("coding") or [{}]
    first = codings[0] if isinstance(codings[0], dict) else {}
    return str(concept.get("text") or first.get("display") or first.get("code") or "")


def summary(resource: dict[str, Any]) -> str:
    """One line a person can read: the name and birth date of a patient, else the code, status and date."""
    if resource.get("resourceType") == "Patient":
        names = resource.get("name") or [{}]
        name = names[0] if isinstance(names[0], dict) else {}
        given = " ".join(name.get("given") or [])
        who = f"{str(name.get('family') or '').upper()} {given}".strip() or "(name not shown)"
        born = resource.get("birthDate")
        return f"{who}, born {born}" if born else who
    parts = [
        _text(resource.get("code") or resource.get("medicationCodeableConcept") or resource.get("type")),
        str(resource.get("status") or ""),
        str(resource.get("effectiveDateTime") or resource.get("authoredOn") or resource.get("date") or ""),
    ]
    return ", ".join(p for p in parts if p) or "-"


@record_app.command("read")
@friendly_errors
def read(
    resource_type: TypeArg,
    rid: IdArg,
    purpose: PurposeOption,
    break_glass: Annotated[
        str | None,
        typer.Option("--break-glass", help="Emergency without a care relationship: the written reason (reviewed)"),
    ] = None,
    formality: FormalityOption = None,
    reason: ReasonOption = None,
    lang: LangOption = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Print a resource as FHIR JSON (only the parts your profile may read for this purpose)."""
    with logged_in(config) as s:
        body = records_of(s).read(request_for(s, purpose, break_glass, formality, reason), resource_type, rid)
    print_json(body)


@record_app.command("search")
@friendly_errors
def search(
    resource_type: TypeArg,
    purpose: PurposeOption,
    family: Annotated[
        str | None, typer.Option("--family", help="Family name, or its first letters (2 at least)")
    ] = None,
    given: Annotated[str | None, typer.Option("--given", help="Given name, or its first letters (2 at least)")] = None,
    birthdate: Annotated[
        str | None, typer.Option("--birthdate", help="Birth date: 1944-06-02, 1944-06, 1944, or with a prefix: ge1944")
    ] = None,
    identifier: Annotated[
        str | None, typer.Option("--identifier", help="An identifier: system|value or the value alone")
    ] = None,
    lang: LangOption = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
    as_json: JsonOption = False,
) -> None:
    """List the resources matching every criterion that your profile may read, with a one-line summary."""
    criteria = {
        k: v
        for k, v in {"family": family, "given": given, "birthdate": birthdate, "identifier": identifier}.items()
        if v is not None
    }
    if not criteria:
        raise WordedError({lg: _said(lg, "no_criterion") for lg in doctext.LANGS})
    with logged_in(config) as s:
        found = records_of(s).search(request_for(s, purpose), resource_type, criteria)
    if not found and not as_json:
        console.print(_said(lang, "none_found", type=resource_type))
        return
    table = Table("id", "summary", title=_said(lang, "found", type=resource_type, n=len(found)))
    for resource in found:
        table.add_row(str(resource.get("id")), summary(resource))
    show_table(table, as_json)


@record_app.command("history")
@friendly_errors
def history(
    resource_type: TypeArg,
    rid: IdArg,
    purpose: PurposeOption,
    break_glass: Annotated[
        str | None,
        typer.Option("--break-glass", help="Emergency without a care relationship: the written reason (reviewed)"),
    ] = None,
    formality: FormalityOption = None,
    lang: LangOption = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Print every version of a resource, newest first, as a JSON list (the rectification history)."""
    with logged_in(config) as s:
        versions = records_of(s).history(request_for(s, purpose, break_glass, formality), resource_type, rid)
    print_json(versions)


@record_app.command("care")
@friendly_errors
def care(
    patient: Annotated[str, typer.Argument(metavar="PATIENT_ID", help="The patient's resource id")],
    basis: Annotated[str, typer.Option("--basis", help=f"Why you take the patient in care: {', '.join(CARE_BASES)}")],
    purpose: PurposeOption,
    note: Annotated[str, typer.Option("--note", help="A short note, e.g. who referred the patient")] = "",
    lang: LangOption = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Take in care a patient someone else registered: recorded, traced, and listed in the next trace review."""
    with logged_in(config) as s:
        records_of(s).declare_care(request_for(s, purpose), patient, basis, note=note)
    console.print(_said(lang, "care", patient=patient, basis=basis))


@archive_app.command("access")
@friendly_errors
def access(
    resource_type: TypeArg,
    rid: IdArg,
    justification: Annotated[str, typer.Option("--justification", help="Why you need this archived record")],
    purpose: PurposeOption,
    lang: LangOption = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Print every archived version of a record: a restricted profile and a written justification, traced."""
    with logged_in(config) as s:
        versions = records_of(s).read_archived(request_for(s, purpose), resource_type, rid, justification)
    print_json(versions)
