"""The retention engine and the intermediate archive (COM-RET-1, COM-ARC-1, PRA-4, PHA-3, AAC-9, AAC-SEC-ARC-1..2)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from identity_fixtures import START
from santegarde.audit.tables import entry as audit_entry
from santegarde.cli.retention import app as retention_app
from santegarde.config.model import ChoiceAnswer
from santegarde.crypto import KeyFamily, ScryptParams, create_keyring, create_keystore
from santegarde.crypto.envelope import token_family
from santegarde.demo import demo_answers
from santegarde.lifecycle import retention as lifecycle
from santegarde.organisation import build_config, init_organisation
from santegarde.pharmacy.register import DispenseClass, Dispensing, PharmacyRegister
from santegarde.referentials import loader
from santegarde.runtime import Organisation
from santegarde.store import consents, objections, retention, vault
from santegarde.store.schema import (
    archive_access,
    archive_part,
    archive_record,
    consent_ledger,
    objection_ledger,
    patient_key,
    record,
    record_part,
    record_retention,
    retention_aggregate,
)
from santegarde.store.service import AccessDenied, NotFound, Request
from store_fixtures import Workplace, make_workplace
from test_store import observation, patient

YEAR = 365.25


@pytest.fixture
def practice(database_url: str, tmp_path: Path) -> Iterator[Workplace]:
    w = make_workplace(database_url, tmp_path)
    yield w
    w.close()


def put(w: Workplace, rid: str, patient_id: str | None, purpose: str, at: datetime, rtype: str = "Observation") -> None:
    """A record written straight into the vault at ``at`` (the engine reads only metadata and ciphertext)."""
    ref = w.service.ref
    category = next(c.id for c in ref.categories if c.id in (ref.purpose(purpose).categories or []))  # type: ignore[union-attr]
    v = vault.Version(rid, 1, rtype, patient_id, at, "test", purpose, False, (category,))
    with w.service.engine.begin() as conn:
        vault.write_version(vault.PatientKeys(w.identity.keyring), conn, ref, v, {category: {"valueString": "x"}})


def plan(w: Workplace, choices: dict[str, ChoiceAnswer] | None = None) -> retention.Plan:
    return retention.plan(w.service.engine, w.service.ref, choices or {}, w.clock.now)


class Journal:
    """The batches a run traced ahead of their commit, and those it committed."""

    def __init__(self) -> None:
        self.intended: list[list[retention.RetentionEvent]] = []
        self.committed_batches: list[list[retention.RetentionEvent]] = []

    def intend(self, events: Any) -> None:
        self.intended.append(list(events))

    def committed(self, events: Any) -> None:
        self.committed_batches.append(list(events))


@dataclass(frozen=True)
class Ran(retention.RunReport):
    """A run's report, with the events its journal heard committed (the engine keeps none: they go to the trail)."""

    events: tuple[retention.RetentionEvent, ...] = ()


def run(w: Workplace, choices: dict[str, ChoiceAnswer] | None = None, journal: Journal | None = None, **kw: Any) -> Ran:
    journal = journal or Journal()
    report = retention.run(
        w.service.engine, w.identity.keyring, w.service.ref, choices or {}, w.clock.now, journal, **kw
    )
    return Ran(**vars(report), events=tuple(e for batch in journal.committed_batches for e in batch))


def ids(w: Workplace, table: Any = record) -> set[str]:
    with w.service.engine.connect() as conn:
        return set(conn.execute(select(table.c.id)).scalars())


def keys_of(w: Workplace, patient_id: str) -> int:
    with w.service.engine.connect() as conn:
        return len(conn.execute(select(patient_key).where(patient_key.c.patient_id == patient_id)).all())


def at_years(years: float, days: float = 1) -> datetime:
    return START + timedelta(days=years * YEAR + days)


def go(w: Workplace, moment: datetime) -> None:
    w.clock.now = moment


# -- practices (PRA-4) -------------------------------------------------------------------------------


def test_practice_file_archived_five_years_after_last_intervention_then_deleted(practice: Workplace) -> None:
    w = practice
    put(w, "p-1", "p-1", "medical_record", START, "Patient")
    put(w, "o-1", "p-1", "medical_record", START)
    put(w, "p-2", "p-2", "medical_record", START, "Patient")
    put(w, "o-2", "p-1", "medical_record", at_years(4, 0))  # a new intervention on p-1's file
    go(w, at_years(5))
    line = plan(w).line("medical_record")
    assert line is not None and (line.archive_now, line.active, line.end_now) == (1, 3, 0)
    report = run(w)
    assert report.archived == 1 and [e.record_id for e in report.events] == ["p-2"]
    assert ids(w) == {"p-1", "o-1", "o-2"} and ids(w, archive_record) == {"p-2"}
    go(w, at_years(9, 2))
    assert run(w).archived == 3  # the whole file of p-1 moves together
    assert ids(w) == set()
    go(w, at_years(19.9))
    assert run(w).events == ()
    go(w, at_years(20))
    report = run(w)
    assert report.deleted == 1 and report.keys_destroyed == 1
    assert keys_of(w, "p-2") == 0 and keys_of(w, "p-1") > 0
    assert ids(w, archive_record) == {"p-1", "o-1", "o-2"}
    go(w, at_years(24, 3))
    report = run(w)
    assert report.deleted == 3 and keys_of(w, "p-1") == 0 and ids(w, archive_record) == set()
    assert {e.operation for e in report.events} == {"retention.delete", "retention.keys_destroyed"}
    with w.service.engine.connect() as conn:
        states = dict(conn.execute(select(record_retention.c.record_id, record_retention.c.state)).all())
    assert states == {"p-1": "ended", "o-1": "ended", "o-2": "ended", "p-2": "ended"}


def test_a_rerun_with_the_same_clock_changes_nothing(practice: Workplace) -> None:
    w = practice
    for n in range(5):
        put(w, f"p-{n}", f"p-{n}", "medical_record", START, "Patient")
    put(w, "p-9", "p-9", "medical_record", at_years(3), "Patient")
    go(w, at_years(5))

    def snapshot() -> tuple[set[str], set[str], list[Any]]:
        with w.service.engine.connect() as conn:
            parts = sorted(conn.execute(select(archive_part.c.record_id, archive_part.c.token)).all())
        return ids(w), ids(w, archive_record), parts

    assert run(w, batch=2).archived == 5
    before = snapshot()
    again = run(w, batch=2)
    assert (again.archived, again.deleted, again.events, again.batches) == (0, 0, (), 0)
    assert snapshot() == before and ids(w) == {"p-9"}


def test_an_interrupted_run_resumes_where_it_stopped(practice: Workplace) -> None:
    w = practice
    for n in range(4):
        put(w, f"p-{n}", f"p-{n}", "medical_record", START, "Patient")
    go(w, at_years(5))

    def crash(done: int, total: int) -> None:
        raise RuntimeError("power cut")

    with pytest.raises(RuntimeError):
        run(w, batch=1, progress=crash)
    assert len(ids(w, archive_record)) == 1  # the first batch committed, nothing half-done
    seen: list[tuple[int, int]] = []
    assert run(w, batch=1, progress=lambda d, t: seen.append((d, t))).archived == 3
    assert seen[-1] == (4, 4) and ids(w) == set()  # the 3 records left and the one archived, all looked at


def test_a_batch_is_traced_before_it_commits_and_not_at_all_if_the_trace_fails(practice: Workplace) -> None:
    w = practice
    for n in range(3):
        put(w, f"p-{n}", f"p-{n}", "medical_record", START, "Patient")
    go(w, at_years(20, 2))

    class Watching(Journal):
        def intend(self, events: Any) -> None:
            doomed = {e.record_id for e in events if e.operation == "retention.delete"}
            assert doomed <= ids(w)  # seen from another connection: the batch is not committed yet
            super().intend(events)

    class Broken(Journal):
        def intend(self, events: Any) -> None:
            raise RuntimeError("the audit database does not answer")

    with pytest.raises(RuntimeError, match="does not answer"):
        run(w, journal=Broken(), batch=1)
    assert ids(w) == {"p-0", "p-1", "p-2"} and keys_of(w, "p-0") > 0  # nothing deleted untraced
    journal = Watching()
    report = run(w, journal=journal, batch=2)
    assert report.deleted == 3 and ids(w) == set()
    assert journal.intended == journal.committed_batches and len(journal.intended) == 2
    assert [(e.operation, e.record_id) for e in journal.intended[0]] == [
        ("retention.delete", "p-0"),
        ("retention.delete", "p-1"),
        ("retention.keys_destroyed", "p-0"),
        ("retention.keys_destroyed", "p-1"),
    ]


def test_fse_duplicates_end_after_three_months_when_recorded_as_such(practice: Workplace) -> None:
    w = practice
    put(w, "fse-1", "p-1", "health_insurance_documents", START, "Claim")
    put(w, "doc-1", "p-1", "health_insurance_documents", START, "Claim")
    put(w, "p-1", "p-1", "medical_record", START, "Patient")
    retention.assign_rule(w.service.engine, w.service.ref, "fse-1", "fse_duplicates")
    go(w, START + timedelta(days=80))
    assert run(w).events == ()
    go(w, START + timedelta(days=93))
    p = plan(w)
    assert p.line("fse_duplicates").end_now == 1  # type: ignore[union-attr]
    notes = p.line("medical_record").notes  # type: ignore[union-attr]
    assert [(n.key, n.purpose, n.rule) for n in notes] == [
        ("several_rules", "health_insurance_documents", "medical_record")
    ]
    report = run(w)
    assert [(e.operation, e.record_id, e.rule) for e in report.events] == [
        ("retention.delete", "fse-1", "fse_duplicates")
    ]
    assert ids(w) == {"doc-1", "p-1"} and keys_of(w, "p-1") > 0  # the patient's other records keep their keys


def test_refusals_of_the_engine(practice: Workplace) -> None:
    engine, ref = practice.service.engine, practice.service.ref
    with pytest.raises(retention.RetentionError, match="pas de règle de conservation « forever »"):
        retention.assign_rule(engine, ref, "x", "forever")
    with pytest.raises(retention.RetentionError, match="portée"):
        retention.record_event(engine, "organisation", "x", "collection", START, "admin", START)
    with pytest.raises(retention.RetentionError, match="événement"):
        retention.record_event(engine, "record", "x", " ", START, "admin", START)
    with pytest.raises(retention.RetentionError, match="pourquoi les données sont gelées"):
        retention.add_hold(engine, "patient", "p-1", "no", START)
    with pytest.raises(retention.RetentionError, match="gel n° 42"):
        retention.release_hold(engine, 42, START)
    with pytest.raises(retention.RetentionError, match="batch"):
        run(practice, batch=0)


# -- holds and pending rights -----------------------------------------------------------------------


def test_a_held_record_is_never_destroyed(practice: Workplace) -> None:
    w = practice
    put(w, "p-1", "p-1", "medical_record", START, "Patient")
    put(w, "p-2", "p-2", "medical_record", START, "Patient")
    hold = retention.add_hold(w.service.engine, "patient", "p-1", "litigation pending before the court", START)
    go(w, at_years(5))
    assert run(w).archived == 2  # a hold keeps data; moving them to the archive keeps them too
    go(w, at_years(20, 2))
    line = plan(w).line("medical_record")
    assert line is not None and (line.held, line.end_now) == (1, 1)
    report = run(w)
    assert report.deleted == 1 and report.held == 1 and ids(w, archive_record) == {"p-1"} and keys_of(w, "p-1") > 0
    retention.release_hold(w.service.engine, hold, w.clock.now)
    assert run(w).deleted == 1 and keys_of(w, "p-1") == 0


def test_a_pending_restriction_holds_the_record(practice: Workplace) -> None:
    w = practice
    token = w.person("dr.martin", "practitioner", ref="10001234567")
    req = Request(token, "medical_record")
    w.service.create(req, patient())
    w.service.create(req, observation())
    w.service.freeze(req, "Observation", "o-1", "accuracy disputed by the patient")
    go(w, at_years(20, 2))
    report = run(w)
    assert (report.deleted, report.archived) == (1, 1) and ids(w, archive_record) == {"o-1"} and ids(w) == set()
    again = run(w)
    assert again.events == () and again.held == 1 and keys_of(w, "p-1") > 0


# -- pharmacies (PHA-3) ------------------------------------------------------------------------------


def test_pharmacy_registers_follow_their_entry_rule(database_url: str, tmp_path: Path) -> None:
    w = make_workplace(database_url, tmp_path, "pha-2022-067")
    try:
        pharmacist = w.person("ph.durand", "pharmacist", ref="10009876543")
        w.service.create(
            Request(pharmacist, "dispensing"), {"resourceType": "Patient", "id": "p-1", "birthDate": "1979-03-21"}
        )
        book = PharmacyRegister(w.service)
        req = Request(pharmacist, "prescription_book_and_registers")
        d = Dispensing("p-1", "3400930000001", "Produit fictif 10 mg", 2, START, "10001234565", "Dr Fictive")
        listed = book.enter(req, DispenseClass.LIST_I, d)
        blood = book.enter(req, DispenseClass.BLOOD_DERIVED, d)
        book.validate(req, listed.register, listed.number)  # a permanent freeze does not stop the end
        go(w, at_years(10, -2))
        assert run(w).events == ()
        go(w, at_years(10, 1))
        p = plan(w)
        assert p.line("list_medicines_register").end_now == 1  # type: ignore[union-attr]
        assert p.line("other_data").waiting == 1  # type: ignore[union-attr]  (the controller has not set it)
        assert [n.key for n in p.line("other_data").notes] == ["no_duration"]  # type: ignore[union-attr]
        report = run(w)
        assert [(e.record_id, e.rule) for e in report.events] == [(listed.record_id, "list_medicines_register")]
        go(w, at_years(40, 1))
        report = run(w)
        assert [(e.record_id, e.rule) for e in report.events] == [(blood.record_id, "blood_derived_products")]
        assert ids(w) == {"p-1"}
    finally:
        w.close()


# -- compassionate access (AAC-9) --------------------------------------------------------------------


def test_compassionate_records_wait_for_the_agencys_events(database_url: str, tmp_path: Path) -> None:
    w = make_workplace(database_url, tmp_path, "aac-2022-106")
    try:
        put(w, "c-1", "c-1", "access_initiation_follow_up", START, "Patient")
        go(w, at_years(30))
        line = plan(w).line("follow_up_data")
        assert line is not None and line.waiting == 1
        waiting = [n.event for n in line.notes if n.key == "waiting_event"]
        assert waiting == ["ansm_approval_of_last_summary_report_synthesis"], line.notes
        assert run(w).events == ()
        retention.record_event(
            w.service.engine, "patient", "c-1", "summary_report_approved", at_years(1, 0), "adm", w.clock.now
        )
        go(w, at_years(3, -2))
        assert run(w).events == ()
        go(w, at_years(3, 1))
        assert run(w).archived == 1
        go(w, at_years(80))
        assert run(w).events == ()  # the authorisation's expiry is not recorded: the archive waits
        assert plan(w).line("follow_up_data").waiting == 1  # type: ignore[union-attr]
        retention.record_event(
            w.service.engine, "patient", "c-1", "authorisation_expired", at_years(2, 0), "adm", w.clock.now
        )
        go(w, at_years(72, -2))
        assert run(w).events == ()
        go(w, at_years(72, 1))
        assert run(w).deleted == 1 and ids(w, archive_record) == set() and keys_of(w, "c-1") == 0
    finally:
        w.close()


# -- the archive (COM-ARC-1, AAC-SEC-ARC-1..2) -------------------------------------------------------


def audit_rows(w: Workplace) -> list[dict[str, Any]]:
    with w.audit.engine.connect() as conn:
        return [
            json.loads(r) for r in conn.execute(select(audit_entry.c.content).order_by(audit_entry.c.seq)).scalars()
        ]


def test_archived_records_are_read_only_through_the_justified_procedure(practice: Workplace) -> None:
    w = practice
    token = w.person("dr.martin", "practitioner", ref="10001234567")
    w.service.create(Request(token, "medical_record"), patient())
    w.service.create(Request(token, "medical_record"), observation())
    go(w, at_years(5, 2))
    assert run(w).archived == 2
    with w.service.engine.connect() as conn:
        assert conn.execute(select(record_part)).first() is None
        families = {token_family(t)[0] for t in conn.execute(select(archive_part.c.token)).scalars()}
    assert families == {KeyFamily.ARCHIVE}
    doctor = w.person("dr.bernard", "practitioner", ref="10001234568")
    secretary = w.person("sec.roux", "secretariat", ref="S-1")
    req = Request(doctor, "medical_record")
    with pytest.raises(NotFound):
        w.service.read(req, "Observation", "o-1")
    with pytest.raises(AccessDenied, match="au moins 15 caractères"):
        w.service.read_archived(req, "Observation", "o-1", "because")
    with pytest.raises(AccessDenied):
        w.service.read_archived(
            Request(secretary, "health_insurance_documents"), "Patient", "p-1", "the insurer asks for the invoice"
        )
    with pytest.raises(NotFound):
        w.service.read_archived(req, "Observation", "o-404", "the patient asks for a copy of the file")
    bodies = w.service.read_archived(req, "Observation", "o-1", "the patient asks for a copy of the file")
    assert bodies[0]["valueQuantity"]["value"] == 61.5 and bodies[0]["meta"]["tag"][0]["code"] == "archived"
    with w.service.engine.connect() as conn:
        rows = conn.execute(select(archive_access)).all()
    assert [(r.login, r.record_id, r.justification) for r in rows] == [
        ("dr.bernard", "o-1", "the patient asks for a copy of the file")
    ]
    events = [(e["operation"], e["actor"], e["allowed"]) for e in audit_rows(w) if e["operation"] == "archive.access"]
    assert ("archive.access", "dr.bernard", True) in events and ("archive.access", "dr.bernard", False) in events
    assert ("archive.access", "sec.roux", False) in events
    assert all("copy of the file" not in json.dumps(e) for e in audit_rows(w))


def test_archived_parts_need_the_archive_key_and_the_patient_key(practice: Workplace) -> None:
    w = practice
    put(w, "p-1", "p-1", "medical_record", START, "Patient")
    go(w, at_years(5, 2))
    run(w)
    opened = retention.open_archived(w.service.engine, w.identity.keyring, w.service.ref, "p-1")
    assert opened[0]["valueString"] == "x"
    with w.service.engine.begin() as conn:
        vault.PatientKeys(w.identity.keyring).destroy(conn, "p-1")
    with pytest.raises(Exception, match="ont été détruites"):
        retention.open_archived(w.service.engine, w.identity.keyring, w.service.ref, "p-1")


def test_anonymisation_keeps_only_counts(practice: Workplace) -> None:
    w = practice
    put(w, "p-1", "p-1", "medical_record", START, "Patient")
    put(w, "o-1", "p-1", "medical_record", START)
    put(w, "o-2", "p-1", "medical_record", START)
    go(w, at_years(20, 2))
    report = run(w, {"retention_end_action": ChoiceAnswer(value="anonymise")})
    assert report.anonymised == 3 and report.deleted == 0 and keys_of(w, "p-1") == 0
    with w.service.engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(select(retention_aggregate)).mappings()]
    assert sorted((r["resource_type"], r["count"]) for r in rows) == [("Observation", 2), ("Patient", 1)]
    assert set(rows[0]) == {"rule", "resource_type", "year_of_creation", "count"}
    assert not any(x in json.dumps(rows) for x in ("p-1", "o-1", "o-2"))
    assert "aggregat" in retention.ANONYMISATION_METHOD
    assert retention.end_action(w.service.ref.retention_rule("medical_record"), {}) == "delete"  # type: ignore[arg-type]


def test_start_events_default_and_can_be_recorded(practice: Workplace) -> None:
    w = practice
    put(w, "fse-1", "p-1", "health_insurance_documents", START, "Claim")
    retention.assign_rule(w.service.engine, w.service.ref, "fse-1", "fse_duplicates")
    retention.record_event(
        w.service.engine, "record", "fse-1", "fse_transmitted", START + timedelta(days=60), "a", START
    )
    go(w, START + timedelta(days=120))
    assert run(w).events == ()  # 3 months from transmission, not from creation
    go(w, START + timedelta(days=160))
    assert run(w).deleted == 1
    assert START.tzinfo is UTC


# -- the lifecycle layer and the CLI ------------------------------------------------------------------

PASS = "a long passphrase for the retention tests"


def _organisation(w: Workplace, database_url: str, tmp_path: Path) -> Organisation:
    ref = loader.get("pra-2020-081")
    choices, justifications = demo_answers(ref)
    config, _ = build_config(
        tmp_path / "org",
        "practice",
        organisation_name="Cabinet Fictif",
        choices=choices,
        justifications=justifications,
        database_url=database_url,
        audit_database_url=w.audit.engine.url.render_as_string(hide_password=False),
    )
    return Organisation(
        tmp_path / "org" / "santegarde.yaml", config, ref, w.identity.keyring, w.service.engine, w.audit
    )


def test_the_lifecycle_run_traces_every_operation(practice: Workplace, database_url: str, tmp_path: Path) -> None:
    org = _organisation(practice, database_url, tmp_path)
    put(practice, "p-1", "p-1", "medical_record", START, "Patient")
    lifecycle.assign_rule(org, "p-1", "medical_record", by="admin")
    lifecycle.record_event(org, "patient", "p-1", "collection", START, START, by="admin")
    number = lifecycle.add_hold(org, "patient", "p-1", "litigation pending", START, by="admin")
    lifecycle.release_hold(org, number, START, by="admin")
    assert lifecycle.plan(org, at_years(5)).line("medical_record").archive_now == 1  # type: ignore[union-attr]
    with pytest.raises(lifecycle.RetentionError, match="happens now"):
        lifecycle.run(org, at_years(5))  # the trail's clock is still at START: that date is in the future
    assert ids(practice) == {"p-1"}
    before = audit_rows(practice)  # the run below purges them: its clock is five years later
    operations = [e["operation"] for e in before]
    for op in ("retention.assign", "retention.event.collection", "retention.hold", "retention.release"):
        assert op in operations
    assert all("litigation" not in json.dumps(e) for e in before)
    go(practice, at_years(5))
    report = lifecycle.run(org, at_years(5))
    assert report.archived == 1
    rows = audit_rows(practice)
    archive = next(e for e in rows if e["operation"] == "retention.archive")
    assert (archive["resource_id"], archive["rule"], archive["section"], archive["actor"], archive["outcome"]) == (
        "p-1",
        "medical_record",
        "7",
        "retention-engine",
        "intent",
    )
    batch = next(e for e in rows if e["operation"] == "retention.batch")
    assert batch["outcome"] == "success" and batch["source"] == archive["source"]
    assert [e["operation"] for e in rows].index("retention.batch") > rows.index(archive)
    assert "retention.run" in [e["operation"] for e in rows]


def test_records_ended_by_an_interrupted_run_are_already_in_the_trail(
    practice: Workplace, database_url: str, tmp_path: Path
) -> None:
    """The demo's attack: a run killed between a batch's commit and its audit entries left deletions untraced."""
    org = _organisation(practice, database_url, tmp_path)
    for n in range(4):
        put(practice, f"p-{n}", f"p-{n}", "medical_record", START, "Patient")
    go(practice, at_years(20, 2))

    def killed(done: int, total: int) -> None:
        raise KeyboardInterrupt  # the process stops right after the first batch committed

    with pytest.raises(KeyboardInterrupt):
        lifecycle.run(org, practice.clock.now, batch=1, progress=killed)
    gone = {f"p-{n}" for n in range(4)} - ids(practice)
    traced = {e["resource_id"] for e in audit_rows(practice) if e["operation"] == "retention.delete"}
    destroyed = {e["resource_id"] for e in audit_rows(practice) if e["operation"] == "retention.keys_destroyed"}
    assert len(gone) == 1 and gone <= traced and gone <= destroyed
    assert lifecycle.run(org, practice.clock.now).deleted == 3 and ids(practice) == set()
    traced = {e["resource_id"] for e in audit_rows(practice) if e["operation"] == "retention.delete"}
    assert traced == {f"p-{n}" for n in range(4)} and practice.audit.verify().intact


def test_cli_plan_run_event_hold(runner: CliRunner, database_url: str, tmp_path: Path) -> None:
    ref = loader.for_profile("practice")
    choices, justifications = demo_answers(ref)
    directory = tmp_path / "org"
    config, ref = build_config(
        directory,
        "practice",
        organisation_name="Cabinet CLI",
        choices=choices,
        justifications=justifications,
        database_url=database_url,
    )
    result = init_organisation(directory, config, ref)
    keydir = Path(config.keyring_path)
    create_keyring(create_keystore(keydir, PASS, ScryptParams(n=2**10, r=8, p=1)), keydir)
    env = {"SANTEGARDE_PASSPHRASE": PASS, "COLUMNS": "200"}
    cfg = ["--config", str(result.config_path)]

    def cli(*args: str) -> Any:
        return runner.invoke(retention_app, [*args, *cfg], env=env)

    planned = cli("plan", "--at", "2031-01-01")
    said = " ".join(planned.output.split())
    assert planned.exit_code == 0 and "Données enregistrées pour la gestion du cabinet" in said, planned.output
    assert "Doubles des feuilles de soins électroniques (FSE)" in said and "suppression" in said
    assert "Plan de conservation au 01/01/2031 à 00:00 (UTC)" in said and "À archiver" in said
    assert not re.findall(r"\b[a-z]+_[a-z_]+\b", said), said  # rules named, no identifier
    planned_en = cli("plan", "--at", "2031-01-01", "--lang", "en")
    assert "Retention plan at 2031-01-01 00:00 UTC" in planned_en.output and "Archive now" in planned_en.output
    done = cli("run", "--at", "2026-01-01", "--batch", "10")
    assert done.exit_code == 0 and "0 enregistrement(s) archivé(s)" in done.output, done.output
    future = cli("run", "--at", "2080-01-01")
    said = " ".join(future.output.split())
    assert future.exit_code == 2 and "est dans le futur" in said and "retention plan --at" in said
    future = cli("run", "--at", "2080-01-01", "--lang", "en")
    said = " ".join(future.output.split())
    assert future.exit_code == 2 and "in the future" in said and "retention plan --at" in said
    ahead = cli("event", "--record", "r-1", "--event", "fse_transmitted", "--at", "2080-01-01", "--by", "admin")
    assert ahead.exit_code == 2 and "enregistrez-le une fois qu'il a eu lieu" in ahead.output  # French by default
    ahead_en = cli(
        "event", "--record", "r-1", "--event", "fse_transmitted", "--at", "2080-01-01", "--by", "a", "--lang", "en"
    )
    assert ahead_en.exit_code == 2 and "once it has happened" in ahead_en.output
    event = cli("event", "--record", "r-1", "--event", "fse_transmitted", "--at", "2026-01-01", "--by", "admin")
    assert event.exit_code == 0 and "Événement « fse_transmitted » enregistré pour l'enregistrement r-1" in event.output
    held = cli("hold", "add", "--patient", "p-1", "--reason", "litigation pending", "--by", "admin")
    assert held.exit_code == 0 and "Gel n° 1 enregistré : le patient p-1" in held.output
    assert cli("hold", "release", "1", "--by", "admin").exit_code == 0
    assert cli("assign", "r-1", "fse_duplicates", "--by", "admin").exit_code == 0
    refused = [
        cli("hold", "release", "1", "--by", "admin"),
        cli("event", "--event", "collection", "--at", "2026-01-01", "--by", "admin"),
        cli("plan", "--at", "not a date"),
        cli("assign", "r-1", "forever", "--by", "admin"),
    ]
    assert [r.exit_code for r in refused] == [2, 2, 2, 2]
    assert "exactement une des deux options --patient et --record" in " ".join(refused[1].output.split())
    assert "doit être une date comme 2031-03-01" in " ".join(refused[2].output.split())


def test_the_run_purges_traces_past_their_retention(practice: Workplace, database_url: str, tmp_path: Path) -> None:
    from santegarde.audit.trail import AuditEvent

    org = _organisation(practice, database_url, tmp_path)
    assert lifecycle.trace_retention(org).years == 1  # the practice text sets none: COM-LOG-3's one year
    old = AuditEvent("dr.martin", "practitioner", "read", "Patient", "p-1", "medical_record", True, "r", "6", "success")
    practice.audit.append(old)
    practice.clock.advance(days=800)
    lifecycle.run(org, practice.clock.now)
    rows = audit_rows(practice)
    assert not any(e["actor"] == "dr.martin" for e in rows)
    assert any(e["operation"] == "audit.purge" for e in rows)
    assert practice.audit.verify().intact


def test_a_consent_leaving_the_active_base_authorises_no_more_and_ledgers_go_with_the_patient(
    practice: Workplace,
) -> None:
    w = practice
    put(w, "p-1", "p-1", "medical_record", START, "Patient")
    put(w, "k-1", "p-1", "medical_record", START, "Consent")
    scope = consents.Scope(("lifestyle",), ("medical_record",), START, None, True)
    with w.service.engine.begin() as conn:
        consents.record(conn, "k-1", "p-1", scope, START, "test")
        objections.add(conn, "p-1", "appointments", START, "test")
        assert consents.active(conn, "p-1", "lifestyle", "medical_record", at_years(1))
    go(w, at_years(5))
    assert run(w).archived == 2
    with w.service.engine.connect() as conn:
        assert not consents.active(conn, "p-1", "lifestyle", "medical_record", at_years(5))
        assert objections.in_force(conn, "p-1", "appointments") is not None  # the patient's file is still kept
    go(w, at_years(20))
    assert run(w).keys_destroyed == 1
    with w.service.engine.connect() as conn:
        assert conn.execute(select(consent_ledger)).first() is None
        assert conn.execute(select(objection_ledger)).first() is None
