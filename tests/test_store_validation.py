"""Coded values against their FHIR R4 required bindings, and French identifiers' keys, in every stored resource.

The attacks: a Patient with ``gender: "banana"`` and an INS with a wrong control key were stored.
Each case starts from a valid resource, checks it passes, then breaks one element and checks the
refusal names the element, the value and the allowed codes (or the identifier's rule).
"""

from __future__ import annotations

import copy
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B import get_fhir_model_class
from pydantic import BaseModel

from santegarde.api import create_app
from santegarde.identifiers import (
    FINESS_SYSTEM,
    IDNATPS_SYSTEM,
    IDNATST_SYSTEM,
    INS_NIA_SYSTEM,
    INS_NIR_SYSTEM,
    INS_TEST_SYSTEM,
    RPPS_SYSTEM,
    SIRENE_SYSTEM,
    compute_nir_key,
)
from santegarde.store import validation
from santegarde.store.mapping import RESOURCES, MappingError
from santegarde.store.service import Request
from santegarde.synthetic import generate_dataset
from store_fixtures import Workplace, make_workplace
from test_store import INS, patient

PATIENT_REF = {"reference": "Patient/p-1"}
CODED = {"text": "fictitious"}


def check(body: dict[str, Any]) -> None:
    validation.check(get_fhir_model_class(body["resourceType"]).model_validate(body), body["resourceType"])


def with_value(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``body`` with the element at ``path`` (dots, [i] for list items) set to ``value``."""
    changed = copy.deepcopy(body)
    parts = path.replace("[", ".[").split(".")
    node: Any = changed
    for part in parts[:-1]:
        node = node[int(part[1:-1])] if part.startswith("[") else node[part]
    last = parts[-1]
    if last.startswith("["):
        node[int(last[1:-1])] = value
    else:
        node[last] = value
    return changed


FULL_PATIENT = {
    **patient(),
    "identifier": [{**INS, "use": "official"}],
    "name": [{"use": "official", "family": "Fictivé", "given": ["Alix"]}],
    "telecom": [{"system": "phone", "use": "mobile", "value": "0600000000"}],
    "address": [{"use": "home", "type": "physical", "city": "Lyon"}],
    "contact": [{"gender": "male", "name": {"family": "Fictif"}}],
    "link": [{"other": {"reference": "Patient/p-2"}, "type": "seealso"}],
}
RESOURCES_OK: dict[str, dict[str, Any]] = {
    "Patient": FULL_PATIENT,
    "Practitioner": {"resourceType": "Practitioner", "id": "pr-1", "gender": "female"},
    "PractitionerRole": {
        "resourceType": "PractitionerRole",
        "id": "role-1",
        "availableTime": [{"daysOfWeek": ["mon", "tue"]}],
    },
    "Organization": {"resourceType": "Organization", "id": "o-1", "telecom": [{"system": "email", "value": "a@b.fr"}]},
    "Appointment": {
        "resourceType": "Appointment",
        "id": "a-1",
        "status": "booked",
        "participant": [{"actor": PATIENT_REF, "status": "accepted", "required": "required"}],
    },
    "Encounter": {
        "resourceType": "Encounter",
        "id": "e-1",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": PATIENT_REF,
        "statusHistory": [{"status": "arrived", "period": {"start": "2026-01-01"}}],
    },
    "Observation": {
        "resourceType": "Observation",
        "id": "ob-1",
        "status": "final",
        "code": CODED,
        "subject": PATIENT_REF,
        "valueQuantity": {"value": 5, "comparator": "<"},
    },
    "Condition": {
        "resourceType": "Condition",
        "id": "c-1",
        "subject": PATIENT_REF,
        "clinicalStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
        },
        "verificationStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]
        },
    },
    "MedicationRequest": {
        "resourceType": "MedicationRequest",
        "id": "mr-1",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": CODED,
        "subject": PATIENT_REF,
        "dosageInstruction": [{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}}}],
    },
    "MedicationDispense": {
        "resourceType": "MedicationDispense",
        "id": "md-1",
        "status": "completed",
        "medicationCodeableConcept": CODED,
        "subject": PATIENT_REF,
    },
    "Immunization": {
        "resourceType": "Immunization",
        "id": "i-1",
        "status": "completed",
        "vaccineCode": CODED,
        "patient": PATIENT_REF,
        "occurrenceDateTime": "2026-01-01",
    },
    "DocumentReference": {
        "resourceType": "DocumentReference",
        "id": "d-1",
        "status": "current",
        "subject": PATIENT_REF,
        "content": [{"attachment": {"contentType": "application/pdf", "url": "https://example.org/d"}}],
    },
    "Consent": {
        "resourceType": "Consent",
        "id": "cs-1",
        "status": "active",
        "scope": CODED,
        "category": [CODED],
        "patient": PATIENT_REF,
        "provision": {"type": "permit", "provision": [{"type": "deny"}]},
    },
    "Communication": {"resourceType": "Communication", "id": "cm-1", "status": "completed", "subject": PATIENT_REF},
    "QuestionnaireResponse": {
        "resourceType": "QuestionnaireResponse",
        "id": "qr-1",
        "status": "completed",
        "subject": PATIENT_REF,
        "item": [{"linkId": "poids", "answer": [{"valueQuantity": {"value": 70.0, "unit": "kg"}}]}],
    },
}

BROKEN = [
    ("Patient", "gender", "banana", "Patient.gender is 'banana'", "male, female, other, unknown"),
    ("Patient", "contact[0].gender", "robot", "Patient.contact[0].gender is 'robot'", "administrative-gender"),
    ("Patient", "link[0].type", "sibling", "Patient.link[0].type is 'sibling'", "replaced-by, replaces"),
    ("Patient", "name[0].use", "pseudo", "Patient.name[0].use is 'pseudo'", "nickname, anonymous, old, maiden"),
    ("Patient", "telecom[0].system", "pigeon", "Patient.telecom[0].system is 'pigeon'", "phone, fax, email"),
    ("Patient", "telecom[0].use", "car", "Patient.telecom[0].use is 'car'", "contact-point-use"),
    ("Patient", "address[0].use", "holiday", "Patient.address[0].use is 'holiday'", "home, work, temp, old, billing"),
    ("Patient", "address[0].type", "virtual", "Patient.address[0].type is 'virtual'", "postal, physical, both"),
    ("Patient", "identifier[0].use", "main", "Patient.identifier[0].use is 'main'", "usual, official"),
    ("Practitioner", "gender", "M", "Practitioner.gender is 'M'", "administrative-gender"),
    ("PractitionerRole", "availableTime[0].daysOfWeek[1]", "monday", "daysOfWeek[1] is 'monday'", "mon, tue, wed"),
    ("Organization", "telecom[0].system", "telex", "Organization.telecom[0].system is 'telex'", "sms, other"),
    ("Appointment", "status", "confirmed", "Appointment.status is 'confirmed'", "booked, arrived, fulfilled"),
    ("Appointment", "participant[0].status", "maybe", "Appointment.participant[0].status is 'maybe'", "tentative"),
    ("Appointment", "participant[0].required", "yes", "participant[0].required is 'yes'", "information-only"),
    ("Encounter", "status", "done", "Encounter.status is 'done'", "in-progress, onleave, finished"),
    ("Encounter", "statusHistory[0].status", "gone", "Encounter.statusHistory[0].status is 'gone'", "triaged"),
    ("Observation", "status", "validated", "Observation.status is 'validated'", "preliminary, final, amended"),
    ("Observation", "valueQuantity.comparator", "~", "Observation.valueQuantity.comparator is '~'", "<, <=, >=, >"),
    ("MedicationRequest", "intent", "wish", "MedicationRequest.intent is 'wish'", "proposal, plan, order"),
    ("MedicationRequest", "status", "paused", "MedicationRequest.status is 'paused'", "on-hold"),
    ("MedicationRequest", "dosageInstruction[0].timing.repeat.periodUnit", "day", "repeat.periodUnit is 'day'", "wk"),
    ("MedicationDispense", "status", "given", "MedicationDispense.status is 'given'", "preparation, in-progress"),
    ("Immunization", "status", "done", "Immunization.status is 'done'", "completed, entered-in-error, not-done"),
    ("DocumentReference", "status", "draft", "DocumentReference.status is 'draft'", "current, superseded"),
    ("Consent", "status", "given", "Consent.status is 'given'", "draft, proposed, active, rejected"),
    ("Consent", "provision.provision[0].type", "maybe", "Consent.provision.provision[0].type is 'maybe'", "deny"),
    ("Communication", "status", "sent", "Communication.status is 'sent'", "not-done, on-hold"),
    ("QuestionnaireResponse", "status", "done", "QuestionnaireResponse.status is 'done'", "in-progress, completed"),
    (
        "Condition",
        "clinicalStatus.coding[0].code",
        "cured",
        "Condition.clinicalStatus.coding[0].code is 'cured'",
        "http://hl7.org/fhir/ValueSet/condition-clinical",
    ),
    (
        "Condition",
        "verificationStatus.coding[0].system",
        "http://snomed.info/sct",
        "Condition.verificationStatus.coding needs a coding from http://terminology.hl7.org/CodeSystem/condition-ver",
        "unconfirmed, provisional",
    ),
]


def test_every_stored_resource_type_has_a_valid_example() -> None:
    assert set(RESOURCES_OK) == set(RESOURCES)
    for body in RESOURCES_OK.values():
        check(body)


@pytest.mark.parametrize(("resource_type", "path", "value", "where", "allowed"), BROKEN)
def test_a_code_outside_its_required_binding_is_refused(
    resource_type: str, path: str, value: str, where: str, allowed: str
) -> None:
    with pytest.raises(validation.InvalidCode) as refused:
        check(with_value(RESOURCES_OK[resource_type], path, value))
    message = str(refused.value)
    assert where in message and allowed in message, message


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The FHIR model classes an element's annotation refers to (fhir.resources wraps them in *Type markers)."""
    found = [m for arg in typing.get_args(annotation) for m in _models(arg)]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        found.append(annotation)
    elif hasattr(annotation, "get_model_klass"):
        found.append(annotation.get_model_klass())
    return found


def _enumerated(model: type[BaseModel], path: str, seen: set[tuple[type, str]]) -> Iterator[tuple[str, Any, list]]:
    """(path, owner model, codes) of every enumerated code element, six levels deep (types nest in loops)."""
    if path.count(".") > 6:
        return
    for name, field in model.model_fields.items():
        element = field.alias or name
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        if extra.get("enum_values"):
            yield f"{path}.{element}", model, list(extra["enum_values"])
        for inner in _models(field.annotation):
            if inner.__name__ != "Extension" and (inner, f"{path}.{element}") not in seen:
                seen.add((inner, f"{path}.{element}"))
                yield from _enumerated(inner, f"{path}.{element}", seen)


def test_every_enumerated_code_of_a_stored_resource_has_its_binding_in_the_data() -> None:
    """Completeness: each code element the FHIR models enumerate (nested ones too) is bound, to the same codes."""
    checked = 0
    for resource_type in RESOURCES:
        for path, owner, codes in _enumerated(get_fhir_model_class(resource_type), resource_type, set()):
            *parent, element = path.split(".")
            value_set = validation._binding(owner.model_construct(), ".".join(parent), element)
            assert value_set is not None, f"{path} has no binding in bindings.yaml"
            shown = codes[:-1] if codes[-1] == "+" else codes  # the models cut long lists with "+"
            assert list(value_set.codes[: len(shown)]) == shown, path
            checked += 1
    assert checked > 400
    sets = validation.bindings()
    assert set(sets.value_sets.values()) == set(sets.elements.values())  # no value set left unused
    assert all(vs.url == f"http://hl7.org/fhir/ValueSet/{vs.name}" for vs in sets.value_sets.values())


# -- French identifiers ------------------------------------------------------------------------------------------


def _nir(body: str) -> str:
    return body + compute_nir_key(body)


def _wrong_key(value: str) -> str:
    return value[:-1] + str((int(value[-1]) + 1) % 10)


NH = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "NH"}]}
IDENTIFIERS = [
    ("Patient", INS_NIR_SYSTEM, _nir("2790375112045"), {}, "INS-NIR"),
    ("Patient", INS_NIA_SYSTEM, _nir("8790375112045"), {}, "INS-NIA"),
    ("Patient", INS_TEST_SYSTEM, INS["value"], {}, "INS (test)"),
    ("Patient", INS_NIR_SYSTEM, _nir("1850275112046"), {"type": NH}, "INS-NIR"),  # the NIR for billing
    ("Practitioner", RPPS_SYSTEM, "10001234565", {}, "RPPS"),
    ("Practitioner", IDNATPS_SYSTEM, "810001234565", {}, "idNatPs"),
    ("Organization", FINESS_SYSTEM, "750712184", {}, "FINESS"),
    ("Organization", IDNATST_SYSTEM, "1750712184", {}, "idNatSt"),
    ("Organization", SIRENE_SYSTEM, "732829320", {}, "SIREN"),
    ("Organization", SIRENE_SYSTEM, "73282932000017", {}, "SIRET"),
]


@pytest.mark.parametrize(("resource_type", "system", "value", "extra", "kind"), IDENTIFIERS)
def test_a_french_identifier_with_a_wrong_key_is_refused(
    resource_type: str, system: str, value: str, extra: dict[str, Any], kind: str
) -> None:
    base = {"resourceType": resource_type, "id": "x-1"}
    check({**base, "identifier": [{"system": system, "value": value, **extra}]})
    wrong = _wrong_key(value)
    with pytest.raises(MappingError) as refused:
        check({**base, "identifier": [{"system": "urn:local", "value": "1"}, {"system": system, "value": wrong}]})
    message = str(refused.value)
    assert f"identifier[1] (system {system}) is not a valid {kind}" in message and wrong not in message


def test_resource_ids_longer_than_a_fhir_id_are_refused() -> None:
    check({**RESOURCES_OK["Practitioner"], "id": "a" * 64})
    with pytest.raises(MappingError, match=r"Practitioner\.id \(65 characters\) is not a FHIR id"):
        check({**RESOURCES_OK["Practitioner"], "id": "a" * 65})
    contained = {**RESOURCES_OK["Observation"], "contained": [{**RESOURCES_OK["Practitioner"], "id": "b" * 90}]}
    with pytest.raises(MappingError, match=r"Observation\.contained\[0\]\.id \(90 characters\)"):
        check(contained)


def test_identifiers_are_checked_wherever_they_appear() -> None:
    wrong_rpps = {"system": RPPS_SYSTEM, "value": "10001234566"}
    request = {**RESOURCES_OK["MedicationRequest"], "requester": {"identifier": wrong_rpps}}
    with pytest.raises(MappingError, match=r"MedicationRequest\.requester\.identifier .* not a valid RPPS"):
        check(request)


def test_the_synthetic_data_passes_every_check() -> None:
    for profile in ("practice", "pharmacy", "compassionate", "warehouse"):
        for resource in generate_dataset(seed=7, patients=15, profile=profile).resources():
            body = resource.model_dump(mode="json", by_alias=True, exclude_none=True)
            check(body)


# -- through the record path and the API -------------------------------------------------------------------------


@pytest.fixture
def place(tmp_path: Path) -> Iterator[Workplace]:
    w = make_workplace(f"sqlite:///{tmp_path / 'codes.db'}", tmp_path)
    yield w
    w.close()


def test_the_record_path_and_the_api_refuse_before_storing(place: Workplace) -> None:
    token = place.person("dr.martin", "practitioner", ref="10001234565")
    with pytest.raises(validation.InvalidCode, match=r"Patient\.gender is 'banana'"):
        place.service.create(Request(token, "medical_record"), {**patient(), "gender": "banana"})
    api = TestClient(create_app(place.identity, records=place.service), base_url="https://testserver")
    api.cookies.set("sg_session", token)
    purpose = {"X-Purpose": "medical_record"}
    banana = api.post("/fhir/Patient", json={**patient(), "gender": "banana"}, headers=purpose)
    assert banana.status_code == 400
    issue = banana.json()["issue"][0]
    assert issue["code"] == "invalid" and "male, female, other, unknown" in issue["diagnostics"]
    bad_ins = {**INS, "system": INS_NIR_SYSTEM, "value": _wrong_key(_nir("2790375112045"))}
    wrong = api.post("/fhir/Patient", json={**patient(), "identifier": [bad_ins]}, headers=purpose)
    assert wrong.status_code == 400 and "INS-NIR key does not match" in wrong.json()["issue"][0]["diagnostics"]
    assert api.get("/fhir/Patient/p-1", headers=purpose).status_code == 404
    assert api.post("/fhir/Patient", json=patient(), headers=purpose).status_code == 201
