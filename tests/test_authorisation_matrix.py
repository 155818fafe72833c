"""The authorisation matrix: every référentiel × profile × purpose × resource × operation, through HTTP.

For every référentiel an organisation gets a record store for (``santegarde init --profile`` practice,
pharmacy, compassionate, warehouse: one final text each), one app on one real database serves the
whole matrix. Every profile of the text gets a person (granted, charter accepted, TOTP enrolled,
logged in through the FHIR API's cookie), and the person reads, searches, reads the history of,
creates and updates one resource of each kind the store carries (the Patient alone and with its INS,
NIR or family status; appointments with and without a health reason; every clinical resource; the
consent; the directory), under every purpose of the text, then executes a data-subject access
request through the /rights API. Each outcome is compared with what the text allows, decided by
tests/authorisation_oracle.py from the référentiel's tables (never through santegarde.policy), down
to the elements returned. The same profiles with a password-only session, and the attacks on the
care relationship and on the patient references, close the file. The table is printed at the end of
the run (tests/conftest.py).
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import authorisation_oracle as oracle
from identity_fixtures import NEW_PASSWORD
from santegarde.api import create_app
from santegarde.config.model import Formality
from santegarde.errors import SantegardeError
from santegarde.referentials import loader
from santegarde.referentials.model import Operation, OrganisationProfile, Referential, Right
from santegarde.rights.execute import RightsService
from santegarde.store import retention
from santegarde.store.db import migrate
from santegarde.store.service import AccessDenied
from santegarde.store.service import Request as RecordRequest
from santegarde.synthetic import people
from santegarde.synthetic.context import Context
from store_fixtures import Workplace, make_workplace

# The final text of each kind of organisation `santegarde init --profile` sets up: each gets the record store.
REFERENTIALS = [loader.for_profile(p.value).id for p in OrganisationProfile]
FORMALITY = "MR-004 declaration 2026-0042 (fictitious)"
# Every request states a written reason: the profiles that reach the data only ad hoc (aac §8.2 audit) need one.
AD_HOC_REASON = "matrix check of the access rules (fictitious audit mission)"
Body = dict[str, Any]

_synthetic = Context(2026)
_person, _ = people.make_patient(_synthetic)
PERSON: Body = _person.model_dump(mode="json", exclude_none=True)
INS, NIR = PERSON["identifier"][0], PERSON["identifier"][1]
assert INS["type"]["coding"][0]["code"].startswith("INS") and NIR["type"]["coding"][0]["code"] == "NH"


def _patient(rid: str, family: str, extra: Body) -> Body:
    body = {
        "resourceType": "Patient",
        "id": rid,
        "name": [{"family": family, "given": PERSON["name"][0]["given"]}],
        "gender": PERSON["gender"],
        "birthDate": PERSON["birthDate"],
        "telecom": PERSON["telecom"],
        "address": PERSON["address"],
        # the establishment whose staff collect for the patient (aac-2022-106 §8.1: a staff member reaches only the
        # patients of the establishment its grant names, "h1" in tests/store_fixtures.py)
        "managingOrganization": {"reference": "Organization/h1"},
    }
    return {**body, **extra}


def _coded(system: str, code: str) -> Body:
    return {"coding": [{"system": system, "code": code}]}


SNOMED, LOINC = "http://snomed.info/sct", "http://loinc.org"
MEDICINE = _coded("http://www.whocc.no/atc", "N02BE01")


def _clinical(resource_type: str, rid: str, patient: str) -> Body:
    subject = {"reference": f"Patient/{patient}"}
    bodies: dict[str, Body] = {
        "Appointment": {
            "status": "booked",
            "start": "2026-12-01T09:00:00+01:00",
            "end": "2026-12-01T09:20:00+01:00",
            "participant": [{"actor": subject, "status": "accepted"}],
        },
        "Encounter": {
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "type": [_coded(SNOMED, "11429006")],
            "subject": subject,
            "period": {"start": "2026-11-20T09:00:00+01:00", "end": "2026-11-20T09:20:00+01:00"},
            "reasonCode": [_coded(SNOMED, "25064002")],
            "diagnosis": [{"condition": {"reference": "Condition/any"}}],
        },
        "Observation": {
            "status": "final",
            "code": _coded(LOINC, "29463-7"),
            "subject": subject,
            "valueQuantity": {"value": 61.5, "unit": "kg"},
        },
        "Condition": {
            "clinicalStatus": _coded("http://terminology.hl7.org/CodeSystem/condition-clinical", "active"),
            "code": _coded("http://hl7.org/fhir/sid/icd-10", "E11"),
            "subject": subject,
        },
        "MedicationRequest": {
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": MEDICINE,
            "subject": subject,
        },
        "MedicationDispense": {"status": "completed", "medicationCodeableConcept": MEDICINE, "subject": subject},
        "Immunization": {
            "status": "completed",
            "vaccineCode": _coded("http://hl7.org/fhir/sid/cvx", "88"),
            "patient": subject,
            "occurrenceDateTime": "2026-10-15",
        },
        "DocumentReference": {
            "status": "current",
            "type": _coded(LOINC, "11488-4"),
            "subject": subject,
            "content": [{"attachment": {"contentType": "application/pdf", "url": "Binary/letter-1"}}],
        },
        "Communication": {"status": "completed", "category": [_coded(SNOMED, "312852007")], "subject": subject},
        "Consent": {
            "status": "active",
            "scope": _coded("http://terminology.hl7.org/CodeSystem/consentscope", "patient-privacy"),
            "category": [_coded(LOINC, "59284-0")],
            "patient": subject,
            "policyRule": _coded("http://terminology.hl7.org/CodeSystem/v3-ActCode", "OPTIN"),
        },
    }
    return {"resourceType": resource_type, "id": rid, **bodies[resource_type]}


def _practitioner(rid: str, family: str) -> Body:
    return {
        "resourceType": "Practitioner",
        "id": rid,
        "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.1", "value": "810000000009"}],
        "name": [{"family": family, "given": ["Camille"]}],
    }


def _by_type(resource_type: str, rid: str, _: str, patient: str) -> Body:
    return _clinical(resource_type, rid, patient)


MARITAL = {"maritalStatus": _coded("http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "M")}
REASON = {"reasonCode": [_coded(SNOMED, "25064002")]}
# Each resource as the store carries it, alone or with the element that brings another category kind.
VARIANTS: dict[str, Callable[[str, str, str], Body]] = {
    "Patient": lambda rid, fam, _: _patient(rid, fam, {}),
    "Patient+INS": lambda rid, fam, _: _patient(rid, fam, {"identifier": [INS]}),
    "Patient+NIR": lambda rid, fam, _: _patient(rid, fam, {"identifier": [NIR]}),
    "Patient+family": lambda rid, fam, _: _patient(rid, fam, MARITAL),
    "Appointment": lambda rid, _, pat: _clinical("Appointment", rid, pat),
    "Appointment+reason": lambda rid, _, pat: {**_clinical("Appointment", rid, pat), **REASON},
    **{
        t: functools.partial(_by_type, t)
        for t in (
            "Encounter",
            "Observation",
            "Condition",
            "MedicationRequest",
            "MedicationDispense",
            "Immunization",
            "DocumentReference",
            "Communication",
            "Consent",
        )
    },
    "Practitioner": lambda rid, fam, _: _practitioner(rid, fam),
}
SEARCHABLE = {"Patient", "Practitioner"}


def slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower())


def fhir_id(*parts: str) -> str:
    """A readable id within FHIR's 64 characters: the slugs, cut and made unique by a short digest if too long."""
    whole = "-".join(slug(p) for p in parts)
    return whole if len(whole) <= 64 else f"{whole[:51]}-{hashlib.sha256(whole.encode()).hexdigest()[:12]}"


def family_of(variant: str) -> str:
    return f"{PERSON['name'][0]['family']}-{slug(variant)}"


def visible_tokens(body: Body) -> frozenset[str]:
    return frozenset(oracle.tokens(body))


def redacted(body: Body) -> bool:
    return any(s.get("code") == "REDACTED" for s in body.get("meta", {}).get("security", []))


@dataclass
class Seed:
    body: Body
    stored: dict[str, str]
    profile: str
    purpose: str


@dataclass
class World:
    ref: Referential
    place: Workplace
    directory: Path
    app: Any = None
    clients: dict[str, TestClient] = field(default_factory=dict)
    opened: list[TestClient] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)
    archived: dict[str, Seed] | None = None
    seeds: dict[str, Seed | None] = field(default_factory=dict)
    patient: str = "seed-patient"
    patients: list[str] = field(default_factory=list)  # the seeded patients and the patients each profile updates

    def client(self, token: str | None) -> TestClient:
        c = TestClient(self.app, base_url="https://testserver")
        c.__enter__()  # one event loop for all the client's requests (not one per request)
        self.opened.append(c)
        if token:
            c.cookies.set("sg_session", token)
        return c

    def headers(self, purpose: str) -> dict[str, str]:
        found = self.ref.purpose(purpose)
        formality = {"X-Formality": FORMALITY} if found and found.requires_formality else {}
        return {"X-Purpose": purpose, "X-Access-Reason": AD_HOC_REASON, **formality}

    def login(self, profile: str) -> str:
        """A login that owes nothing to the profile's name (a password must not contain the login's parts)."""
        return f"m.p{[a.id for a in self.ref.accessors].index(profile):02d}"


def _seed_choice(ref: Referential, body: Body) -> tuple[str, str, oracle.Expected] | None:
    """The first purpose (formalities last) and profile under which the text lets the record be written."""
    purposes = sorted(ref.purposes, key=lambda p: p.requires_formality)
    for purpose in purposes:
        for accessor in ref.accessors:
            expected = oracle.expect_write(ref, accessor.id, purpose.id, body)
            if expected.allowed:
                return accessor.id, purpose.id, expected
    return None


def _populate(ref_id: str, directory: Path) -> World:
    place = make_workplace(f"sqlite:///{directory / 'records.db'}", directory, ref_id)
    migrate(place.service.engine, package="santegarde.rights")
    ref = place.identity.referential
    # The organisation recorded its research formality (santegarde.yaml, formalities): requests name it.
    needing = [p.id for p in ref.purposes if p.requires_formality]
    if needing:
        recorded = Formality(
            reference=FORMALITY, kind="reference_methodology", purposes=needing, granted=date(2026, 1, 1)
        )
        place.service.formalities = (recorded,)
    bases = {p.id: p.legal_bases[0].art6 for p in ref.purposes if p.legal_bases}
    rights = RightsService(place.service, bases=bases, organisation="Cabinet fictif", audit=place.audit)
    world = World(ref, place, directory)
    world.app = create_app(place.identity, records=place.service, rights=rights)
    for i, accessor in enumerate(ref.accessors):
        until = place.clock.now + timedelta(days=min(60, accessor.max_grant_days or 60))
        grant: dict[str, object] = {"ends_at": until} if accessor.time_limited else {}
        if accessor.time_limited and ref.organisation_profile is OrganisationProfile.WAREHOUSE:
            grant["project"] = "matrix-project"
        token = place.person(world.login(accessor.id), accessor.id, ref=f"1000000{i:04d}", **grant)
        world.clients[accessor.id] = world.client(token)
        world.tokens[accessor.id] = token
    # The records every profile reads: each written by the first profile the text lets write it.
    for variant, build in VARIANTS.items():
        rid = world.patient if variant == "Patient" else f"seed-{slug(variant)}"
        body = build(rid, family_of(variant), world.patient)
        choice = _seed_choice(ref, body)
        if choice is None:
            world.seeds[variant] = None
            continue
        profile, purpose, expected = choice
        answer = world.clients[profile].post(f"/fhir/{body['resourceType']}", json=body, headers=world.headers(purpose))
        world.seeds[variant] = Seed(body, expected.stored, profile, purpose) if answer.status_code == 201 else None
        oracle.record(
            (ref.id, profile, f"(seed) {purpose}", variant),
            "create",
            oracle.Cell("ok", "ok" if answer.status_code == 201 else _status(answer), _why(answer)),
        )
        # the record each profile updates, written the same way
        target = build(f"upd-{slug(variant)}", f"{family_of(variant)}-upd", world.patient)
        made = world.clients[profile].post(
            f"/fhir/{target['resourceType']}", json=target, headers=world.headers(purpose)
        )
        assert made.status_code == 201 or answer.status_code != 201, made.text
        if body["resourceType"] == "Patient" and answer.status_code == 201:
            world.patients += [str(body["id"]), str(target["id"])]
    # Profiles that need a care relationship take every seeded patient in care.
    for accessor in ref.accessors:
        if accessor.care_relationship:
            for pid in world.patients:
                care = world.clients[accessor.id].post(
                    f"/fhir/Patient/{pid}/$declare-care",
                    json={"basis": "consultation", "note": "matrix: patient followed"},
                    headers=world.headers(ref.purposes[0].id),
                )
                assert care.status_code == 200, care.text
    return world


def _status(answer: Any) -> str:
    """A refusal: unauthenticated, forbidden, or a body refused with a sentence (e.g. a record naming no patient)."""
    return "no" if answer.status_code in (400, 401, 403) else f"err{answer.status_code}"


def _why(answer: Any) -> str:
    if answer.status_code < 300:
        return ""
    try:
        body = answer.json()
    except ValueError:
        return answer.text[:160]
    if body.get("resourceType") == "OperationOutcome":
        return str(body["issue"][0]["diagnostics"])[:160]
    return str(body.get("message", body))[:160]


@pytest.fixture(scope="module")
def worlds() -> Iterator[dict[str, World]]:
    built: dict[str, World] = {}
    yield built
    for world in built.values():
        for c in world.opened:
            c.__exit__(None, None, None)
        world.place.close()
        shutil.rmtree(world.directory, ignore_errors=True)


def world_for(worlds: dict[str, World], ref_id: str) -> World:
    if ref_id not in worlds:
        worlds[ref_id] = _build(ref_id)
    return worlds[ref_id]


def _build(ref_id: str) -> World:
    """The référentiel's organisation, its people and its seeded records; nothing left behind if that fails."""
    shm = Path("/dev/shm")
    directory = Path(
        tempfile.mkdtemp(prefix="sg-matrix-", dir=shm if shm.is_dir() and os.access(shm, os.W_OK) else None)
    )
    try:
        return _populate(ref_id, directory)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise


# -- one profile's part of the matrix ---------------------------------------------------------------------------


def _read_cell(
    world: World, client: TestClient, profile: str, seed: Seed, purpose: str, op: str, two_factors: bool
) -> oracle.Cell:
    ref, body = world.ref, seed.body
    resource_type = str(body["resourceType"])
    expected_tokens = oracle.expect_read(ref, profile, purpose, resource_type, seed.stored, two_factors=two_factors)
    expected = oracle.label(expected_tokens, seed.stored)
    headers = world.headers(purpose)
    if op == "read":
        answer = client.get(f"/fhir/{resource_type}/{body['id']}", headers=headers)
        got = answer.json() if answer.status_code == 200 else None
    elif op == "history":
        answer = client.get(f"/fhir/{resource_type}/{body['id']}/_history", headers=headers)
        got = answer.json()["entry"][0]["resource"] if answer.status_code == 200 else None
    else:
        family = body["name"][0]["family"]
        answer = client.post(f"/fhir/{resource_type}/_search", json={"family": family}, headers=headers)
        found = [e["resource"] for e in answer.json().get("entry", [])] if answer.status_code == 200 else []
        got = next((r for r in found if r["id"] == body["id"]), None)
        if answer.status_code == 200 and got is None:
            return oracle.Cell(expected, "no")
    if got is None:
        return oracle.Cell(expected, _status(answer), _why(answer))
    seen = visible_tokens(got)
    actual = oracle.label(seen, seed.stored) if seen <= frozenset(seed.stored) else "ok+"
    if actual == "part" and not redacted(got):
        actual = "part(no REDACTED tag)"
    if actual == expected and expected != "no" and seen != expected_tokens:
        actual = f"{actual}*"
    detail = "" if seen == expected_tokens else f"saw {sorted(seen)}, text allows {sorted(expected_tokens)}"
    return oracle.Cell(expected, actual, detail)


def _write_cell(
    world: World, client: TestClient, profile: str, body: Body, purpose: str, op: str, two_factors: bool
) -> oracle.Cell:
    expected = oracle.expect_write(world.ref, profile, purpose, body, two_factors=two_factors)
    headers = world.headers(purpose)
    path = f"/fhir/{body['resourceType']}"
    answer = (
        client.post(path, json=body, headers=headers)
        if op == "create"
        else client.put(f"{path}/{body['id']}", json=body, headers=headers)
    )
    actual = "ok" if answer.status_code in (200, 201) else _status(answer)
    return oracle.Cell("ok" if expected.allowed else "no", actual, expected.why if actual != "ok" else _why(answer))


def _row_cells(
    world: World, profile: str, client: TestClient, purpose: str, label: str, variants: list[str], *, two_factors: bool
) -> None:
    for variant in variants:
        build = VARIANTS[variant]
        row = (world.ref.id, profile, label, variant)
        seed = world.seeds[variant]
        for op in ("read", "search", "history"):
            if seed is None or (op == "search" and seed.body["resourceType"] not in SEARCHABLE):
                continue
            if op == "history" and variants is REFUSED_PURPOSE_VARIANTS and variant != "Observation":
                continue  # a purpose refused for every datum: the history of one record shows it
            oracle.record(row, op, _read_cell(world, client, profile, seed, purpose, op, two_factors))
        created = build(fhir_id("c", profile, label, variant), "Creation-matrice", world.patient)
        oracle.record(row, "create", _write_cell(world, client, profile, created, purpose, "create", two_factors))
        updated = build(f"upd-{slug(variant)}", f"{family_of(variant)}-upd", world.patient)
        oracle.record(row, "update", _write_cell(world, client, profile, updated, purpose, "update", two_factors))


def _rights_cells(world: World, profile: str, client: TestClient) -> None:
    """A data-subject access request for the seeded patient, executed through /rights by this profile."""
    ref = world.ref
    seed_purpose = next((s.purpose for v, s in world.seeds.items() if v == "Patient" and s), ref.purposes[0].id)
    purpose = "rights_management" if ref.purpose("rights_management") else seed_purpose
    headers = world.headers(purpose)
    created = client.post(
        "/rights/requests",
        json={"right": "access", "patient_id": world.patient, "requester": "person"},
        headers=headers,
    )
    row_label = f"rights: access ({purpose})"
    returned: dict[str, Body] = {}
    status = _status(created)
    if created.status_code == 201:
        rid = created.json()["id"]
        checked = client.post(f"/rights/requests/{rid}/identity-check", json={"how": "identity card"}, headers=headers)
        assert checked.status_code == 200, checked.text
        answer = client.post(f"/rights/requests/{rid}/execute", json={}, headers=headers)
        status = "no"
        if answer.status_code == 200 and answer.json()["executed"]:
            bundle = answer.json()["bundle"] or {"entry": []}
            returned = {e["resource"]["id"]: e["resource"] for e in bundle["entry"]}
        elif answer.status_code not in (401, 403, 200):
            status = f"err{answer.status_code}"
    applies = _access_right_applies(ref)
    for variant, seed in world.seeds.items():
        if seed is None or (variant != "Patient" and oracle.is_directory(str(seed.body["resourceType"]))):
            continue
        if not (variant == "Patient" or seed.body.get("id", "").startswith("seed-")):
            continue
        if variant.startswith("Patient") and variant != "Patient":
            continue  # other patients: not this request's
        expected_tokens = frozenset()
        if applies:
            rt = str(seed.body["resourceType"])
            expected_tokens = oracle.expect_read(ref, profile, seed.purpose, rt, seed.stored) | oracle.expect_read(
                ref, profile, purpose, rt, seed.stored
            )
        expected = oracle.label(expected_tokens, seed.stored)
        got = returned.get(str(seed.body["id"]))
        if got is None:
            actual = status
        else:
            seen = visible_tokens(got)
            actual = oracle.label(seen, seed.stored)
            if actual == expected and seen != expected_tokens:
                actual += "*"
        oracle.record((ref.id, profile, row_label, variant), "rights", oracle.Cell(expected, actual))


def _access_right_applies(ref: Referential) -> bool:
    rules = [r for r in ref.rights if r.right is Right.ACCESS]
    return any(r.applies and not r.purposes for r in rules)


PLAIN_HEALTH = [
    "Observation",
    "Condition",
    "MedicationRequest",
    "MedicationDispense",
    "Immunization",
    "DocumentReference",
    "Communication",
]
REFUSED_PURPOSE_VARIANTS = ["Patient", "Observation", "Practitioner"]
PASSWORD_ONLY_VARIANTS = [
    "Patient",
    "Patient+INS",
    "Appointment",
    "Encounter",
    "Observation",
    "Consent",
    "Practitioner",
]


def variants_for(world: World, profile: str, purpose_index: int) -> list[str]:
    """The resources one profile × purpose block drives. Where the text lets the profile reach no patient datum
    for the purpose (a forbidden or excluded purpose, a purpose outside the profile's rules), every datum is
    refused alike: the identity, a health record and the directory show it. The plain health resources (one
    category kind, one patient reference) differ only where a rule of the profile lists elements: then all of
    them, else one in turn per purpose, so that each is driven for every profile across its purposes."""
    ref = world.ref
    purpose = ref.purposes[purpose_index].id
    reaches = any(
        oracle.expect_write(ref, profile, purpose, VARIANTS[v]("x", "x", "x")).allowed
        or (seed is not None and oracle.expect_read(ref, profile, purpose, str(seed.body["resourceType"]), seed.stored))
        for v, seed in world.seeds.items()
        if not oracle.is_directory(str(VARIANTS[v]("x", "x", "x")["resourceType"]))
    )
    if not reaches:
        return REFUSED_PURPOSE_VARIANTS
    accessor = ref.accessor(profile)
    by_elements = accessor is not None and any(
        getattr(rule, "elements", None) or any((ref.id, profile, c) in oracle.PENDING_ELEMENTS for c in rule.categories)
        for rule in accessor.access
    )
    health = PLAIN_HEALTH if by_elements else [PLAIN_HEALTH[purpose_index % len(PLAIN_HEALTH)]]
    return [v for v in VARIANTS if v not in PLAIN_HEALTH or v in health]


def _readable_purpose(world: World, profile: str, variant: str) -> str:
    """A purpose under which the profile reads the seeded record with two factors (so that the password-only
    session is refused for the missing factor alone); else the purpose the record was written for."""
    seed = world.seeds[variant]
    if seed is None:
        return world.ref.purposes[0].id
    rt = str(seed.body["resourceType"])
    readable = (p.id for p in world.ref.purposes if oracle.expect_read(world.ref, profile, p.id, rt, seed.stored))
    return next(readable, seed.purpose)


CASES = [(ref_id, a.id) for ref_id in REFERENTIALS for a in loader.get(ref_id).accessors]


@pytest.mark.parametrize(("ref_id", "profile"), CASES, ids=[f"{r}-{p}" for r, p in CASES])
def test_matrix(worlds: dict[str, World], ref_id: str, profile: str) -> None:
    """Every purpose × resource × operation for one profile, then a rights request, then a password-only session."""
    world = world_for(worlds, ref_id)
    client = world.clients[profile]
    for i, purpose in enumerate(world.ref.purposes):
        _row_cells(world, profile, client, purpose.id, purpose.id, variants_for(world, profile, i), two_factors=True)
    _rights_cells(world, profile, client)
    # The same person logged in with the password only: no patient data, identity included.
    password_only = world.client(None)
    login = password_only.post("/auth/login", json={"login": world.login(profile), "password": NEW_PASSWORD})
    assert login.status_code == 200 and login.json()["pending"] == ["second_factor"], login.text
    for variant in PASSWORD_ONLY_VARIANTS:
        purpose = _readable_purpose(world, profile, variant)
        label = f"password only ({purpose})"
        _row_cells(world, profile, password_only, purpose, label, [variant], two_factors=False)
    wrong = [
        m for m in oracle.mismatches(ref_id, profile, exclude="archive") if "attack:" not in m and "formality" not in m
    ]
    assert not wrong, f"{len(wrong)} disagreements with {ref_id}:\n" + "\n".join(wrong)


# -- the attacks: cross-patient writes, reference rewrites, another patient's history and search ------------------

CARE_CASES = [(r, a.id) for r in REFERENTIALS for a in loader.get(r).accessors if a.care_relationship]


@dataclass
class Arena:
    """Patients A, B and C of one owner; the attacker (same profile) takes A and C in care, never B."""

    owner: TestClient
    attacker: TestClient
    purpose: str
    a: str
    b: str
    c: str
    n: int = 0  # each attack works on records of its own, so that one that succeeds spoils no other

    def patients(self, world: World) -> None:
        for pid in (self.a, self.b, self.c):
            body = _patient(pid, "Arena-Commune", {})
            assert self.owner.post("/fhir/Patient", json=body, headers=world.headers(self.purpose)).status_code == 201

    def records(self, world: World, n: int) -> None:
        self.n = n
        for pid in (self.a, self.b):
            for rt in ("Observation", "Immunization"):
                rec = _clinical(rt, f"{pid}-{n}-{rt.lower()}", pid)
                answer = self.owner.post(f"/fhir/{rt}", json=rec, headers=world.headers(self.purpose))
                assert answer.status_code == 201, answer.text


ARENAS: dict[tuple[str, str], Arena] = {}


def arena_for(worlds: dict[str, World], ref_id: str, profile: str) -> tuple[World, Arena]:
    world = world_for(worlds, ref_id)
    if (ref_id, profile) not in ARENAS:
        place, ref = world.place, world.ref
        accessor = ref.accessor(profile)
        assert accessor is not None
        days = min(60, accessor.max_grant_days or 60)
        grant: dict[str, object] = {"ends_at": place.clock.now + timedelta(days=days)} if accessor.time_limited else {}
        seed = world.seeds["Observation"]
        assert seed is not None
        purpose = seed.purpose
        tag = world.login(profile).removeprefix("m.")
        owner = world.client(place.person(f"own.{tag}", profile, ref=f"2000{len(ARENAS):07d}", **grant))
        attacker = world.client(place.person(f"att.{tag}", profile, ref=f"3000{len(ARENAS):07d}", **grant))
        arena = Arena(owner, attacker, purpose, *(f"arena-{slug(profile)}-{x}" for x in "abc"))
        arena.patients(world)
        for pid in (arena.a, arena.c):
            care = attacker.post(
                f"/fhir/Patient/{pid}/$declare-care", json={"basis": "consultation"}, headers=world.headers(purpose)
            )
            assert care.status_code == 200, care.text
        ARENAS[(ref_id, profile)] = arena
    return world, ARENAS[(ref_id, profile)]


def _subject(pid: str) -> Body:
    return {"reference": f"Patient/{pid}"}


def _obs(arena: Arena, owner_of: str, **change: Any) -> Body:
    body = _clinical("Observation", f"{owner_of}-{arena.n}-observation", owner_of)
    body.update(change)
    return {k: v for k, v in body.items() if v is not None}


def _imm(arena: Arena, owner_of: str, **change: Any) -> Body:
    body = _clinical("Immunization", f"{owner_of}-{arena.n}-immunization", owner_of)
    body.update(change)
    return {k: v for k, v in body.items() if v is not None}


# name → (operation, resource, how the attacker builds the request from the arena)
ATTACKS: dict[str, tuple[str, str, Callable[[Arena], tuple[str, str, Body | None]]]] = {
    "update another patient's record": (
        "update",
        "Observation",
        lambda z: ("PUT", f"/fhir/Observation/{z.b}-{z.n}-observation", _obs(z, z.b)),
    ),
    "rewrite another patient's record to one's own patient": (
        "update",
        "Observation",
        lambda z: ("PUT", f"/fhir/Observation/{z.b}-{z.n}-observation", _obs(z, z.b, subject=_subject(z.a))),
    ),
    "move one's patient's record to another patient": (
        "update",
        "Observation",
        lambda z: ("PUT", f"/fhir/Observation/{z.a}-{z.n}-observation", _obs(z, z.a, subject=_subject(z.b))),
    ),
    "move a record between two patients in one's care": (
        "update",
        "Observation",
        lambda z: ("PUT", f"/fhir/Observation/{z.a}-{z.n}-observation", _obs(z, z.a, subject=_subject(z.c))),
    ),
    "remove the subject on update": (
        "update",
        "Observation",
        lambda z: ("PUT", f"/fhir/Observation/{z.a}-{z.n}-observation", _obs(z, z.a, subject=None)),
    ),
    "remove another patient's subject on update": (
        "update",
        "Observation",
        lambda z: ("PUT", f"/fhir/Observation/{z.b}-{z.n}-observation", _obs(z, z.b, subject=None)),
    ),
    "subject pointing to a non-patient on update": (
        "update",
        "Observation",
        lambda z: (
            "PUT",
            f"/fhir/Observation/{z.a}-{z.n}-observation",
            _obs(z, z.a, subject={"reference": "Group/arena-group"}),
        ),
    ),
    "move an immunization to another patient": (
        "update",
        "Immunization",
        lambda z: ("PUT", f"/fhir/Immunization/{z.a}-{z.n}-immunization", _imm(z, z.a, patient=_subject(z.b))),
    ),
    "rewrite another patient's immunization to one's own patient": (
        "update",
        "Immunization",
        lambda z: ("PUT", f"/fhir/Immunization/{z.b}-{z.n}-immunization", _imm(z, z.b, patient=_subject(z.a))),
    ),
    "update another patient's identity": (
        "update",
        "Patient",
        lambda z: ("PUT", f"/fhir/Patient/{z.b}", _patient(z.b, "Arena-Commune", {})),
    ),
    "create without a subject": (
        "create",
        "Observation",
        lambda z: ("POST", "/fhir/Observation", _obs(z, z.a, id=f"{z.a}-{z.n}-new", subject=None)),
    ),
    "create with a non-patient subject": (
        "create",
        "Observation",
        lambda z: (
            "POST",
            "/fhir/Observation",
            _obs(z, z.a, id=f"{z.a}-{z.n}-new", subject={"reference": "Group/arena-group"}),
        ),
    ),
    "create for another patient": (
        "create",
        "Observation",
        lambda z: ("POST", "/fhir/Observation", _obs(z, z.b, id=f"{z.a}-{z.n}-new")),
    ),
    "read another patient's record": (
        "read",
        "Observation",
        lambda z: ("GET", f"/fhir/Observation/{z.b}-{z.n}-observation", None),
    ),
    "history of another patient's record": (
        "history",
        "Observation",
        lambda z: ("GET", f"/fhir/Observation/{z.b}-{z.n}-observation/_history", None),
    ),
    "search returning another patient": (
        "search",
        "Patient",
        lambda z: ("POST", "/fhir/Patient/_search", {"family": "Arena-Commune"}),
    ),
}
ATTACK_CASES = [(r, p, name) for r, p in CARE_CASES for name in ATTACKS]


@pytest.mark.parametrize(
    ("ref_id", "profile", "attack"), ATTACK_CASES, ids=[f"{r}-{p}-{slug(n)}" for r, p, n in ATTACK_CASES]
)
def test_attack_is_refused(worlds: dict[str, World], ref_id: str, profile: str, attack: str) -> None:
    """A practitioner reaches only the patients they have a care relationship with, whatever the references say."""
    world, arena = arena_for(worlds, ref_id, profile)
    arena.records(world, list(ATTACKS).index(attack))
    operation, resource, build = ATTACKS[attack]
    method, path, body = build(arena)
    mine = [
        (rt, f"{pid}-{arena.n}-{rt.lower()}") for pid in (arena.a, arena.b) for rt in ("Observation", "Immunization")
    ]
    before = {
        rid: arena.owner.get(f"/fhir/{rt}/{rid}", headers=world.headers(arena.purpose)).json() for rt, rid in mine
    }
    answer = arena.attacker.request(method, path, json=body, headers=world.headers(arena.purpose))
    if operation == "search":
        ids = [e["resource"]["id"] for e in answer.json().get("entry", [])] if answer.status_code == 200 else []
        assert arena.a in ids, "the attacker's own patient must be found"
        actual = "ok" if arena.b in ids else "no"
    else:
        actual = "ok" if answer.status_code in (200, 201) else _status(answer)
    oracle.record((ref_id, profile, f"attack: {attack}", resource), operation, oracle.Cell("no", actual, _why(answer)))
    assert actual == "no", f"{attack}: answered {answer.status_code} {answer.text[:300]}"
    for rt, rid in mine:
        now = arena.owner.get(f"/fhir/{rt}/{rid}", headers=world.headers(arena.purpose)).json()
        assert now == before[rid], f"{rt}/{rid} changed through a refused request"


FORMALITY_CASES = [
    (r, a.id, p.id)
    for r in REFERENTIALS
    for a in loader.get(r).accessors
    for p in loader.get(r).purposes
    if p.requires_formality
    and oracle.expect_write(loader.get(r), a.id, p.id, _clinical("Observation", "x", "y")).allowed
]


@pytest.mark.parametrize(("ref_id", "profile", "purpose"), FORMALITY_CASES, ids=["-".join(c) for c in FORMALITY_CASES])
def test_research_needs_its_formality(worlds: dict[str, World], ref_id: str, profile: str, purpose: str) -> None:
    """A purpose subject to a formality (research) is refused without its reference, allowed with it."""
    world = world_for(worlds, ref_id)
    client = world.clients[profile]
    body = _clinical("Observation", f"formality-{slug(profile)}", world.patient)
    without = client.post("/fhir/Observation", json=body, headers={"X-Purpose": purpose})
    oracle.record(
        (ref_id, profile, f"{purpose} without formality", "Observation"),
        "create",
        oracle.Cell("no", "ok" if without.status_code == 201 else _status(without), _why(without)),
    )
    assert without.status_code == 403, without.text
    assert client.post("/fhir/Observation", json=body, headers=world.headers(purpose)).status_code == 201


# -- the intermediate archive: exceptional access, by the record path (no HTTP route serves it) ------------------
# `santegarde archive access` is a thin layer over RecordService.read_archived; the matrix calls that method
# with each person's session. Runs last: it moves the référentiel's whole store to the archive.

JUSTIFICATION = "request from the patient for their whole file"


def _archive_after(ref: Referential) -> timedelta | None:
    """When the text archives a record written now: its active phase, when every phase has a fixed duration."""
    for rule in ref.retention:
        if rule.archive is not None and rule.active.duration is not None and rule.archive.duration is not None:
            return timedelta(days=rule.active.duration.total_days() + 2)
    return None


ARCHIVE_CASES = [(r, a.id) for r in REFERENTIALS if _archive_after(loader.get(r)) for a in loader.get(r).accessors]


class _Untraced:
    """A retention journal that records nothing: the matrix only needs records moved to the archive (the
    write-ahead tracing of a run is tested in tests/test_lifecycle_retention.py and the crash-injection test)."""

    def intend(self, events: object) -> None:
        pass

    def committed(self, events: object) -> None:
        pass


def _archived(world: World) -> dict[str, Seed]:
    if world.archived is None:
        after = _archive_after(world.ref)
        assert after is not None
        place = world.place
        retention.run(
            place.service.engine, place.identity.keyring, world.ref, {}, place.clock.now + after, _Untraced()
        )
        with place.service.engine.connect() as conn:
            world.archived = {
                variant: seed
                for variant, seed in world.seeds.items()
                if seed is not None and retention.archived_versions(conn, str(seed.body["id"]))
            }
    return world.archived


@pytest.mark.parametrize(("ref_id", "profile"), ARCHIVE_CASES, ids=[f"{r}-{p}" for r, p in ARCHIVE_CASES])
def test_archive_access(worlds: dict[str, World], ref_id: str, profile: str) -> None:
    """Every profile × purpose reads every archived record: only the profiles the text gives the archive to."""
    world = world_for(worlds, ref_id)
    archived = _archived(world)
    assert {"Patient", "Observation"} <= set(archived), "the practice's files must have moved to the archive"
    for purpose in world.ref.purposes:
        found = world.ref.purpose(purpose.id)
        formality = FORMALITY if found and found.requires_formality else None
        req = RecordRequest(world.tokens[profile], purpose.id, formality=formality, reason=AD_HOC_REASON)
        for variant, seed in archived.items():
            rt = str(seed.body["resourceType"])
            visible = frozenset(
                t for t, c in seed.stored.items() if text_allows_archive(world.ref, profile, c, purpose.id, rt)
            )
            expected = oracle.label(visible, seed.stored)
            try:
                versions = world.place.service.read_archived(req, rt, str(seed.body["id"]), JUSTIFICATION)
                seen = visible_tokens(versions[0])
                actual = oracle.label(seen, seed.stored)
                detail = "" if seen == visible else f"saw {sorted(seen)}"
            except (AccessDenied, SantegardeError) as exc:
                actual, detail = "no", str(exc)[:160]
            oracle.record((ref_id, profile, purpose.id, variant), "archive", oracle.Cell(expected, actual, detail))
    wrong = oracle.mismatches(ref_id, profile, "archive")
    assert not wrong, f"{len(wrong)} disagreements with {ref_id}:\n" + "\n".join(wrong)


def text_allows_archive(ref: Referential, profile: str, category: str, purpose: str, resource_type: str) -> bool:
    if category == oracle.DIRECTORY:
        return oracle.directory_allows(ref, profile, purpose, Operation.ARCHIVE).allowed
    return oracle.text_allows(ref, profile, Operation.ARCHIVE, category, purpose, resource_type).allowed
