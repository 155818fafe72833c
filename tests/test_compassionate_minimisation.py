"""Least privilege in the compassionate-access platform (§7, §8, SEC-HAB-1), tried as an attacker would.

The supply service manages orders, supply and distribution: it sees the patient's code and establishment, never
the sex or the year and month of birth stored beside them in the Patient record — neither by reading the record,
nor by reading the case, nor by searching on them (a search on a value one may not read finds nothing)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from santegarde.compassionate.registry import Registry, example_text
from santegarde.compassionate.service import CompassionateService, Patient
from santegarde.store.db import migrate
from santegarde.store.service import Request
from store_fixtures import Workplace, make_workplace

PURPOSE = "access_initiation_follow_up"
REQUEST = {
    "poids": 64,
    "taille": 171,
    "diagnostic": "G12.2",
    "date_diagnostic": "2026-01-10",
    "mutation_sod1": True,
    "score_alsfrs": 40,
}


@pytest.fixture
def place(tmp_path: Path) -> Iterator[tuple[Workplace, CompassionateService, dict[str, Request]]]:
    w = make_workplace(f"sqlite:///{tmp_path / 'aac.db'}", tmp_path, "aac-2022-106")
    migrate(w.service.engine, package="santegarde.compassionate")
    registry = Registry(tmp_path / "programmes", w.service.ref)
    registry.add(example_text(), "example")
    ends = w.identity.now() + timedelta(days=365)
    people = {
        "doctor": Request(
            w.person("dr.prescrit", "care_establishment_staff", ref="10001112223", ends_at=ends), PURPOSE
        ),
        "lab": Request(w.person("ph.resp", "pharmacist_in_charge", ref="L-1", ends_at=ends), PURPOSE),
        "supply": Request(w.person("appro", "supply", ref="L-2", ends_at=ends), PURPOSE),
    }
    yield w, CompassionateService(w.service, registry), people
    w.close()


def test_the_supply_service_sees_the_code_never_the_sex_or_the_birth(
    place: tuple[Workplace, CompassionateService, dict[str, Request]],
) -> None:
    w, service, people = place
    patient = Patient("Garnier", "Lucie", "female", "1961-05", "h1")
    case = service.request_access(people["doctor"], "velmorine-sla", patient, REQUEST)
    seen = w.service.read(people["supply"], "Patient", case.patient_id)
    assert (
        seen["identifier"][0]["value"] == case.code and seen["managingOrganization"]["reference"] == "Organization/h1"
    )
    assert "gender" not in seen and "birthDate" not in seen
    assert seen["meta"]["security"][0]["code"] == "REDACTED"  # told that something was withheld
    state = service.state(people["supply"], case.patient_id)
    assert state.code == case.code and state.sex is None and state.birth is None and state.forms == []
    # The laboratory's pharmacist sees them (pseudonymised data, §8.2).
    full = w.service.read(people["lab"], "Patient", case.patient_id)
    assert full["gender"] == "female" and full["birthDate"] == "1961-05"


@pytest.mark.parametrize("criteria", [{"birthdate": "1961"}, {"birthdate": "1961-05"}, {"gender": "female"}])
def test_searching_on_what_one_may_not_read_finds_nothing(
    place: tuple[Workplace, CompassionateService, dict[str, Request]], criteria: dict[str, str]
) -> None:
    w, service, people = place
    service.request_access(
        people["doctor"], "velmorine-sla", Patient("Garnier", "Lucie", "female", "1961-05", "h1"), REQUEST
    )
    assert [p["resourceType"] for p in w.service.search(people["lab"], "Patient", criteria)] == ["Patient"]
    assert w.service.search(people["supply"], "Patient", criteria) == []  # no birth year or sex learnt by probing
