"""The pharmacy's prescription book and registers (PHA-3), end to end on SQLite and PostgreSQL.

Entries numbered without gaps, frozen once validated, corrected by new linked entries, hash-chained,
retained per §7.1, printed and exported — every content read and write through the record service.
"""

from __future__ import annotations

import csv
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text, update

from santegarde.atomic import AlreadyExists
from santegarde.audit.tables import entry as audit_entry
from santegarde.governance.doctext import LanguageError
from santegarde.identity.errors import SessionRefused
from santegarde.pharmacy import (
    CLASSES,
    DispenseClass,
    Dispensing,
    EntryFrozen,
    EntryNotFound,
    PharmacyRegister,
    RegisterKind,
    RegisterRefused,
    verify_register,
)
from santegarde.pharmacy.printing import PrintLine, PrintRefused, render_html
from santegarde.pharmacy.register import GENESIS, add_duration, append_entry
from santegarde.referentials.model import Duration
from santegarde.store.schema import pharmacy_register_entry
from santegarde.store.service import AccessDenied, Request
from store_fixtures import Workplace, make_workplace

BOOK = RegisterKind.PRESCRIPTION_BOOK
REG = "prescription_book_and_registers"
WHEN = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def patient(pid: str = "p-1") -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "name": [{"family": "Fictivé", "given": ["Alix"]}],
        "birthDate": "1979-03-21",
    }


def dispensing(code: str = "3400930000001", quantity: float = 2, pid: str = "p-1") -> Dispensing:
    return Dispensing(
        patient_id=pid,
        product_code=code,
        product_display="Produit fictif 10 mg",
        quantity=quantity,
        dispensed_at=WHEN,
        prescriber_rpps="10001234565",
        prescriber_name="Dr Prescriptrice Fictive",
        unit="boîte",
    )


@pytest.fixture
def place(database_url: str, tmp_path: Path) -> Iterator[Workplace]:
    w = make_workplace(database_url, tmp_path, "pha-2022-067")
    yield w
    w.close()


@pytest.fixture
def staff(place: Workplace) -> dict[str, str]:
    tokens = {
        "pharmacist": place.person("ph.durand", "pharmacist", ref="10009876543"),
        "preparer": place.person("prep.martin", "preparer", ref="P-1"),
        "student": place.person("etu.leroy", "student", ref="E-1", ends_at=place.clock.now + timedelta(days=90)),
        "admin": place.person("adm.petit", "administrative_staff", ref="A-1"),
    }
    place.service.create(Request(tokens["pharmacist"], "dispensing"), patient())
    return tokens


@pytest.fixture
def book(place: Workplace) -> PharmacyRegister:
    return PharmacyRegister(place.service)


def audit_rows(w: Workplace) -> list[dict[str, Any]]:
    with w.audit.engine.connect() as conn:
        return [json.loads(r.content) for r in conn.execute(select(audit_entry.c.content).order_by(audit_entry.c.seq))]


def test_entries_are_numbered_in_sequence_per_register(
    place: Workplace, staff: dict[str, str], book: PharmacyRegister
) -> None:
    req = Request(staff["preparer"], REG)
    numbers = [book.enter(req, c, dispensing()).number for c in ("list_i", "list_ii", "narcotic", "preparation")]
    blood = book.enter(req, DispenseClass.BLOOD_DERIVED, dispensing())
    assert numbers == [1, 2, 3, 4]
    assert (blood.register, blood.number) == ("blood_derived_register", 1)
    assert [e.number for e in book.entries(BOOK)] == [1, 2, 3, 4]
    assert verify_register(place.service.engine, BOOK).intact
    assert verify_register(place.service.engine, RegisterKind.BLOOD_DERIVED).intact


def test_numbering_has_no_gap_under_concurrency(place: Workplace) -> None:
    engine = place.service.engine
    errors: list[BaseException] = []

    def add(i: int) -> None:
        try:
            with engine.begin() as conn:
                append_entry(conn, BOOK, f"rec-{i}", "list_i", WHEN, "prep.martin", "list_medicines_register", WHEN)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = verify_register(engine, BOOK)
    assert report.intact and report.entries == 8


def test_entry_holds_no_personal_data_and_goes_through_the_record_service(
    place: Workplace, staff: dict[str, str], book: PharmacyRegister
) -> None:
    e = book.enter(Request(staff["preparer"], REG), "list_i", dispensing())
    with place.service.engine.connect() as conn:
        row = " ".join(str(v) for v in conn.execute(select(pharmacy_register_entry)).one())
        records = " ".join(str(v) for r in conn.execute(text("SELECT * FROM record_part")) for v in r)
    assert e.record_id in row and "10001234565" not in row and "3400930000001" not in row and "p-1" not in row
    assert "3400930000001" not in records  # encrypted at rest
    body = place.service.read(Request(staff["pharmacist"], REG), "MedicationDispense", e.record_id)
    assert body["medicationCodeableConcept"]["coding"][0]["code"] == "3400930000001"
    ops = [(a["operation"], a["resource_type"], a["outcome"]) for a in audit_rows(place)]
    assert ("create", "MedicationDispense", "success") in ops and (
        "register.enter",
        "MedicationDispense",
        "success",
    ) in ops


def test_retention_rule_and_due_date_per_class(place: Workplace, staff: dict[str, str], book: PharmacyRegister) -> None:
    req = Request(staff["preparer"], REG)
    due = {c: book.enter(req, c, dispensing()) for c in DispenseClass if c != DispenseClass.OTHER}
    assert due[DispenseClass.LIST_I].retention_rule == "list_medicines_register"
    assert due[DispenseClass.NARCOTIC].due_at == add_duration(
        due[DispenseClass.NARCOTIC].entered_at, Duration(years=10)
    )
    assert due[DispenseClass.PREPARATION].retention_rule == "preparation_register"
    assert due[DispenseClass.TOXIC_SUBSTANCE].register == "toxic_substances_register"
    blood = due[DispenseClass.BLOOD_DERIVED]
    assert blood.retention_rule == "blood_derived_products" and blood.due_at.year == blood.entered_at.year + 40
    for rule in {r.retention_rule for r in CLASSES.values()}:
        assert place.service.ref.retention_rule(rule) is not None


def test_other_class_refused_until_the_controller_sets_its_retention(
    place: Workplace, staff: dict[str, str], book: PharmacyRegister
) -> None:
    with pytest.raises(RegisterRefused, match=r"set by the controller.*other_data_retention"):
        book.enter(Request(staff["preparer"], REG), "other", dispensing())
    assert book.entries(BOOK) == []
    assert audit_rows(place)[-1]["outcome"] == "denied"


def test_add_duration_clamps_month_ends() -> None:
    assert add_duration(datetime(2024, 2, 29, tzinfo=UTC), Duration(years=3)) == datetime(2027, 2, 28, tzinfo=UTC)
    assert add_duration(datetime(2026, 1, 31, tzinfo=UTC), Duration(months=1)) == datetime(2026, 2, 28, tzinfo=UTC)


def test_validation_freezes_the_entry(place: Workplace, staff: dict[str, str], book: PharmacyRegister) -> None:
    prep, ph = Request(staff["preparer"], REG), Request(staff["pharmacist"], REG)
    e = book.enter(prep, "list_ii", dispensing())
    book.update(prep, BOOK, e.number, dispensing(quantity=3))  # not validated yet: allowed
    assert place.service.read(ph, "MedicationDispense", e.record_id)["quantity"]["value"] == 3
    validated = book.validate(ph, BOOK, e.number)
    assert validated.validated and validated.validated_by == "ph.durand"
    with pytest.raises(EntryFrozen, match=r"validated .* cannot be changed or deleted: enter a correction"):
        book.update(ph, BOOK, e.number, dispensing(quantity=4))
    with pytest.raises(EntryFrozen, match="cannot be changed or deleted"):
        book.delete(ph, BOOK, e.number)
    with pytest.raises(EntryFrozen, match="already validated"):
        book.validate(ph, BOOK, e.number)
    assert place.service.read(ph, "MedicationDispense", e.record_id)["quantity"]["value"] == 3
    assert verify_register(place.service.engine, BOOK).intact
    denied = [a for a in audit_rows(place) if a["operation"] in ("register.update", "register.delete")]
    assert [a["outcome"] for a in denied] == ["success", "denied", "denied"]


def test_a_validated_dispense_is_frozen_in_the_store(
    place: Workplace, staff: dict[str, str], book: PharmacyRegister
) -> None:
    ph = Request(staff["pharmacist"], REG)
    e = book.validate(ph, BOOK, book.enter(ph, "list_i", dispensing()).number)
    place.clock.advance(minutes=5)
    body = place.service.read(ph, "MedicationDispense", e.record_id)
    assert any(tag["code"] == "frozen" for tag in body["meta"]["tag"])
    body.pop("meta")
    with pytest.raises(AccessDenied, match="est gelée"):
        place.service.update(ph, "MedicationDispense", e.record_id, {**body, "quantity": {"value": 9}})
    with pytest.raises(AccessDenied, match="gelée définitivement"):
        place.service.unfreeze(ph, "MedicationDispense", e.record_id)
    assert verify_register(place.service.engine, BOOK).intact


def test_unvalidated_entry_is_cancelled_not_removed(
    place: Workplace, staff: dict[str, str], book: PharmacyRegister
) -> None:
    prep, ph = Request(staff["preparer"], REG), Request(staff["pharmacist"], REG)
    first = book.enter(prep, "list_i", dispensing())
    book.enter(prep, "list_i", dispensing())
    cancelled = book.delete(prep, BOOK, first.number)
    assert cancelled.cancelled_at is not None and [e.number for e in book.entries(BOOK)] == [1, 2]
    assert place.service.read(ph, "MedicationDispense", first.record_id)["status"] == "entered-in-error"
    with pytest.raises(EntryFrozen, match="cancelled"):
        book.validate(ph, BOOK, first.number)
    with pytest.raises(EntryFrozen, match="cancelled"):
        book.update(prep, BOOK, first.number, dispensing())
    assert verify_register(place.service.engine, BOOK).intact


def test_a_correction_is_a_new_linked_entry(place: Workplace, staff: dict[str, str], book: PharmacyRegister) -> None:
    prep, ph = Request(staff["preparer"], REG), Request(staff["pharmacist"], REG)
    wrong = book.validate(ph, BOOK, book.enter(prep, "narcotic", dispensing(quantity=1)).number)
    fixed = book.correct(prep, BOOK, wrong.number, dispensing(quantity=2))
    assert (fixed.number, fixed.corrects, fixed.dispense_class) == (2, 1, "narcotic")
    assert fixed.record_id != wrong.record_id
    assert place.service.read(ph, "MedicationDispense", wrong.record_id)["quantity"]["value"] == 1
    assert book.entry(BOOK, 1) == wrong
    with pytest.raises(EntryNotFound, match=r"no entry No\. 99"):
        book.correct(prep, BOOK, 99, dispensing())
    with pytest.raises(RegisterRefused, match="correction stays in the register"):
        book.correct(prep, BOOK, wrong.number, dispensing(), DispenseClass.BLOOD_DERIVED)
    assert verify_register(place.service.engine, BOOK).intact


@pytest.mark.parametrize(
    "change",
    [
        {"dispense_class": "list_ii"},
        {"record_id": "another-record"},
        {"entered_at": WHEN - timedelta(days=1)},
        {"corrects": 1},
        {"due_at": WHEN + timedelta(days=1)},
    ],
)
def test_hash_chain_detects_an_altered_row(
    place: Workplace, staff: dict[str, str], book: PharmacyRegister, change: dict[str, Any]
) -> None:
    req = Request(staff["preparer"], REG)
    for _ in range(3):
        book.enter(req, "list_i", dispensing())
    with place.service.engine.begin() as conn:
        conn.execute(
            update(pharmacy_register_entry)
            .where(pharmacy_register_entry.c.register == BOOK, pharmacy_register_entry.c.number == 2)
            .values(**change)
        )
    report = verify_register(place.service.engine, BOOK)
    assert not report.intact and report.problems == ("No. 2 was altered (its hash does not match its content).",)


def test_hash_chain_detects_a_removed_row(place: Workplace, staff: dict[str, str], book: PharmacyRegister) -> None:
    req = Request(staff["preparer"], REG)
    for _ in range(3):
        book.enter(req, "list_i", dispensing())
    table = pharmacy_register_entry
    with place.service.engine.begin() as conn:
        conn.execute(table.delete().where(table.c.register == BOOK, table.c.number == 3))
    assert "entries removed" in verify_register(place.service.engine, BOOK).problems[0]
    with place.service.engine.begin() as conn:
        conn.execute(table.delete().where(table.c.register == BOOK, table.c.number == 1))
    problems = verify_register(place.service.engine, BOOK).problems
    assert "No. 1 is missing" in problems[0] and any("chain broken" in p for p in problems)
    assert GENESIS == "0" * 64


def test_preparer_and_student_enter_only_a_pharmacist_validates(
    place: Workplace, staff: dict[str, str], book: PharmacyRegister
) -> None:
    student = Request(staff["student"], REG)
    e = book.enter(student, "list_i", dispensing())
    assert e.entered_by == "etu.leroy"
    for who in ("student", "preparer"):
        with pytest.raises(RegisterRefused, match=f"Only a pharmacist validates.*'{who}'"):
            book.validate(Request(staff[who], REG), BOOK, e.number)
    assert not book.entry(BOOK, e.number).validated
    assert book.validate(Request(staff["pharmacist"], REG), BOOK, e.number).validated
    refused = [a for a in audit_rows(place) if a["operation"] == "register.validate" and a["outcome"] == "denied"]
    assert {a["profile"] for a in refused} == {"student", "preparer"}


def test_administrative_staff_cannot_enter(place: Workplace, staff: dict[str, str], book: PharmacyRegister) -> None:
    with pytest.raises(AccessDenied, match=r"^Refusé : votre profil ne peut jamais accéder"):
        book.enter(Request(staff["admin"], REG), "list_i", dispensing())
    assert book.entries(BOOK) == []
    assert any(a["actor"] == "adm.petit" and a["outcome"] == "denied" for a in audit_rows(place))


def test_wrong_purpose_or_no_session_refused(place: Workplace, staff: dict[str, str], book: PharmacyRegister) -> None:
    with pytest.raises(RegisterRefused, match="for the purpose 'prescription_book_and_registers'"):
        book.enter(Request(staff["preparer"], "dispensing"), "list_i", dispensing())
    with pytest.raises(SessionRefused):
        book.enter(Request("forged-token", REG), "list_i", dispensing())
    assert book.entries(BOOK) == []
    assert audit_rows(place)[-1]["actor"] == "unauthenticated"


def test_the_register_needs_the_pharmacy_referential(database_url: str, tmp_path: Path) -> None:
    w = make_workplace(database_url, tmp_path)
    try:
        with pytest.raises(RegisterRefused, match="need the pharmacy référentiel"):
            PharmacyRegister(w.service)
    finally:
        w.close()


def test_html_has_the_pharmacy_the_title_and_the_entries(
    place: Workplace, staff: dict[str, str], book: PharmacyRegister
) -> None:
    prep, ph = Request(staff["preparer"], REG), Request(staff["pharmacist"], REG)
    book.enter(prep, "list_i", dispensing())
    book.enter(prep, "narcotic", dispensing(code="3400930000002", quantity=1))
    book.validate(ph, BOOK, 1)
    book.correct(prep, BOOK, 1, dispensing(quantity=3))
    reads_before = sum(1 for a in audit_rows(place) if a["operation"] == "read")
    page = book.render_html(ph, BOOK, "Pharmacie <du Marché>")
    assert "Pharmacie &lt;du Marché&gt; — Ordonnancier" in page and "<du Marché>" not in page
    assert "@page" in page and "<thead>" in page and "table-header-group" in page and "running(" in page
    for n in (1, 2, 3):
        assert f'<td class="number">{n}</td>' in page
    assert "Alix Fictivé" in page and "RPPS 10001234565" in page and "3400930000002" in page
    assert "corrige l&#x27;inscription n° 1" in page and "validée" in page and "à valider" in page
    assert "Liste I" in page and "Stupéfiant" in page and 'lang="fr"' in page and '"Page " counter(page)' in page
    assert "list_i" not in page and "validated" not in page
    reads = [a for a in audit_rows(place) if a["operation"] == "read"][reads_before:]
    assert len(reads) == 6 and all(a["outcome"] == "success" and a["actor"] == "ph.durand" for a in reads)


def test_printing_refuses_a_student_without_the_right_and_mixed_registers(
    place: Workplace, staff: dict[str, str], book: PharmacyRegister
) -> None:
    book.enter(Request(staff["preparer"], REG), "list_i", dispensing())
    with pytest.raises(AccessDenied):
        book.render_html(Request(staff["admin"], REG), BOOK, "Pharmacie du Marché")
    line = PrintLine("prescription_book", 1, WHEN, "list_i", "A", "B", "C", "1", False, False, None)
    with pytest.raises(PrintRefused, match="several registers"):
        render_html([line, PrintLine("blood_derived_register", *list(line.__dict__.values())[1:])], "P")
    with pytest.raises(PrintRefused, match="pharmacy's name"):
        render_html([line], " ")
    assert "Aucune inscription sur cette période." in render_html([], "Pharmacie du Marché")
    assert "No entry in this period." in render_html([], "Pharmacie du Marché", "en")


def test_the_printed_register_is_french_with_french_dates_and_english_on_request() -> None:
    late = datetime(2026, 12, 4, 23, 30, tzinfo=UTC)  # 5 December 00:30 in Paris
    line = PrintLine("prescription_book", 7, late, "narcotic", "A", "B", "C", "1", True, False, 3)
    fr = render_html([line], "Pharmacie du Marché")
    assert "05/12/2026 00:30" in fr and "2026-12" not in fr
    assert (
        "Ordonnancier (listes I et II" in fr and "Stupéfiant" in fr and "validée, corrige l&#x27;inscription n° 3" in fr
    )
    assert ">N°<" in fr and ">Prescripteur<" in fr
    en = render_html([line], "Pharmacie du Marché", "en")
    assert "2026-12-05 00:30" in en and "Prescription book" in en and "validated, corrects No. 3" in en
    assert 'lang="en"' in en and "Narcotic" in en
    with pytest.raises(LanguageError):
        render_html([line], "Pharmacie du Marché", "de")


def test_csv_export_for_health_insurance(
    place: Workplace, staff: dict[str, str], book: PharmacyRegister, tmp_path: Path
) -> None:
    prep = Request(staff["preparer"], REG)
    book.enter(prep, "list_i", dispensing(quantity=2))
    cancelled = book.enter(prep, "list_ii", dispensing())
    book.delete(prep, BOOK, cancelled.number)
    book.enter(prep, "blood_derived", dispensing(code="3400930000009", quantity=1))
    place.clock.advance(minutes=1)
    book.enter(prep, "list_i", dispensing())  # entered at the end of the period: outside it
    out = tmp_path / "export" / "ami.csv"
    since, until = place.clock.now - timedelta(days=1), place.clock.now
    count = book.export_csv(Request(staff["preparer"], "health_insurance_documents"), out, since, until)
    rows = list(csv.DictReader(out.read_text(encoding="utf-8").splitlines()))
    assert count == 2 and [(r["register"], r["number"]) for r in rows] == [
        ("prescription_book", "1"),
        ("blood_derived_register", "1"),
    ]
    assert rows[0] == {
        "register": "prescription_book",
        "number": "1",
        "date": "2026-11-25",
        "class": "list_i",
        "product_code": "3400930000001",
        "quantity": "2",
        "prescriber_rpps": "10001234565",
        "corrects": "",
    }
    assert out.stat().st_mode & 0o777 == 0o600
    reads = [a for a in audit_rows(place) if a["operation"] == "read" and a["purpose"] == "health_insurance_documents"]
    assert len(reads) == 2
    with pytest.raises(AlreadyExists):
        book.export_csv(Request(staff["preparer"], "health_insurance_documents"), out, since, until)
    with pytest.raises(RegisterRefused, match="health_insurance_documents"):
        book.export_csv(Request(staff["preparer"], REG), tmp_path / "other.csv", since, until)
    with pytest.raises(AccessDenied):
        book.export_csv(Request(staff["student"], "health_insurance_documents"), tmp_path / "s.csv", since, until)
    assert not (tmp_path / "s.csv").exists()
