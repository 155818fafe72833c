"""FHIR search as the standard has it (issue 17): form-encoded POST _search, GET without identifying values,
patient references, prefixes of names and dates, paging links, strict handling, If-Match."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from santegarde.api import create_app
from santegarde.api.fhir import INTERACTIONS, capability_statement
from santegarde.identifiers.systems import FINESS_SYSTEM, RPPS_SYSTEM
from santegarde.store import search as fhir_search
from santegarde.store.mapping import RESOURCES
from santegarde.store.service import Request
from store_fixtures import Workplace, make_workplace
from test_store import INS, observation, patient

FORM = {"Content-Type": "application/x-www-form-urlencoded", "X-Purpose": "medical_record"}
PURPOSE = {"X-Purpose": "medical_record"}


@pytest.fixture
def place(database_url: str, tmp_path: Path) -> Iterator[Workplace]:
    w = make_workplace(database_url, tmp_path)
    yield w
    w.close()


@pytest.fixture
def doc(place: Workplace) -> TestClient:
    """A practitioner's client over a small practice: three patients, observations for the first."""
    token = place.person("dr.martin", "practitioner", ref="10001234567")
    req = Request(token, "medical_record")
    place.service.create(req, patient("p-1", "Fictivé"))
    place.service.create(req, {**patient("p-2", "Le Fictif"), "birthDate": "1944-06-02", "gender": "male"})
    other = {**INS, "value": "180017512345660", "system": "urn:oid:1.2.250.1.213.1.4.10"}
    place.service.create(req, {**patient("p-3", "Autre"), "identifier": [other], "birthDate": "2001-01-01"})
    for n in range(5):
        o = observation("p-1", f"o-{n}")
        o["effectiveDateTime"] = f"2026-0{n + 1}-15"
        if n == 4:
            o["code"] = {"coding": [{"system": "http://loinc.org", "code": "8302-2"}]}
        place.service.create(req, o)
    c = TestClient(create_app(place.identity, records=place.service), base_url="https://testserver")
    c.cookies.set("sg_session", token)
    return c


def ids(bundle: dict[str, Any]) -> list[str]:
    assert bundle["resourceType"] == "Bundle", bundle
    return [e["resource"]["id"] for e in bundle["entry"] if e["search"]["mode"] == "match"]


def form(client: TestClient, kind: str, body: str, **headers: str) -> Any:
    return client.post(f"/fhir/{kind}/_search", content=body.encode(), headers={**FORM, **headers})


def outcome(answer: Any) -> str:
    body = answer.json()
    assert body["resourceType"] == "OperationOutcome", body
    return str(body["issue"][0]["diagnostics"])


def test_form_encoded_search_by_name_prefix_identifier_and_birthdate(doc: TestClient) -> None:
    assert ids(form(doc, "Patient", "family=fict").json()) == ["p-1"]  # starts with, accents ignored
    assert ids(form(doc, "Patient", "name=le%20fi").json()) == ["p-2"]
    assert ids(form(doc, "Patient", "family:exact=FICTIVE").json()) == ["p-1"]
    assert ids(form(doc, "Patient", "given=ali&family=aut").json()) == ["p-3"]
    assert ids(form(doc, "Patient", f"identifier={INS['system']}|{INS['value']}").json()) == ["p-1", "p-2"]
    assert ids(form(doc, "Patient", "identifier=180017512345660").json()) == ["p-3"]  # value without system
    assert ids(form(doc, "Patient", "identifier=http://other|180017512345660").json()) == []
    assert ids(form(doc, "Patient", "birthdate=1944").json()) == ["p-2"]  # partial dates
    assert ids(form(doc, "Patient", "birthdate=1979-03").json()) == ["p-1"]
    assert ids(form(doc, "Patient", "birthdate=ge1944-01-01&birthdate=lt1980").json()) == ["p-1", "p-2"]
    assert ids(form(doc, "Patient", "birthdate=sa1979-12-31").json()) == ["p-3"]
    assert ids(form(doc, "Patient", "birthdate=ne1979-03-21").json()) == ["p-2", "p-3"]
    assert ids(form(doc, "Patient", "family=fictivezzzzzzzzzzzz").json()) == []  # longer than the index: checked
    found = form(doc, "Patient", "given=ALI").json()
    assert found["total"] == 3 and found["entry"][0]["fullUrl"] == "https://testserver/fhir/Patient/p-1"
    assert found["link"][0]["relation"] == "self" and set(parse_qs(urlsplit(found["link"][0]["url"]).query)) == {
        "_page"
    }
    # the project's JSON body still works
    assert ids(doc.post("/fhir/Patient/_search", json={"family": "autre"}, headers=PURPOSE).json()) == ["p-3"]


def test_a_patients_observations_by_reference_code_and_date_in_the_url(doc: TestClient) -> None:
    by_subject = doc.get("/fhir/Observation?subject=Patient/p-1", headers=PURPOSE).json()
    assert ids(by_subject) == [f"o-{n}" for n in range(5)]
    assert ids(doc.get("/fhir/Observation?patient=p-2", headers=PURPOSE).json()) == []
    assert ids(doc.get("/fhir/Observation?patient=p-1&code=http://loinc.org|8302-2", headers=PURPOSE).json()) == ["o-4"]
    assert ids(doc.get("/fhir/Observation?code=29463-7&date=ge2026-03", headers=PURPOSE).json()) == ["o-2", "o-3"]
    assert ids(doc.get("/fhir/Observation?status=final&_id=o-1,o-3", headers=PURPOSE).json()) == ["o-1", "o-3"]
    assert len(ids(doc.get("/fhir/Encounter", headers=PURPOSE).json())) == 0  # no parameter: a plain list
    assert ids(doc.get("/fhir/Patient?gender=male", headers=PURPOSE).json()) == ["p-2"]


def test_paging_follows_next_and_previous_links_that_carry_no_personal_data(doc: TestClient, place: Workplace) -> None:
    first = form(doc, "Patient", "given=al&_count=1").json()
    assert ids(first) == ["p-1"] and "total" not in first
    links = {link["relation"]: link["url"] for link in first["link"]}
    assert set(links) == {"self", "next"} and set(parse_qs(urlsplit(links["next"]).query)) == {"_page"}
    second = doc.get(links["next"], headers=PURPOSE).json()
    assert ids(second) == ["p-2"]
    back = {link["relation"]: link["url"] for link in second["link"]}
    assert ids(doc.get(back["previous"], headers=PURPOSE).json()) == ["p-1"]
    # a page link serves its own session only
    stranger = TestClient(doc.app, base_url="https://testserver")
    stranger.cookies.set("sg_session", place.person("dr.autre", "practitioner", ref="10007654321"))
    foreign = stranger.get(links["next"], headers=PURPOSE)
    assert foreign.status_code == 400 and "not valid for your session" in outcome(foreign)
    altered = doc.get(links["next"][:-3] + "AAA", headers=PURPOSE)
    assert altered.status_code == 400 and "run the search again" in outcome(altered)
    everything = []
    url: str | None = "/fhir/Observation?patient=p-1&_count=2"
    while url:
        page = doc.get(url, headers=PURPOSE).json()
        everything += ids(page)
        url = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
    assert everything == [f"o-{n}" for n in range(5)]


def pages(client: TestClient, url: str | None) -> list[list[str]]:
    """The matches of every page, following the next links."""
    found = []
    while url:
        page = client.get(url, headers=PURPOSE).json()
        found.append(ids(page))
        url = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
    return found


def test_pages_stay_full_and_whole_when_most_candidates_are_left_out(doc: TestClient, place: Workplace) -> None:
    """A page reads its candidates a batch at a time (store/vault.search_ids with a limit): when the content checks
    and the policy leave most of them out, it reads on until the page is full, and no match is lost or repeated."""
    req = Request(doc.cookies["sg_session"], "medical_record")
    other = Request(place.person("dr.autre", "practitioner", ref="10007654321"), "medical_record")
    place.service.create(other, patient("p-9", "Autre"))
    for n in range(24):  # p-1: one in three is a heart rate; p-9 (another doctor's): refused to dr.martin
        o = observation("p-1" if n % 4 else "p-9", f"x-{n:02d}")
        if n % 3 == 0:
            o["code"] = {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]}
        place.service.create(req if n % 4 else other, o)
    wanted = [f"x-{n:02d}" for n in range(24) if n % 3 == 0 and n % 4]
    found = pages(doc, "/fhir/Observation?code=8867-4&_count=2")
    assert [i for page in found for i in page] == wanted  # in id order, each once
    # full pages (the last may come up empty: candidates remained, none of them matched)
    assert all(len(page) == 2 for page in found[:-1]) and len(found) <= len(wanted) // 2 + 1
    # several patients: each walked on its index, merged in id order, paged the same way
    both = pages(doc, "/fhir/Observation?patient=p-1,p-9&_count=4")
    mine = sorted([f"o-{n}" for n in range(5)] + [f"x-{n:02d}" for n in range(24) if n % 4])
    assert [i for page in both for i in page] == mine


def test_a_search_by_patient_walks_the_patient_index(place: Workplace) -> None:
    """SQLite without statistics chose the (type, current) index for a search by patient, reading every current
    record of the type (issue 17); the patient's own index is walked instead, in id order, without sorting."""
    from sqlalchemy import event

    from santegarde.store import vault

    engine = place.service.engine
    if engine.dialect.name != "sqlite":
        pytest.skip("the plan checked is SQLite's (PostgreSQL plans on statistics)")
    statements: list[tuple[str, Any]] = []

    def keep(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    with engine.connect() as conn:
        for patients in (["p-1"], ["p-1", "p-2"]):
            event.listen(engine, "before_cursor_execute", keep)
            vault.search_ids(conn, b"k" * 32, "Observation", [], patients=patients, after="o-1", limit=21)
            vault.search_versions(conn, b"k" * 32, "Observation", [], patients=patients, after="o-1", limit=21)
            event.remove(engine, "before_cursor_execute", keep)
            for statement, parameters in (statements.pop(), statements.pop()):  # the ids, and with their versions
                plan = " / ".join(r[3] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters))
                assert "ix_record_patient_type" in plan and "ix_record_type_current" not in plan, plan


def test_refusals_name_the_parameter_and_say_what_to_do(doc: TestClient, place: Workplace) -> None:
    in_url = doc.get("/fhir/Patient?birthdate=1944", headers=PURPOSE)
    assert in_url.status_code == 400 and "birthdate identifies a person" in outcome(in_url)
    assert "application/x-www-form-urlencoded" in outcome(in_url)
    unknown = form(doc, "Observation", "family=Martin")
    assert unknown.status_code == 400 and "cannot be searched by the parameter 'family'" in outcome(unknown)
    lenient = form(doc, "Observation", "family=Martin&patient=p-1", Prefer="handling=lenient").json()
    assert len(ids(lenient)) == 5 and "family" in lenient["entry"][-1]["resource"]["issue"][0]["diagnostics"]
    for body, words in [
        ("family=M", "at least 2 letters"),
        ("birthdate=ge44", "takes a date"),
        ("_count=0", "from 1 to 100"),
        ("identifier=urn:x|", "give the value"),
        ("family:contains=ar", "modifier :contains"),
    ]:
        answer = form(doc, "Patient", body)
        assert answer.status_code == 400 and words in outcome(answer), body
    bad = doc.post("/fhir/Patient/_search", content=b"[1]", headers={**PURPOSE, "Content-Type": "application/json"})
    assert bad.status_code == 400 and "form-encoded" in outcome(bad)
    reference = doc.get("/fhir/Observation?subject=Practitioner/x", headers=PURPOSE)
    assert reference.status_code == 400 and "patient reference" in outcome(reference)
    assert doc.get("/fhir/Immunization?subject=p-1", headers=PURPOSE).status_code == 400  # no such parameter


def test_if_match_refuses_a_stale_version(doc: TestClient) -> None:
    read = doc.get("/fhir/Patient/p-3", headers=PURPOSE)
    etag = read.headers["etag"]
    first = doc.put("/fhir/Patient/p-3", json={**read.json(), "gender": "other"}, headers={**PURPOSE, "If-Match": etag})
    assert first.status_code == 200 and first.headers["etag"] == 'W/"2"'
    stale = doc.put("/fhir/Patient/p-3", json={**read.json(), "gender": "male"}, headers={**PURPOSE, "If-Match": etag})
    assert stale.status_code == 412 and "is at version 2, not 1" in outcome(stale)
    assert doc.get("/fhir/Patient/p-3", headers=PURPOSE).json()["gender"] == "other"  # no lost update
    odd = doc.put("/fhir/Patient/p-3", json=read.json(), headers={**PURPOSE, "If-Match": "yesterday"})
    assert odd.status_code == 400 and "If-Match" in outcome(odd)


def test_the_capability_statement_says_what_is_implemented(doc: TestClient) -> None:
    statement = capability_statement()
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert set(resources) == set(RESOURCES)
    paths = doc.get("/openapi.json").json()["paths"]
    routes = {(method.upper(), path) for path, methods in paths.items() for method in methods}
    route_of = {
        "read": ("GET", "/fhir/{resource_type}/{rid}"),
        "search-type": ("POST", "/fhir/{resource_type}/_search"),
        "create": ("POST", "/fhir/{resource_type}"),
        "update": ("PUT", "/fhir/{resource_type}/{rid}"),
        "history-instance": ("GET", "/fhir/{resource_type}/{rid}/_history"),
    }
    assert set(route_of) == set(INTERACTIONS)
    for kind, resource in resources.items():
        assert {i["code"] for i in resource["interaction"]} == set(INTERACTIONS)
        assert {route_of[i["code"]] for i in resource["interaction"]} <= routes
        for param in resource["searchParam"]:  # every advertised parameter is accepted…
            value = {"date": "ge2000", "reference": "Patient/x", "string": "ab", "token": "x"}[param["type"]]
            fhir_search.parse(kind, [(param["name"], value)])
        for include in resource["searchInclude"]:
            fhir_search.parse(kind, [("_include", include)])
        for include in resource["searchRevInclude"]:
            fhir_search.parse(kind, [("_revinclude", include)])
        with pytest.raises(fhir_search.SearchRefused):  # …and nothing else
            fhir_search.parse(kind, [("not-a-parameter", "x")])
    organisation = {p["name"] for p in resources["Organization"]["searchParam"]}
    assert "family" not in organisation and {"identifier", "name"} <= organisation
    assert {"patient", "subject", "code", "date"} <= {p["name"] for p in resources["Observation"]["searchParam"]}
    assert "Observation:subject" in resources["Patient"]["searchRevInclude"]
    assert resources["Patient"]["conditionalCreate"] is True  # If-None-Exist: test_conditional_create_…


def test_include_and_revinclude_take_the_read_path(doc: TestClient, place: Workplace) -> None:
    def reads() -> list[tuple[str, str]]:
        with place.audit.engine.connect() as conn:
            events = [e.content for e in place.audit.entries(conn)]
        return [(str(e["operation"]), str(e["resource_id"])) for e in events if e["outcome"] == "success"]

    before = len(reads())
    found = doc.get("/fhir/Observation?patient=p-1&_include=Observation:patient", headers=PURPOSE).json()
    assert ids(found) == [f"o-{n}" for n in range(5)]
    assert [e["resource"]["id"] for e in found["entry"] if e["search"]["mode"] == "include"] == ["p-1"]
    assert ("read", "p-1") in reads()[before:]  # the included patient is a read, traced like one
    with_records = form(doc, "Patient", "family=fict&_revinclude=Observation:subject").json()
    assert ids(with_records) == ["p-1"]
    included = [e["resource"] for e in with_records["entry"] if e["search"]["mode"] == "include"]
    assert sorted(r["id"] for r in included) == [f"o-{n}" for n in range(5)]
    # someone without a care relationship is given no included record of the patient
    other = TestClient(doc.app, base_url="https://testserver")
    other.cookies.set("sg_session", place.person("dr.autre", "practitioner", ref="10007654321"))
    alone = other.get("/fhir/Observation?patient=p-1&_include=Observation:patient", headers=PURPOSE).json()
    assert alone["entry"] == []
    for wrong in ("_include=Patient:patient", "_revinclude=Observation:code", "_include=Observation:performer"):
        answer = doc.get(f"/fhir/Observation?patient=p-1&{wrong}", headers=PURPOSE)
        assert answer.status_code == 400 and wrong.split("=")[0] in outcome(answer), wrong


def test_conditional_create_with_if_none_exist(doc: TestClient) -> None:
    def create(criteria: str, pid: str) -> Any:
        body = {k: v for k, v in patient(pid, "Nouvelle").items() if k != "identifier"}
        return doc.post("/fhir/Patient", json=body, headers={**PURPOSE, "If-None-Exist": criteria})

    known = create("identifier=180017512345660", "p-9")
    assert known.status_code == 200 and known.json()["id"] == "p-3"
    assert known.headers["location"] == "https://testserver/fhir/Patient/p-3/_history/1"
    assert doc.get("/fhir/Patient/p-9", headers=PURPOSE).status_code == 404  # nothing created
    several = create(f"identifier={INS['system']}|{INS['value']}", "p-9")
    assert several.status_code == 412 and "matches more than one Patient" in outcome(several)
    new = create("family:exact=Nouvelle", "p-9")
    assert new.status_code == 201 and new.json()["id"] == "p-9"
    assert create("not a query", "p-8").status_code == 400


def test_practitioners_by_rpps_and_organisations_by_finess_and_name(doc: TestClient, place: Workplace) -> None:
    req = Request(doc.cookies["sg_session"], "medical_record")
    rpps = {"system": RPPS_SYSTEM, "value": "10001234565"}
    place.service.create(
        req, {"resourceType": "Practitioner", "id": "pr-1", "identifier": [rpps], "name": [{"family": "Écrivain"}]}
    )
    place.service.create(req, {"resourceType": "Practitioner", "id": "pr-2", "name": [{"family": "Autre"}]})
    finess = {"system": FINESS_SYSTEM, "value": "750712184"}
    place.service.create(
        req, {"resourceType": "Organization", "id": "org-1", "identifier": [finess], "name": "Clinique Étoile"}
    )
    place.service.create(req, {"resourceType": "Organization", "id": "org-2", "name": "Centre Lumière"})
    assert ids(form(doc, "Practitioner", f"identifier={RPPS_SYSTEM}|10001234565").json()) == ["pr-1"]
    assert ids(form(doc, "Practitioner", "identifier=10001234565").json()) == ["pr-1"]
    assert ids(form(doc, "Practitioner", "family=ecri").json()) == ["pr-1"]
    refused = doc.get("/fhir/Practitioner?identifier=10001234565", headers=PURPOSE)  # a person's: never in a URL
    assert refused.status_code == 400 and "identifier" in outcome(refused)
    # an organisation's identifier and name are no person's: in the URL as well as in a body
    assert ids(doc.get(f"/fhir/Organization?identifier={FINESS_SYSTEM}|750712184", headers=PURPOSE).json()) == ["org-1"]
    assert ids(doc.get("/fhir/Organization?name=clinique", headers=PURPOSE).json()) == ["org-1"]
    assert ids(form(doc, "Organization", "name=CENTRE%20LUM").json()) == ["org-2"]
    assert ids(doc.get("/fhir/Organization?name=hopital", headers=PURPOSE).json()) == []


def test_paging_is_stable_under_writes(doc: TestClient, place: Workplace) -> None:
    """Pages are cut by record id (a keyset, not an offset): records updated, created or written before the cursor
    between two pages neither repeat nor hide the records not yet returned."""
    req = Request(doc.cookies["sg_session"], "medical_record")
    first = doc.get("/fhir/Observation?patient=p-1&_count=2", headers=PURPOSE).json()
    assert ids(first) == ["o-0", "o-1"]
    next_url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    changed = {**observation("p-1", "o-0"), "status": "amended"}  # an update of a record already returned
    place.service.update(req, "Observation", "o-0", changed)
    place.service.update(req, "Observation", "o-3", {**observation("p-1", "o-3"), "status": "amended"})
    place.service.create(req, observation("p-1", "o-00"))  # a new record before the cursor: the next search's
    place.service.create(req, observation("p-1", "o-9"))  # a new one after it: this paging's
    rest = pages(doc, next_url)
    assert [i for page in rest for i in page] == ["o-2", "o-3", "o-4", "o-9"]
    assert all(len(page) <= 2 for page in rest)
