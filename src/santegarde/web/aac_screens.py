"""The compassionate-access screens (aac-2022-106) for prescribers, establishment pharmacists and the laboratory:
the programmes, the cases a session may see, a case's timeline, the access request and every form of the protocol
drawn from its definition — coded fields only, never a text box (§7.3, AAC-7).

Each screen calls ``CompassionateService`` exactly as ``/aac`` does, under the purpose
``access_initiation_follow_up``: the record path (identity → policy → store → audit) decides and traces, the page
draws. A value outside its field is shown in French next to the field; a form out of turn or a case out of reach
is a French refusal naming the rule. Patient record ids travel in paths (random, as in ``/patients/{pid}``); the
names typed for the initials travel only in the POSTed form and are never stored.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations inside routes().
import dataclasses
import hashlib
import hmac
from datetime import date
from typing import Any
from urllib.parse import quote, unquote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from santegarde.compassionate import first_connection
from santegarde.compassionate.first_connection import PlatformNotice
from santegarde.compassionate.forms import SubmissionRefused, field_problems
from santegarde.compassionate.patient_code import InitialsError
from santegarde.compassionate.programme import Form, FormField, FormKind, Programme
from santegarde.compassionate.service import SEXES, CaseState, CompassionateService, Patient, WorkflowRefused
from santegarde.identity import sessions
from santegarde.store.service import REASON_MIN
from santegarde.web.desk import Desk, local
from santegarde.web.french import (
    EN_MONTHS,
    GENDER,
    MONTHS,
    Said,
    amount,
    date_in,
    field_error,
    in_words,
    labels,
    refusal,
    sentence,
    unit_after,
    unit_words,
)
from santegarde.web.render import CSRF_FIELD, lang_of

PURPOSE = "access_initiation_follow_up"
BASE = "/acces-compassionnel"
PATIENT_FIELDS = ("surname", "first_name", "sex", "birth", "establishment")
BOOLEAN = {"oui": True, "non": False}
REASON_COOKIE = "sg_motif"  # the audit service's written reason for this session (§8.2), bound to the session
REASON_MAX = 500
WORDS = labels("console", "aac")  # the yes and no of a stored answer, in both languages


INFORMATION = BASE + "/information"


def routes(desk: Desk, service: CompassionateService, notice: PlatformNotice | None = None) -> None:
    """The screens; with the platform ``notice`` (§10.6, AAC-10), none is shown before the person acknowledged its
    current version: each leads to the notice instead, and nothing of a patient is read."""
    route, renderer, ref = desk.route, desk.renderer, desk.ref
    identity = service.records.identity
    renderer.menu.append((BASE, "menu.compassionate"))

    def uninformed(request: Request) -> Response | None:
        """The way to the notice, for a person who has not acknowledged its current version; else None."""
        if notice is None:
            return None
        current = desk.ready(request)
        if first_connection.acknowledged(service.records, current.login, notice.shown("fr").version):
            return None
        return _see(INFORMATION)

    def information_page(request: Request, status: int = 200, **values: Any) -> Response:
        assert notice is not None
        shown = notice.shown(lang_of(request))
        return renderer.page(
            request,
            "aac_information.html",
            status,
            user=desk.who(desk.ready(request)),
            notice=shown,
            content=Markup(shown.html),  # noqa: S704 - the notice generator's autoescaped HTML
            base=BASE,
            **values,
        )

    if notice is not None:

        @route("GET", INFORMATION, "public")
        def information(request: Request) -> Response:
            return desk.guarded(request, lambda: information_page(request))

        @route("POST", INFORMATION, "public")
        async def acknowledge(request: Request) -> Response:
            data = await request.form()
            renderer.check_csrf(request, str(data.get(CSRF_FIELD, "")))
            version = str(data.get("version", ""))[:32]

            def draw() -> Response:
                assert notice is not None
                desk.ready(request)
                if data.get("acknowledged") != "1":
                    return information_page(request, 422, errors={"acknowledged": sentence("notice_unticked")})
                if version != notice.shown("fr").version:  # the notice changed while it was read: read it again
                    return information_page(request, 409, message=sentence("notice_changed"))
                first_connection.acknowledge(service.records, desk.record_request(request, PURPOSE), version)
                return _see(BASE)

            return await run_in_threadpool(desk.guarded, request, draw)

    def ctx(request: Request) -> Any:
        """The request on the record path, with the written reason the audit service gave for this session."""
        req = desk.record_request(request, PURPOSE)
        reason = _reason_of(request, req.token)
        return dataclasses.replace(req, reason=reason) if reason else req

    def reason_page(request: Request, suite: str, status: int = 403, **values: Any) -> Response:
        """The form asking an ad hoc profile (the audit service, §8.2) for its written reason; then ``suite``."""
        return renderer.page(
            request,
            "aac_motif.html",
            status,
            user=desk.who(desk.ready(request)),
            suite=local(suite),
            minimum=REASON_MIN,
            base=BASE,
            **{"values": {}, "errors": {}, **values},
        )

    def without_reason(request: Request, resource: tuple[str, str]) -> Response | None:
        """For a profile the text lets reach the data only on a written reason, and none given for this session:
        the refusal traced by the record path's rule, and the page asking for the reason; else None."""
        current = desk.ready(request)
        accessor = ref.accessor(current.profile or "")
        req = ctx(request)
        if accessor is None or not accessor.motivated or len((req.reason or "").strip()) >= REASON_MIN:
            return None
        service.records.trace_refusal(req, "aac.state", resource, f"accessors.{accessor.id}.motivated")
        return reason_page(request, request.url.path)

    def live(request: Request) -> sessions.SessionContext:
        """As /aac/programmes: the protocols hold no personal data, but only a session past every step sees them."""
        return sessions.require(identity, ctx(request).token, sensitivity=None)

    def draw_case_page(request: Request, case: CaseState, status: int = 200, **values: Any) -> Response:
        programme = service.registry.get(case.programme, case.version)
        recorded = bool(case.of(FormKind.ACCESS_REQUEST))
        return renderer.page(
            request,
            "aac_dossier.html",
            status,
            user=desk.who(desk.ready(request)),
            case=_case_row(case, programme, identity.now().date()),
            steps=[_step(programme, s) for s in case.forms],
            forms=[(f.id, f.title) for f in programme.forms if f.kind is not FormKind.ACCESS_REQUEST or not recorded],
            base=BASE,
            **values,
        )

    @route("GET", BASE, "public")
    def programmes(request: Request) -> Response:
        def draw() -> Response:
            current = live(request)
            if (away := uninformed(request)) is not None:
                return away
            today = identity.now().date()
            listed = [
                {"id": p.id, "title": p.title, "status": in_words("programme_status", p.status(today)), "p": p}
                for p in service.registry.all()
            ]
            return renderer.page(request, "aac_programmes.html", user=desk.who(current), programmes=listed, base=BASE)

        return desk.guarded(request, draw)

    @route("POST", BASE + "/motif", "public")
    async def give_reason(request: Request) -> Response:
        data = await request.form()
        renderer.check_csrf(request, str(data.get(CSRF_FIELD, "")))
        reason = " ".join(str(data.get("motif", "")).split())[:REASON_MAX]
        suite = local(str(data.get("suite", BASE)))
        suite = suite if suite.startswith(BASE) else BASE

        def draw() -> Response:
            desk.ready(request)
            if (away := uninformed(request)) is not None:
                return away
            if len(reason) < REASON_MIN:
                error = sentence("reason_short", n=REASON_MIN)
                return reason_page(request, suite, 422, values={"motif": reason}, errors={"motif": error})
            answer = _see(suite)
            value = _reason_cookie(ctx(request).token, reason)
            answer.set_cookie(REASON_COOKIE, value, httponly=True, secure=True, samesite="strict", path=BASE)
            return answer

        return await run_in_threadpool(desk.guarded, request, draw)

    @route("GET", BASE + "/programmes/{programme_id}", "records")
    def cases(request: Request, programme_id: str) -> Response:
        def draw() -> Response:
            current = desk.ready(request)
            if (away := uninformed(request)) is not None:
                return away
            programme = service.registry.get(programme_id)
            asked = without_reason(request, ("Programme", programme.id))
            if asked is not None:
                return asked
            today = identity.now().date()
            rows = [
                _case_row(c, service.registry.get(c.programme, c.version), today)
                for c in service.readable(ctx(request), programme.id)
            ]
            return renderer.page(
                request, "aac_dossiers.html", user=desk.who(current), programme=programme, cases=rows, base=BASE
            )

        return desk.guarded(request, draw)

    @route("GET", BASE + "/dossiers/{pid}", "records")
    def case_page(request: Request, pid: str, enregistre: str = "") -> Response:
        def draw() -> Response:
            if (away := uninformed(request)) is not None:
                return away
            asked = without_reason(request, ("Patient", _id(pid)))
            if asked is not None:
                return asked
            case = service.state(ctx(request), _id(pid))
            message = sentence("form_saved") if enregistre == "1" else None
            return draw_case_page(request, case, message=message)

        return desk.guarded(request, draw, keep=f"{BASE}/dossiers/{pid}")

    def form_page(
        request: Request,
        programme: Programme,
        form: Form,
        action: str,
        status: int = 200,
        *,
        case: CaseState | None = None,
        values: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        error: Any = None,
    ) -> Response:
        return renderer.page(
            request,
            "aac_formulaire.html",
            status,
            user=desk.who(desk.ready(request)),
            programme=programme,
            form=form,
            fields=[_field_view(f) for f in form.fields],
            action=action,
            case=_case_row(case, programme, identity.now().date()) if case else None,
            patient=form.kind is FormKind.ACCESS_REQUEST and case is None,
            sexes=[(code, GENDER[code]) for code in SEXES],
            values=values or {},
            errors=errors or {},
            error=error,
            base=BASE,
        )

    @route("GET", BASE + "/programmes/{programme_id}/demande", "public")
    def request_form(request: Request, programme_id: str) -> Response:
        def draw() -> Response:
            live(request)
            if (away := uninformed(request)) is not None:
                return away
            programme = service.registry.get(programme_id)
            form = programme.form_of(FormKind.ACCESS_REQUEST)
            return form_page(request, programme, form, f"{BASE}/programmes/{programme.id}/demande")

        return desk.guarded(request, draw)

    @route("POST", BASE + "/programmes/{programme_id}/demande", "records")
    async def access_request(request: Request, programme_id: str) -> Response:
        data = await request.form()
        renderer.check_csrf(request, str(data.get(CSRF_FIELD, "")))

        def draw() -> Response:
            if (away := uninformed(request)) is not None:
                return away
            programme = service.registry.get(programme_id)
            form = programme.form_of(FormKind.ACCESS_REQUEST)
            answers, shown = _answers(form, data)
            patient = {k: str(data.get(f"patient_{k}", "")).strip()[:200] for k in PATIENT_FIELDS}
            shown.update({f"patient_{k}": v for k, v in patient.items()})
            try:
                case = service.request_access(ctx(request), programme.id, Patient(**patient), answers)
            except (SubmissionRefused, InitialsError) as exc:
                errors = _errors(form, answers, exc, identity.now().date())
                if isinstance(exc, SubmissionRefused) and exc.reason == "nir" and exc.field:
                    shown[_key(exc.field)] = ""  # a NIR is never drawn back into the page
                return form_page(
                    request,
                    programme,
                    form,
                    f"{BASE}/programmes/{programme.id}/demande",
                    422,
                    values=shown,
                    errors=errors,
                    error=refusal(exc, ref),
                )
            return _see(f"{BASE}/dossiers/{case.patient_id}?enregistre=1")

        return await run_in_threadpool(desk.guarded, request, draw)

    @route("GET", BASE + "/dossiers/{pid}/formulaires/{form_id}", "records")
    def case_form(request: Request, pid: str, form_id: str) -> Response:
        def draw() -> Response:
            if (away := uninformed(request)) is not None:
                return away
            case = service.state(ctx(request), _id(pid))
            programme = service.registry.get(case.programme, case.version)
            form = _form(programme, form_id)
            return form_page(
                request, programme, form, f"{BASE}/dossiers/{case.patient_id}/formulaires/{form.id}", case=case
            )

        return desk.guarded(request, draw, keep=f"{BASE}/dossiers/{pid}")

    @route("POST", BASE + "/dossiers/{pid}/formulaires/{form_id}", "records")
    async def submit(request: Request, pid: str, form_id: str) -> Response:
        data = await request.form()
        renderer.check_csrf(request, str(data.get(CSRF_FIELD, "")))

        def draw() -> Response:
            if (away := uninformed(request)) is not None:
                return away
            rid = _id(pid)
            req = ctx(request)
            case = service.state(req, rid)  # the case as this session may read it (refused and traced otherwise)
            programme = service.registry.get(case.programme, case.version)
            form = _form(programme, form_id)
            answers, shown = _answers(form, data)
            action = f"{BASE}/dossiers/{rid}/formulaires/{form.id}"
            try:
                service.submit(req, rid, form.id, answers)
            except SubmissionRefused as exc:
                errors = _errors(form, answers, exc, identity.now().date())
                if exc.reason == "nir" and exc.field:
                    shown[_key(exc.field)] = ""  # a NIR is never drawn back into the page
                return form_page(
                    request,
                    programme,
                    form,
                    action,
                    422,
                    case=case,
                    values=shown,
                    errors=errors,
                    error=refusal(exc, ref),
                )
            except WorkflowRefused as exc:
                return draw_case_page(request, case, 409, error=refusal(exc, ref), refused_form=form.title)
            return _see(f"{BASE}/dossiers/{rid}?enregistre=1")

        return await run_in_threadpool(desk.guarded, request, draw, keep=f"{BASE}/dossiers/{pid}")


def _bound(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def _reason_cookie(token: str, reason: str) -> str:
    """The reason, bound to the session that gave it: another session on the same browser does not inherit it."""
    return quote(f"{_bound(token)}:{reason}", safe="")


def _reason_of(request: Request, token: str) -> str | None:
    """The written reason this session gave (its cookie), or None."""
    raw = request.cookies.get(REASON_COOKIE)
    if not raw or not token:
        return None
    session, _, reason = unquote(raw).partition(":")
    return reason if hmac.compare_digest(session, _bound(token)) else None


def _see(url: str) -> Response:
    return RedirectResponse(url, status_code=303)


def _id(pid: str) -> str:
    from santegarde.api.params import fhir_id

    return fhir_id(pid)


def _form(programme: Programme, form_id: str) -> Form:
    form = programme.form(form_id[:64])
    if form is None:
        from starlette.exceptions import HTTPException

        raise HTTPException(404)
    return form


def _answers(form: Form, data: FormData) -> tuple[dict[str, Any], dict[str, str]]:
    """The form's fields read from the POSTed form (anything else is ignored: there is no free entry), typed as the
    protocol declares them; a value that cannot be read is passed as written, for the service to refuse it."""
    answers: dict[str, Any] = {}
    shown: dict[str, str] = {}
    for f in form.fields:
        raw = str(data.get(f.id, "")).strip()[:100]
        shown[f.id] = raw
        if raw:
            answers[f.id] = _typed(f, raw)
    return answers, shown


def _typed(f: FormField, raw: str) -> Any:
    if f.type == "number":
        try:
            number = float(raw.replace("\u202f", "").replace(" ", "").replace(",", "."))
        except ValueError:
            return raw
        return int(number) if f.integer and number.is_integer() else number
    if f.type == "boolean":
        return BOOLEAN.get(raw, raw)
    return raw


def _errors(form: Form, answers: dict[str, Any], exc: SubmissionRefused | InitialsError, today: date) -> dict[str, str]:
    """Every field's error, in both languages: all the form's problems at once, and the one the service refused."""
    errors: dict[str, str] = {
        name: field_error(problem, form.field(name)) for name, problem in field_problems(form, answers, today).items()
    }
    where = f"patient.{exc.field}" if isinstance(exc, InitialsError) else exc.field
    if where:
        errors.setdefault(_key(where), field_error(exc, form.field(where)))
    return errors


def _key(where: str) -> str:
    """The page's field name of a refused field (``patient.sex`` is ``patient_sex``)."""
    return "patient_" + where.removeprefix("patient.") if where.startswith("patient.") else where


def _field_view(f: FormField) -> dict[str, Any]:
    unit = unit_words(f.unit)
    help_text = ""
    if f.type == "number":
        key = "field_help_integer" if f.integer else "field_help_number"
        help_text = sentence(key, low=amount(f.min or 0), high=amount(f.max or 0), unit=unit_after(unit))
    return {
        "id": f.id,
        "label": f.label + (f" ({unit})" if unit else ""),
        "type": f.type,
        "required": f.required,
        "choices": list(f.allowed_codes().items()),
        "help": help_text,
    }


def _shown(f: FormField | None, value: Any) -> Said | str:
    """A stored answer in words, in both languages where santegarde words it: a number with its unit, a date, yes or
    no; a choice's label and a code's display are the protocol's (French) words."""
    if f is None:
        return str(value)
    if f.type in ("choice", "code"):
        label = f.allowed_codes().get(str(value), str(value))
        return f"{label} ({value})" if f.type == "code" else label
    if f.type == "number":
        number, unit = amount(value), unit_words(f.unit)
        return Said(str(number) + unit_after(unit), number.en + unit_after(unit))
    if f.type == "date":
        return Said(date_in(str(value), "fr"), date_in(str(value), "en"))
    return WORDS["yes"] if value else WORDS["no"]


def _month(birth: str) -> Said | str:
    """A birth month (``1980-02``) in words: ``février 1980`` / ``February 1980``; a full date as a date."""
    if len(birth) == 7 and birth[5:7].isdigit() and 1 <= int(birth[5:7]) <= 12:
        month = int(birth[5:7]) - 1
        return Said(f"{MONTHS[month]} {birth[:4]}", f"{EN_MONTHS[month]} {birth[:4]}")
    return Said(date_in(birth, "fr"), date_in(birth, "en")) if birth else "—"


def _step(programme: Programme, submitted: Any) -> dict[str, Any]:
    form = programme.form(submitted.form)
    return {
        "title": form.title if form else submitted.form,
        "at": submitted.authored,
        # (label, value, whether the value is the protocol's own words, French whatever the page's language)
        "answers": [
            (f.label, shown, not isinstance(shown, Said))
            for f in (form.fields if form else [])
            if f.id in submitted.answers
            for shown in (_shown(f, submitted.answers[f.id]),)
        ],
    }


def _case_row(case: CaseState, programme: Programme, today: date) -> dict[str, Any]:
    due = case.next_due(programme.follow_up.interval_days)
    return {
        "id": case.patient_id,
        "code": case.code or "—",
        "number": case.number,
        "status": in_words("case_status", case.status),
        "sex": GENDER.get(case.sex or "", "—"),
        "birth": _month(case.birth or ""),
        "establishment": case.establishment,
        "programme": programme.title,
        "programme_id": programme.id,
        "version": case.version,
        "due": due,
        "late": due is not None and (today - due).days > programme.follow_up.tolerance_days,
    }
