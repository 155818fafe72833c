"""The practice's record screens beside the chart: the patient's identity form, the history of its versions, and its
documents.

The form builds the new version of the ``Patient`` from the current one and sends it to ``RecordService.update``
with the version it was drawn from (no lost update): the store's FHIR validation decides, and each element it
refuses is said in French next to its field. The history is ``RecordService.history`` (COM-QUAL-1), the documents
a ``DocumentReference`` search; every read and write is the record path's (identity → policy → store → audit).
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations inside routes().
import re
from itertools import pairwise
from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response

from santegarde.store.mapping import MappingError
from santegarde.store.service import AccessDenied, RecordService, VersionConflict
from santegarde.web.desk import Desk
from santegarde.web.french import CARE_BASES, GENDER, refusal, sentence
from santegarde.web.render import CSRF_FIELD

PURPOSE = "medical_record"
FRENCH_DATE = re.compile(r"^([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})$")
# The FHIR element the store refuses → the form's field, and what the desk reads next to it.
FIELDS = {
    "name.family": ("nom", "field_family"),
    "name.given": ("prenoms", "field_given"),
    "birthDate": ("naissance", "field_birth_date"),
    "gender": ("sexe", "field_gender"),
}


def routes(desk: Desk, records: RecordService) -> None:
    route, renderer, ref = desk.route, desk.renderer, desk.ref

    def identity_page(request: Request, patient: dict[str, Any], status: int = 200, **values: Any) -> Response:
        first = (patient.get("name") or [{}])[0]
        values.setdefault(
            "form",
            {
                "nom": first.get("family", ""),
                "prenoms": " ".join(first.get("given") or []),
                "naissance": _french(patient.get("birthDate", "")),
                "sexe": patient.get("gender", ""),
            },
        )
        values.setdefault("errors", {})
        return renderer.page(
            request,
            "identite.html",
            status,
            user=desk.who(desk.ready(request)),
            pid=patient["id"],
            version=(patient.get("meta") or {}).get("versionId", ""),
            sexes=list(GENDER.items()),
            **values,
        )

    @route("GET", "/patients/{pid}/identite", "records")
    def identity_form(request: Request, pid: str) -> Response:
        def draw() -> Response:
            req = desk.record_request(request, PURPOSE)
            return identity_page(request, records.read(req, "Patient", _id(pid)))

        return desk.guarded(request, draw)

    @route("POST", "/patients/{pid}/identite", "records")
    def identity(
        request: Request,
        pid: str,
        csrf: Annotated[str, Form(alias=CSRF_FIELD, max_length=128)],
        nom: Annotated[str, Form(max_length=200)] = "",
        prenoms: Annotated[str, Form(max_length=200)] = "",
        naissance: Annotated[str, Form(max_length=20)] = "",
        sexe: Annotated[str, Form(max_length=20)] = "",
        version: Annotated[str, Form(max_length=20)] = "",
    ) -> Response:
        renderer.check_csrf(request, csrf)
        form = {"nom": nom, "prenoms": prenoms, "naissance": naissance, "sexe": sexe}

        def draw() -> Response:
            rid = _id(pid)
            req = desk.record_request(request, PURPOSE)
            current = records.read(req, "Patient", rid)
            body = _with_identity(current, nom, prenoms, naissance, sexe)
            try:
                records.update(req, "Patient", rid, body, if_match=int(version) if version.isdigit() else None)
            except VersionConflict:
                return identity_page(
                    request,
                    records.read(req, "Patient", rid),
                    409,
                    message=None,
                    stale=True,
                )
            except MappingError as exc:
                field, key = FIELDS.get(exc.element, ("", ""))
                errors = {field: sentence(key)} if field else {}
                return identity_page(
                    request, current, 422, form=form, errors=errors, error=None if field else refusal(exc, ref)
                )
            return RedirectResponse(f"/patients/{rid}", status_code=303)

        return desk.guarded(request, draw)

    @route("POST", "/patients/{pid}/relation-de-soin", "records")
    def declare_care(
        request: Request,
        pid: str,
        csrf: Annotated[str, Form(alias=CSRF_FIELD, max_length=128)],
        motif: Annotated[str, Form(max_length=40)] = "",
    ) -> Response:
        """The practitioner takes the patient in care (a coded basis, recorded, traced and listed for review)."""
        renderer.check_csrf(request, csrf)

        def draw() -> Response:
            current = desk.ready(request)
            rid = _id(pid)
            if motif not in CARE_BASES:
                return desk.chart(request, rid, None, care_error=sentence("field_care_basis"))
            try:
                records.declare_care(desk.record_request(request, PURPOSE), rid, motif)
            except AccessDenied as exc:
                return renderer.refused(request, refusal(exc, ref, current.profile, PURPOSE), user=desk.who(current))
            return RedirectResponse(f"/patients/{rid}", status_code=303)

        return desk.guarded(request, draw, keep=f"/patients/{pid}")

    @route("GET", "/patients/{pid}/historique", "records")
    def history(request: Request, pid: str) -> Response:
        def draw() -> Response:
            current = desk.ready(request)
            req = desk.record_request(request, PURPOSE)
            rid = _id(pid)
            try:
                versions = records.history(req, "Patient", rid)
            except AccessDenied as exc:
                return renderer.refused(request, refusal(exc, ref, current.profile, PURPOSE), user=desk.who(current))
            rows = [_version_row(v) for v in versions]
            for newer, older in pairwise(rows):
                newer["changed"] = [k for k in ("family", "given", "birth", "gender", "ins") if newer[k] != older[k]]
            return renderer.page(request, "historique.html", user=desk.who(current), pid=rid, versions=rows)

        return desk.guarded(request, draw)


def _id(pid: str) -> str:
    from santegarde.api.params import fhir_id

    return fhir_id(pid)


def _french(birth: str) -> str:
    """``1979-03-21`` as the desk writes it: ``21/03/1979`` (a partial date as it is)."""
    parts = birth.split("-")
    return "/".join(reversed(parts)) if len(parts) == 3 else birth


def _iso(written: str) -> str:
    """``21/03/1979`` → ``1979-03-21``; anything else is sent as written, for the store's FHIR validation to judge."""
    found = FRENCH_DATE.match(written.strip())
    if not found:
        return written.strip()
    day, month, year = found.groups()
    return f"{year}-{int(month):02d}-{int(day):02d}"


def _with_identity(current: dict[str, Any], family: str, given: str, birth: str, gender: str) -> dict[str, Any]:
    """The next version of the Patient: the current one with the form's identity (everything else kept)."""
    body = {k: v for k, v in current.items() if k != "meta"}
    names = [dict(n) for n in current.get("name") or [{}]]
    names[0] = {**names[0], "family": family.strip(), "given": given.split() or [""]}
    body["name"] = names
    if birth.strip():
        body["birthDate"] = _iso(birth)
    else:
        body.pop("birthDate", None)
    body["gender"] = gender.strip() or "unknown"
    return body


def _version_row(patient: dict[str, Any]) -> dict[str, Any]:
    from santegarde.web.pages import _patient_row

    meta = patient.get("meta") or {}
    return {
        **_patient_row(patient),
        "version": meta.get("versionId", "—"),
        "at": meta.get("lastUpdated"),
        "changed": [],
    }
