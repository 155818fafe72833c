"""The practice's appointment book (pra-2020-081, purpose ``appointments``): the day or the week; booking a patient
found by the search with a practitioner of the practice; moving or cancelling an appointment.

Everything goes through ``RecordService`` under the purpose ``appointments`` (decided, encrypted and traced): the
secretariat reads the identity and the appointments, never the chart (the policy redacts an appointment's reason
for it); each appointment is a FHIR ``Appointment`` whose participants are the patient and the practitioner
(by their account at the practice) chosen among those who hold, now, a profile of the référentiel with a care
relationship. A move or a cancellation is
a new version of the appointment, written only over the version the page showed. The day shown travels in the URL
(``?jour=2026-12-07``), never who the patient is; a day is the day of Paris (an appointment at 00:30 in Paris
belongs to that day, although it is the evening before in UTC).
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations inside routes().
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response

from santegarde.identity import grants
from santegarde.store.mapping import MappingError
from santegarde.store.service import AccessDenied, NotFound, RecordService, VersionConflict
from santegarde.web.desk import Desk
from santegarde.web.french import PARIS, Refusal, in_words, refusal, sentence, worded
from santegarde.web.render import CSRF_FIELD

PURPOSE = "appointments"
BOOK = "/rendez-vous"
DURATIONS = (15, 20, 30, 45, 60)
STATUS_CODES = ("booked", "proposed", "pending", "arrived", "fulfilled", "cancelled", "noshow")
OPEN = ("booked", "proposed", "pending")  # an appointment that may still be moved or cancelled
STAFF_SYSTEM = "https://santegarde.fr/NamingSystem/practice-staff"  # a person of the practice, by their login
Csrf = Annotated[str, Form(alias=CSRF_FIELD, max_length=128)]


def _closed(status: str) -> Refusal:
    return worded("appointment_closed", 409, status=in_words("appointment_status", status))


CHANGED = worded("appointment_changed", 409)


def routes(desk: Desk, records: RecordService) -> None:
    route, renderer, ref = desk.route, desk.renderer, desk.ref
    renderer.menu.append((BOOK, "menu.appointments"))
    carers = frozenset(a.id for a in ref.accessors if a.care_relationship)

    def req_of(request: Request) -> Any:
        return desk.record_request(request, PURPOSE)

    def practitioners() -> list[tuple[str, str]]:
        """(login, name) of the people an appointment may be booked with, now."""
        return [(a.login, a.display_name) for a in grants.holders(records.identity, carers)]

    def refused(request: Request, exc: AccessDenied) -> Response:
        current = desk.ready(request)
        return renderer.refused(request, refusal(exc, ref, current.profile, PURPOSE), user=desk.who(current))

    @route("GET", BOOK, "records")
    def book(request: Request, jour: str = "", vue: str = "jour") -> Response:
        def draw() -> Response:
            current = desk.ready(request)
            today = records.identity.now().astimezone(PARIS).date()
            try:
                day = date.fromisoformat(jour) if jour else today
            except ValueError:
                day = today
            week = vue == "semaine"
            first = day - timedelta(days=day.weekday()) if week else day
            shown = [first + timedelta(days=n) for n in range(7 if week else 1)]
            req = req_of(request)
            names: dict[str, str] = {}
            try:
                columns = [(d, [_row(a, records, req, names) for a in _of_day(records, req, d)]) for d in shown]
            except AccessDenied as exc:
                return refused(request, exc)
            step = timedelta(days=7 if week else 1)
            return renderer.page(
                request,
                "rendez_vous.html",
                user=desk.who(current),
                days=columns,  # (date, rows): the template names the day in the page's language
                week=week,
                day=day.isoformat(),
                before=(day - step).isoformat(),
                after=(day + step).isoformat(),
                first=first,
            )

        return desk.guarded(request, draw, keep=BOOK)

    def form_page(request: Request, patient: dict[str, Any], action: str, status: int = 200, **values: Any) -> Response:
        names = (patient.get("name") or [{}])[0]
        values.setdefault("form", {"jour": "", "heure": "", "duree": "20", "praticien": ""})
        values.setdefault("errors", {})
        values.setdefault("moving", False)
        return renderer.page(
            request,
            "rendez_vous_nouveau.html",
            status,
            user=desk.who(desk.ready(request)),
            action=action,
            patient=f"{' '.join(names.get('given') or [])} {names.get('family', '')}".strip(),
            durations=DURATIONS,
            practitioners=practitioners(),
            **values,
        )

    def checked(jour: str, heure: str, duree: str, praticien: str) -> tuple[dict[str, str], dict[str, Any] | None]:
        """The form's mistakes field by field, or the appointment's start, end and practitioner."""
        errors, start = _when(jour, heure)
        minutes = int(duree) if duree.isdigit() and int(duree) in DURATIONS else 0
        if not minutes:
            errors["duree"] = sentence("field_duration")
        chosen = dict(practitioners()).get(praticien)
        if chosen is None:
            errors["praticien"] = sentence("field_practitioner")
        if errors or start is None or chosen is None:
            return errors, None
        return errors, {
            "start": start.isoformat(),
            "end": (start + timedelta(minutes=minutes)).isoformat(),
            "minutesDuration": minutes,
            "practitioner": _practitioner(praticien, chosen),
            "day": start.date().isoformat(),
        }

    @route("GET", BOOK + "/nouveau/{pid}", "records")
    def booking_form(request: Request, pid: str) -> Response:
        def draw() -> Response:
            rid = _id(pid)
            return form_page(request, records.read(req_of(request), "Patient", rid), f"{BOOK}/nouveau/{rid}")

        return desk.guarded(request, draw)

    @route("POST", BOOK + "/nouveau/{pid}", "records")
    def booking(
        request: Request,
        pid: str,
        csrf: Csrf,
        jour: Annotated[str, Form(max_length=20)] = "",
        heure: Annotated[str, Form(max_length=10)] = "",
        duree: Annotated[str, Form(max_length=4)] = "20",
        praticien: Annotated[str, Form(max_length=200)] = "",
    ) -> Response:
        renderer.check_csrf(request, csrf)
        form = {"jour": jour, "heure": heure, "duree": duree, "praticien": praticien}

        def draw() -> Response:
            rid = _id(pid)
            patient = records.read(req_of(request), "Patient", rid)
            action = f"{BOOK}/nouveau/{rid}"
            errors, when = checked(jour, heure, duree, praticien)
            if when is None:
                return form_page(request, patient, action, 422, form=form, errors=errors)
            body = {
                "resourceType": "Appointment",
                "status": "booked",
                "start": when["start"],
                "end": when["end"],
                "minutesDuration": when["minutesDuration"],
                "participant": [
                    {"actor": {"reference": f"Patient/{rid}"}, "status": "accepted"},
                    when["practitioner"],
                ],
            }
            try:
                records.create(req_of(request), body)
            except MappingError as exc:
                return form_page(request, patient, action, 422, form=form, error=refusal(exc, ref))
            return RedirectResponse(f"{BOOK}?jour={when['day']}", status_code=303)

        return desk.guarded(request, draw)

    def opened(request: Request, aid: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The appointment, if it may still change, and its patient (both read through the path)."""
        appointment = records.read(req_of(request), "Appointment", aid)
        status = str(appointment.get("status", ""))
        if status not in OPEN:
            raise _Closed(status)
        pid = _patient_of(appointment)
        patient = records.read(req_of(request), "Patient", pid) if pid else {"id": "", "name": []}
        return appointment, patient

    def changing(request: Request, aid: str, change: Any) -> Response:
        """Run a change of the appointment ``aid``; its refusals as pages."""
        try:
            return change(_id(aid))
        except _Closed as closed:
            return renderer.refused(request, _closed(closed.status), user=desk.who(desk.ready(request)))
        except VersionConflict:
            return renderer.refused(request, CHANGED, user=desk.who(desk.ready(request)))
        except AccessDenied as exc:
            return refused(request, exc)
        except NotFound as exc:
            return renderer.refused(request, refusal(exc, ref), user=desk.who(desk.ready(request)))

    @route("GET", BOOK + "/{aid}/deplacer", "records")
    def move_form(request: Request, aid: str) -> Response:
        def change(rid: str) -> Response:
            appointment, patient = opened(request, rid)
            at = datetime.fromisoformat(str(appointment["start"])).astimezone(PARIS)
            form = {
                "jour": at.date().isoformat(),
                "heure": f"{at.hour:02d}:{at.minute:02d}",
                "duree": str(appointment.get("minutesDuration", "20")),
                "praticien": _login_of(appointment),
            }
            return form_page(request, patient, f"{BOOK}/{rid}/deplacer", form=form, moving=True)

        return desk.guarded(request, lambda: changing(request, aid, change))

    @route("POST", BOOK + "/{aid}/deplacer", "records")
    def move(
        request: Request,
        aid: str,
        csrf: Csrf,
        jour: Annotated[str, Form(max_length=20)] = "",
        heure: Annotated[str, Form(max_length=10)] = "",
        duree: Annotated[str, Form(max_length=4)] = "20",
        praticien: Annotated[str, Form(max_length=200)] = "",
    ) -> Response:
        renderer.check_csrf(request, csrf)
        form = {"jour": jour, "heure": heure, "duree": duree, "praticien": praticien}

        def change(rid: str) -> Response:
            appointment, patient = opened(request, rid)
            errors, when = checked(jour, heure, duree, praticien)
            if when is None:
                action = f"{BOOK}/{rid}/deplacer"
                return form_page(request, patient, action, 422, form=form, errors=errors, moving=True)
            others = [p for p in appointment.get("participant") or [] if not _is_practitioner(p)]
            moved = {
                **_body(appointment),
                "start": when["start"],
                "end": when["end"],
                "minutesDuration": when["minutesDuration"],
                "participant": [*others, when["practitioner"]],
            }
            records.update(req_of(request), "Appointment", rid, moved, if_match=_version(appointment))
            return RedirectResponse(f"{BOOK}?jour={when['day']}", status_code=303)

        return desk.guarded(request, lambda: changing(request, aid, change))

    @route("POST", BOOK + "/{aid}/annulation", "records")
    def cancel(request: Request, aid: str, csrf: Csrf) -> Response:
        renderer.check_csrf(request, csrf)

        def change(rid: str) -> Response:
            appointment, _ = opened(request, rid)
            cancelled = {**_body(appointment), "status": "cancelled"}
            records.update(req_of(request), "Appointment", rid, cancelled, if_match=_version(appointment))
            day = datetime.fromisoformat(str(appointment["start"])).astimezone(PARIS).date()
            return RedirectResponse(f"{BOOK}?jour={day.isoformat()}", status_code=303)

        return desk.guarded(request, lambda: changing(request, aid, change))


class _Closed(Exception):
    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


def _id(pid: str) -> str:
    from santegarde.api.params import fhir_id

    return fhir_id(pid)


def _body(appointment: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in appointment.items() if k != "meta"}


def _version(appointment: dict[str, Any]) -> int | None:
    version = str((appointment.get("meta") or {}).get("versionId", ""))
    return int(version) if version.isdigit() else None


def _practitioner(login: str, display: str) -> dict[str, Any]:
    actor = {"type": "Practitioner", "identifier": {"system": STAFF_SYSTEM, "value": login}, "display": display}
    return {"actor": actor, "status": "accepted"}


def _is_practitioner(participant: dict[str, Any]) -> bool:
    return (participant.get("actor") or {}).get("type") == "Practitioner"


def _login_of(appointment: dict[str, Any]) -> str:
    for p in appointment.get("participant") or []:
        if _is_practitioner(p):
            return str(((p.get("actor") or {}).get("identifier") or {}).get("value", ""))
    return ""


def _patient_of(appointment: dict[str, Any]) -> str:
    for p in appointment.get("participant") or []:
        reference = str((p.get("actor") or {}).get("reference", ""))
        if reference.startswith("Patient/"):
            return reference.removeprefix("Patient/")
    return ""


def _when(day: str, hour: str) -> tuple[dict[str, str], datetime | None]:
    """The start, Paris time, from the form; each mistake in French under its field."""
    errors: dict[str, str] = {}
    try:
        on = date.fromisoformat(day.strip())
    except ValueError:
        on = None
        errors["jour"] = sentence("field_day")
    try:
        hours, minutes = (int(part) for part in hour.strip().replace("h", ":").split(":"))
        if not (0 <= hours < 24 and 0 <= minutes < 60):
            raise ValueError
    except ValueError:
        errors["heure"] = sentence("field_hour")
        return errors, None
    if on is None:
        return errors, None
    return errors, datetime(on.year, on.month, on.day, hours, minutes, tzinfo=PARIS)


def _of_day(records: RecordService, req: Any, day: date) -> list[dict[str, Any]]:
    """The appointments of ``day`` in Paris, from its midnight to the next (not the UTC day)."""
    since = datetime.combine(day, time.min, PARIS)
    until = datetime.combine(day + timedelta(days=1), time.min, PARIS)
    criteria = [("date", f"ge{since.isoformat()}"), ("date", f"lt{until.isoformat()}")]
    found = records.search(req, "Appointment", criteria)
    return sorted(found, key=lambda a: datetime.fromisoformat(str(a.get("start"))))


def _row(appointment: dict[str, Any], records: RecordService, req: Any, names: dict[str, str]) -> dict[str, Any]:
    """An appointment as the book shows it: the hour, the duration, the patient's name (read through the path), the
    practitioner, and whether it may still be moved or cancelled."""
    start = appointment.get("start")
    at = datetime.fromisoformat(start).astimezone(PARIS) if start else None
    who = "—"
    pid = _patient_of(appointment)
    if pid:
        if pid not in names:
            try:
                patient = records.read(req, "Patient", pid)
                first = (patient.get("name") or [{}])[0]
                names[pid] = f"{first.get('family', '—')} {' '.join(first.get('given') or [])}".strip()
            except (AccessDenied, NotFound):
                names[pid] = "patient non consultable"
        who = names[pid]
    practitioner = next(
        (
            str((p.get("actor") or {}).get("display", "—"))
            for p in appointment.get("participant") or []
            if _is_practitioner(p)
        ),
        "—",
    )
    status = str(appointment.get("status", "—"))
    return {
        "id": appointment.get("id"),
        "hour": f"{at.hour} h {at.minute:02d}" if at else "—",
        "minutes": appointment.get("minutesDuration"),
        "patient": who,
        "practitioner": practitioner,
        "status": in_words("appointment_status", status),
        "status_code": status if status in STATUS_CODES else "",
        "open": status in OPEN,
    }
