"""Compassionate access over HTTP (issue 16): programmes, access requests, forms, cases, overdue follow-ups.

Every route needs the professional's session (cookie ``sg_session``); the forms and cases go through
``CompassionateService``, hence the record path (identity → policy → store → audit), under the declared purpose
(header ``X-Purpose``, by default ``access_initiation_follow_up``). The web console draws these routes.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations inside router().
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Cookie, Depends, Header, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from santegarde.api.errors import responses
from santegarde.api.refusals import BodyTooLarge, OriginRefused
from santegarde.compassionate import events, professionals, vigilance
from santegarde.compassionate.forms import SubmissionRefused
from santegarde.compassionate.professionals import Professional
from santegarde.compassionate.programme import ProgrammeError
from santegarde.compassionate.registry import UnknownProgramme
from santegarde.compassionate.service import (
    CaseNotFound,
    CaseState,
    CompassionateService,
    Patient,
    ReportRefused,
    WorkflowRefused,
)
from santegarde.governance.documents import html_to_pdf
from santegarde.identity import sessions
from santegarde.identity.errors import SessionLocked, SessionRefused, StepRequired
from santegarde.store.service import AccessDenied
from santegarde.store.service import Request as RecordRequest

PURPOSE = "access_initiation_follow_up"
REFUSALS = (
    SubmissionRefused,
    WorkflowRefused,
    ReportRefused,
    events.EventRefused,
    vigilance.AlertRefused,
    ProgrammeError,
    UnknownProgramme,
    CaseNotFound,
    AccessDenied,
    SessionRefused,
    SessionLocked,
    StepRequired,
    OriginRefused,
    BodyTooLarge,
)


class PatientIn(BaseModel):
    """What the prescriber gives: the names only serve to build the initials and are never stored."""

    model_config = ConfigDict(extra="forbid")
    surname: str = Field(min_length=1, max_length=200)
    first_name: str = Field(min_length=1, max_length=200)
    sex: str = Field(description="female, male, other or unknown")
    birth: str = Field(description="Year and month of birth, YYYY-MM (full date only for a child when asked)")
    establishment: str = Field(description="The establishment's Organization id")


class AccessRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    patient: PatientIn
    answers: dict[str, Any]


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event: str = Field(
        description="summary_report_approved, authorisation_expired, authorisation_suspended_or_withdrawn"
    )
    at: datetime = Field(description="When the ANSM decided")


class ProfessionalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    last_name: str = Field(max_length=100)
    first_name: str = Field(max_length=100)
    profession: str = Field(description="TRE-G15 code: 10 médecin, 21 pharmacien, 60 infirmier")
    rpps: str
    work_email: str | None = None
    work_phone: str | None = None
    specialty: str | None = Field(None, description="TRE-R38 ordinal specialty code, e.g. SM32 (neurologie)")


class FormIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    answers: dict[str, Any]


def case_json(case: CaseState) -> dict[str, Any]:
    return {
        "number": case.number,
        "patient_id": case.patient_id,
        "code": case.code,
        "programme": case.programme,
        "version": case.version,
        "establishment": case.establishment,
        "status": case.status,
        "viewed_from": case.viewed_from,
        "sex": case.sex,
        "birth": case.birth,
        "adverse_effects": case.adverse_effects,
        "forms": [{**asdict(f), "kind": f.kind.value, "authored": f.authored.isoformat()} for f in case.forms],
    }


def router(service: CompassionateService) -> APIRouter:
    api = APIRouter(prefix="/aac", tags=["Compassionate access"], responses=responses(*REFUSALS))
    identity = service.records.identity

    def context(
        request: Request,
        x_purpose: Annotated[str | None, Header()] = None,
        sg_session: Annotated[str | None, Cookie()] = None,
    ) -> RecordRequest:
        if not sg_session:
            raise SessionRefused("You are not logged in; log in first (POST /auth/login).")
        return RecordRequest(
            sg_session, x_purpose or PURPOSE, source=request.client.host if request.client else "unknown"
        )

    Ctx = Annotated[RecordRequest, Depends(context)]

    def live(ctx: RecordRequest) -> None:
        """The protocols hold no personal data, but are shown only to a session past every step (deny by default)."""
        sessions.require(identity, ctx.token, sensitivity=None)

    @api.get("/programmes")
    def programmes(ctx: Ctx) -> JSONResponse:
        """The registered programmes (latest versions) and their versions."""
        live(ctx)
        found = [
            {
                **p.model_dump(mode="json", include={"id", "version", "title", "ansm_decision"}),
                "versions": service.registry.versions(p.id),
                "status": p.status(identity.now().date()),
            }
            for p in service.registry.all()
        ]
        return JSONResponse(found)

    @api.get("/programmes/{programme_id}")
    def programme(programme_id: str, ctx: Ctx, version: str | None = None) -> JSONResponse:
        """A programme version in full: its ANSM decision, its forms and their coded fields."""
        live(ctx)
        return JSONResponse(service.registry.get(programme_id, version).model_dump(mode="json"))

    @api.post("/programmes/{programme_id}/requests", status_code=201)
    def access_request(programme_id: str, ctx: Ctx, body: AccessRequestIn) -> JSONResponse:
        """A prescriber's access request: opens the case, builds the patient's code, stores the request."""
        case = service.request_access(ctx, programme_id, Patient(**body.patient.model_dump()), body.answers)
        return JSONResponse(case_json(case), status_code=201, headers={"Location": f"/aac/cases/{case.patient_id}"})

    @api.get("/programmes/{programme_id}/overdue")
    def overdue(programme_id: str, ctx: Ctx) -> JSONResponse:
        """The treated patients this session may read whose follow-up visit is overdue."""
        late = service.overdue(ctx, programme_id)
        return JSONResponse([{"patient_id": c.patient_id, "code": c.code, "due": due.isoformat()} for c, due in late])

    @api.get("/programmes/{programme_id}/report", response_model=None)
    def summary_report(
        programme_id: str, ctx: Ctx, start: date, end: date, threshold: int = 11, format: str = "json"
    ) -> Response:
        """The periodic summary report for the ANSM: aggregated only, small cells suppressed (json, csv or pdf)."""
        if format not in ("json", "csv", "pdf"):
            raise ReportRefused("report_format", format=format[:20])
        from santegarde.compassionate import report  # DuckDB and the warehouse's indicators: only for a report

        built = report.build(service, ctx, programme_id, start, end, threshold)
        if format == "csv":
            return Response(built.csv(), media_type="text/csv; charset=utf-8")
        if format == "pdf":
            return Response(html_to_pdf(built.html()), media_type="application/pdf")
        return JSONResponse(built.as_dict())

    @api.post("/programmes/{programme_id}/events", status_code=201)
    def ansm_event(programme_id: str, ctx: Ctx, body: EventIn) -> JSONResponse:
        """Record an ANSM decision for every patient of the programme (it sets the retention dates, §9)."""
        at = body.at if body.at.tzinfo else body.at.replace(tzinfo=UTC)
        patients = events.record(service, ctx, programme_id, body.event, at)
        return JSONResponse({"event": body.event, "at": at.isoformat(), "patients": patients}, status_code=201)

    @api.post("/professionals", status_code=201)
    def professional(ctx: Ctx, body: ProfessionalIn) -> JSONResponse:
        """Record a professional following the patients (§7.2 c): a Practitioner of the directory, RPPS checked."""
        return JSONResponse(professionals.add(service.records, ctx, Professional(**body.model_dump())), status_code=201)

    @api.get("/programmes/{programme_id}/adverse-effects")
    def adverse_effects(programme_id: str, ctx: Ctx, since: date | None = None) -> JSONResponse:
        """The adverse-effect reports of the cases this session may read (pharmacovigilance), newest first."""
        found = service.adverse_effects(ctx, programme_id, since)
        return JSONResponse(
            [
                {"patient_id": c.patient_id, "code": c.code, "authored": f.authored.isoformat(), "answers": f.answers}
                for c, f in found
            ]
        )

    @api.get("/programmes/{programme_id}/vigilance")
    def vigilance_inbox(programme_id: str, ctx: Ctx) -> JSONResponse:
        """Pharmacovigilance's inbox: the adverse-effect reports not yet acknowledged, oldest first."""
        return JSONResponse(
            [
                {
                    "id": a.id,
                    "patient_id": a.case.patient_id,
                    "code": a.case.code,
                    "authored": a.report.authored.isoformat(),
                    "answers": a.report.answers,
                }
                for a in vigilance.pending(service, ctx, programme_id)
            ]
        )

    @api.post("/vigilance/{alert_id}/acknowledge")
    def vigilance_acknowledge(alert_id: int, ctx: Ctx) -> JSONResponse:
        """Acknowledge an adverse-effect report (pharmacovigilance only): it leaves the inbox; traced."""
        return JSONResponse({"id": alert_id, "acknowledged_by": vigilance.acknowledge(service, ctx, alert_id)})

    @api.get("/cases/{patient_id}")
    def case(patient_id: str, ctx: Ctx) -> JSONResponse:
        """A case as this session may read it (each record read is traced)."""
        return JSONResponse(case_json(service.state(ctx, patient_id)))

    @api.post("/cases/{patient_id}/forms/{form_id}", status_code=201)
    def submit(patient_id: str, form_id: str, ctx: Ctx, body: FormIn) -> JSONResponse:
        """A form of the workflow (decision, initiation, follow-up, stop, adverse effect, related person)."""
        return JSONResponse(case_json(service.submit(ctx, patient_id, form_id, body.answers)), status_code=201)

    return api
