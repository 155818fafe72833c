"""The console's pages: sign-in (password, TOTP, enrolment, password change, charter, profile, lock, logout) and the
practice (patient search, chart, break-the-glass).

Signing in calls ``identity.sessions`` exactly as ``/auth`` does; every record is read through ``RecordService``
as ``/fhir`` reads it (identity → policy → store → audit). Each route is tagged with what it reaches
(``reach:records``: it calls the store service; ``reach:public``: sign-in and forms, no record at all); a test walks
them all.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations inside router().
from collections.abc import Callable
from contextlib import suppress
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from santegarde.api.auth import COOKIE
from santegarde.compassionate.first_connection import PlatformNotice
from santegarde.compassionate.service import CompassionateService
from santegarde.identifiers.systems import INS_DEMO_SYSTEM, INS_NIA_SYSTEM, INS_NIR_SYSTEM, INS_TEST_SYSTEM
from santegarde.identity import sessions, totp
from santegarde.identity.charter import charter_text
from santegarde.identity.context import IdentityContext
from santegarde.identity.errors import AccountError, LoginRefused, SessionRefused, StepRequired
from santegarde.identity.passwords import WeakPassword
from santegarde.identity.throttle import Blocked
from santegarde.identity.totp import InvalidCode
from santegarde.pharmacy import DispenseClass, PharmacyRegister, RegisterRefused
from santegarde.pharmacy.desk import Typed
from santegarde.pharmacy.register import PURPOSE as REGISTER_PURPOSE
from santegarde.rights import RightsService
from santegarde.store.service import BREAK_GLASS_MIN, AccessDenied, RecordService
from santegarde.store.service import Request as RecordRequest
from santegarde.web import (
    aac_screens,
    appointment_screens,
    consent_screens,
    record_screens,
    register_screens,
    rights_screens,
)
from santegarde.web.desk import SEARCH_PURPOSE, STEP_PAGES, Desk, local
from santegarde.web.desk import guarded as run_page
from santegarde.web.french import CARE_BASES, DISPENSE_CLASSES, GENDER, REGISTERS, name, refusal, sentence
from santegarde.web.render import CSRF_FIELD, LANG_COOKIE, LANGS, Renderer, lang_of, say, set_cookie

# The purpose a profile searches patients under: the secretariat books appointments; practitioners keep the record.
APPOINTMENTS = "appointments"
CHART_PURPOSE = "medical_record"
INS_SYSTEMS = (INS_NIR_SYSTEM, INS_NIA_SYSTEM, INS_TEST_SYSTEM, INS_DEMO_SYSTEM)
CHART_TYPES = (
    ("Observation", "observations"),
    ("Condition", "conditions"),
    ("MedicationRequest", "medications"),
    ("DocumentReference", "documents"),
)

REACHES = ("records", "public")
TAG = "console"  # every route of the console carries it (the route walk of the tests finds them by it)
Csrf = Annotated[str, Form(alias=CSRF_FIELD, max_length=128)]


def _source(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _next_step(pending: tuple[str, ...] | list[str]) -> str:
    for step in STEP_PAGES:
        if step in pending:
            return STEP_PAGES[step]
    return "/accueil"


def _see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def router(
    identity: IdentityContext,
    records: RecordService,
    renderer: Renderer,
    *,
    psc: bool = False,
    compassionate: CompassionateService | None = None,
    platform_notice: PlatformNotice | None = None,
    rights: RightsService | None = None,
    desks: Callable[[str | None], list[tuple[str, str]]] | None = None,
    organisation_name: str = "",
) -> APIRouter:
    """The sign-in and practice pages; ``desks`` names the governance desks a profile may open (navigation)."""
    web = APIRouter(include_in_schema=False, tags=[TAG])
    ref = identity.referential
    pharmacy = PharmacyRegister(records) if ref.organisation_profile == "pharmacy" else None
    booking = pharmacy is None and ref.purpose(APPOINTMENTS) is not None  # the practice's appointment book

    def route(method: str, path: str, reach: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        assert reach in REACHES
        return web.api_route(path, methods=[method], response_class=HTMLResponse, tags=[f"reach:{reach}"])

    def token(request: Request) -> str:
        found = request.cookies.get(COOKIE)
        if not found:
            raise SessionRefused("You are not logged in; log in first.")
        return found

    def user(request: Request) -> sessions.SessionContext:
        return sessions.state(identity, token(request))

    def guarded(request: Request, draw: Callable[[], Response], *, keep: str | None = None) -> Response:
        return run_page(renderer, request, draw, keep=keep)

    def rotated(request: Request, response: Response) -> None:
        set_cookie(response, COOKIE, sessions.rotate(identity, token(request)))

    def who(current: sessions.SessionContext) -> dict[str, Any]:
        found = {"login": current.login, "profile": name(ref, "accessor", current.profile)}
        return {**found, "desks": desks(current.profile) if desks and not current.pending else []}

    # -- sign-in -------------------------------------------------------------------------------------------

    @route("GET", "/", "public")
    def home() -> Response:
        return _see("/accueil")

    @route("GET", "/connexion", "public")
    def login_form(request: Request, fin: str = "") -> Response:
        message = say(lang_of(request), "login.signed_out") if fin == "1" else None
        return renderer.page(
            request,
            "connexion.html",
            message=message,
            classes=list(identity.settings.idle_limits),
            login="",
            psc=psc,
        )

    @route("POST", "/connexion", "public")
    def login(
        request: Request,
        csrf: Csrf,
        login: Annotated[str, Form(max_length=200)],
        password: Annotated[str, Form(max_length=1000)],
        poste: Annotated[str, Form(max_length=40)] = "office",
    ) -> Response:
        renderer.check_csrf(request, csrf)
        try:
            result = sessions.login(identity, login, password, source=_source(request), workstation_class=poste)
        except (LoginRefused, Blocked) as exc:
            return renderer.page(
                request,
                "connexion.html",
                401 if isinstance(exc, LoginRefused) else 429,
                error=refusal(exc, ref),
                classes=list(identity.settings.idle_limits),
                login=login,
                psc=psc,
            )
        response = _see(_next_step(result.pending))
        set_cookie(response, COOKIE, result.token)
        return response

    @route("GET", "/connexion/code", "public")
    def code_form(request: Request) -> Response:
        return guarded(request, lambda: renderer.page(request, "code.html", user=who(user(request))))

    @route("POST", "/connexion/code", "public")
    def code(request: Request, csrf: Csrf, code: Annotated[str, Form(max_length=40)]) -> Response:
        renderer.check_csrf(request, csrf)

        def draw() -> Response:
            try:
                current = sessions.second_factor(identity, token(request), code)
            except (InvalidCode, Blocked) as exc:
                return renderer.page(request, "code.html", 401, error=refusal(exc, ref), user=who(user(request)))
            except AccountError:
                return _see("/connexion/enrolement")
            response = _see(_next_step(current.pending))
            rotated(request, response)
            return response

        return guarded(request, draw)

    @route("GET", "/connexion/enrolement", "public")
    def enrol_form(request: Request) -> Response:
        def draw() -> Response:
            current = user(request)
            enrolment = totp.start_enrolment(current.login)
            return renderer.page(
                request, "enrolement.html", user=who(current), secret=enrolment.secret, qr=enrolment.qr_svg
            )

        return guarded(request, draw)

    @route("POST", "/connexion/enrolement", "public")
    def enrol(
        request: Request,
        csrf: Csrf,
        secret: Annotated[str, Form(max_length=64)],
        code: Annotated[str, Form(max_length=40)],
    ) -> Response:
        renderer.check_csrf(request, csrf)

        def draw() -> Response:
            try:
                codes = sessions.enrol_second_factor(identity, token(request), secret, code)
            except InvalidCode as exc:
                current = user(request)
                return renderer.page(
                    request,
                    "enrolement.html",
                    401,
                    error=refusal(exc, ref),
                    user=who(current),
                    secret=secret,
                    qr=totp.qr_svg(totp.provisioning_uri(secret, current.login)),
                )
            except ValueError:  # not a secret this console drew (altered form): start again with a new one
                return _see("/connexion/enrolement")
            response = renderer.page(request, "codes.html", codes=codes, user=who(user(request)))
            rotated(request, response)
            return response

        return guarded(request, draw)

    @route("GET", "/connexion/mot-de-passe", "public")
    def password_form(request: Request) -> Response:
        return guarded(request, lambda: renderer.page(request, "mot_de_passe.html", user=who(user(request))))

    @route("POST", "/connexion/mot-de-passe", "public")
    def password(
        request: Request,
        csrf: Csrf,
        current: Annotated[str, Form(alias="actuel", max_length=1000)],
        new: Annotated[str, Form(alias="nouveau", max_length=1000)],
        again: Annotated[str, Form(alias="confirmation", max_length=1000)],
    ) -> Response:
        renderer.check_csrf(request, csrf)

        def draw() -> Response:
            if new != again:
                return renderer.page(
                    request,
                    "mot_de_passe.html",
                    422,
                    user=who(user(request)),
                    mismatch=True,
                )
            try:
                state = sessions.change_password(identity, token(request), current, new)
            except (LoginRefused, WeakPassword, Blocked) as exc:
                return renderer.page(
                    request, "mot_de_passe.html", 422, user=who(user(request)), error=refusal(exc, ref)
                )
            response = _see(_next_step(state.pending))
            rotated(request, response)
            return response

        return guarded(request, draw)

    @route("GET", "/connexion/charte", "public")
    def charter_form(request: Request) -> Response:
        version = identity.settings.charter_version
        return guarded(
            request,
            lambda: renderer.page(
                request, "charte.html", user=who(user(request)), version=version, text=charter_text(version)
            ),
        )

    @route("POST", "/connexion/charte", "public")
    def charter(request: Request, csrf: Csrf, version: Annotated[str, Form(max_length=20)]) -> Response:
        renderer.check_csrf(request, csrf)
        return guarded(
            request, lambda: _see(_next_step(sessions.accept_charter(identity, token(request), version).pending))
        )

    @route("GET", "/connexion/profil", "public")
    def profile_form(request: Request) -> Response:
        def draw() -> Response:
            current = user(request)
            held = sessions.profiles_held(identity, token(request))
            if not held:
                return _see("/connexion")
            choices = [(p, name(ref, "accessor", p)) for p in held]
            return renderer.page(request, "profil.html", user=who(current), choices=choices)

        return guarded(request, draw)

    @route("POST", "/connexion/profil", "public")
    def profile(request: Request, csrf: Csrf, profil: Annotated[str, Form(max_length=80)]) -> Response:
        renderer.check_csrf(request, csrf)
        return guarded(
            request, lambda: _see(_next_step(sessions.choose_profile(identity, token(request), profil).pending))
        )

    @route("POST", "/deverrouiller", "public")
    def unlock(
        request: Request,
        csrf: Csrf,
        password: Annotated[str, Form(max_length=1000)],
        suite: Annotated[str, Form(max_length=300)] = "/accueil",
    ) -> Response:
        renderer.check_csrf(request, csrf)
        try:
            sessions.unlock(identity, token(request), password)
        except (LoginRefused, Blocked) as exc:
            return renderer.page(request, "verrou.html", 423, suite=local(suite), error=refusal(exc, ref))
        except SessionRefused:
            return _see("/connexion")
        return _see(local(suite))

    @route("POST", "/langue", "public")
    def language(
        request: Request,
        csrf: Csrf,
        langue: Annotated[str, Form(max_length=5)] = "fr",
        suite: Annotated[str, Form(max_length=300)] = "/accueil",
    ) -> Response:
        """The console's language for this browser (French by default, or English), then back to the page."""
        renderer.check_csrf(request, csrf)
        response = _see(local(suite))
        set_cookie(response, LANG_COOKIE, langue if langue in LANGS else "fr")
        return response

    @route("POST", "/deconnexion", "public")
    def logout(request: Request, csrf: Csrf) -> Response:
        renderer.check_csrf(request, csrf)
        response = _see("/connexion?fin=1")
        with suppress(SessionRefused):  # already ended: the cookie goes all the same
            sessions.logout(identity, token(request), source=_source(request))
        response.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="strict")
        return response

    # -- practice ------------------------------------------------------------------------------------------

    @route("GET", "/accueil", "public")
    def desk(request: Request) -> Response:
        return guarded(request, lambda: renderer.page(request, "accueil.html", user=who(_ready(user(request)))))

    def _ready(current: sessions.SessionContext) -> sessions.SessionContext:
        pending = [p for p in current.pending]
        if pending:
            raise StepRequired(pending[0], "finish")
        return current

    def record_request(request: Request, purpose: str, glass: str | None = None) -> RecordRequest:
        return RecordRequest(token(request), purpose, source=_source(request), break_glass=glass)

    @route("POST", "/patients/recherche", "records")
    def search(
        request: Request,
        csrf: Csrf,
        nom: Annotated[str, Form(max_length=100)] = "",
        prenom: Annotated[str, Form(max_length=100)] = "",
        naissance: Annotated[str, Form(max_length=10)] = "",
        ins: Annotated[str, Form(max_length=40)] = "",
    ) -> Response:
        renderer.check_csrf(request, csrf)

        def draw() -> Response:
            current = user(request)
            purpose = search_purpose(current.profile)
            criteria = {
                k: v.strip() for k, v in (("family", nom), ("given", prenom), ("birthdate", naissance)) if v.strip()
            }
            values: dict[str, Any] = {
                "user": who(current),
                "form": {"nom": nom, "prenom": prenom, "naissance": naissance, "ins": ins},
                "searched": True,
                "pharmacy": pharmacy is not None,
                "booking": booking,
                "rights_desk": rights is not None,
            }
            number = ins.replace(" ", "")
            if not criteria and not number:
                values["error"] = sentence("search_criterion")
                values["results"] = []
            else:
                # An INS is looked for under each of its systems (NIR, NIA, test, demo): one search each.
                asked = [{**criteria, "identifier": f"{s}|{number}"} for s in INS_SYSTEMS] if number else [criteria]
                found: dict[str, dict[str, Any]] = {}
                for one in asked:
                    for p in records.search(record_request(request, purpose), "Patient", one):
                        found.setdefault(p["id"], p)
                values["results"] = [_patient_row(p) for p in found.values()]
            partial = request.headers.get("hx-request") == "true"
            return renderer.page(request, "_resultats.html" if partial else "accueil.html", **values)

        return guarded(request, draw, keep="/accueil")

    def search_purpose(profile: str | None) -> str:
        if pharmacy is not None:
            return REGISTER_PURPOSE  # the pharmacy looks a patient up to enter a dispensing
        return SEARCH_PURPOSE.get(profile or "", CHART_PURPOSE)

    def chart(request: Request, pid: str, glass: str | None, **values: Any) -> Response:
        current = user(request)
        req = record_request(request, CHART_PURPOSE, glass)
        try:
            patient = records.read(req, "Patient", pid)
            parts = {label: records.search(req, kind, {"patient": pid}) for kind, label in CHART_TYPES}
        except AccessDenied as exc:
            care = exc.rule.endswith(".care_relationship")
            return renderer.refused(
                request,
                refusal(exc, ref, current.profile, CHART_PURPOSE),
                user=who(current),
                glass=care,
                pid=pid,
                minimum=BREAK_GLASS_MIN,
                care_bases=list(CARE_BASES.items()) if care else [],
                **values,
            )
        return renderer.page(
            request,
            "dossier.html",
            user=who(current),
            patient=_patient_row(patient),
            observations=sorted(parts["observations"], key=_effective, reverse=True),
            conditions=parts["conditions"],
            medications=parts["medications"],
            documents=parts["documents"],
            consent_form=any(c.requires_consent and not c.forbidden for c in ref.categories),
            ledgers=ledgers(req, pid),
            glass=glass is not None,
        )

    def ledgers(req: RecordRequest, pid: str) -> dict[str, list[dict[str, Any]]] | None:
        """The patient's consents and objections as the chart shows them (read through the path, traced); None when
        the profile may not read them (the chart says so instead of failing)."""
        try:
            given = records.consent_ledger(req, pid)
            objected = records.objections_of(req, pid)
        except AccessDenied:
            return None
        return {
            "consents": [
                {
                    "id": c.consent_id,
                    "category": name(ref, "category", c.category),
                    "purpose": name(ref, "purpose", c.purpose),
                    "start": c.start,
                    "end": c.end,
                    "withdrawn": c.withdrawn_at,
                }
                for c in given
            ],
            "objections": [
                {"purpose": name(ref, "purpose", o.purpose), "at": o.recorded_at, "lifted": o.lifted_at}
                for o in objected
            ],
        }

    @route("GET", "/patients/{pid}", "records")
    def chart_page(request: Request, pid: str) -> Response:
        return guarded(request, lambda: chart(request, _fhir_id(pid), None))

    @route("POST", "/patients/{pid}/bris-de-glace", "records")
    def break_glass(
        request: Request, pid: str, csrf: Csrf, raison: Annotated[str, Form(max_length=1000)] = ""
    ) -> Response:
        renderer.check_csrf(request, csrf)

        def draw() -> Response:
            rid = _fhir_id(pid)
            if len(raison.strip()) < BREAK_GLASS_MIN:
                current = user(request)
                # Asked again through the path: the refusal shown is the one the store decides now (and traces).
                try:
                    records.read(record_request(request, CHART_PURPOSE), "Patient", rid)
                except AccessDenied as exc:
                    return renderer.refused(
                        request,
                        refusal(exc, ref, current.profile, CHART_PURPOSE),
                        user=who(current),
                        glass=True,
                        pid=rid,
                        minimum=BREAK_GLASS_MIN,
                        reason_error=sentence("field_glass_reason", min=BREAK_GLASS_MIN),
                        reason=raison,
                    )
                return _see(f"/patients/{rid}")
            return chart(request, rid, raison.strip())

        return guarded(request, draw, keep=f"/patients/{pid}")

    shared = Desk(
        route, guarded, user, lambda request: _ready(user(request)), who, record_request, renderer, ref, chart
    )
    if pharmacy is not None:
        _pharmacy_routes(shared, pharmacy)
        register_screens.routes(shared, pharmacy, organisation_name)
    else:
        record_screens.routes(shared, records)
        consent_screens.routes(shared, records)
    if booking:
        appointment_screens.routes(shared, records)
    if rights is not None and pharmacy is None:
        rights_screens.routes(shared, records, rights)
    if compassionate is not None:
        aac_screens.routes(shared, compassionate, platform_notice)
    return web


def _pharmacy_routes(desk: Desk, pharmacy: PharmacyRegister) -> None:
    """The pharmacy's dispensing entry: the MedicationDispense through RecordService, numbered in its register."""
    records = pharmacy.service
    ref = records.ref
    route, guarded, user, who, record_request, renderer = (
        desk.route,
        desk.guarded,
        desk.user,
        desk.who,
        desk.record_request,
        desk.renderer,
    )

    def form_page(request: Request, pid: str, status: int = 200, **values: Any) -> Response:
        current = user(request)
        patient = records.read(record_request(request, REGISTER_PURPOSE), "Patient", pid)
        values.setdefault("form", {"classe": "list_i", "quantite": "1", "unite": "boîte"})
        values.setdefault("errors", {})
        return renderer.page(
            request,
            "delivrance.html",
            status,
            user=who(current),
            patient=_patient_row(patient),
            classes=[(c.value, DISPENSE_CLASSES.get(c.value, c.value)) for c in DispenseClass],
            **values,
        )

    @route("GET", "/pharmacie/delivrance/{pid}", "records")
    def dispensing_form(request: Request, pid: str) -> Response:
        return guarded(request, lambda: form_page(request, _fhir_id(pid)))

    @route("POST", "/pharmacie/delivrance/{pid}", "records")
    def dispensing(
        request: Request,
        pid: str,
        csrf: Csrf,
        classe: Annotated[str, Form(max_length=40)] = "",
        code: Annotated[str, Form(max_length=40)] = "",
        produit: Annotated[str, Form(max_length=200)] = "",
        quantite: Annotated[str, Form(max_length=20)] = "",
        unite: Annotated[str, Form(max_length=40)] = "",
        rpps: Annotated[str, Form(max_length=20)] = "",
        prescripteur: Annotated[str, Form(max_length=200)] = "",
    ) -> Response:
        renderer.check_csrf(request, csrf)
        form = {
            "classe": classe,
            "code": code,
            "produit": produit,
            "quantite": quantite,
            "unite": unite,
            "rpps": rpps,
            "prescripteur": prescripteur,
        }

        def draw() -> Response:
            rid = _fhir_id(pid)
            typed = Typed(classe, code, produit, quantite, unite, rpps, prescripteur)
            errors = {FORM_FIELDS[where]: sentence(key) for where, key in typed.problems().items()}
            if errors:
                return form_page(request, rid, 422, form=form, errors=errors)
            dispensed = typed.dispensing(rid, records.identity.now())
            try:
                entry = pharmacy.enter(record_request(request, REGISTER_PURPOSE), classe, dispensed)
            except RegisterRefused as exc:
                return renderer.refused(request, refusal(exc, ref), user=who(user(request)))
            return renderer.page(
                request,
                "delivrance_ok.html",
                user=who(user(request)),
                entry=entry,
                register=REGISTERS.get(entry.register, entry.register),
                product=dispensed.product_display,
                pid=rid,
            )

        return guarded(request, draw)


# The dispensing form's fields (pharmacy.desk.Typed's names → the page's).
FORM_FIELDS = {
    "dispense_class": "classe",
    "code": "code",
    "product": "produit",
    "quantity": "quantite",
    "rpps": "rpps",
}


def _fhir_id(pid: str) -> str:
    from santegarde.api.params import fhir_id

    return fhir_id(pid)


def _patient_row(p: dict[str, Any]) -> dict[str, Any]:
    names = p.get("name") or [{}]
    first = names[0]
    ins = next((i.get("value", "") for i in p.get("identifier") or [] if i.get("system") in INS_SYSTEMS), "")
    return {
        "id": p["id"],
        "family": first.get("family", "—"),
        "given": " ".join(first.get("given") or []),
        "birth": p.get("birthDate"),
        "gender": GENDER.get(p.get("gender", ""), "—"),
        "gender_code": p.get("gender") if p.get("gender") in GENDER else "none",
        "ins": ins,
        "redacted": bool((p.get("meta") or {}).get("security")),
    }


def _effective(o: dict[str, Any]) -> str:
    return str(o.get("effectiveDateTime") or o.get("issued") or "")


def reach_of(route: Any) -> str:
    """What a console route reaches, from its tag: "records" or "public"."""
    return next(str(t).split(":", 1)[1] for t in route.tags if str(t).startswith("reach:"))
