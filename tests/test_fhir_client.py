"""A FHIR client nobody here wrote (fhirpy) against the API served over HTTP: read, create, update with If-Match,
search by identifier, by name prefix, by patient reference, and paging through next links (issue 17)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import MultipleResourcesFound, OperationOutcome

from santegarde.api import create_app
from store_fixtures import Workplace, make_workplace
from test_store import INS, observation, patient


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[tuple[Workplace, str]]:
    """The API served over HTTP on a free local port, on SQLite and on PostgreSQL."""
    place = make_workplace(database_url, tmp_path)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(create_app(place.identity, records=place.service), port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield place, f"http://127.0.0.1:{port}/fhir"
    server.should_exit = True
    thread.join(5)
    place.close()


def test_a_standard_client_reads_writes_and_searches(served: tuple[Workplace, str]) -> None:
    place, url = served
    token = place.person("dr.martin", "practitioner", ref="10001234567")
    headers = {"Cookie": f"sg_session={token}", "X-Purpose": "medical_record"}
    client = SyncFHIRClient(url, extra_headers=headers)

    created = client.resource("Patient", **{k: v for k, v in patient("p-1", "Fictivé").items() if k != "id"})
    created.save()
    pid = created.id
    assert pid and client.reference("Patient", pid).to_resource()["name"][0]["family"] == "Fictivé"
    for n in range(3):
        o = observation(pid, f"o-{n}")
        del o["id"]
        client.resource("Observation", **o).save()

    # update with If-Match: the current version goes through, a stale one is refused (412), nothing lost
    current = client.reference("Patient", pid).to_resource()
    versioned = SyncFHIRClient(url, extra_headers={**headers, "If-Match": 'W/"1"'})
    changed = versioned.resource("Patient", **{**current, "gender": "other"})
    changed.save()
    assert changed["meta"]["versionId"] == "2"
    with pytest.raises(MultipleResourcesFound):  # fhirpy's name for a 412 answer
        versioned.resource("Patient", **{**current, "gender": "male"}).save()
    assert client.reference("Patient", pid).to_resource()["gender"] == "other"

    # search by patient reference, with paging through the next links (GET: no identifying value)
    observations = client.resources("Observation").search(subject=f"Patient/{pid}").limit(2).fetch_all()
    assert sorted(o.id for o in observations) == sorted(o.id for o in client.resources("Observation").fetch_all())
    assert len(observations) == 3
    assert client.resources("Observation").search(patient=pid, code="29463-7").fetch()[0]["status"] == "final"

    # identifiers and names go in a POST body, never in the URL: the client's GET is refused, its POST works
    with pytest.raises(OperationOutcome, match="never appear in a URL"):
        client.resources("Patient").search(family="fict").fetch()
    by_name = client.execute("Patient/_search", method="post", data={"family": "fict"})
    assert [e["resource"]["id"] for e in by_name["entry"]] == [pid]
    by_identifier = client.execute("Patient/_search", method="post", data={"identifier": INS["value"]})
    assert by_identifier["entry"][0]["fullUrl"] == f"{url}/Patient/{pid}"
