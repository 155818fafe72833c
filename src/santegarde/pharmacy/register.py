"""The pharmacy's registers (PHA-3): the prescription book (ordonnancier) and the dispensing registers.

Each entry is numbered in sequence without gaps within its register, references a MedicationDispense
written through the record service (purpose ``prescription_book_and_registers``: identity → policy →
encrypted store → audit), and carries the retention rule of the référentiel (§7.1) and its due date.
The register table holds no personal data; a SHA-256 chain over its rows lets :func:`verify_register`
detect any alteration. A validated entry is frozen; a correction is a new entry linked to the old one.
This class is the way to the register: it refuses to change a validated entry's MedicationDispense.
"""

from __future__ import annotations

import calendar
import csv
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Row, select, update

from santegarde.atomic import write_new_bytes
from santegarde.audit.trail import AuditEvent
from santegarde.errors import SantegardeError
from santegarde.identifiers.systems import RPPS_SYSTEM
from santegarde.identity import sessions
from santegarde.pharmacy import printing
from santegarde.referentials.model import Duration, Sensitivity
from santegarde.store import inspection
from santegarde.store.schema import pharmacy_register_counter as counter
from santegarde.store.schema import pharmacy_register_entry as entry_table
from santegarde.store.service import NotFound, RecordService, Request

PURPOSE = "prescription_book_and_registers"
EXPORT_PURPOSE = "health_insurance_documents"
PHARMACIST = "pharmacist"
GENESIS = "0" * 64
DISPENSE = "MedicationDispense"
CIP13_SYSTEM = "http://data.esante.gouv.fr/ansm/medicament/codeCIP13"
CSV_COLUMNS = ("register", "number", "date", "class", "product_code", "quantity", "prescriber_rpps", "corrects")


class RegisterKind(StrEnum):
    PRESCRIPTION_BOOK = "prescription_book"
    BLOOD_DERIVED = "blood_derived_register"
    TOXIC_SUBSTANCES = "toxic_substances_register"


class DispenseClass(StrEnum):
    LIST_I = "list_i"
    LIST_II = "list_ii"
    NARCOTIC = "narcotic"
    BLOOD_DERIVED = "blood_derived"
    PREPARATION = "preparation"  # magistral or officinal
    TOXIC_SUBSTANCE = "toxic_substance"  # very toxic, toxic or CMR substance for non-therapeutic use
    OTHER = "other"


@dataclass(frozen=True)
class ClassRule:
    register: RegisterKind
    retention_rule: str


# THE table: which register a class of dispensing is entered in, and which retention rule of the
# référentiel (pha-2022-067 §7.1) applies to the entry. A narcotic's register entry is a register of
# "lists I, II and narcotics" (R. 5132-10 CSP, 10 years); the 3-year rule is for copies of narcotics
# prescriptions (R. 5132-35 CSP), which are not register entries.
CLASSES: dict[DispenseClass, ClassRule] = {
    DispenseClass.LIST_I: ClassRule(RegisterKind.PRESCRIPTION_BOOK, "list_medicines_register"),
    DispenseClass.LIST_II: ClassRule(RegisterKind.PRESCRIPTION_BOOK, "list_medicines_register"),
    DispenseClass.NARCOTIC: ClassRule(RegisterKind.PRESCRIPTION_BOOK, "list_medicines_register"),
    DispenseClass.PREPARATION: ClassRule(RegisterKind.PRESCRIPTION_BOOK, "preparation_register"),
    DispenseClass.BLOOD_DERIVED: ClassRule(RegisterKind.BLOOD_DERIVED, "blood_derived_products"),
    DispenseClass.TOXIC_SUBSTANCE: ClassRule(RegisterKind.TOXIC_SUBSTANCES, "toxic_substances_register"),
    DispenseClass.OTHER: ClassRule(RegisterKind.PRESCRIPTION_BOOK, "other_data"),
}


class RegisterRefused(SantegardeError, PermissionError):
    """The register refuses the operation; the message says why and what to do."""


class EntryFrozen(RegisterRefused):
    """The entry is validated (or cancelled): it cannot change; a correction is a new entry."""


class EntryNotFound(SantegardeError, LookupError):
    """No entry with this number in this register."""


@dataclass(frozen=True)
class Dispensing:
    """What a register entry records; it is stored only in the encrypted MedicationDispense."""

    patient_id: str
    product_code: str
    product_display: str
    quantity: float
    dispensed_at: datetime
    prescriber_rpps: str | None = None
    prescriber_name: str | None = None
    unit: str | None = None
    product_system: str = CIP13_SYSTEM


@dataclass(frozen=True)
class Entry:
    """A row of a register: references only, never personal content."""

    register: str
    number: int
    record_id: str
    dispense_class: str
    entered_at: datetime
    entered_by: str
    validated_at: datetime | None
    validated_by: str | None
    cancelled_at: datetime | None
    corrects: int | None
    retention_rule: str
    due_at: datetime
    prev_hash: str
    hash: str

    @property
    def validated(self) -> bool:
        return self.validated_at is not None

    @property
    def frozen(self) -> bool:
        return self.validated_at is not None or self.cancelled_at is not None


@dataclass(frozen=True)
class RegisterReport:
    register: str
    entries: int
    problems: tuple[str, ...]

    @property
    def intact(self) -> bool:
        return not self.problems


# -- dates and hashes --------------------------------------------------------------------------------


def _utc(moment: datetime) -> datetime:
    """SQLite gives naive datetimes back: they are UTC, as everything this module stores."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _stamp(moment: datetime) -> str:
    return _utc(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def add_duration(start: datetime, duration: Duration) -> datetime:
    """``start`` plus a calendar duration (a month end is clamped: 31 Jan + 1 month = 28/29 Feb)."""
    months = start.month - 1 + duration.months + 12 * duration.years
    year, month = start.year + months // 12, months % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day) + timedelta(days=duration.days)


def entry_hash(
    prev: str,
    register: str,
    number: int,
    record_id: str,
    dispense_class: str,
    entered_at: datetime,
    entered_by: str,
    corrects: int | None,
    retention_rule: str,
    due_at: datetime,
) -> str:
    """SHA-256 over the previous hash and the entry's fixed fields (a chain: altering one row breaks the next)."""
    fields = (
        prev,
        register,
        str(number),
        record_id,
        dispense_class,
        _stamp(entered_at),
        entered_by,
        "" if corrects is None else str(corrects),
        retention_rule,
        _stamp(due_at),
    )
    return hashlib.sha256("\x1f".join(fields).encode("utf-8")).hexdigest()


def _hash_of(e: Entry) -> str:
    return entry_hash(
        e.prev_hash,
        e.register,
        e.number,
        e.record_id,
        e.dispense_class,
        e.entered_at,
        e.entered_by,
        e.corrects,
        e.retention_rule,
        e.due_at,
    )


def _entry(row: Row[Any]) -> Entry:
    m = row._mapping
    opt = {k: (_utc(m[k]) if m[k] is not None else None) for k in ("validated_at", "cancelled_at")}
    return Entry(
        register=m["register"],
        number=m["number"],
        record_id=m["record_id"],
        dispense_class=m["dispense_class"],
        entered_at=_utc(m["entered_at"]),
        entered_by=m["entered_by"],
        validated_at=opt["validated_at"],
        validated_by=m["validated_by"],
        cancelled_at=opt["cancelled_at"],
        corrects=m["corrects"],
        retention_rule=m["retention_rule"],
        due_at=_utc(m["due_at"]),
        prev_hash=m["prev_hash"],
        hash=m["hash"],
    )


# -- numbering ---------------------------------------------------------------------------------------


def _lock_counter(conn: Connection, register: str) -> tuple[int, str]:
    """The register's last number and hash, its counter row locked until the transaction ends."""
    if conn.dialect.name == "sqlite":  # SQLite has no FOR UPDATE: a write takes the database's write lock first
        conn.execute(update(counter).where(counter.c.register == register).values(last_number=counter.c.last_number))
    row = conn.execute(
        select(counter.c.last_number, counter.c.last_hash).where(counter.c.register == register).with_for_update()
    ).first()
    if row is None:
        raise RegisterRefused(
            f"The register '{register}' has no counter: the database schema is not up to date; run the migrations."
        )
    return int(row.last_number), str(row.last_hash)


def append_entry(
    conn: Connection,
    register: str,
    record_id: str,
    dispense_class: str,
    entered_at: datetime,
    entered_by: str,
    retention_rule: str,
    due_at: datetime,
    corrects: int | None = None,
) -> Entry:
    """Allocate the next number and insert the entry, in ``conn``'s transaction (gapless, safe under concurrency)."""
    last, prev = _lock_counter(conn, register)
    number = last + 1
    digest = entry_hash(
        prev, register, number, record_id, dispense_class, entered_at, entered_by, corrects, retention_rule, due_at
    )
    values = {
        "register": register,
        "number": number,
        "record_id": record_id,
        "dispense_class": dispense_class,
        "entered_at": _utc(entered_at),
        "entered_by": entered_by,
        "validated_at": None,
        "validated_by": None,
        "cancelled_at": None,
        "corrects": corrects,
        "retention_rule": retention_rule,
        "due_at": _utc(due_at),
        "prev_hash": prev,
        "hash": digest,
    }
    conn.execute(entry_table.insert().values(**values))
    conn.execute(update(counter).where(counter.c.register == register).values(last_number=number, last_hash=digest))
    return Entry(**values)  # type: ignore[arg-type]


def verify_register(engine: Engine, register: str) -> RegisterReport:
    """Check the numbering (1..n, no gap), the hash chain, the counter, and that no validated entry's
    MedicationDispense got a version after its validation."""
    problems: list[str] = []
    with engine.connect() as conn:
        rows = [
            _entry(r)
            for r in conn.execute(
                select(entry_table).where(entry_table.c.register == register).order_by(entry_table.c.number)
            )
        ]
        head = conn.execute(select(counter).where(counter.c.register == register)).first()
        prev = GENESIS
        for expected, e in enumerate(rows, start=1):
            if e.number != expected:
                problems.append(f"No. {expected} is missing (the next entry is No. {e.number}).")
            if e.prev_hash != prev:
                problems.append(f"No. {e.number} does not follow the previous entry (chain broken).")
            if _hash_of(e) != e.hash:
                problems.append(f"No. {e.number} was altered (its hash does not match its content).")
            prev = e.hash
            if e.validated_at is not None and inspection.versions_after(engine, e.record_id, e.validated_at):
                problems.append(f"No. {e.number} was validated, yet its MedicationDispense changed afterwards.")
        if head is None:
            problems.append(f"The register '{register}' has no counter row.")
        elif head.last_number != len(rows) or head.last_hash != prev:
            problems.append(
                f"The counter says {head.last_number} entries; the register holds {len(rows)} (entries removed?)."
            )
    return RegisterReport(register, len(rows), tuple(problems))


# -- FHIR -----------------------------------------------------------------------------------------------


def dispense_body(d: Dispensing, rid: str | None = None) -> dict[str, Any]:
    """The MedicationDispense of a dispensing; the prescriber is the requester of a contained MedicationRequest."""
    medication = {"coding": [{"system": d.product_system, "code": d.product_code, "display": d.product_display}]}
    quantity: dict[str, Any] = {"value": d.quantity}
    if d.unit:
        quantity["unit"] = d.unit
    body: dict[str, Any] = {
        "resourceType": DISPENSE,
        "status": "completed",
        "medicationCodeableConcept": medication,
        "subject": {"reference": f"Patient/{d.patient_id}"},
        "quantity": quantity,
        "whenHandedOver": _utc(d.dispensed_at).isoformat(),
    }
    if d.prescriber_rpps or d.prescriber_name:
        requester: dict[str, Any] = {}
        if d.prescriber_rpps:
            requester["identifier"] = {"system": RPPS_SYSTEM, "value": d.prescriber_rpps}
        if d.prescriber_name:
            requester["display"] = d.prescriber_name
        body["contained"] = [
            {
                "resourceType": "MedicationRequest",
                "id": "prescription",
                "status": "completed",
                "intent": "order",
                "medicationCodeableConcept": medication,
                "subject": {"reference": f"Patient/{d.patient_id}"},
                "requester": requester,
            }
        ]
        body["authorizingPrescription"] = [{"reference": "#prescription"}]
    if rid:
        body["id"] = rid
    return body


def _prescriber(body: dict[str, Any]) -> tuple[str, str]:
    """(RPPS, name) of the prescriber of a MedicationDispense built by :func:`dispense_body`."""
    for item in body.get("contained", []):
        if item.get("resourceType") == "MedicationRequest":
            requester = item.get("requester", {})
            return str(requester.get("identifier", {}).get("value", "")), str(requester.get("display", ""))
    return "", ""


def _product(body: dict[str, Any]) -> tuple[str, str]:
    coding = (body.get("medicationCodeableConcept", {}).get("coding") or [{}])[0]
    return str(coding.get("code", "")), str(coding.get("display", ""))


def _quantity(body: dict[str, Any]) -> str:
    q = body.get("quantity", {})
    value = q.get("value", "")
    text = f"{value:g}" if isinstance(value, int | float) else str(value)
    return f"{text} {q['unit']}" if q.get("unit") else text


def _cell(value: str) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


# -- the register -------------------------------------------------------------------------------------


class PharmacyRegister:
    """The pharmacy's registers over a record service: enter, validate, correct, print, export, verify."""

    def __init__(self, service: RecordService) -> None:
        if service.ref.organisation_profile != "pharmacy":
            raise RegisterRefused(
                f"The pharmacy registers need the pharmacy référentiel; this organisation applies {service.ref.id}."
            )
        self.service = service

    @property
    def engine(self) -> Engine:
        return self.service.engine

    # -- helpers ---------------------------------------------------------------------------------

    def _audit(
        self,
        ctx: sessions.SessionContext | None,
        req: Request,
        operation: str,
        record_id: str,
        *,
        allowed: bool,
        rule: str,
        section: str = "",
        patient: str = "",
    ) -> None:
        self.service.audit.append(
            AuditEvent(
                actor=ctx.login if ctx else "unauthenticated",
                profile=(ctx.profile or "") if ctx else "",
                operation=operation,
                resource_type=DISPENSE,
                resource_id=record_id,
                purpose=req.purpose,
                allowed=allowed,
                rule=rule,
                section=section,
                outcome="success" if allowed else "denied",
                source=req.source,
                referential=self.service.ref.id,
                patient=patient,
            )
        )

    def _session(self, req: Request, operation: str, record_id: str = "") -> sessions.SessionContext:
        try:
            return sessions.require(self.service.identity, req.token, sensitivity=Sensitivity.SPECIAL)
        except SantegardeError:
            self._audit(None, req, operation, record_id, allowed=False, rule="identity")
            raise

    def _refuse(
        self, ctx: sessions.SessionContext, req: Request, operation: str, e: Entry | None, exc: RegisterRefused
    ) -> RegisterRefused:
        self._audit(ctx, req, operation, e.record_id if e else "", allowed=False, rule="PHA-3", section="7.1")
        return exc

    def _retention(self, dispense_class: DispenseClass, entered_at: datetime, d: Dispensing) -> tuple[str, datetime]:
        rule_id = CLASSES[dispense_class].retention_rule
        rule = self.service.ref.retention_rule(rule_id)
        if rule is None:
            raise RegisterRefused(f"The référentiel {self.service.ref.id} has no retention rule '{rule_id}'.")
        if rule.active.duration is None:
            choice = f" (choice '{rule.controller_choice}')" if rule.controller_choice else ""
            raise RegisterRefused(
                f"The retention of '{dispense_class}' entries ({rule.name}) is set by the controller{choice}, and "
                f"no duration is set yet: set it in the organisation's configuration before entering such dispensings "
                f"(§{rule.section})."
            )
        start = d.dispensed_at if rule.active.start_event == "prescription_dispensed" else entered_at
        return rule_id, add_duration(_utc(start), rule.active.duration)

    def entry(self, register: str, number: int) -> Entry:
        """The entry ``number`` of ``register`` (references only, no personal data)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(entry_table).where(entry_table.c.register == register, entry_table.c.number == number)
            ).first()
        if row is None:
            raise EntryNotFound(f"The register '{register}' has no entry No. {number}.")
        return _entry(row)

    def entries(self, register: str, since: datetime | None = None, until: datetime | None = None) -> list[Entry]:
        """The entries of ``register`` entered in [since, until), in number order."""
        query = select(entry_table).where(entry_table.c.register == register).order_by(entry_table.c.number)
        if since is not None:
            query = query.where(entry_table.c.entered_at >= _utc(since))
        if until is not None:
            query = query.where(entry_table.c.entered_at < _utc(until))
        with self.engine.connect() as conn:
            return [_entry(r) for r in conn.execute(query)]

    # -- writing ---------------------------------------------------------------------------------

    def enter(
        self, req: Request, dispense_class: DispenseClass | str, dispensing: Dispensing, *, corrects: int | None = None
    ) -> Entry:
        """Write the MedicationDispense through the record service, then number the entry in its register."""
        cls = DispenseClass(dispense_class)
        register = CLASSES[cls].register
        ctx = self._session(req, "register.enter")
        if req.purpose != PURPOSE:
            raise self._refuse(
                ctx,
                req,
                "register.enter",
                None,
                RegisterRefused(
                    f"Entries of the registers are written for the purpose '{PURPOSE}', not '{req.purpose}'."
                ),
            )
        entered_at = _utc(self.service.identity.now())
        try:
            rule_id, due_at = self._retention(cls, entered_at, dispensing)
            if corrects is not None:
                self.entry(register, corrects)
        except RegisterRefused as exc:
            raise self._refuse(ctx, req, "register.enter", None, exc) from None
        created = self.service.create(req, dispense_body(dispensing))  # policy, encryption and audit
        with self.engine.begin() as conn:
            e = append_entry(conn, register, str(created["id"]), cls, entered_at, ctx.login, rule_id, due_at, corrects)
        self._audit(
            ctx,
            req,
            "register.enter",
            e.record_id,
            allowed=True,
            rule=rule_id,
            section="7.1",
            patient=dispensing.patient_id,
        )
        return e

    def correct(
        self,
        req: Request,
        register: str,
        number: int,
        dispensing: Dispensing,
        dispense_class: DispenseClass | str | None = None,
    ) -> Entry:
        """A correction: a NEW entry that names the entry it corrects (which stays as it was)."""
        original = self.entry(register, number)
        cls = DispenseClass(dispense_class or original.dispense_class)
        if CLASSES[cls].register != register:
            ctx = self._session(req, "register.correct", original.record_id)
            raise self._refuse(
                ctx,
                req,
                "register.correct",
                original,
                RegisterRefused(
                    f"A '{cls}' dispensing belongs to the register '{CLASSES[cls].register}', not '{register}': a "
                    "correction stays in the register of the entry it corrects; enter the dispensing there instead."
                ),
            )
        return self.enter(req, cls, dispensing, corrects=number)

    def _open_entry(
        self, req: Request, operation: str, register: str, number: int
    ) -> tuple[sessions.SessionContext, Entry]:
        e = self.entry(register, number)
        ctx = self._session(req, operation, e.record_id)
        if e.validated:
            raise self._refuse(
                ctx,
                req,
                operation,
                e,
                EntryFrozen(
                    f"Entry No. {number} of the {register} was validated on {e.validated_at:%Y-%m-%d} and cannot be "
                    f"changed or deleted: enter a correction, a new entry that corrects No. {number}."
                ),
            )
        if e.cancelled_at is not None:
            raise self._refuse(
                ctx,
                req,
                operation,
                e,
                EntryFrozen(f"Entry No. {number} of the {register} was cancelled; enter a new dispensing instead."),
            )
        return ctx, e

    def update(self, req: Request, register: str, number: int, dispensing: Dispensing) -> Entry:
        """Change the content of an entry not yet validated (a new version of its MedicationDispense)."""
        ctx, e = self._open_entry(req, "register.update", register, number)
        self.service.update(req, DISPENSE, e.record_id, dispense_body(dispensing, e.record_id))
        self._audit(
            ctx,
            req,
            "register.update",
            e.record_id,
            allowed=True,
            rule="PHA-3",
            section="7.1",
            patient=dispensing.patient_id,
        )
        return e

    def delete(self, req: Request, register: str, number: int) -> Entry:
        """Cancel an entry not yet validated: its number stays (no gap), its MedicationDispense is entered-in-error."""
        ctx, e = self._open_entry(req, "register.delete", register, number)
        body = self.service.read(req, DISPENSE, e.record_id)
        body.pop("meta", None)
        self.service.update(req, DISPENSE, e.record_id, {**body, "status": "entered-in-error"})
        with self.engine.begin() as conn:
            conn.execute(
                update(entry_table)
                .where(entry_table.c.register == register, entry_table.c.number == number)
                .values(cancelled_at=_utc(self.service.identity.now()))
            )
        self._audit(ctx, req, "register.delete", e.record_id, allowed=True, rule="PHA-3", section="7.1")
        return self.entry(register, number)

    def validate(self, req: Request, register: str, number: int) -> Entry:
        """Validate (freeze) an entry. Only a pharmacist may: the référentiel lets the préparateur work "under the
        pharmacist's authority" (pha-2022-067 §6.1) and the student "under the supervision of a pharmacist"
        (§10.1), and makes the pharmacist who owns the pharmacy responsible for the processing (§2); it has
        no validation operation of its own, so the validation that answers for an entry is the pharmacist's."""
        e = self.entry(register, number)
        ctx = self._session(req, "register.validate", e.record_id)
        if ctx.profile != PHARMACIST:
            raise self._refuse(
                ctx,
                req,
                "register.validate",
                e,
                RegisterRefused(
                    f"Only a pharmacist validates the entries of the registers; the profile '{ctx.profile}' "
                    "enters them under the pharmacist's authority or supervision (pha-2022-067 §6.1, §10.1): "
                    "ask a pharmacist."
                ),
            )
        now = _utc(self.service.identity.now())
        with self.engine.begin() as conn:
            done = conn.execute(
                update(entry_table)
                .where(
                    entry_table.c.register == register,
                    entry_table.c.number == number,
                    entry_table.c.validated_at.is_(None),
                    entry_table.c.cancelled_at.is_(None),
                )
                .values(validated_at=now, validated_by=ctx.login)
            ).rowcount
        if not done:
            state = "cancelled" if e.cancelled_at is not None else "already validated"
            raise self._refuse(
                ctx,
                req,
                "register.validate",
                e,
                EntryFrozen(f"Entry No. {number} of the {register} is {state}; there is nothing to validate."),
            )
        self.service.freeze(
            req, DISPENSE, e.record_id, f"validated entry No. {number} of the {register}", permanent=True
        )
        self._audit(ctx, req, "register.validate", e.record_id, allowed=True, rule="PHA-3", section="6.1")
        return self.entry(register, number)

    # -- reading: print and export -----------------------------------------------------------------

    def _patient(self, req: Request, body: dict[str, Any]) -> str:
        ref = str(body.get("subject", {}).get("reference", ""))
        if not ref.startswith("Patient/"):
            return ref
        try:
            patient = self.service.read(req, "Patient", ref.removeprefix("Patient/"))
        except NotFound:
            return ref
        name = (patient.get("name") or [{}])[0]
        return " ".join([*name.get("given", []), str(name.get("family", ""))]).strip() or ref

    def print_lines(
        self, req: Request, register: str, since: datetime | None = None, until: datetime | None = None
    ) -> list[printing.PrintLine]:
        """The entries of a period as printed, each read through the record service (authorised and traced)."""
        lines = []
        for e in self.entries(register, since, until):
            body = self.service.read(req, DISPENSE, e.record_id)
            rpps, name = _prescriber(body)
            code, display = _product(body)
            lines.append(
                printing.PrintLine(
                    register=e.register,
                    number=e.number,
                    entered_at=e.entered_at,
                    dispense_class=e.dispense_class,
                    patient=self._patient(req, body),
                    prescriber=" — ".join(x for x in (name, f"RPPS {rpps}" if rpps else "") if x),
                    product=f"{display} ({code})" if display else code,
                    quantity=_quantity(body),
                    validated=e.validated,
                    cancelled=e.cancelled_at is not None,
                    corrects=e.corrects,
                )
            )
        return lines

    def render_html(
        self,
        req: Request,
        register: str,
        pharmacy_name: str,
        since: datetime | None = None,
        until: datetime | None = None,
        lang: str = "fr",
    ) -> str:
        """The printable register of a period in ``lang`` (see :func:`santegarde.pharmacy.printing.render_html`)."""
        lines = self.print_lines(req, register, since, until)
        return printing.render_html(lines, pharmacy_name, lang)

    def export_csv(
        self,
        req: Request,
        path: Path,
        since: datetime,
        until: datetime,
        registers: Sequence[str] = tuple(RegisterKind),
    ) -> int:
        """Write a new CSV of the entries entered in [since, until) for health-insurance documents; the count.

        Each MedicationDispense is read with the purpose ``health_insurance_documents``; cancelled entries
        are left out. The file is written atomically and never overwrites an existing file.
        """
        ctx = self._session(req, "register.export")
        if req.purpose != EXPORT_PURPOSE:
            raise self._refuse(
                ctx,
                req,
                "register.export",
                None,
                RegisterRefused(
                    f"The export for health insurance is made for the purpose '{EXPORT_PURPOSE}', not '{req.purpose}'."
                ),
            )
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        count = 0
        for register in registers:
            for e in self.entries(register, since, until):
                if e.cancelled_at is not None:
                    continue
                body = self.service.read(req, DISPENSE, e.record_id)
                code, _ = _product(body)
                rpps, _ = _prescriber(body)
                q = body.get("quantity", {}).get("value", "")
                row = (
                    e.register,
                    str(e.number),
                    e.entered_at.date().isoformat(),
                    e.dispense_class,
                    code,
                    f"{q:g}" if isinstance(q, int | float) else str(q),
                    rpps,
                    "" if e.corrects is None else str(e.corrects),
                )
                writer.writerow([_cell(c) for c in row])
                count += 1
        write_new_bytes(path, out.getvalue().encode("utf-8"))
        self._audit(ctx, req, "register.export", "", allowed=True, rule="PHA-1", section="3")
        return count
