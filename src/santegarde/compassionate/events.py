"""The ANSM's decisions that drive retention (§9, AAC-9), recorded for every patient of a programme.

- ``summary_report_approved``: the ANSM approved the summary of a periodic report; the active base runs two years
  from the approval of the *last* one (a later approval moves the date);
- ``authorisation_expired``: the compassionate-access authorisation's expiry (at most 70 years of intermediate
  archive from it, §9.2);
- ``authorisation_suspended_or_withdrawn``: the ANSM's suspension or withdrawal decision (§9.3).

Only a profile that may write the follow-up data for the summary reports records them (the pharmacist in charge,
§8.2); the refusal and the recording are traced. ``santegarde retention plan`` then shows the dates.
"""

from __future__ import annotations

from datetime import datetime

from santegarde import refusals
from santegarde.compassionate.service import CompassionateService, profile_refused
from santegarde.errors import WordedError
from santegarde.identity import sessions
from santegarde.policy import AccessRequest, decide
from santegarde.referentials.model import Operation
from santegarde.store import retention
from santegarde.store.service import Request

EVENTS = {
    "summary_report_approved": "the ANSM's approval of the summary of a periodic summary report",
    "authorisation_expired": "the expiry of the compassionate-access authorisation",
    "authorisation_suspended_or_withdrawn": "the ANSM's decision suspending or withdrawing the authorisation",
}
PURPOSE = "summary_reports"


class EventRefused(WordedError, ValueError):
    """An ANSM event that cannot be recorded as given."""


def record(service: CompassionateService, req: Request, programme_id: str, event: str, at: datetime) -> int:
    """Record the event for every patient of the programme; the number of patients."""
    if event not in EVENTS:
        choices = refusals.choices(EVENTS)
        raise EventRefused(refusals.sentences("aac", "unknown_event", event=event[:40], choices=choices))
    now = service.records.identity.now()
    if at > now:
        dated = {"fr": f"{at:%d/%m/%Y}", "en": f"{at:%Y-%m-%d}"}
        raise EventRefused(refusals.sentences("aac", "event_future", date=dated))
    service.registry.get(programme_id)  # an unknown programme is refused with its sentence
    req = Request(req.token, PURPOSE, source=req.source)
    ctx = sessions.require(service.records.identity, req.token, sensitivity=None)
    decision = decide(service.records.ref, AccessRequest(ctx.profile or "", Operation.WRITE, "safety", PURPOSE))
    if not decision.allowed:
        service.records.trace_refusal(req, f"aac.event.{event}"[:60], ("Programme", programme_id), decision.rule)
        raise profile_refused("events_profile", decision)
    patients = [patient for _, patient in service.cases(programme_id)]
    for patient in patients:
        retention.record_event(service.engine, "patient", patient, event, at, ctx.login, now)
    service.trace_programme(
        ctx, req, f"aac.event.{event}"[:60], programme_id, purpose=PURPOSE, rule=decision.rule, section="9"
    )
    return len(patients)
