"""A page of search results reads the objections, care relationships, consents and keys of all its candidates at
once (issue 17), and refuses and traces each record exactly as a direct read of it does. SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from santegarde.audit.tables import entry
from santegarde.store import ledgers
from santegarde.store import search as fhir_search
from santegarde.store.service import AccessDenied, Request
from store_fixtures import Workplace, make_workplace
from test_consent_objection import consent, smoking
from test_store import appointment, patient

CARE = "medical_record"
RDV = "appointments"
# What an entry says about the access, whatever the operation that made it (a search's entry says ``search``).
SAID = ("resource_type", "resource_id", "allowed", "rule", "section", "outcome", "patient", "care_relationship")


@pytest.fixture
def place(database_url: str, tmp_path: Path) -> Iterator[Workplace]:
    w = make_workplace(database_url, tmp_path)
    yield w
    w.close()


def trail(w: Workplace, after: int = 0) -> list[dict[str, Any]]:
    with w.audit.engine.connect() as conn:
        rows = conn.execute(select(entry.c.seq, entry.c.content).where(entry.c.seq > after).order_by(entry.c.seq))
        return [{**json.loads(r.content), "seq": r.seq} for r in rows]


def last_seq(w: Workplace) -> int:
    found = trail(w)
    return int(found[-1]["seq"]) if found else 0


def booked(pid: str) -> dict[str, Any]:
    body = {**appointment(pid), "id": f"a-{pid}"}
    del body["reasonCode"]
    return body


@pytest.fixture
def practice(place: Workplace) -> tuple[str, str]:
    """dr.martin cares for p-1..p-3 (p-2 objected to reminders, p-3 withdrew consent to lifestyle data); p-9 is
    another doctor's patient, without care relationship with dr.martin."""
    mine = place.person("dr.martin", "practitioner", ref="10001234567")
    other = place.person("dr.autre", "practitioner", ref="10007654321")
    for token, pid in ((mine, "p-1"), (mine, "p-2"), (mine, "p-3"), (other, "p-9")):
        place.service.create(Request(token, CARE), patient(pid))
        place.service.create(Request(token, RDV), booked(pid))
        place.service.create(Request(token, CARE), consent(pid, f"k-{pid}"))
        place.service.create(Request(token, CARE), smoking(pid, f"s-{pid}"))
    place.service.record_objection(Request(mine, RDV), "p-2", RDV)
    place.clock.advance(minutes=5)
    place.service.withdraw_consent(Request(mine, CARE), "k-p-3")
    return mine, other


def said(entries: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted(tuple(e.get(k) for k in SAID) for e in entries)


@pytest.mark.parametrize(("purpose", "kind"), [(RDV, "Appointment"), (CARE, "Observation")])
def test_a_page_refuses_and_traces_each_record_as_a_read_does(
    place: Workplace, practice: tuple[str, str], purpose: str, kind: str
) -> None:
    req = Request(practice[0], purpose)
    start = last_seq(place)
    page = place.service.search_page(req, fhir_search.parse(kind, []))
    searched = [e for e in trail(place, start) if e["resource_id"]]  # the search's own entry names no record
    assert all(e["operation"] == "search" for e in searched)

    start = last_seq(place)
    read: list[str] = []
    for rid in sorted(e["resource_id"] for e in searched):
        try:
            read.append(place.service.read(req, kind, rid)["id"])
        except AccessDenied:
            continue
    assert [r["id"] for r in page.entries] == read
    assert said(searched) == said(trail(place, start))  # the same decisions, rules and facts, one per record
    refused = {e["resource_id"]: e["rule"] for e in searched if not e["allowed"]}
    assert page.refused == len(refused) == 2
    wanted = {"Appointment": ("a-p-2", "COM-RGT-1.objection"), "Observation": ("s-p-3", "requires_consent")}[kind]
    assert wanted[1] in refused[wanted[0]]  # p-2 objected to reminders; p-3 withdrew consent
    assert "care_relationship" in refused[{"Appointment": "a-p-9", "Observation": "s-p-9"}[kind]]  # another doctor's


def test_the_statements_of_a_page_do_not_grow_with_its_patients(place: Workplace, practice: tuple[str, str]) -> None:
    """One statement for the objections and care relationships, one for the keys, one for the consents: whatever
    the number of patients on the page (a probe per record before)."""
    req = Request(practice[0], CARE)
    counted: list[str] = []

    def count(*args: Any) -> None:
        counted.append(str(args[2]))

    def statements() -> int:
        counted.clear()
        event.listen(place.service.engine, "before_cursor_execute", count)
        try:
            assert len(place.service.search_page(req, fhir_search.parse("Observation", [])).entries) >= 1
        finally:
            event.remove(place.service.engine, "before_cursor_execute", count)
        return len([s for s in counted if not s.lstrip().upper().startswith(("COMMIT", "ROLLBACK"))])

    few = statements()
    assert few == 5, few  # the session, the candidates with their versions, the ledgers, the keys, the consents
    for n in range(6):
        pid = f"p-x{n}"
        place.service.create(req, patient(pid))
        place.service.create(req, consent(pid, f"k-x{n}"))
        place.service.create(req, smoking(pid, f"s-x{n}"))
    assert statements() == few


def test_the_ledgers_of_many_patients_in_one_statement(place: Workplace, practice: tuple[str, str]) -> None:
    with place.service.engine.connect() as conn:
        now = place.clock.now
        found = ledgers.standing(conn, ["p-1", "p-2", "p-3", "p-9", "nobody"], RDV, "dr.martin", now, care=True)
        assert found.objecting == {"p-2"} and found.cared == {"p-1", "p-2", "p-3"}
        assert ledgers.standing(conn, ["p-2"], CARE, "dr.martin", now, care=False).cared is None
        assert ledgers.standing(conn, ["p-2"], CARE, "dr.martin", now, care=False).objecting == set()
        assert ledgers.standing(conn, [], RDV, "dr.autre", now, care=True) == ledgers.Standing(frozenset(), frozenset())


def test_included_patients_are_read_together_and_traced_as_reads(place: Workplace, practice: tuple[str, str]) -> None:
    """_include: the matches' patients read in one request (one session check, the page's checks at once), each
    traced exactly as a direct read of it; the patients the search may not show are not included."""
    from fastapi.testclient import TestClient

    from santegarde.api import create_app

    api = TestClient(create_app(place.identity, records=place.service), base_url="https://testserver")
    api.cookies.set("sg_session", practice[0])
    sessions_read: list[str] = []

    def count(*args: Any) -> None:
        if "FROM identity_session" in str(args[2]):
            sessions_read.append(str(args[2]))

    start = last_seq(place)
    event.listen(place.service.engine, "before_cursor_execute", count)
    try:
        found = api.get("/fhir/Observation?_include=Observation:patient", headers={"X-Purpose": CARE}).json()
    finally:
        event.remove(place.service.engine, "before_cursor_execute", count)
    included = [e["resource"]["id"] for e in found["entry"] if e["search"]["mode"] == "include"]
    assert sorted(included) == ["p-1", "p-2"]  # s-p-3 (consent withdrawn) and s-p-9 (no care) are not matches
    assert len(sessions_read) == 2  # the search's check and the include's, not one per included patient
    reads = [e for e in trail(place, start) if e["operation"] == "read"]
    start = last_seq(place)
    for pid in ("p-1", "p-2"):
        place.service.read(Request(practice[0], CARE), "Patient", pid)
    assert said(reads) == said(trail(place, start))


def test_a_page_and_its_inclusions_are_traced_in_one_commit(place: Workplace, practice: tuple[str, str]) -> None:
    """A search with _include and _revinclude writes the page's entries and those of every included resource in one
    transaction of the trail, before the answer leaves: one audit commit per request, not one per included
    search."""
    from fastapi.testclient import TestClient

    from santegarde.api import create_app

    api = TestClient(create_app(place.identity, records=place.service), base_url="https://testserver")
    api.cookies.set("sg_session", practice[0])
    appends: list[float] = []
    place.audit.append_observer = appends.append
    start = last_seq(place)
    try:
        with_patients = api.get("/fhir/Observation?_include=Observation:patient", headers={"X-Purpose": CARE})
        assert with_patients.status_code == 200 and len(appends) == 1
        both = api.post(
            "/fhir/Patient/_search",
            content=b"gender=female&_revinclude=Observation:subject&_revinclude=Condition:subject",
            headers={"X-Purpose": CARE, "Content-Type": "application/x-www-form-urlencoded"},
        )
        assert both.status_code == 200 and len(appends) == 2
    finally:
        place.audit.append_observer = None
    included = [e["resource"] for e in both.json()["entry"] if e["search"]["mode"] == "include"]
    traced = {(e["resource_type"], e["resource_id"]) for e in trail(place, start) if e["outcome"] == "success"}
    assert included and all((r["resourceType"], r["id"]) in traced for r in included)  # each one traced
