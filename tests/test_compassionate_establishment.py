"""The collecting staff of an establishment see only their own establishment's patients (aac-2022-106 §4.1, §8.1,
AAC-8): the attacks of a staff member of establishment B on a patient of establishment A, each refused and traced,
and A's staff still at work."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from santegarde.compassionate.service import CaseAccessDenied, CompassionateService, Patient
from santegarde.compassionate.tables import aac_case
from santegarde.identity import accounts, grants
from santegarde.identity.errors import GrantError
from santegarde.identity.tables import grant
from santegarde.store.schema import care_relationship, record
from santegarde.store.service import AccessDenied, Request
from store_fixtures import Workplace
from test_compassionate_workflow import PURPOSE, REQUEST, aac, denied_rules, staff  # noqa: F401 (the fixture)

STAFF = "care_establishment_staff"
INITIATION = {"date_debut": "2026-11-24", "posologie": 20, "score_alsfrs": 37}


def rows(w: Workplace, table: object) -> int:
    with w.service.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


@pytest.fixture
def cases(
    aac: tuple[Workplace, CompassionateService],  # noqa: F811 (the fixture, imported)
) -> tuple[Workplace, CompassionateService, dict[str, Request], str]:
    """Establishment A's prescriber opened a case the laboratory granted; B's prescriber is on the same platform."""
    w, service = aac
    people = {
        "a": staff(w, "dr.nord", STAFF, "10001112223", establishment="chu-nord"),
        "a2": staff(w, "ph.nord", STAFF, "10001112226", establishment="chu-nord"),
        "b": staff(w, "dr.sud", STAFF, "10001112224", establishment="ch-sud"),
        "lab": staff(w, "ph.resp", "pharmacist_in_charge", "L-1"),
    }
    case = service.request_access(
        people["a"], "velmorine-sla", Patient("Martin", "Léa", "female", "1980-02", "chu-nord"), REQUEST
    )
    service.submit(people["lab"], case.patient_id, "decision_laboratoire", {"decision": "granted"})
    return w, service, people, case.patient_id


def test_b_cannot_take_in_care_a_patient_of_a(cases: tuple[Workplace, CompassionateService, dict, str]) -> None:
    w, _, people, patient_id = cases
    before = rows(w, care_relationship)
    with pytest.raises(AccessDenied) as refused:
        w.service.declare_care(people["b"], patient_id, "consultation")
    assert "autre établissement que le vôtre (ch-sud)" in str(refused.value)
    assert "§4.1 et §8.1" in str(refused.value)
    assert refused.value.rule == "care_relationship.establishment"
    assert rows(w, care_relationship) == before
    assert "care_relationship.establishment" in denied_rules(w)
    with pytest.raises(AccessDenied):  # and so the record path still refuses B the patient's records
        w.service.read(people["b"], "Patient", patient_id)


def test_b_cannot_read_a_case_of_a(cases: tuple[Workplace, CompassionateService, dict, str]) -> None:
    w, service, people, patient_id = cases
    with pytest.raises(CaseAccessDenied) as refused:
        service.state(people["b"], patient_id)
    assert "relève d'un autre établissement" in str(refused.value)
    assert refused.value.rule == "AAC-8.establishment"
    assert "AAC-8.establishment" in denied_rules(w)
    assert service.readable(people["b"], "velmorine-sla") == []
    assert service.overdue(people["b"], "velmorine-sla") == []


def test_b_cannot_fill_in_a_case_of_a(cases: tuple[Workplace, CompassionateService, dict, str]) -> None:
    w, service, people, patient_id = cases
    before = rows(w, record)
    with pytest.raises(CaseAccessDenied) as refused:
        service.submit(people["b"], patient_id, "initiation", INITIATION)
    assert refused.value.rule == "AAC-8.establishment"
    assert rows(w, record) == before
    assert denied_rules(w).count("AAC-8.establishment") == 1


def test_b_cannot_open_a_case_in_a_nor_create_a_patient_of_a(
    cases: tuple[Workplace, CompassionateService, dict, str],
) -> None:
    w, service, people, _ = cases
    before = (rows(w, aac_case), rows(w, record))
    with pytest.raises(CaseAccessDenied):
        service.request_access(
            people["b"], "velmorine-sla", Patient("Durand", "Paul", "male", "1950-03", "chu-nord"), REQUEST
        )
    body = {"resourceType": "Patient", "managingOrganization": {"reference": "Organization/chu-nord"}}
    with pytest.raises(AccessDenied) as refused:  # nor through the record path itself, nor with no establishment
        w.service.create(people["b"], body)
    assert refused.value.rule == "care_relationship.establishment"
    with pytest.raises(AccessDenied):
        w.service.create(people["b"], {"resourceType": "Patient", "gender": "male"})
    assert (rows(w, aac_case), rows(w, record)) == before


def test_a_still_works_and_b_on_its_own_patients(cases: tuple[Workplace, CompassionateService, dict, str]) -> None:
    w, service, people, patient_id = cases
    w.service.declare_care(people["a2"], patient_id, "care_team")  # a colleague of the same establishment
    assert service.state(people["a2"], patient_id).establishment == "chu-nord"
    after = service.submit(people["a"], patient_id, "initiation", INITIATION)
    assert after.status == "treated"
    assert service.state(people["lab"], patient_id).status == "treated"  # the laboratory is not tied to one
    own = service.request_access(
        people["b"], "velmorine-sla", Patient("Durand", "Paul", "male", "1950-03", "ch-sud"), REQUEST
    )
    assert service.state(people["b"], own.patient_id).establishment == "ch-sud"
    with pytest.raises(CaseAccessDenied):
        service.state(people["a"], own.patient_id)


def test_a_staff_grant_is_tied_to_one_establishment(aac: tuple[Workplace, CompassionateService]) -> None:  # noqa: F811
    w, _ = aac
    accounts.add(w.identity, "dr.sans", "Dr Sans", person_ref="10001112299", by="admin")
    give = {"validated_by": "Responsable", "validator_role": "governance_body", "reason": "test staff", "by": "admin"}
    until = w.identity.now() + timedelta(days=30)
    with pytest.raises(GrantError, match="son propre établissement"):
        grants.give(w.identity, "dr.sans", STAFF, ends_at=until, **give)  # type: ignore[arg-type]
    with pytest.raises(GrantError, match="son propre établissement"):
        grants.give(w.identity, "dr.sans", STAFF, ends_at=until, establishment="a b", **give)  # type: ignore[arg-type]
    with pytest.raises(GrantError, match="n'est pas rattaché à un établissement"):
        grants.give(
            w.identity,
            "dr.sans",
            "pharmacist_in_charge",
            ends_at=until,
            establishment="chu-nord",
            **give,  # type: ignore[arg-type]
        )
    given = grants.give(w.identity, "dr.sans", STAFF, ends_at=until, establishment="chu-nord", **give)  # type: ignore[arg-type]
    assert given.establishment == "chu-nord"


def test_a_staff_grant_given_before_establishments_reaches_no_patient(
    cases: tuple[Workplace, CompassionateService, dict, str],
) -> None:
    w, service, people, patient_id = cases
    legacy = staff(w, "dr.ancien", STAFF, "10001112227", establishment="chu-nord")
    with w.identity.engine.begin() as conn:  # as migration i002 leaves a grant given before it
        conn.execute(update(grant).where(grant.c.profile == STAFF).values(establishment=None))
    with pytest.raises(AccessDenied) as refused:
        w.service.declare_care(legacy, patient_id, "consultation")
    assert "(aucun)" in str(refused.value)
    with pytest.raises(AccessDenied):
        w.service.create(legacy, {"resourceType": "Patient", "managingOrganization": {"reference": "Organization/x"}})
    with pytest.raises(CaseAccessDenied):
        service.state(people["a"], patient_id)
