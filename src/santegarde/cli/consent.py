"""santegarde consent give | withdraw | show, santegarde objection record | show | lift: under your own session.

A consent is a FHIR ``Consent`` stored through the one request path (COM-MIN-1); an objection (COM-RGT-1, GDPR
art. 21.1) is recorded in the path's objection ledger. Both are traced; the path obeys them on every later request.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from santegarde.cli.common import JsonOption, LangOption, console, friendly_errors, show_table
from santegarde.cli.organisation import ConfigOption
from santegarde.cli.records import PurposeOption, records_of, request_for
from santegarde.cli.session import logged_in
from santegarde.config import CONFIG_NAME
from santegarde.store import consents

consent_app = typer.Typer(
    help="Record, withdraw and show the consents of a patient (collection on consent).", no_args_is_help=True
)
objection_app = typer.Typer(
    help="Record, show and lift a patient's objection to a purpose (GDPR art. 21.1).", no_args_is_help=True
)

PatientArg = Annotated[str, typer.Argument(metavar="PATIENT_ID", help="The patient's resource id")]


def consent_body(
    patient: str, categories: list[str], purposes: list[str], now: datetime, until: datetime | None
) -> dict[str, Any]:
    """A FHIR R4 Consent naming the référentiel categories and purposes it covers, from ``now`` (until ``until``)."""
    now = now.astimezone(UTC).replace(microsecond=0)
    period = {"start": now.isoformat(), **({"end": until.isoformat()} if until else {})}
    return {
        "resourceType": "Consent",
        "id": str(uuid.uuid4()),
        "status": "active",
        "scope": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{patient}"},
        "dateTime": now.isoformat(),
        "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]},
        "provision": {
            "period": period,
            "code": [{"coding": [{"system": consents.CATEGORY_SYSTEM, "code": c}]} for c in categories],
            "purpose": [{"system": consents.PURPOSE_SYSTEM, "code": p} for p in purposes],
        },
    }


@consent_app.command("give")
@friendly_errors
def give(
    patient: PatientArg,
    category: Annotated[list[str], typer.Option("--category", help="A category collected on consent, e.g. lifestyle")],
    covers: Annotated[list[str], typer.Option("--for", help="A purpose the consent covers, e.g. medical_record")],
    purpose: PurposeOption,
    until: Annotated[
        datetime | None, typer.Option("--until", formats=["%Y-%m-%d"], help="Last day of the consent, if any")
    ] = None,
    lang: LangOption = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Record the patient's consent, stored as a FHIR Consent through the record path (traced)."""
    end = datetime.combine(until.date(), time.max, UTC).replace(microsecond=0) if until else None
    with logged_in(config) as s:
        body = consent_body(patient, category, covers, s.identity.now(), end)
        stored = records_of(s).create(request_for(s, purpose), body)
    console.print(
        f"Consent/{stored['id']} recorded for Patient/{patient}: {', '.join(category)} for {', '.join(covers)}. "
        f"Withdraw it with: santegarde consent withdraw {stored['id']} --purpose {purpose}"
    )


@consent_app.command("withdraw")
@friendly_errors
def withdraw(
    consent_id: Annotated[str, typer.Argument(metavar="CONSENT_ID", help="The Consent's id")],
    purpose: PurposeOption,
    lang: LangOption = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """The patient withdraws a consent: inactive from now on; the data collected before stay (traced)."""
    with logged_in(config) as s:
        records_of(s).withdraw_consent(request_for(s, purpose), consent_id)
    console.print(f"Consent/{consent_id} withdrawn: from now on, collection and use on it are refused.")


@consent_app.command("show")
@friendly_errors
def show(
    patient: PatientArg, purpose: PurposeOption, config: ConfigOption = Path(CONFIG_NAME), as_json: JsonOption = False
) -> None:
    """The patient's consent ledger, newest first."""
    with logged_in(config) as s:
        entries = records_of(s).consent_ledger(request_for(s, purpose), patient)
    if not entries and not as_json:
        console.print(f"Patient/{patient} has no recorded consent.")
        return
    table = Table("consent", "category", "purpose", "from", "until", "withdrawn", title=f"Consents of {patient}")
    for e in entries:
        table.add_row(
            e.consent_id,
            e.category,
            e.purpose,
            f"{e.start:%Y-%m-%d %H:%M}",
            f"{e.end:%Y-%m-%d}" if e.end else "-",
            f"{e.withdrawn_at:%Y-%m-%d %H:%M}" if e.withdrawn_at else "-",
        )
    show_table(table, as_json)


@objection_app.command("record")
@friendly_errors
def record(
    patient: PatientArg,
    against: Annotated[str, typer.Option("--against", help="The purpose objected to, e.g. appointments")],
    purpose: PurposeOption,
    lang: LangOption = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Record the patient's objection to a purpose, where GDPR art. 21.1 gives that right (traced)."""
    with logged_in(config) as s:
        found = records_of(s).record_objection(request_for(s, purpose), patient, against)
    console.print(
        f"Objection no. {found.number} of Patient/{patient} to '{against}' recorded on "
        f"{found.recorded_at:%Y-%m-%d %H:%M} UTC: every request for it on this patient is now refused."
    )


@objection_app.command("show")
@friendly_errors
def show_objections(
    patient: PatientArg, purpose: PurposeOption, config: ConfigOption = Path(CONFIG_NAME), as_json: JsonOption = False
) -> None:
    """The patient's objections, in force or lifted."""
    with logged_in(config) as s:
        found = records_of(s).objections_of(request_for(s, purpose), patient)
    if not found and not as_json:
        console.print(f"Patient/{patient} has no recorded objection.")
        return
    table = Table("no.", "purpose", "recorded", "by", "lifted", "how", title=f"Objections of {patient}")
    for o in found:
        lifted = f"{o.lifted_at:%Y-%m-%d %H:%M} by {o.lifted_by}" if o.lifted_at else "in force"
        how = (o.lift_kind or "-") + (f" (justification no. {o.justification})" if o.justification else "")
        table.add_row(str(o.number), o.purpose, f"{o.recorded_at:%Y-%m-%d %H:%M}", o.recorded_by, lifted, how)
    show_table(table, as_json)


@objection_app.command("lift")
@friendly_errors
def lift(
    patient: PatientArg,
    against: Annotated[str, typer.Option("--against", help="The purpose of the objection")],
    purpose: PurposeOption,
    grounds: Annotated[
        str | None,
        typer.Option(
            "--compelling-grounds",
            help="Override it: the compelling legitimate grounds, written out (kept apart, flagged for review)",
        ),
    ] = None,
    lang: LangOption = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
) -> None:
    """Lift an objection (the person withdrew it), or override it on compelling legitimate grounds."""
    with logged_in(config) as s:
        lifted = records_of(s).lift_objection(request_for(s, purpose), patient, against, grounds=grounds)
    how = (
        f"overridden on compelling grounds (justification no. {lifted.justification}, flagged for review)"
        if lifted.justification
        else "lifted"
    )
    console.print(f"Objection no. {lifted.number} of Patient/{patient} to '{against}' {how}.")
