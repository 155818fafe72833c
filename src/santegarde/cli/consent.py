"""santegarde consent give | withdraw | show, santegarde objection record | show | lift: under your own session.

A consent is a FHIR ``Consent`` stored through the one request path (COM-MIN-1); an objection (COM-RGT-1, GDPR
art. 21.1) is recorded in the path's objection ledger. Both are traced; the path obeys them on every later request.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from santegarde.cli.common import JsonOption, LangOption, console, friendly_errors, show_table
from santegarde.cli.organisation import ConfigOption
from santegarde.cli.records import PurposeOption, records_of, request_for
from santegarde.cli.session import logged_in
from santegarde.config import CONFIG_NAME
from santegarde.store import consents

if TYPE_CHECKING:
    from santegarde.referentials.model import Referential

consent_app = typer.Typer(
    help="Record, withdraw and show the consents of a patient (collection on consent).", no_args_is_help=True
)
objection_app = typer.Typer(
    help="Record, show and lift a patient's objection to a purpose (GDPR art. 21.1).", no_args_is_help=True
)

PatientArg = Annotated[str, typer.Argument(metavar="PATIENT_ID", help="The patient's resource id")]


def _said(lang: str) -> dict[str, Any]:
    """What the consent and objection commands print, in ``lang`` (documents_text.yaml, consent_desk)."""
    from santegarde.governance import doctext

    found: dict[str, Any] = doctext.words(lang)["consent_desk"]
    return found


def _named(ref: Referential, kind: str, codes: list[str], lang: str) -> str:
    """The référentiel's names of categories or purposes in ``lang`` (the code itself if it has none)."""
    from santegarde.governance import vocabulary

    def one(code: str) -> str:
        try:
            return vocabulary.label(ref, kind, code, lang)
        except vocabulary.VocabularyError:
            return code

    return ", ".join(one(c) for c in codes)


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
    said = _said(lang)  # an unknown --lang is refused before anything is written
    end = datetime.combine(until.date(), time.max, UTC).replace(microsecond=0) if until else None
    with logged_in(config) as s:
        body = consent_body(patient, category, covers, s.identity.now(), end)
        stored = records_of(s).create(request_for(s, purpose), body)
        categories = _named(s.org.referential, "category", category, lang)
        purposes = _named(s.org.referential, "purpose", covers, lang)
    console.print(
        said["given"].format(
            id=stored["id"], patient=patient, categories=categories, purposes=purposes, purpose=purpose
        ),
        markup=False,
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
    said = _said(lang)
    with logged_in(config) as s:
        records_of(s).withdraw_consent(request_for(s, purpose), consent_id)
    console.print(said["withdrawn"].format(id=consent_id), markup=False)


@consent_app.command("show")
@friendly_errors
def show(
    patient: PatientArg,
    purpose: PurposeOption,
    lang: LangOption = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
    as_json: JsonOption = False,
) -> None:
    """The patient's consent ledger, newest first."""
    said = _said("en" if as_json else lang)  # --json: stable keys and values for scripts
    with logged_in(config) as s:
        entries = records_of(s).consent_ledger(request_for(s, purpose), patient)
        ref = s.org.referential
    if not entries and not as_json:
        console.print(said["no_consent"].format(patient=patient), markup=False)
        return
    table = Table(*said["consent_columns"], title=said["consents_title"].format(patient=patient))
    day, moment = said["date"], said["date_time"]
    for e in entries:
        table.add_row(
            e.consent_id,
            _named(ref, "category", [e.category], lang),
            _named(ref, "purpose", [e.purpose], lang),
            e.start.strftime(moment),
            e.end.strftime(day) if e.end else "-",
            e.withdrawn_at.strftime(moment) if e.withdrawn_at else "-",
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
    said = _said(lang)
    with logged_in(config) as s:
        found = records_of(s).record_objection(request_for(s, purpose), patient, against)
        named = _named(s.org.referential, "purpose", [against], lang)
    at = found.recorded_at.strftime(said["date_time"])
    console.print(said["recorded"].format(number=found.number, patient=patient, against=named, at=at), markup=False)


@objection_app.command("show")
@friendly_errors
def show_objections(
    patient: PatientArg,
    purpose: PurposeOption,
    lang: LangOption = "fr",
    config: ConfigOption = Path(CONFIG_NAME),
    as_json: JsonOption = False,
) -> None:
    """The patient's objections, in force or lifted."""
    said = _said("en" if as_json else lang)  # --json: stable keys and values for scripts
    with logged_in(config) as s:
        found = records_of(s).objections_of(request_for(s, purpose), patient)
        ref = s.org.referential
    if not found and not as_json:
        console.print(said["no_objection"].format(patient=patient), markup=False)
        return
    table = Table(*said["objection_columns"], title=said["objections_title"].format(patient=patient))
    moment = said["date_time"]
    for o in found:
        lifted = (
            said["lifted_by"].format(at=o.lifted_at.strftime(moment), by=o.lifted_by)
            if o.lifted_at
            else said["in_force"]
        )
        how = said["lift_kinds"].get(o.lift_kind or "", o.lift_kind or "-")
        if o.justification:
            how += said["justification"].format(n=o.justification)
        table.add_row(
            str(o.number),
            _named(ref, "purpose", [o.purpose], lang),
            o.recorded_at.strftime(moment),
            o.recorded_by,
            lifted,
            how,
        )
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
    said = _said(lang)
    with logged_in(config) as s:
        lifted = records_of(s).lift_objection(request_for(s, purpose), patient, against, grounds=grounds)
        named = _named(s.org.referential, "purpose", [against], lang)
    line = said["overridden"] if lifted.justification else said["lifted"]
    console.print(
        line.format(number=lifted.number, patient=patient, against=named, justification=lifted.justification),
        markup=False,
    )
