"""From a log line to its audit entries and back: the request id of the access log is in every entry of the request.

The id is the server's (a client cannot choose it), is random, and is the only thing the entry gains: no header, path
or body of the request goes into the trail.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from santegarde.api import create_app, ops
from santegarde.audit import request
from santegarde.audit.trail import REQUEST_EXTENSION, AuditEvent
from store_fixtures import Workplace, make_workplace
from test_store import patient

RPPS = "10001234565"  # fictitious, with a valid key
PURPOSE = {"X-Purpose": "medical_record"}


@pytest.fixture
def place(tmp_path: Path) -> Iterator[Workplace]:
    w = make_workplace(f"sqlite:///{tmp_path / 'records.db'}", tmp_path)
    yield w
    w.close()


def entries_of(w: Workplace, request_id: str) -> list[dict[str, object]]:
    with w.audit.engine.connect() as conn:
        return [e.content for e in w.audit.during(conn, request_id)]


def test_every_audit_entry_of_a_request_carries_the_id_of_its_log_line(
    place: Workplace, capsys: pytest.CaptureFixture[str]
) -> None:
    c = TestClient(create_app(place.identity, records=place.service), base_url="https://testserver")
    c.cookies.set("sg_session", place.person("dr.martin", "practitioner", ref=RPPS))
    ops.configure_logging("info")
    try:
        created = c.post(
            "/fhir/Patient",
            json=patient("p-1"),
            headers={**PURPOSE, "Content-Type": "application/fhir+json", ops.REQUEST_ID_HEADER: "0" * 32},
        )
        read = c.get("/fhir/Patient/p-1", headers=PURPOSE)
    finally:
        logger = logging.getLogger("santegarde")
        logger.handlers, logger.propagate = [], True
        logger.setLevel(logging.NOTSET)
    assert created.status_code == 201, created.text
    assert read.status_code == 200, read.text
    lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.strip()]
    logged = [x["request_id"] for x in lines if x["logger"] == ops.ACCESS_LOGGER]
    write_id, read_id = created.headers[ops.REQUEST_ID_HEADER], read.headers[ops.REQUEST_ID_HEADER]
    assert logged == [write_id, read_id] and write_id != "0" * 32  # the client's id is not taken
    # From the log line to the entries: the write's entries, and only them; the read's, and only them.
    writes, reads = entries_of(place, write_id), entries_of(place, read_id)
    assert writes and all(e["request_id"] == write_id for e in writes)
    assert "create" in {e["operation"] for e in writes} and {e["operation"] for e in reads} == {"read"}
    assert all(e["resource_id"] == "p-1" for e in reads)
    # And back: every entry appended during the two requests is one of them (none lost, none shared).
    with place.audit.engine.connect() as conn:
        tagged = [e.content for e in place.audit.entries(conn) if "request_id" in e.content]
    assert len(tagged) == len(writes) + len(reads)
    # The id is all the entry gains: nothing of the patient the request carried.
    assert "Fictivé" not in json.dumps(tagged, ensure_ascii=False) and "1979-03-21" not in json.dumps(tagged)
    assert place.audit.verify().intact


def test_entries_outside_a_request_carry_no_id_and_the_export_finds_one_request(place: Workplace) -> None:
    event = AuditEvent("u1", "practitioner", "read", "Observation", "o1", "medical_record", True, "r", "6", "success")
    place.audit.append(event)
    with request.answering("ab" * 16):
        place.audit.append(event)
    with place.audit.engine.connect() as conn:
        everything = [e.content for e in place.audit.entries(conn)]
    assert "request_id" not in everything[-2] and everything[-1]["request_id"] == "ab" * 16
    exported = list(place.audit.as_fhir_audit_events("ab" * 16))
    assert len(exported) == 1
    assert {"url": REQUEST_EXTENSION, "valueString": "ab" * 16} in exported[0]["extension"]
    assert list(place.audit.as_fhir_audit_events("cd" * 16)) == []
    assert place.audit.verify().intact


@pytest.mark.parametrize("bad", ["", "AB" * 16, "ab" * 15, "ab" * 17, '%" OR 1=1 --', "ab" * 15 + "%%"])
def test_an_id_the_server_does_not_make_is_refused_with_a_sentence(place: Workplace, bad: str) -> None:
    with pytest.raises(request.RequestIdError, match="32 hexadecimal characters"):
        list(place.audit.as_fhir_audit_events(bad))
    with pytest.raises(request.RequestIdError), request.answering(bad):
        pass
