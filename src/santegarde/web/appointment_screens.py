"""The practice's appointment book (pra-2020-081, purpose ``appointments``): the day or the week, and booking a patient
found by the search.

Everything goes through ``RecordService`` under the purpose ``appointments``: the secretariat reads the identity and
the appointments, never the chart (the policy redacts an appointment's reason for it); each appointment is a FHIR
``Appointment`` whose participant is the patient. The day shown travels in the URL (``?jour=2026-12-07``), never
who the patient is.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations inside routes().
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response

from santegarde.store.mapping import MappingError
from santegarde.store.service import AccessDenied, NotFound, RecordService
from santegarde.web.desk import Desk
from santegarde.web.french import PARIS, fr_date, refusal
from santegarde.web.render import CSRF_FIELD

PURPOSE = "appointments"
BOOK = "/rendez-vous"
DURATIONS = (15, 20, 30, 45, 60)
DAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
STATUS = {
    "booked": "confirmé",
    "proposed": "proposé",
    "pending": "en attente",
    "arrived": "arrivé",
    "fulfilled": "honoré",
    "cancelled": "annulé",
    "noshow": "absent",
}


def routes(desk: Desk, records: RecordService) -> None:
    route, renderer, ref = desk.route, desk.renderer, desk.ref
    renderer.menu.append((BOOK, "Rendez-vous"))

    def req_of(request: Request) -> Any:
        return desk.record_request(request, PURPOSE)

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
                return renderer.refused(request, refusal(exc, ref, current.profile, PURPOSE), user=desk.who(current))
            step = timedelta(days=7 if week else 1)
            return renderer.page(
                request,
                "rendez_vous.html",
                user=desk.who(current),
                days=[(f"{DAYS[d.weekday()]} {fr_date(d)}", rows) for d, rows in columns],
                week=week,
                day=day.isoformat(),
                before=(day - step).isoformat(),
                after=(day + step).isoformat(),
                title=f"Semaine du {fr_date(first)}" if week else f"{DAYS[day.weekday()].capitalize()} {fr_date(day)}",
            )

        return desk.guarded(request, draw, keep=BOOK)

    def booking_page(request: Request, pid: str, status: int = 200, **values: Any) -> Response:
        patient = records.read(req_of(request), "Patient", pid)
        names = (patient.get("name") or [{}])[0]
        values.setdefault("form", {"jour": "", "heure": "", "duree": "20"})
        values.setdefault("errors", {})
        return renderer.page(
            request,
            "rendez_vous_nouveau.html",
            status,
            user=desk.who(desk.ready(request)),
            pid=pid,
            patient=f"{' '.join(names.get('given') or [])} {names.get('family', '')}".strip(),
            durations=DURATIONS,
            **values,
        )

    @route("GET", BOOK + "/nouveau/{pid}", "records")
    def booking_form(request: Request, pid: str) -> Response:
        return desk.guarded(request, lambda: booking_page(request, _id(pid)))

    @route("POST", BOOK + "/nouveau/{pid}", "records")
    def booking(
        request: Request,
        pid: str,
        csrf: Annotated[str, Form(alias=CSRF_FIELD, max_length=128)],
        jour: Annotated[str, Form(max_length=20)] = "",
        heure: Annotated[str, Form(max_length=10)] = "",
        duree: Annotated[str, Form(max_length=4)] = "20",
    ) -> Response:
        renderer.check_csrf(request, csrf)
        form = {"jour": jour, "heure": heure, "duree": duree}

        def draw() -> Response:
            rid = _id(pid)
            errors, start = _when(jour, heure)
            minutes = int(duree) if duree.isdigit() and int(duree) in DURATIONS else 0
            if not minutes:
                errors["duree"] = "Choisissez une durée dans la liste."
            if errors or start is None:
                return booking_page(request, rid, 422, form=form, errors=errors)
            body = {
                "resourceType": "Appointment",
                "status": "booked",
                "start": start.isoformat(),
                "end": (start + timedelta(minutes=minutes)).isoformat(),
                "minutesDuration": minutes,
                "participant": [{"actor": {"reference": f"Patient/{rid}"}, "status": "accepted"}],
            }
            try:
                records.create(req_of(request), body)
            except MappingError as exc:
                return booking_page(request, rid, 422, form=form, error=refusal(exc, ref))
            return RedirectResponse(f"{BOOK}?jour={start.date().isoformat()}", status_code=303)

        return desk.guarded(request, draw)


def _id(pid: str) -> str:
    from santegarde.api.params import fhir_id

    return fhir_id(pid)


def _when(day: str, hour: str) -> tuple[dict[str, str], datetime | None]:
    """The start, Paris time, from the form; each mistake in French under its field."""
    errors: dict[str, str] = {}
    try:
        on = date.fromisoformat(day.strip())
    except ValueError:
        on = None
        errors["jour"] = "Saisissez la date du rendez-vous (jour, mois et année)."
    try:
        hours, minutes = (int(part) for part in hour.strip().replace("h", ":").split(":"))
        if not (0 <= hours < 24 and 0 <= minutes < 60):
            raise ValueError
    except ValueError:
        errors["heure"] = "Saisissez l'heure sous la forme 14:30."
        return errors, None
    if on is None:
        return errors, None
    return errors, datetime(on.year, on.month, on.day, hours, minutes, tzinfo=PARIS)


def _of_day(records: RecordService, req: Any, day: date) -> list[dict[str, Any]]:
    found = records.search(req, "Appointment", {"date": day.isoformat()})
    return sorted(found, key=lambda a: str(a.get("start", "")))


def _row(appointment: dict[str, Any], records: RecordService, req: Any, names: dict[str, str]) -> dict[str, Any]:
    """An appointment as the book shows it: the hour, the duration, the patient's name (read through the path)."""
    start = appointment.get("start")
    at = datetime.fromisoformat(start).astimezone(PARIS) if start else None
    who = "—"
    for p in appointment.get("participant") or []:
        reference = str((p.get("actor") or {}).get("reference", ""))
        if reference.startswith("Patient/"):
            pid = reference.removeprefix("Patient/")
            if pid not in names:
                try:
                    patient = records.read(req, "Patient", pid)
                    first = (patient.get("name") or [{}])[0]
                    names[pid] = f"{first.get('family', '—')} {' '.join(first.get('given') or [])}".strip()
                except (AccessDenied, NotFound):
                    names[pid] = "patient non consultable"
            who = names[pid]
    return {
        "hour": f"{at.hour} h {at.minute:02d}" if at else "—",
        "minutes": appointment.get("minutesDuration"),
        "patient": who,
        "status": STATUS.get(str(appointment.get("status")), str(appointment.get("status", "—"))),
    }
