"""The FHIR R4 REST API over the record store: read, search, create, update, history, transaction and batch,
CapabilityStatement.

Every route goes through ``RecordService`` (identity → policy → store → audit). The purpose is
declared on every request in the ``X-Purpose`` header; break-the-glass reasons and research formalities
travel in headers too. Consent is never a header: it is a stored ``Consent`` the path looks up
(created with ``POST /fhir/Consent``, withdrawn with ``POST /fhir/Consent/{id}/$withdraw`` or an update to
``inactive``, found with ``POST /fhir/Consent/_search`` and ``patient``). A patient's objections (GDPR art. 21.1)
are recorded, shown and lifted with ``/fhir/Patient/{id}/$objection`` and ``$lift-objection``. Searching is FHIR's:
``POST [type]/_search`` with the parameters form-encoded (or as a JSON object), or ``GET [type]?…`` for the
parameters that identify no one (``_id``, ``patient``, ``code``, ``status``, dates…): identifiers, names and birth
dates never appear in a URL (COM-CRY-1), and paging links carry the search sealed, bound to the session. ``POST /fhir``
takes a ``transaction`` Bundle (a patient with its observations): all its entries stored, or none; or a ``batch``
Bundle: each entry stored or refused on its own, with its own status.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations inside router().
import json
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import replace
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Body, Cookie, Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from santegarde.api.errors import FHIR_JSON, outcome, responses, sentence, status_of, validation_error
from santegarde.api.params import FhirId
from santegarde.api.refusals import NOT_LOGGED_IN, BodyTooLarge, OriginRefused, PreconditionFailed
from santegarde.crypto import DecryptionRefused
from santegarde.identity.errors import SessionLocked, SessionRefused, StepRequired
from santegarde.store import bundle
from santegarde.store import search as fhir_search
from santegarde.store.mapping import RESOURCES, MappingError, patient_of
from santegarde.store.objections import Objection
from santegarde.store.service import AccessDenied, NotFound, RecordService, VersionConflict, WriteConflict
from santegarde.store.service import Request as RecordRequest

# What every FHIR route may answer besides its success (its own status is declared on the route).
REFUSALS = (
    MappingError,
    SessionRefused,
    SessionLocked,
    StepRequired,
    AccessDenied,
    NotFound,
    DecryptionRefused,
    OriginRefused,
    BodyTooLarge,
    VersionConflict,
    WriteConflict,
    PreconditionFailed,
)
INTERACTIONS = ("read", "search-type", "create", "update", "history-instance")
FORM = "application/x-www-form-urlencoded"
BULK_DATA = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition"
SEARCH_BODY = {
    "requestBody": {
        "content": {
            FORM: {"schema": {"type": "object", "additionalProperties": {"type": "string"}}},
            "application/json": {"schema": {"type": "object", "additionalProperties": {"type": "string"}}},
        }
    }
}


class FhirJSONResponse(JSONResponse):
    """JSON under FHIR's own media type: how the OpenAPI declares every FHIR answer."""

    media_type = FHIR_JSON


def base_url(request: Request) -> str:
    """The absolute base of the FHIR API as the client reached it (for fullUrl, Location and links)."""
    return f"{str(request.base_url).rstrip('/')}/fhir"


def _bundle(kind: str, resources: list[dict[str, Any]], base: str, *, mode: str | None = None) -> dict[str, Any]:
    entries = []
    for r in resources:
        entry: dict[str, Any] = {"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r}
        if mode:
            entry["search"] = {"mode": mode}
        entries.append(entry)
    return {"resourceType": "Bundle", "type": kind, "total": len(resources), "entry": entries}


def capability_statement() -> dict[str, Any]:
    """What this server really does: the interactions its routes implement, the parameters search accepts."""
    params = fhir_search.PARAMETERS
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": datetime.now(UTC).date().isoformat(),
        "kind": "instance",
        "software": {"name": "santegarde", "version": "0.1.0"},
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "documentation": (
                    "Every request needs a session (cookie sg_session, from /auth/login) and a declared purpose "
                    "(header X-Purpose). Search with POST [type]/_search and form-encoded parameters; GET [type]?… "
                    "accepts only the parameters that identify no one: identifiers, names and birth dates never go "
                    "in a URL. Unsupported parameters are refused (handling=strict) unless 'Prefer: "
                    "handling=lenient'. Updates honour If-Match (412 on a stale version); creates, If-None-Exist."
                ),
                "security": {"description": "Two-factor sessions for health data; every access is traced."},
                # POST /fhir: a transaction Bundle of creates and updates, all stored or none, or a batch Bundle,
                # each entry on its own (store/bundle.py).
                "interaction": [{"code": "transaction"}, {"code": "batch"}],
                # FHIR Bulk Data (api/bulk.py): system and Patient compartment; santegarde stores no Group.
                "operation": [{"name": "export", "definition": f"{BULK_DATA}/export"}],
                "resource": [
                    {
                        "type": name,
                        "interaction": [{"code": c} for c in INTERACTIONS],
                        "versioning": "versioned-update",
                        "readHistory": True,
                        "updateCreate": False,
                        "conditionalCreate": True,
                        "searchInclude": [f"{name}:{p}" for p in fhir_search.PATIENT_REFS if p in params[name]],
                        "searchRevInclude": [
                            f"{kind}:{p}"
                            for kind in sorted(params)
                            for p in fhir_search.PATIENT_REFS
                            if p in params[kind]
                        ]
                        if name == "Patient"
                        else [],
                        **(
                            {"operation": [{"name": "export", "definition": f"{BULK_DATA}/patient-export"}]}
                            if name == "Patient"
                            else {}
                        ),
                        "searchParam": [
                            {"name": p.name, "type": p.type, "documentation": _documentation(p)}
                            for p in params[name].values()
                        ],
                    }
                    for name in sorted(RESOURCES)
                ],
            }
        ],
    }


def _documentation(param: fhir_search.Param) -> str:
    where = "In the request body only (POST _search): it identifies a person. " if param.identifying else ""
    return where + param.documentation


def request_context(records: RecordService) -> Callable[..., RecordRequest]:
    """The dependency every /fhir route takes: the session cookie and the declared purpose, refused (and traced)
    when either is missing."""

    def context(
        request: Request,
        x_purpose: Annotated[str | None, Header()] = None,
        x_break_glass: Annotated[str | None, Header()] = None,
        x_formality: Annotated[str | None, Header()] = None,
        x_access_reason: Annotated[str | None, Header()] = None,
        sg_session: Annotated[str | None, Cookie()] = None,
    ) -> RecordRequest:
        made = RecordRequest(
            sg_session or "",
            x_purpose or "",
            source=request.client.host if request.client else "unknown",
            break_glass=x_break_glass,
            formality=x_formality,
            reason=x_access_reason,
        )
        if not sg_session:
            records.trace_refusal(made, *_attempt(request), "identity")
            raise SessionRefused(NOT_LOGGED_IN)
        if not x_purpose:
            records.trace_refusal(made, *_attempt(request), "purpose.missing")
            raise MappingError(
                "Declare the purpose of this request in the X-Purpose header (e.g. X-Purpose: medical_record); "
                "see santegarde referential show for the purposes of your organisation."
            )
        return made

    return context


def router(records: RecordService) -> APIRouter:
    api = APIRouter(
        prefix="/fhir",
        tags=["FHIR R4"],
        default_response_class=FhirJSONResponse,
        responses=responses(*REFUSALS, fhir=True),
    )
    Ctx = Annotated[RecordRequest, Depends(request_context(records))]

    def fhir(body: dict[str, Any], status: int = 200, location: str | None = None) -> JSONResponse:
        headers = {"Location": location} if location else {}
        if "meta" in body and "versionId" in body["meta"]:
            headers["ETag"] = f'W/"{body["meta"]["versionId"]}"'
        return JSONResponse(body, status_code=status, media_type=FHIR_JSON, headers=headers)

    @api.get("/metadata")
    def metadata() -> JSONResponse:
        """The CapabilityStatement: what this server does, and how to call it."""
        return fhir(capability_statement())

    def searched(
        request: Request,
        ctx: RecordRequest,
        resource_type: str,
        pairs: list[tuple[str, str]],
        cursor: fhir_search.Cursor | None = None,
    ) -> JSONResponse:
        lenient = "handling=lenient" in request.headers.get("prefer", "").replace(" ", "").lower()
        try:
            query = fhir_search.parse(resource_type, pairs, lenient=lenient)
        except MappingError:
            records.trace_refusal(ctx, "search", (resource_type[:40], ""), "search.parameters")
            raise
        cursor = cursor or fhir_search.Cursor()
        with records.one_request():  # the page's entries and its inclusions' traced together, before the answer
            page = records.search_page(ctx, query, cursor)
            included, cut = _included(ctx, query, page.entries)
        base = base_url(request)

        def link(relation: str, at: fhir_search.Cursor) -> dict[str, str]:
            return {"relation": relation, "url": f"{base}/{resource_type}?_page={records.page_token(ctx, query, at)}"}

        bundle = _bundle("searchset", page.entries, base, mode="match")
        bundle["entry"].extend(_bundle("searchset", included, base, mode="include")["entry"])
        links = [link("self", cursor)]
        if page.more_after and page.examined:
            links.append(link("next", fhir_search.Cursor(after=page.examined[-1])))
        if page.more_before and page.examined:
            links.append(link("previous", fhir_search.Cursor(before=page.examined[0])))
        bundle["link"] = links
        if page.more_after or page.more_before:
            del bundle["total"]  # a page is not the whole result: no total rather than a wrong one
        notes = [f"Ignored (handling=lenient): {', '.join(query.ignored)}."] if query.ignored else []
        for note in [*notes, *cut]:
            outcome = _outcome("warning", "not-supported" if note in notes else "too-costly", note)
            bundle["entry"].append({"resource": outcome, "search": {"mode": "outcome"}})
        return fhir(bundle)

    def _included(
        ctx: RecordRequest, query: fhir_search.Query, matches: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """The patients of the matches (_include) or the records of the patients (_revinclude), each one through
        the read path: the same policy decision, care check and audit entry as a direct read; refusals left out.
        Also what was left out because a patient has more records than a page holds."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        cut: list[str] = []
        seen = {(m["resourceType"], m["id"]) for m in matches}
        if query.include:  # the matches' patients, read together: one session check, each read traced
            pids = [str(p) for m in matches if (p := patient_of(m)) is not None and ("Patient", str(p)) not in seen]
            with suppress(AccessDenied):  # the policy refuses Patient to this profile: refusals traced, none included
                found.update({("Patient", pid): r for pid, r in records.read_each(ctx, "Patient", pids).items()})
        for resource in matches:
            for kind, param in query.revinclude:
                related = fhir_search.parse(kind, [(param, resource["id"]), ("_count", str(fhir_search.MAX_COUNT))])
                page = records.search_page(ctx, related)
                for r in page.entries:
                    found.setdefault((kind, r["id"]), r)
                if page.more_after:
                    cut.append(
                        f"Patient/{resource['id']} has more {kind} than the {fhir_search.MAX_COUNT} included: "
                        f"search them with {kind}?{param}=Patient/{resource['id']}."
                    )
        return list(found.values()), cut

    @api.post("/{resource_type}/_search", openapi_extra=SEARCH_BODY)
    async def search(resource_type: str, request: Request, ctx: Ctx) -> JSONResponse:
        """FHIR search with the parameters in the body, form-encoded (or a JSON object): the one way to search by
        identifier, name or birth date. Parameters in the URL are accepted only if they identify no one."""
        pairs = _url_parameters(resource_type, request) + _body_parameters(await request.body(), request)
        return await run_in_threadpool(searched, request, ctx, resource_type, pairs)

    @api.get("/{resource_type}")
    def search_in_url(resource_type: str, request: Request, ctx: Ctx) -> JSONResponse:
        """FHIR search with parameters that identify no one (ids, patient references, codes, statuses, dates);
        a paging link (_page) continues a search."""
        pairs = _url_parameters(resource_type, request)
        token = next((v for k, v in pairs if k == "_page"), None)
        if token is None:
            return searched(request, ctx, resource_type, pairs)
        if len(pairs) > 1:
            raise fhir_search.SearchRefused("A paging link (_page) carries the whole search: send it alone.")
        kind, carried, cursor = records.open_page_token(ctx, token)
        if kind != resource_type:
            raise fhir_search.SearchRefused(f"This page link belongs to a search of {kind}, not {resource_type}.")
        return searched(request, ctx, resource_type, carried, cursor)

    @api.post("/{resource_type}", status_code=201)
    def create(
        resource_type: str,
        request: Request,
        ctx: Ctx,
        body: Annotated[dict[str, Any], Body()],
        if_none_exist: Annotated[
            str | None, Header(description="Conditional create: search parameters, e.g. identifier=system|value")
        ] = None,
    ) -> JSONResponse:
        """Create the resource; with If-None-Exist, only if no resource you may read matches those parameters (one
        that does is returned instead, 200; more than one: 412)."""
        if body.get("resourceType") != resource_type:
            raise MappingError(f"The body is a {body.get('resourceType')}, not a {resource_type}.")
        if if_none_exist is not None:
            existing = _existing(ctx, resource_type, if_none_exist)
            if existing is not None:
                return fhir(existing, 200, _location(request, existing))
        created = records.create(ctx, body)
        return fhir(created, 201, _location(request, created))

    def _existing(ctx: RecordRequest, resource_type: str, criteria: str) -> dict[str, Any] | None:
        try:
            pairs = parse_qsl(criteria, keep_blank_values=True, strict_parsing=True)
        except ValueError:
            pairs = []
        if not pairs:
            raise fhir_search.SearchRefused(
                "If-None-Exist takes search parameters as in a URL query, e.g. identifier=<system>|<value>."
            )
        query = fhir_search.parse(resource_type, pairs)
        found = records.search_page(ctx, replace(query, count=2)).entries
        if len(found) > 1:
            raise PreconditionFailed(
                f"If-None-Exist matches more than one {resource_type}: make the criteria precise enough to name one "
                "(an identifier with its system), or create without the header."
            )
        return found[0] if found else None

    @api.post("")
    def transaction(request: Request, ctx: Ctx, body: Annotated[dict[str, Any], Body()]) -> JSONResponse:
        """A transaction Bundle: its creates (POST) and updates (PUT) all stored, or none; references between its
        entries by fullUrl (urn:uuid:…) resolved. Answers a transaction-response Bundle, entries in the same order.
        A batch Bundle: each entry stored or refused on its own; answers a batch-response Bundle whose entries carry
        each its status, and its OperationOutcome when refused."""
        base = base_url(request)
        if bundle.kind(body) == bundle.BATCH:
            items = bundle.batch(body)
            outcomes = records.batch(ctx, items)
            entries = [
                _stored_entry(base, item.creating, r)
                if isinstance(item, bundle.Write) and isinstance(r, dict)
                else _refused_entry(request, r)
                for item, r in zip(items, outcomes, strict=True)
            ]
            return fhir({"resourceType": "Bundle", "type": "batch-response", "entry": entries})
        writes = bundle.writes(body)
        done = records.transaction(ctx, writes)
        entries = [_stored_entry(base, w.creating, r) for w, r in zip(writes, done, strict=True)]
        return fhir({"resourceType": "Bundle", "type": "transaction-response", "entry": entries})

    @api.get("/{resource_type}/{rid}")
    def read(resource_type: str, rid: FhirId, ctx: Ctx) -> JSONResponse:
        return fhir(records.read(ctx, resource_type, rid))

    @api.put("/{resource_type}/{rid}")
    def update(
        resource_type: str,
        rid: FhirId,
        ctx: Ctx,
        body: Annotated[dict[str, Any], Body()],
        if_match: Annotated[str | None, Header(description='The version read, as its ETag: W/"3"')] = None,
    ) -> JSONResponse:
        """A new version of the resource; with If-Match, only if the version named is still the current one."""
        return fhir(records.update(ctx, resource_type, rid, body, if_match=bundle.etag_version(if_match)))

    @api.get("/{resource_type}/{rid}/_history")
    def history(resource_type: str, rid: FhirId, request: Request, ctx: Ctx) -> JSONResponse:
        return fhir(_bundle("history", records.history(ctx, resource_type, rid), base_url(request)))

    @api.post("/Consent/{rid}/$withdraw")
    def withdraw_consent(rid: FhirId, ctx: Ctx) -> JSONResponse:
        """The person withdraws this consent: inactive from now on; the data collected before stay."""
        return fhir(records.withdraw_consent(ctx, rid))

    @api.post("/Patient/{rid}/$objection", status_code=201)
    def record_objection(
        rid: FhirId, ctx: Ctx, against: Annotated[str, Body(embed=True, max_length=60, description="The purpose")]
    ) -> JSONResponse:
        """The patient objects to a purpose (GDPR art. 21.1, where the right applies): every later request for it is
        refused. Refused, with the article, for a purpose based on a legal obligation."""
        return fhir(_objections([records.record_objection(ctx, rid, against)]), 201)

    @api.get("/Patient/{rid}/$objection")
    def show_objections(rid: FhirId, ctx: Ctx) -> JSONResponse:
        """The patient's objections, in force or lifted (traced)."""
        return fhir(_objections(records.objections_of(ctx, rid)))

    @api.post("/Patient/{rid}/$lift-objection")
    def lift_objection(
        rid: FhirId,
        ctx: Ctx,
        against: Annotated[str, Body(max_length=60, description="The purpose of the objection")],
        compelling_grounds: Annotated[
            str | None, Body(max_length=1000, description="Override it: the grounds, written (flagged for review)")
        ] = None,
    ) -> JSONResponse:
        """The controller lifts an objection (the person withdrew it) or overrides it on compelling legitimate
        grounds; any other profile is refused (traced)."""
        return fhir(_objections([records.lift_objection(ctx, rid, against, grounds=compelling_grounds)]))

    @api.post("/Patient/{rid}/$declare-care")
    def declare_care(
        rid: FhirId,
        ctx: Ctx,
        basis: Annotated[str, Body(description="consultation, referral, replacement, care_team or home_visit")],
        note: Annotated[str, Body(max_length=200)] = "",
    ) -> JSONResponse:
        """A practitioner takes this patient in care: a coded basis, recorded, traced and flagged for review."""
        records.declare_care(ctx, rid, basis, note=note)
        return fhir(_outcome("information", "informational", "Care relationship recorded."))

    return api


def refused_input(records: RecordService) -> Callable[[Request, Exception], Awaitable[Response]]:
    """A malformed /fhir request (FastAPI's 422) is traced like any refusal, then answered as an OperationOutcome."""

    async def handle(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/fhir"):
            made = RecordRequest(
                request.cookies.get("sg_session", ""),
                request.headers.get("x-purpose", ""),
                source=request.client.host if request.client else "unknown",
            )
            operation, resource = _attempt(request)
            await run_in_threadpool(records.trace_refusal, made, operation, resource, "request.invalid")
        return await validation_error(request, exc)

    return handle


def _location(request: Request, resource: dict[str, Any]) -> str:
    """The absolute URL of this version of the resource (the Location of a create)."""
    return f"{base_url(request)}/{resource['resourceType']}/{resource['id']}/_history/{resource['meta']['versionId']}"


def _url_parameters(resource_type: str, request: Request) -> list[tuple[str, str]]:
    """The search parameters in the URL, refused (400) if one would put an identifier, a name or a birth date there."""
    pairs = list(request.query_params.multi_items())
    refused = fhir_search.in_url_refused(resource_type, (k for k, _ in pairs))
    if refused is not None:
        raise fhir_search.SearchRefused(
            f"The search parameter {refused} identifies a person: it must never appear in a URL (COM-CRY-1). Send it "
            f"in the body: POST /fhir/{resource_type}/_search with Content-Type: {FORM}."
        )
    return pairs


def _body_parameters(body: bytes, request: Request) -> list[tuple[str, str]]:
    """A POST _search body: form-encoded parameters (FHIR's way), or a JSON object of strings."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if not body.strip():
            return []
        if kind == FORM:
            return parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
        if kind in ("application/json", FHIR_JSON):
            criteria = json.loads(body)
            if isinstance(criteria, dict) and all(isinstance(v, str) for v in criteria.values()):
                return [(str(k), v) for k, v in criteria.items()]
    except (UnicodeDecodeError, ValueError):
        pass
    raise fhir_search.SearchRefused(
        f"The search parameters could not be read: send them form-encoded (Content-Type: {FORM}, e.g. "
        "family=Martin&birthdate=ge1944), or as a JSON object of strings (Content-Type: application/json)."
    )


def _stored_entry(base: str, created: bool, r: dict[str, Any]) -> dict[str, Any]:
    """The response entry of a Bundle entry stored: the resource, where it is, its version."""
    return {
        "fullUrl": f"{base}/{r['resourceType']}/{r['id']}",
        "resource": r,
        "response": {
            "status": "201 Created" if created else "200 OK",
            "location": f"{r['resourceType']}/{r['id']}/_history/{r['meta']['versionId']}",
            "etag": f'W/"{r["meta"]["versionId"]}"',
            "lastModified": r["meta"]["lastUpdated"],
        },
    }


def _refused_entry(request: Request, exc: Any) -> dict[str, Any]:
    """The response entry of a batch entry refused: its status and the refusal as an OperationOutcome, in the
    request's language."""
    status = status_of(exc)
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    return {"response": {"status": f"{status} {phrase}", "outcome": outcome(status, sentence(request, exc))}}


def _attempt(request: Request) -> tuple[str, tuple[str, str]]:
    """The operation and (type, id) a /fhir request aimed at, to trace it when it is refused before the path."""
    if request.url.path.rstrip("/") == "/fhir":
        return "transaction", ("Bundle", "")
    parts = request.url.path.removeprefix("/fhir/").split("/")
    if parts[0].startswith("$"):  # an operation on the whole server ($export and its status and files)
        return parts[0][1:][:40], ("", parts[1][:64] if len(parts) > 1 else "")
    kind = parts[0][:40] if parts and parts[0] else ""
    rid = parts[1][:64] if len(parts) > 1 and not parts[1].startswith(("_", "$")) else ""
    last = parts[-1]
    if last == "_search":
        operation = "search"
    elif last == "_history":
        operation = "history"
    elif last.startswith("$"):
        operation = last[1:][:40]
    else:
        operation = {"GET": "read", "POST": "create", "PUT": "update"}.get(request.method, request.method.lower())
    return operation, (kind, rid)


def _objections(found: list[Objection]) -> dict[str, Any]:
    """Objections as the output of a FHIR operation: a ``Parameters`` resource, one ``objection`` part each."""

    def part(o: Objection) -> list[dict[str, Any]]:
        values: list[tuple[str, str, Any]] = [
            ("number", "valueInteger", o.number),
            ("patient", "valueReference", {"reference": f"Patient/{o.patient_id}"}),
            ("purpose", "valueCode", o.purpose),
            ("recorded", "valueDateTime", o.recorded_at.isoformat()),
            ("recordedBy", "valueString", o.recorded_by),
            ("inForce", "valueBoolean", o.lifted_at is None),
        ]
        if o.lifted_at is not None:
            values += [("lifted", "valueDateTime", o.lifted_at.isoformat()), ("liftedBy", "valueString", o.lifted_by)]
            values.append(("how", "valueCode", o.lift_kind))
        if o.justification is not None:
            values.append(("justification", "valueInteger", o.justification))
        return [{"name": name, kind: value} for name, kind, value in values]

    return {"resourceType": "Parameters", "parameter": [{"name": "objection", "part": part(o)} for o in found]}


def _outcome(severity: str, code: str, message: str) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [{"severity": severity, "code": code, "diagnostics": message}]}
