"""POST /fhir with a transaction Bundle (issue 18): a patient and its observations in one request and one database
transaction — every entry decided, encrypted and traced as if sent alone, all stored or none, one audit batch. With a
batch Bundle: each entry stored or refused on its own, with its own status and outcome."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select, update

from santegarde.api import create_app
from santegarde.audit.tables import head
from santegarde.store import bundle
from santegarde.store.mapping import MappingError
from santegarde.store.schema import record
from store_fixtures import Workplace, make_workplace
from test_store import observation, patient

PURPOSE = {"X-Purpose": "medical_record"}


@pytest.fixture
def place(database_url: str, tmp_path: Path) -> Iterator[Workplace]:
    w = make_workplace(database_url, tmp_path)
    yield w
    w.close()


def _client(place: Workplace, login: str, profile: str, ref: str) -> TestClient:
    token = place.person(login, profile, ref=ref)
    c = TestClient(create_app(place.identity, records=place.service), base_url="https://testserver")
    c.cookies.set("sg_session", token)
    return c


@pytest.fixture
def doc(place: Workplace) -> TestClient:
    return _client(place, "dr.martin", "practitioner", "10001234567")


def _post(resource: dict[str, Any], full_url: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"resource": resource, "request": {"method": "POST", "url": resource["resourceType"]}}
    return {**entry, "fullUrl": full_url} if full_url else entry


def _unit(pid: str = "p-1", observations: int = 3) -> dict[str, Any]:
    """A new patient (its id a urn:uuid of the Bundle) and its observations referring to it by that urn."""
    new_patient = {k: v for k, v in patient(pid).items() if k != "id"}
    obs = [{**observation(oid=f"{pid}-o-{k}"), "subject": {"reference": "urn:uuid:patient-a"}} for k in range(3)]
    entries = [_post(new_patient, "urn:uuid:patient-a"), *(_post(o) for o in obs[:observations])]
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _stored(place: Workplace) -> int:
    with place.service.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(record)).scalar_one())


def _trail(place: Workplace) -> list[dict[str, Any]]:
    with place.audit.engine.connect() as conn:
        return [dict(e.content) for e in place.audit.entries(conn)]


def test_a_patient_and_its_observations_in_one_transaction(doc: TestClient, place: Workplace) -> None:
    place.audit.initialise()  # the trail's own first entry, before what is counted
    sent: list[str] = []
    event.listen(place.audit.engine, "before_cursor_execute", lambda *a: sent.append(" ".join(a[2].split()[:3])))
    answer = doc.post("/fhir", json=_unit(), headers=PURPOSE)
    during = list(sent)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["type"] == "transaction-response" and len(body["entry"]) == 4
    assert [e["response"]["status"] for e in body["entry"]] == ["201 Created"] * 4
    pid = body["entry"][0]["resource"]["id"]
    assert body["entry"][0]["response"]["location"] == f"Patient/{pid}/_history/1"
    read = doc.get("/fhir/Observation/p-1-o-2", headers=PURPOSE).json()
    assert read["subject"] == {"reference": f"Patient/{pid}"}  # the urn resolved to the id the patient took
    assert during == ["UPDATE audit_head SET", "INSERT INTO audit_entry"]  # the four creates appended together
    creates = [c for c in _trail(place) if c["operation"] == "create"]
    assert [c["outcome"] for c in creates] == ["success"] * 4 and {c["patient"] for c in creates} == {pid}
    assert place.audit.verify().intact


def test_one_refused_entry_stores_nothing_and_the_trail_says_so(doc: TestClient, place: Workplace) -> None:
    unit = _unit()
    unit["entry"].append(
        {"resource": observation(oid="nowhere"), "request": {"method": "PUT", "url": "Observation/nowhere"}}
    )
    before = _stored(place)
    answer = doc.post("/fhir", json=unit, headers=PURPOSE)
    assert answer.status_code == 404
    said = answer.json()["issue"][0]["diagnostics"]
    assert said.startswith("Entrée 5 de la transaction (Observation/nowhere), rien n'a été enregistré : Aucune"), said
    english = doc.post("/fhir", json=unit, headers={**PURPOSE, "Accept-Language": "en"}).json()
    assert english["issue"][0]["diagnostics"].startswith("Entry 5 of the transaction (Observation/nowhere)")
    assert _stored(place) == before  # the patient and three observations rolled back with it
    traced = _trail(place)[-5:]
    assert [c["outcome"] for c in traced] == ["rolled_back"] * 4 + ["not_found"]
    assert place.audit.verify().intact


def test_a_policy_refusal_inside_the_transaction_rolls_back_the_rest(place: Workplace) -> None:
    """A secretary may create a patient's directory entry but not an observation: the whole Bundle is refused."""
    desk = _client(place, "accueil", "secretariat", "S-2")
    answer = desk.post("/fhir", json=_unit(), headers=PURPOSE)
    assert answer.status_code == 403, answer.text
    assert _stored(place) == 0
    assert any(c["outcome"] == "denied" and c["actor"] == "accueil" for c in _trail(place))


def test_a_transaction_on_a_tampered_trail_stores_nothing(doc: TestClient, place: Workplace) -> None:
    place.audit.initialise()  # a trail in use (a never-used head has no seal to remove)
    with place.audit.engine.begin() as conn:
        conn.execute(update(head).values(seal=None))
    answer = doc.post("/fhir", json=_unit(), headers=PURPOSE)
    assert answer.status_code >= 400
    assert _stored(place) == 0  # no record committed whose access the trail refused to record


def test_a_stale_if_match_inside_the_transaction_refuses_it_all(doc: TestClient, place: Workplace) -> None:
    first = doc.post("/fhir", json=_unit(observations=1), headers=PURPOSE).json()
    stored = first["entry"][1]["resource"]
    doc.put(f"/fhir/Observation/{stored['id']}", json={**stored, "status": "amended"}, headers=PURPOSE)
    before = _stored(place)
    again = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            _post(observation(pid=stored["subject"]["reference"].split("/")[1], oid="late")),
            {
                "resource": {**stored, "status": "cancelled"},
                "request": {"method": "PUT", "url": f"Observation/{stored['id']}", "ifMatch": 'W/"1"'},
            },
        ],
    }
    answer = doc.post("/fhir", json=again, headers=PURPOSE)
    assert answer.status_code in (409, 412), answer.text
    assert _stored(place) == before


def _tx(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


DELETE = {"resource": patient(), "request": {"method": "DELETE", "url": "Patient/p-1"}}
DANGLING = _post({**observation(), "subject": {"reference": "urn:uuid:nobody"}})
MISPLACED = {"resource": patient(), "request": {"method": "PUT", "url": "Patient/other"}}


UNSUPPORTED = {"resource": patient(), "request": {"url": "Patient"}}
NOT_AN_ENTRY = "Patient/p-1"
NO_REQUEST = {"resource": patient()}
WRONG_CREATE_URL = {"resource": patient(), "request": {"method": "POST", "url": "Observation"}}


@pytest.mark.parametrize(
    ("bundle_body", "french", "english"),
    [
        (
            {"resourceType": "Bundle", "type": "collection", "entry": []},
            "POST /fhir reçoit un Bundle de type « transaction »",
            "of type 'transaction'",
        ),
        (
            {"resourceType": "Patient"},
            "celui-ci est un Patient de type « (aucun) »",
            "this is a Patient of type '(none)'",
        ),
        (
            {"resourceType": "Bundle", "type": "batch", "entry": []},
            "Le Bundle « batch » n'a aucune entrée",
            "The batch Bundle has no entry",
        ),
        (_tx(), "n'a aucune entrée", "has no entry"),
        (
            _tx(*([NOT_AN_ENTRY] * (bundle.MAX_ENTRIES + 1))),
            "plus que 1000 : découpez-le",
            "more than 1000: split it",
        ),
        (_tx(NOT_AN_ENTRY), "L'entrée 1 du Bundle « transaction » n'est pas un objet", "is not an object"),
        (
            _tx({"request": {"method": "GET", "url": "x"}}),
            "L'entrée 1 du Bundle « transaction » n'a pas de ressource",
            "Entry 1 of the transaction Bundle has no resource",
        ),
        (_tx(NO_REQUEST), "L'entrée 1 n'a pas de requête", "Entry 1 has no request"),
        (_tx(DELETE), "La méthode de l'entrée 1 est DELETE", "asks for DELETE"),
        (_tx(UNSUPPORTED), "La méthode de l'entrée 1 est absente", "asks for no method"),
        (_tx(WRONG_CREATE_URL), "l'url d'une création est son type, « Patient »", "the url of a create is its type"),
        (
            _tx(DANGLING),
            "renvoie à urn:uuid:nobody, qui n'est aucune entrée",
            "refers to urn:uuid:nobody, which is no entry",
        ),
        (
            _tx(_post(patient("a"), "urn:uuid:x"), _post(patient("b"), "urn:uuid:x")),
            "reprend le fullUrl urn:uuid:x",
            "repeats the fullUrl",
        ),
        (_tx(MISPLACED), "« Patient/<son identifiant> »", "the url of an update is 'Patient/<its id>'"),
        (
            _tx({**_post(patient()), "request": {"method": "PUT", "url": "Patient/p-1", "ifMatch": "three"}}),
            "La version que demande l'ifMatch de l'entrée 1 s'écrit comme un ETag",
            "The version the ifMatch of entry 1 asks for is written as an ETag",
        ),
    ],
)
def test_malformed_bundles_are_refused_with_a_sentence_before_anything_is_written(
    doc: TestClient, place: Workplace, bundle_body: dict[str, Any], french: str, english: str
) -> None:
    """In French by default, in English with Accept-Language: en; the sentences come from the catalogue."""
    with pytest.raises(bundle.BundleRefused) as refused:
        bundle.writes(bundle_body) if bundle_body.get("type") != "batch" else bundle.batch(bundle_body)
    assert french in str(refused.value) and english in refused.value.in_language("en")
    assert isinstance(refused.value, MappingError)  # answered 400 as any resource that cannot be stored
    answer = doc.post("/fhir", json=bundle_body, headers=PURPOSE)
    assert answer.status_code == 400 and french in answer.json()["issue"][0]["diagnostics"], answer.text
    answer = doc.post("/fhir", json=bundle_body, headers={**PURPOSE, "Accept-Language": "en"})
    assert answer.status_code == 400 and english in answer.json()["issue"][0]["diagnostics"], answer.text
    assert _stored(place) == 0


def test_the_if_match_header_is_named_as_such_when_it_is_no_etag(doc: TestClient) -> None:
    doc.post("/fhir", json=_tx(_post(patient("p-1"))), headers=PURPOSE)
    sent = {**patient("p-1"), "active": False}
    answer = doc.put("/fhir/Patient/p-1", json=sent, headers={**PURPOSE, "If-Match": "three"})
    assert answer.status_code == 400
    assert "La version que demande l'en-tête If-Match s'écrit comme un ETag" in answer.json()["issue"][0]["diagnostics"]
    english = doc.put("/fhir/Patient/p-1", json=sent, headers={**PURPOSE, "If-Match": "three", "Accept-Language": "en"})
    assert "The version the If-Match header asks for is written as an ETag" in english.json()["issue"][0]["diagnostics"]


def test_a_transaction_without_purpose_is_refused_and_traced(doc: TestClient, place: Workplace) -> None:
    answer = doc.post("/fhir", json=_unit())
    assert answer.status_code == 400 and "X-Purpose" in answer.text
    assert _trail(place)[-1]["operation"] == "transaction" and _trail(place)[-1]["rule"] == "purpose.missing"
    assert _stored(place) == 0


def test_the_capability_statement_announces_transactions_and_batches() -> None:
    from santegarde.api.fhir import capability_statement

    interactions = capability_statement()["rest"][0]["interaction"]
    assert {"code": "transaction"} in interactions and {"code": "batch"} in interactions


# -- batch: each entry on its own ----------------------------------------------------------------------------


def _batch(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "batch", "entry": list(entries)}


def _put(resource: dict[str, Any], if_match: str | None = None) -> dict[str, Any]:
    request = {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}
    return {"resource": resource, "request": {**request, "ifMatch": if_match} if if_match else request}


def _statuses(answer: Any) -> list[str]:
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["type"] == "batch-response"
    return [e["response"]["status"] for e in body["entry"]]


def test_a_batch_stores_each_entry_on_its_own_and_refuses_the_others_one_by_one(
    doc: TestClient, place: Workplace
) -> None:
    doc.post("/fhir", json=_tx(_post(patient("p-1"))), headers=PURPOSE)
    first = doc.post("/fhir", json=_tx(_post(observation(oid="o-old"))), headers=PURPOSE).json()["entry"][0]
    doc.put("/fhir/Observation/o-old", json={**first["resource"], "status": "amended"}, headers=PURPOSE)
    before = _stored(place)
    sent = _batch(
        _post(patient("p-2")),  # stored
        _post(observation(oid="o-new")),  # stored
        _put(observation(oid="nowhere")),  # no such record: 404
        _put({**first["resource"], "status": "cancelled"}, 'W/"1"'),  # stale version: 412
        _put({**observation(oid="o-new-2")}, "three"),  # an ifMatch that is no ETag: 400
        _post({**observation(oid="linked"), "subject": {"reference": "urn:uuid:patient-a"}}),  # depends on another
        DELETE,  # a method a batch does not do here
        {"request": {"method": "POST", "url": "Patient"}},  # no resource
    )
    answer = doc.post("/fhir", json=sent, headers=PURPOSE)
    statuses = _statuses(answer)
    assert statuses == [
        "201 Created", "201 Created", "404 Not Found", "412 Precondition Failed", "400 Bad Request",
        "400 Bad Request", "400 Bad Request", "400 Bad Request",
    ]  # fmt: skip
    entries = answer.json()["entry"]
    assert entries[0]["response"]["location"] == "Patient/p-2/_history/1" and entries[0]["resource"]["id"] == "p-2"
    said = [e["response"]["outcome"]["issue"][0]["diagnostics"] for e in entries[2:]]
    assert said[0].startswith("Aucun"), said[0]  # in French by default
    assert "not 1 as If-Match says" in said[1]
    assert "La version que demande l'ifMatch de l'entrée 5 s'écrit comme un ETag" in said[2]
    assert "les entrées d'un « batch » sont indépendantes" in said[3]
    assert "La méthode de l'entrée 7 est DELETE" in said[4]
    assert "L'entrée 8 du Bundle « batch » n'a pas de ressource" in said[5]
    assert all("resource" not in e for e in entries[2:])  # a refused entry discloses nothing
    assert _stored(place) == before + 2  # the two good entries, whatever the others did
    assert doc.get("/fhir/Observation/o-old", headers=PURPOSE).json()["status"] == "amended"
    traced = [(c["resource_id"], c["outcome"]) for c in _trail(place) if c["operation"] in ("create", "update")]
    assert ("p-2", "success") in traced and ("o-new", "success") in traced
    assert ("nowhere", "not_found") in traced and ("o-old", "denied") in traced
    assert all(rid not in ("linked", "o-new-2") for rid, _ in traced)  # refused before reaching anything
    assert place.audit.verify().intact
    english = doc.post(
        "/fhir", json=_batch(_put(observation(oid="nowhere"))), headers={**PURPOSE, "Accept-Language": "en"}
    )
    assert english.json()["entry"][0]["response"]["outcome"]["issue"][0]["diagnostics"].startswith("There is no ")
    english = doc.post("/fhir", json=_batch(DELETE), headers={**PURPOSE, "Accept-Language": "en"})
    assert (
        "Entry 1 asks for DELETE: a batch here creates"
        in english.json()["entry"][0]["response"]["outcome"]["issue"][0]["diagnostics"]
    )


def test_a_policy_refusal_in_a_batch_refuses_that_entry_only(place: Workplace) -> None:
    """For appointments, a secretary may create a patient's directory entry but not an observation: the patient is
    stored, the observation refused (where a transaction refuses both)."""
    desk = _client(place, "accueil", "secretariat", "S-2")
    directory = {k: v for k, v in patient("p-9").items() if k != "identifier"}
    sent = _batch(_post(directory), _post(observation(pid="p-9", oid="o-9")))
    appointments = {"X-Purpose": "appointments"}
    assert _statuses(desk.post("/fhir", json=sent, headers=appointments)) == ["201 Created", "403 Forbidden"]
    with place.service.engine.connect() as conn:
        assert sorted(conn.execute(select(record.c.id)).scalars()) == ["p-9"]
    assert any(c["outcome"] == "denied" and c["resource_id"] == "o-9" for c in _trail(place))
    other = {**directory, "id": "p-10"}
    together = _tx(_post(other), _post(observation(pid="p-10", oid="o-10")))
    assert desk.post("/fhir", json=together, headers=appointments).status_code == 403  # as a transaction: all refused
    with place.service.engine.connect() as conn:
        assert sorted(conn.execute(select(record.c.id)).scalars()) == ["p-9"]


def test_a_batch_cannot_reach_another_patients_record_through_an_update(place: Workplace, doc: TestClient) -> None:
    doc.post("/fhir", json=_tx(_post(patient("p-1")), _post(observation(oid="o-1"))), headers=PURPOSE)
    other = _client(place, "dr.durand", "practitioner", "10009876543")  # no care relationship with p-1
    sent = _batch(_put({**observation(oid="o-1"), "status": "cancelled"}), _post(patient("p-3")))
    statuses = _statuses(other.post("/fhir", json=sent, headers=PURPOSE))
    assert statuses[0].startswith("403") and statuses[1] == "201 Created"
    assert doc.get("/fhir/Observation/o-1", headers=PURPOSE).json()["status"] == "final"


def test_a_batch_on_a_tampered_trail_stores_nothing(doc: TestClient, place: Workplace) -> None:
    place.audit.initialise()
    with place.audit.engine.begin() as conn:
        conn.execute(update(head).values(seal=None))
    answer = doc.post("/fhir", json=_batch(_post(patient("p-5")), _post(patient("p-6"))), headers=PURPOSE)
    assert answer.status_code >= 400 or all(not s.startswith("2") for s in _statuses(answer))
    assert _stored(place) == 0  # no record committed whose access the trail refused to record


def test_a_batch_without_purpose_or_session_is_refused_whole(doc: TestClient, place: Workplace) -> None:
    sent = _batch(_post(patient("p-7")))
    assert doc.post("/fhir", json=sent).status_code == 400
    anonymous = TestClient(create_app(place.identity, records=place.service), base_url="https://testserver")
    assert anonymous.post("/fhir", json=sent, headers=PURPOSE).status_code == 401
    assert _stored(place) == 0
