"""Concurrent writes of the same resource (issue 17): two updates that read the same version race to write the next
one. One wins; the other is refused with a FHIR OperationOutcome (412 when it named the version with If-Match, 409
when it did not), never a 500, never a lost update, on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from santegarde.api import create_app
from santegarde.store import vault
from santegarde.store.service import RecordService, Request, WriteConflict
from store_fixtures import Workplace, make_workplace
from test_store import patient

PURPOSE = {"X-Purpose": "medical_record"}


@pytest.fixture
def place(database_url: str, tmp_path: Path) -> Iterator[Workplace]:
    w = make_workplace(database_url, tmp_path)
    yield w
    w.close()


@pytest.fixture
def token(place: Workplace) -> str:
    token = place.person("dr.martin", "practitioner", ref="10001234567")
    place.service.create(Request(token, "medical_record"), patient("p-1", "Fictivé"))
    return token


def together(
    monkeypatch: pytest.MonkeyPatch, writers: list[Callable[[], Any]], hold: tuple[object, str] = (vault, "versions")
) -> list[Any]:
    """Run the writers in threads, each held after its first ``hold`` (what the write reads: the current version by
    default) until all have read it: the race made certain, not left to the scheduler. What each returned, or
    raised."""
    barrier = threading.Barrier(len(writers))
    owner, name = hold
    read = getattr(owner, name)

    waited = threading.local()

    def held(*args: Any, **kwargs: Any) -> Any:
        found = read(*args, **kwargs)
        if threading.current_thread() is not threading.main_thread() and not getattr(waited, "once", False):
            waited.once = True  # the first read of each writer only
            barrier.wait(timeout=20)
        return found

    monkeypatch.setattr(owner, name, held)

    def attempt(writer: Callable[[], Any]) -> Any:
        try:
            return writer()
        except Exception as exc:  # the outcome of each writer is what the test inspects
            return exc

    with ThreadPoolExecutor(len(writers)) as pool:
        outcomes = list(pool.map(attempt, writers))
    monkeypatch.setattr(owner, name, read)
    return outcomes


def client(place: Workplace, token: str) -> TestClient:
    c = TestClient(create_app(place.identity, records=place.service), base_url="https://testserver")
    c.cookies.set("sg_session", token)
    return c


def test_two_updates_with_the_same_if_match_one_wins_the_other_gets_412(
    place: Workplace, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = client(place, token), client(place, token)
    current = first.get("/fhir/Patient/p-1", headers=PURPOSE)
    etag = current.headers["etag"]

    def put(c: TestClient, gender: str) -> Callable[[], httpx.Response]:
        body = {**current.json(), "gender": gender}
        return lambda: c.put("/fhir/Patient/p-1", json=body, headers={**PURPOSE, "If-Match": etag})

    answers = together(monkeypatch, [put(first, "male"), put(second, "other")])
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 412], [a.text for a in answers]
    won = next(a for a in answers if a.status_code == 200)
    lost = next(a for a in answers if a.status_code == 412)
    assert lost.headers["content-type"].startswith("application/fhir+json")
    issue = lost.json()["issue"][0]
    assert lost.json()["resourceType"] == "OperationOutcome" and issue["code"] == "conflict"
    assert "Read it again" in issue["diagnostics"]
    # the winner's version is the current one, whole; the loser's change is nowhere
    now = first.get("/fhir/Patient/p-1", headers=PURPOSE)
    assert now.headers["etag"] == won.headers["etag"] == 'W/"2"'
    assert now.json()["gender"] == won.json()["gender"]
    history = first.get("/fhir/Patient/p-1/_history", headers=PURPOSE).json()
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2", "1"]
    # the refusal is traced as one
    with place.audit.engine.connect() as conn:
        denied = [e.content for e in place.audit.entries(conn) if e.content.get("rule") == "record.version_conflict"]
    assert len(denied) == 1 and denied[0]["allowed"] is False and denied[0]["operation"] == "update"


def test_two_updates_without_if_match_one_wins_the_other_gets_409(
    place: Workplace, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = client(place, token), client(place, token)
    current = first.get("/fhir/Patient/p-1", headers=PURPOSE).json()

    def put(c: TestClient, gender: str) -> Callable[[], httpx.Response]:
        return lambda: c.put("/fhir/Patient/p-1", json={**current, "gender": gender}, headers=PURPOSE)

    answers = together(monkeypatch, [put(first, "male"), put(second, "other")])
    assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
    lost = next(a for a in answers if a.status_code == 409)
    assert lost.json()["resourceType"] == "OperationOutcome" and lost.json()["issue"][0]["code"] == "conflict"
    assert "at the same time" in lost.json()["issue"][0]["diagnostics"]
    won = next(a for a in answers if a.status_code == 200)
    assert first.get("/fhir/Patient/p-1", headers=PURPOSE).json()["gender"] == won.json()["gender"]
    # sent again, the refused update goes through as the next version: nothing was half-written
    again = second.put("/fhir/Patient/p-1", json={**current, "gender": "unknown"}, headers=PURPOSE)
    assert again.status_code == 200 and again.headers["etag"] == 'W/"3"'


def test_two_creates_of_the_same_id_one_wins_the_other_gets_409(
    place: Workplace, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    req = Request(token, "medical_record")

    def create(family: str) -> Callable[[], dict[str, Any]]:
        return lambda: place.service.create(req, patient("p-2", family))

    # both creates probe the id (free) before either writes
    outcomes = together(monkeypatch, [create("Premier"), create("Second")], hold=(RecordService, "_write_probe"))
    refused = [o for o in outcomes if isinstance(o, Exception)]
    assert len(refused) == 1 and isinstance(refused[0], WriteConflict), outcomes
    assert "at the same time" in str(refused[0])
    created = next(o for o in outcomes if isinstance(o, dict))
    stored = place.service.read(req, "Patient", "p-2")
    assert stored["name"] == created["name"] and stored["meta"]["versionId"] == "1"
