"""The pharmacy's registers in the console (pha-2022-067): browsed by register, period and product, printed.

Each line is read through ``PharmacyRegister.print_lines`` — every MedicationDispense and its patient read through
``RecordService`` under the register's purpose (authorised and traced). The register, the dates and the product
looked for travel in the URL (``?registre=…&du=…&au=…&produit=…``); no patient does. The page prints as the
register itself (the stylesheet's print rules leave out the banner, the menus and the form).
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations inside routes().
from datetime import date, datetime, time, timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from santegarde.pharmacy import PharmacyRegister
from santegarde.pharmacy.register import PURPOSE, RegisterKind
from santegarde.store.service import AccessDenied
from santegarde.web.desk import Desk
from santegarde.web.french import DISPENSE_CLASSES, PARIS, REGISTERS, fr_date, refusal

PAGE = "/pharmacie/registres"
DEFAULT_DAYS = 30


def routes(desk: Desk, pharmacy: PharmacyRegister) -> None:
    route, renderer, ref = desk.route, desk.renderer, desk.ref
    renderer.menu.append((PAGE, "Registres"))

    @route("GET", PAGE, "records")
    def registers(request: Request, registre: str = "", du: str = "", au: str = "", produit: str = "") -> Response:
        def draw() -> Response:
            current = desk.ready(request)
            today = pharmacy.service.identity.now().astimezone(PARIS).date()
            kind = registre if registre in {str(k) for k in RegisterKind} else str(RegisterKind.PRESCRIPTION_BOOK)
            errors: dict[str, str] = {}
            first, last = _day(du, today - timedelta(days=DEFAULT_DAYS), errors, "du"), _day(au, today, errors, "au")
            if first > last:
                errors["au"] = "La fin de la période précède son début : corrigez l'une des deux dates."
            looked = produit.strip()[:100]
            req = desk.record_request(request, PURPOSE)
            lines: list[Any] = []
            if not errors:
                since = datetime.combine(first, time.min, PARIS)
                until = datetime.combine(last + timedelta(days=1), time.min, PARIS)
                try:
                    lines = pharmacy.print_lines(req, kind, since, until)
                except AccessDenied as exc:
                    return renderer.refused(
                        request, refusal(exc, ref, current.profile, PURPOSE), user=desk.who(current)
                    )
            shown = [_line(line) for line in lines if looked.casefold() in line.product.casefold()]
            return renderer.page(
                request,
                "registres.html",
                422 if errors else 200,
                user=desk.who(current),
                registers=[(str(k), REGISTERS[str(k)]) for k in RegisterKind],
                form={"registre": kind, "du": du or first.isoformat(), "au": au or last.isoformat(), "produit": looked},
                errors=errors,
                title=REGISTERS[kind].removeprefix("l'").removeprefix("le ").capitalize(),
                period=f"du {fr_date(first)} au {fr_date(last)}",
                lines=shown,
            )

        return desk.guarded(request, draw, keep=PAGE)


def _day(written: str, default: date, errors: dict[str, str], field: str) -> date:
    if not written.strip():
        return default
    try:
        return date.fromisoformat(written.strip())
    except ValueError:
        errors[field] = "Saisissez une date complète (jour, mois et année)."
        return default


def _line(line: Any) -> dict[str, Any]:
    if line.cancelled:
        status = "annulée"
    elif line.validated:
        status = "validée"
    else:
        status = "à valider"
    if line.corrects is not None:
        status += f", corrige l'inscription n° {line.corrects}"
    return {
        "number": line.number,
        "at": line.entered_at,
        "class": DISPENSE_CLASSES.get(line.dispense_class, line.dispense_class),
        "patient": line.patient,
        "prescriber": line.prescriber or "—",
        "product": line.product,
        "quantity": line.quantity,
        "status": status,
        "cancelled": line.cancelled,
    }
