"""Synthetic data (COM-DEV-1): deterministic, valid FHIR R4B, identifiers that validate."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from datetime import datetime
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle

from santegarde import identifiers as ids
from santegarde.synthetic import PROFILES, SyntheticDataset, generate_dataset
from santegarde.synthetic.places import COMMUNES

INS_AND_NIR_SYSTEMS = {ids.INS_NIR_SYSTEM, ids.INS_NIA_SYSTEM, ids.INS_TEST_SYSTEM, ids.INS_DEMO_SYSTEM}


@pytest.fixture(scope="module", params=PROFILES)
def dataset(request: pytest.FixtureRequest) -> SyntheticDataset:
    return generate_dataset(seed=20250106, patients=40, profile=request.param)


def _bundle_json(seed: int, profile: str, patients: int = 8) -> str:
    return generate_dataset(seed, patients, profile).bundle().model_dump_json()


def _json(resource: Any) -> dict[str, Any]:
    """The resource as FHIR JSON (what these tests check is the data, not the Python model)."""
    data: dict[str, Any] = json.loads(resource.model_dump_json())
    return data


def _identifiers(resource: Any) -> list[dict[str, Any]]:
    return list(_json(resource).get("identifier", []))


@pytest.mark.parametrize("profile", PROFILES)
def test_same_seed_same_output(profile: str) -> None:
    random.seed(1)  # the global random state must play no part
    first = _bundle_json(42, profile)
    random.seed(2)
    assert _bundle_json(42, profile) == first


@pytest.mark.parametrize("profile", PROFILES)
def test_different_seed_different_output(profile: str) -> None:
    assert _bundle_json(42, profile) != _bundle_json(43, profile)


def test_every_identifier_validates(dataset: SyntheticDataset) -> None:
    checked = 0
    for resource in dataset.resources():
        for ident in _identifiers(resource):
            if ident["system"] in ids.KNOWN_SYSTEMS:
                assert ids.validate(ident["system"], ident["value"]) == ident["value"]
                checked += 1
    assert checked > 0


def test_patients_ins_and_nir_agree_with_identity() -> None:
    data = generate_dataset(5, 150, "practice")
    corsica = {c.city for c in COMMUNES if c.insee[:2] in ("2A", "2B")}
    for resource in data.patients:
        patient = _json(resource)
        by_type = {i["type"]["coding"][0]["code"]: i for i in patient["identifier"]}
        ins, nir = by_type["INS-NIR-TEST"], by_type["NH"]
        assert ins["system"] == ids.INS_TEST_SYSTEM  # never the real INS-NIR system
        assert nir["system"] == ids.NIR_SYSTEM and nir["value"] == ins["value"]
        parts = ids.parse_nir(ins["value"])
        assert parts.is_male == (patient["gender"] == "male")
        year, month, _ = patient["birthDate"].split("-")
        assert (parts.year, parts.month) == (year[2:], month)
        place = patient["extension"][0]["valueAddress"]
        if "city" not in place:
            assert parts.department == "99"
        elif place["city"] in corsica and int(year) < 1976:
            assert parts.department == "20"
        else:
            insee = {c.insee for c in COMMUNES if c.city == place["city"]}
            assert parts.department + parts.commune in insee
        home = patient["address"][0]
        assert any(c.postal_code == home["postalCode"] and c.city == home["city"] for c in COMMUNES)


def test_professionals_and_organisations_identifiers() -> None:
    data = generate_dataset(9, 50, "practice")
    registers: Counter[str] = Counter()
    for practitioner in data.practitioners:
        values = {i["system"]: i["value"] for i in _identifiers(practitioner)}
        parsed = ids.parse_idnatps(values[ids.IDNATPS_SYSTEM])
        registers[parsed.register] += 1
        if parsed.register == "RPPS":
            assert values[ids.RPPS_SYSTEM] == parsed.number
    assert registers["RPPS"] >= 2 and registers["ADELI"] >= 1  # the orthoptist is always ADELI
    for org in data.organizations:
        by_type = {i["type"]["coding"][0]["code"]: i["value"] for i in _identifiers(org)}
        assert by_type["IDNST"] == "1" + by_type["FINEG"]
        assert by_type["SIRET"].startswith(by_type["SIREN"])
    roles = [_json(r) for r in data.practitioner_roles]
    assert {r["organization"]["reference"] for r in roles} <= {f"Organization/{o.id}" for o in data.organizations}
    assert all(r["code"][0]["coding"][0]["code"] for r in roles)


def test_compassionate_has_no_nir_or_ins() -> None:
    data = generate_dataset(3, 60, "compassionate")
    text = data.bundle().model_dump_json()
    for system in INS_AND_NIR_SYSTEMS:
        assert system not in text
    patients = [_json(p) for p in data.patients]
    for patient in patients:
        assert set(patient) == {"resourceType", "id", "identifier", "gender", "birthDate"}
        assert [i["system"] for i in patient["identifier"]] == ["urn:santegarde:synthetic:aac-patient-code"]
        assert re.fullmatch(r"[A-Z]{1,3}-[A-Z]{1,2}-\d{5}", patient["identifier"][0]["value"])
        assert re.fullmatch(r"\d{4}-\d{2}(-\d{2})?", patient["birthDate"])
    assert any(len(p["birthDate"]) == 7 for p in patients), "adults get a year and month of birth only"


def test_resources_round_trip_through_fhir_models(dataset: SyntheticDataset) -> None:
    for resource in dataset.resources():
        text = resource.model_dump_json()
        again = type(resource).model_validate_json(text)
        assert again.model_dump_json() == text


def test_bundle_is_a_valid_collection(dataset: SyntheticDataset) -> None:
    bundle = dataset.bundle()
    text = bundle.model_dump_json()
    assert Bundle.model_validate_json(text).model_dump_json() == text
    data = json.loads(text)
    assert data["type"] == "collection"
    assert Counter(e["resource"]["resourceType"] for e in data["entry"])["Patient"] == 40
    full_urls = [e["fullUrl"] for e in data["entry"]]
    assert len(set(full_urls)) == len(full_urls) == len(dataset.resources())


def test_every_reference_resolves(dataset: SyntheticDataset) -> None:
    known = {f"{r.get_resource_type()}/{r.id}" for r in dataset.resources()}
    references = re.findall(r'"reference":"([^"]+)"', dataset.bundle().model_dump_json())
    assert references
    assert set(references) <= known


@pytest.mark.parametrize("patients", [0, 1, 7])
def test_bundle_has_n_patients(patients: int) -> None:
    bundle = json.loads(generate_dataset(11, patients, "warehouse").bundle().model_dump_json())
    assert sum(e["resource"]["resourceType"] == "Patient" for e in bundle.get("entry", [])) == patients


@pytest.mark.parametrize(
    ("profile", "present", "absent"),
    [
        ("practice", ["appointments", "encounters", "observations", "medication_requests"], ["medication_dispenses"]),
        ("pharmacy", ["medication_requests", "medication_dispenses"], ["encounters", "appointments"]),
        ("compassionate", ["conditions", "medication_requests", "medication_dispenses"], ["encounters"]),
        ("warehouse", ["encounters", "conditions", "observations"], ["medication_dispenses", "appointments"]),
    ],
)
def test_profiles_shape_the_data(profile: str, present: list[str], absent: list[str]) -> None:
    data = generate_dataset(1, 30, profile)
    assert len(data.patients) == 30
    for name in present:
        assert getattr(data, name), name
    for name in absent:
        assert not getattr(data, name), name


def test_vital_signs_use_loinc() -> None:
    observations = [_json(o) for o in generate_dataset(4, 20, "practice").observations]
    assert {"29463-7", "8302-2", "85354-9"} <= {o["code"]["coding"][0]["code"] for o in observations}
    panel = next(o for o in observations if o["code"]["coding"][0]["code"] == "85354-9")
    assert [c["code"]["coding"][0]["code"] for c in panel["component"]] == ["8480-6", "8462-4"]
    assert all(o["code"]["coding"][0]["system"] == "http://loinc.org" for o in observations)


def test_nothing_happens_after_the_reference_date_but_booked_appointments() -> None:
    data = generate_dataset(8, 40, "practice")
    cutoff = datetime.fromisoformat(data.timestamp())
    for obs in data.observations:
        assert datetime.fromisoformat(_json(obs)["effectiveDateTime"]) < cutoff
    for resource in data.appointments:
        appointment = _json(resource)
        assert (datetime.fromisoformat(appointment["start"]) < cutoff) == (appointment["status"] == "fulfilled")


def test_unknown_profile_and_negative_count_are_refused() -> None:
    with pytest.raises(ValueError, match="practice, pharmacy, compassionate, warehouse"):
        generate_dataset(1, 1, "clinic")
    with pytest.raises(ValueError, match="negative"):
        generate_dataset(1, -1, "practice")
