"""FHIR Bulk Data export over HTTP: kick-off (``$export``), status polling, the NDJSON files, cancel.

The export itself is ``store/bulk.py``: every resource read through the one path, files encrypted, bound to the
account that asked, deleted when they expire. These routes only speak the protocol of FHIR Bulk Data 2.0 (async
request pattern): ``GET /fhir/$export`` (system level) or ``GET /fhir/Patient/$export`` (the Patient compartment)
with ``Prefer: respond-async`` answer 202 with the status URL in ``Content-Location``; the status answers 202 with
``X-Progress`` while the job runs, then 200 with the manifest (files and counts), or the refusal that stopped it as
an OperationOutcome; ``DELETE`` on it cancels and deletes. No Group level: santegarde stores no Group resource.
These routes are registered before the FHIR router's ``/{type}/{id}``.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations inside router().
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response, StreamingResponse

from santegarde.api.errors import FHIR_JSON, responses, status_of
from santegarde.api.fhir import REFUSALS, FhirJSONResponse, base_url, request_context
from santegarde.store import bulk
from santegarde.store.service import Request as RecordRequest

KICK_OFF = ("_type", "_since", "_outputFormat", "_typeFilter")
REPEATABLE = ("_typeFilter",)  # FHIR Bulk Data: several _typeFilter, or one with comma-separated searches
NDJSON = "application/fhir+ndjson"


def router(exports: bulk.BulkExports) -> APIRouter:
    api = APIRouter(
        prefix="/fhir",
        tags=["FHIR Bulk Data"],
        default_response_class=FhirJSONResponse,
        responses=responses(*REFUSALS, bulk.ExportBusy, fhir=True),
    )
    Ctx = Annotated[RecordRequest, Depends(request_context(exports.records))]

    def kick_off(request: Request, ctx: RecordRequest, level: str) -> Response:
        prefer = request.headers.get("prefer", "").replace(" ", "").lower().split(",")
        if "respond-async" not in prefer:
            raise bulk.ExportRefused(
                "A bulk export runs asynchronously: send the header 'Prefer: respond-async', then poll the status URL "
                "the answer gives in Content-Location."
            )
        params = request.query_params
        unknown = sorted({k for k in params if k not in KICK_OFF})
        repeated = sorted({k for k in params if len(params.getlist(k)) > 1 and k not in REPEATABLE})
        if unknown or repeated:
            raise bulk.ExportRefused(
                f"This export does not support {', '.join(unknown or repeated)}"
                + (" more than once" if not unknown else "")
                + f": it takes {', '.join(KICK_OFF)} (comma-separated types in one _type; _typeFilter, e.g. "
                "Observation%3Fcode%3D29463-7, as often as needed)."
            )
        job = exports.kick_off(
            ctx,
            level=level,
            types=params.get("_type"),
            since=params.get("_since"),
            output_format=params.get("_outputFormat"),
            url=str(request.url),
            type_filters=params.getlist("_typeFilter"),
            lenient="handling=lenient" in prefer,
        )
        status = f"{base_url(request)}/$export-status/{job.id}"
        outcome = _outcome("information", "informational", f"Export started: poll {status} for its files.")
        return JSONResponse(outcome, 202, headers={"Content-Location": status}, media_type=FHIR_JSON)

    @api.get("/$export", status_code=202)
    def export_system(request: Request, ctx: Ctx) -> Response:
        """Export every resource this session may read under its purpose, one NDJSON file per type (FHIR Bulk Data,
        system level; `Prefer: respond-async`; `_type`, `_since`, `_typeFilter` with search parameters that identify
        no one). Records the path refuses are left out, counted."""
        return kick_off(request, ctx, "system")

    @api.get("/Patient/$export", status_code=202)
    def export_patients(request: Request, ctx: Ctx) -> Response:
        """Export the Patient compartment: the patients and their records this session may read (FHIR Bulk Data,
        patient level; `Prefer: respond-async`; `_type`, `_since`, `_typeFilter`)."""
        return kick_off(request, ctx, "patient")

    @api.get("/$export-status/{job_id}")
    def export_status(job_id: str, request: Request, ctx: Ctx) -> Response:
        """Where the export stands: 202 while it runs, 200 with its files when complete, its refusal if it failed.
        Only for the account that asked it, under the purpose it declared."""
        job = exports.status(ctx, job_id)
        if job.state == "running":
            progress = f"{job.done} of {len(job.types)} types exported"
            return Response(status_code=202, headers={"X-Progress": progress, "Retry-After": "2"})
        expires = {"Expires": job.expires.strftime("%a, %d %b %Y %H:%M:%S GMT")} if job.expires else {}
        if job.state == "failed" and job.failure is not None:
            body = {
                "resourceType": "OperationOutcome",
                "issue": [{"severity": "error", "code": "processing", "diagnostics": str(job.failure)}],
            }
            return JSONResponse(body, status_of(job.failure), headers=expires, media_type=FHIR_JSON)
        return JSONResponse(bulk.manifest(job, base_url(request)), 200, headers=expires)

    @api.delete("/$export-status/{job_id}", status_code=202)
    def export_cancel(job_id: str, ctx: Ctx) -> Response:
        """Cancel the export if it runs, and delete its files now."""
        exports.cancel(ctx, job_id)
        return JSONResponse(
            _outcome("information", "informational", "The export was cancelled and its files deleted."),
            202,
            media_type=FHIR_JSON,
        )

    @api.get("/$export-file/{job_id}/{name}", response_class=StreamingResponse)
    async def export_file(job_id: str, name: str, ctx: Ctx) -> Response:
        """One NDJSON file of a complete export of yours (application/fhir+ndjson); the download is traced."""
        kind = name.removesuffix(".ndjson")
        chunks = await run_in_threadpool(exports.file, ctx, job_id, kind)
        return StreamingResponse(chunks, media_type=NDJSON, headers={"Cache-Control": "no-store"})

    return api


def _outcome(severity: str, code: str, message: str) -> dict[str, object]:
    return {"resourceType": "OperationOutcome", "issue": [{"severity": severity, "code": code, "diagnostics": message}]}
