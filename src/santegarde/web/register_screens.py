"""The pharmacy's registers in the console (pha-2022-067): browsed by register, period and product, printed.

Each line is read through ``PharmacyRegister.print_lines`` — every MedicationDispense and its patient read through
``RecordService`` under the register's purpose (authorised and traced). The register, the dates and the product
looked for travel in the URL (``?registre=…&du=…&au=…&produit=…``); no patient does. The page prints as the
register itself (the stylesheet's print rules leave out the banner, the menus and the form), and the register of the
period is also given as the PDF of ``pharmacy/printing.py`` (in French). A pharmacist validates the period: every
entry of it not yet validated is validated and frozen through ``PharmacyRegister.validate`` (PHA-3, §6.1), each
traced; any other profile is refused with the rule.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations inside routes().
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response

from santegarde.governance.documents import html_to_pdf
from santegarde.pharmacy import PharmacyRegister, RegisterRefused, printing
from santegarde.pharmacy.desk import Period as Asked
from santegarde.pharmacy.desk import to_validate, validate_period, with_product
from santegarde.pharmacy.register import PHARMACIST, PURPOSE, RegisterKind
from santegarde.store.service import AccessDenied
from santegarde.web.desk import Desk
from santegarde.web.french import PARIS, refusal, sentence, worded
from santegarde.web.render import CSRF_FIELD, lang_of

PAGE = "/pharmacie/registres"
ONLY_PHARMACIST = worded("only_pharmacist", 403, "PHA-3", "6.1")
NO_NAME = worded("no_name", 409)


def routes(desk: Desk, pharmacy: PharmacyRegister, pharmacy_name: str) -> None:
    """``pharmacy_name`` heads every printed page of the registers."""
    route, renderer, ref = desk.route, desk.renderer, desk.ref
    renderer.menu.append((PAGE, "menu.registers"))

    def today() -> date:
        return pharmacy.service.identity.now().astimezone(PARIS).date()

    @route("GET", PAGE, "records")
    def registers(
        request: Request, registre: str = "", du: str = "", au: str = "", produit: str = "", valide: str = ""
    ) -> Response:
        def draw() -> Response:
            current = desk.ready(request)
            period = Period(today(), registre, du, au)
            looked = produit.strip()[:100]
            req = desk.record_request(request, PURPOSE)
            lines: list[Any] = []
            if not period.errors:
                try:
                    lines = pharmacy.print_lines(req, period.kind, period.since, period.until)
                except AccessDenied as exc:
                    return renderer.refused(
                        request, refusal(exc, ref, current.profile, PURPOSE), user=desk.who(current)
                    )
            w = printing.wording(lang_of(request))
            shown = [_line(line, w) for line in with_product(lines, looked)]
            done = int(valide) if valide.isdigit() else None
            return renderer.page(
                request,
                "registres.html",
                422 if period.errors else 200,
                user=desk.who(current),
                registers=[str(k) for k in RegisterKind],
                form={
                    "registre": period.kind,
                    "du": du or period.first.isoformat(),
                    "au": au or period.last.isoformat(),
                    "produit": looked,
                },
                errors=period.errors,
                kind=period.kind,
                first=period.first,
                last=period.last,
                lines=shown,
                pdf=f"{PAGE}/pdf?{period.query()}",
                pharmacist=current.profile == PHARMACIST,
                to_validate=to_validate(lines),
                done=done,
            )

        return desk.guarded(request, draw, keep=PAGE)

    @route("GET", PAGE + "/pdf", "records")
    def printed(request: Request, registre: str = "", du: str = "", au: str = "") -> Response:
        """The register of the period as the PDF the pharmacy files (pharmacy/printing.py, in French)."""

        def draw() -> Response:
            current = desk.ready(request)
            period = Period(today(), registre, du, au)
            if period.errors:
                return RedirectResponse(f"{PAGE}?{period.query()}", status_code=303)
            if not pharmacy_name.strip():
                return renderer.refused(request, NO_NAME, user=desk.who(current))
            try:
                html = pharmacy.render_html(
                    desk.record_request(request, PURPOSE), period.kind, pharmacy_name, period.since, period.until
                )
            except AccessDenied as exc:
                return renderer.refused(request, refusal(exc, ref, current.profile, PURPOSE), user=desk.who(current))
            name = f"{period.kind}-{period.first.isoformat()}-{period.last.isoformat()}.pdf"
            return Response(
                html_to_pdf(html),
                media_type="application/pdf",
                headers={"content-disposition": f'attachment; filename="{name}"'},
            )

        return desk.guarded(request, draw, keep=PAGE)

    @route("POST", PAGE + "/validation", "records")
    def validate(
        request: Request,
        csrf: Annotated[str, Form(alias=CSRF_FIELD, max_length=128)],
        registre: Annotated[str, Form(max_length=40)] = "",
        du: Annotated[str, Form(max_length=20)] = "",
        au: Annotated[str, Form(max_length=20)] = "",
    ) -> Response:
        """Validate and freeze every entry of the period not yet validated (each through the register, traced)."""
        renderer.check_csrf(request, csrf)

        def draw() -> Response:
            current = desk.ready(request)
            period = Period(today(), registre, du, au)
            if period.errors:
                return RedirectResponse(f"{PAGE}?{period.query()}", status_code=303)
            req = desk.record_request(request, PURPOSE)
            try:
                done = validate_period(pharmacy, req, period.asked)
            except RegisterRefused:
                return renderer.refused(request, ONLY_PHARMACIST, user=desk.who(current))
            except AccessDenied as exc:
                return renderer.refused(request, refusal(exc, ref, current.profile, PURPOSE), user=desk.who(current))
            return RedirectResponse(f"{PAGE}?{period.query(valide=str(done))}", status_code=303)

        return desk.guarded(request, draw, keep=PAGE)


PERIOD_FIELDS = {"first": "du", "last": "au"}  # pharmacy.desk.Period's names → the page's


class Period:
    """The register and the period asked for (``?registre=…&du=…&au=…``, read by ``pharmacy.desk.Period``), each
    mistake in the page's language under its field."""

    def __init__(self, today: date, registre: str, du: str, au: str) -> None:
        self.asked = Asked.asked(today, registre, du, au)
        self.kind, self.first, self.last = self.asked.kind, self.asked.first, self.asked.last
        self.since, self.until = self.asked.since, self.asked.until
        self.errors = {PERIOD_FIELDS[where]: sentence(key) for where, key in self.asked.problems.items()}

    def query(self, **more: str) -> str:
        return urlencode({"registre": self.kind, "du": self.first.isoformat(), "au": self.last.isoformat(), **more})


def _line(line: Any, w: dict[str, Any]) -> dict[str, Any]:
    """A line of the page in the words of the printed register (``pharmacy/printing.py``), in the page's language."""
    return {
        "number": line.number,
        "at": line.entered_at,
        "class": w["classes"].get(line.dispense_class, line.dispense_class),
        "patient": line.patient,
        "prescriber": line.prescriber or "—",
        "product": line.product,
        "quantity": line.quantity,
        "status": printing.status_of(line, w),
        "cancelled": line.cancelled,
    }
