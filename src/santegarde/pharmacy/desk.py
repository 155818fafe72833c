"""What the console's pharmacy screens and ``santegarde pharmacy`` share, so that both check and act the same way:
a dispensing as the person typed it (each mistake named by the catalogue key of its sentence, ``data/refusals.yaml``
``console``), the register and period asked for, the lines of a period looked up by product, and the validation of
a period (each entry through :meth:`PharmacyRegister.validate`, authorised and traced).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from santegarde.identifiers import InvalidIdentifier, validate_rpps
from santegarde.pharmacy.printing import PARIS, PrintLine
from santegarde.pharmacy.register import (
    DispenseClass,
    Dispensing,
    EntryFrozen,
    PharmacyRegister,
    RegisterKind,
)
from santegarde.store.service import Request

DEFAULT_DAYS = 30  # the period shown when none is asked for: the last thirty days
MAX_QUANTITY = 10_000


@dataclass(frozen=True)
class Typed:
    """A dispensing as typed at the desk or on the command line (text, as written)."""

    dispense_class: str
    code: str
    product: str
    quantity: str
    unit: str = ""
    rpps: str = ""
    prescriber: str = ""

    def problems(self) -> dict[str, str]:
        """field → the catalogue key of its mistake (``console``); empty when the dispensing can be entered (the
        store then validates the FHIR resource itself)."""
        found: dict[str, str] = {}
        if self.dispense_class not in {c.value for c in DispenseClass}:
            found["dispense_class"] = "field_product_class"
        code = self.code.replace(" ", "")
        if not (code.isascii() and code.isdigit() and len(code) == 13):
            found["code"] = "field_cip"
        if not self.product.strip():
            found["product"] = "field_product"
        try:
            quantity = float(self.quantity.replace(",", "."))
            if not 0 < quantity <= MAX_QUANTITY:
                found["quantity"] = "field_quantity_bounds"
        except ValueError:
            found["quantity"] = "field_quantity"
        rpps = self.rpps.replace(" ", "")
        if rpps:
            try:
                validate_rpps(rpps)
            except InvalidIdentifier:
                found["rpps"] = "field_rpps"
        return found

    def dispensing(self, patient_id: str, at: datetime) -> Dispensing:
        """The dispensing to enter (call only when ``problems()`` is empty)."""
        return Dispensing(
            patient_id=patient_id,
            product_code=self.code.replace(" ", ""),
            product_display=self.product.strip(),
            quantity=float(self.quantity.replace(",", ".")),
            dispensed_at=at,
            prescriber_rpps=self.rpps.replace(" ", "") or None,
            prescriber_name=self.prescriber.strip() or None,
            unit=self.unit.strip() or None,
        )


@dataclass
class Period:
    """The register and the days asked for (the prescription book and the last thirty days by default); each
    mistake under ``first`` or ``last`` as the catalogue key of its sentence."""

    kind: str
    first: date
    last: date
    problems: dict[str, str] = field(default_factory=dict)

    @classmethod
    def asked(cls, today: date, register: str = "", first: str = "", last: str = "") -> Period:
        kind = register if register in {str(k) for k in RegisterKind} else str(RegisterKind.PRESCRIPTION_BOOK)
        problems: dict[str, str] = {}
        start = _day(first, today - timedelta(days=DEFAULT_DAYS), problems, "first")
        end = _day(last, today, problems, "last")
        if start > end:
            problems["last"] = "field_period_order"
        return cls(kind, start, end, problems)

    @property
    def since(self) -> datetime:
        return datetime.combine(self.first, time.min, PARIS)

    @property
    def until(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time.min, PARIS)


def _day(written: str, default: date, problems: dict[str, str], where: str) -> date:
    if not written.strip():
        return default
    try:
        return date.fromisoformat(written.strip())
    except ValueError:
        problems[where] = "field_date"
        return default


def with_product(lines: Sequence[PrintLine], product: str) -> list[PrintLine]:
    """The lines whose product (name or CIP code) contains ``product``, whatever the case; all without one."""
    looked = product.strip().casefold()
    return [line for line in lines if looked in line.product.casefold()]


def to_validate(lines: Sequence[PrintLine]) -> int:
    """How many lines of a period wait for a pharmacist's validation."""
    return sum(1 for line in lines if not line.validated and not line.cancelled)


def validate_period(pharmacy: PharmacyRegister, req: Request, period: Period) -> int:
    """Validate and freeze every entry of the period not yet validated, each through the register (a profile other
    than the pharmacist's is refused and traced there); the number validated."""
    done = 0
    for entry in pharmacy.entries(period.kind, period.since, period.until):
        if entry.validated or entry.cancelled_at is not None:
            continue
        try:
            pharmacy.validate(req, period.kind, entry.number)
        except EntryFrozen:  # validated or cancelled meanwhile, from another desk
            continue
        done += 1
    return done
