"""A request of the record path that reaches several resources appends its audit entries together (issue 18):
one transaction on the audit database, one head move, one multi-row insert — and still one entry per resource
read or refused, before anything is answered (COM-LOG-2)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event, update

from santegarde.audit.tables import head
from santegarde.audit.trail import TrailTampered
from santegarde.store.service import Request
from store_fixtures import Workplace, make_workplace
from test_store import observation, patient

OBSERVATIONS = [f"o-{n}" for n in range(6)]


@pytest.fixture
def place(database_url: str, tmp_path: Path) -> Iterator[Workplace]:
    w = make_workplace(database_url, tmp_path)
    yield w
    w.close()


@pytest.fixture
def req(place: Workplace) -> Request:
    """A practitioner who created a patient and six observations (so in care of the patient)."""
    request = Request(place.person("dr.martin", "practitioner", ref="10001234567"), "medical_record")
    place.service.create(request, patient("p-1", "Fictivé"))
    for oid in OBSERVATIONS:
        place.service.create(request, observation("p-1", oid))
    return request


def _audit_statements(place: Workplace) -> list[str]:
    sent: list[str] = []
    event.listen(place.audit.engine, "before_cursor_execute", lambda *a: sent.append(" ".join(a[2].split()[:3])))
    return sent


def _last(place: Workplace, n: int) -> list[dict[str, object]]:
    with place.audit.engine.connect() as conn:
        return [dict(e.content) for e in place.audit.entries(conn)][-n:]


def test_a_search_appends_one_entry_per_resource_in_one_batch(place: Workplace, req: Request) -> None:
    sent = _audit_statements(place)
    found = place.service.search(req, "Observation", {"patient": "p-1"})
    assert sorted(r["id"] for r in found) == OBSERVATIONS
    assert sent == ["UPDATE audit_head SET", "INSERT INTO audit_entry"]  # 7 entries, not 7 × (lock, insert, reseal)
    traced = _last(place, 7)
    assert sorted(str(c["resource_id"]) for c in traced[:6]) == OBSERVATIONS
    assert [c["operation"] for c in traced] == ["search"] * 7 and traced[-1]["resource_id"] == ""
    assert place.audit.verify().intact


def test_refusals_inside_a_search_are_traced_in_its_batch(place: Workplace, req: Request) -> None:
    """Another practitioner, not in care of the patient: every observation refused, each refusal traced."""
    other = Request(place.person("dr.durand", "practitioner", ref="10009876543"), "medical_record")
    assert place.service.search(other, "Observation", {"patient": "p-1"}) == []
    traced = _last(place, 7)
    assert [c["outcome"] for c in traced[:6]] == ["denied"] * 6 and traced[-1]["actor"] == "dr.durand"
    assert place.audit.verify().intact


def test_a_patients_records_are_one_batch(place: Workplace, req: Request) -> None:
    sent = _audit_statements(place)
    records = place.service.patient_records(req, "p-1")
    assert len(records) == 7
    assert sent.count("INSERT INTO audit_entry") == 1
    assert [c["operation"] for c in _last(place, 7)] == ["rights.records"] * 7


def test_a_search_on_a_tampered_trail_answers_nothing(place: Workplace, req: Request) -> None:
    """The head's seal removed: the batch is refused, and so the search raises instead of answering."""
    with place.audit.engine.begin() as conn:
        conn.execute(update(head).values(seal=None))
    answer = None
    with pytest.raises(TrailTampered):
        answer = place.service.search(req, "Observation", {"patient": "p-1"})
    assert answer is None
