"""Re-identification procedures (EDS-5, EDS-SEC-REI-1..5): team only, real request, second approver, traced."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from santegarde.warehouse.access import WarehouseAccessRefused, WarehouseGuard
from santegarde.warehouse.reidentify import Operator, Reidentification, ReidentificationError
from warehouse_governance_fixtures import COHORT, DIABETIC, PEOPLE, Setup, account, build

JUSTIFICATION = "Written request received from the person, identity checked at the desk."
ANNE = Operator("anne", "recontact_team")
BRICE = Operator("brice", "recontact_team")


@pytest.fixture
def s(tmp_path: Path) -> Iterator[Setup]:
    setup = build(tmp_path)
    account(setup, "anne", "recontact_team")
    account(setup, "brice", "recontact_team")
    account(setup, "fanny", "project_member", "P-A")
    yield setup
    setup.warehouse.close()


@pytest.fixture
def rei(s: Setup) -> Reidentification:
    return Reidentification(s.warehouse, s.governance, s.identity, s.trail)


def _trail(s: Setup) -> list[dict[str, object]]:
    with s.trail.engine.connect() as conn:
        return [e.content for e in s.trail.entries(conn) if str(e.content["operation"]).startswith("reidentify.")]


def _steps(s: Setup) -> list[tuple[object, object, object]]:
    return [(e["operation"], e["actor"], e["outcome"]) for e in _trail(s)]


# ---- REI-1: rights --------------------------------------------------------------------------------------------------


def test_rights_extract_finds_the_person_from_their_identity(s: Setup, rei: Reidentification) -> None:
    alice = PEOPLE["alice"]
    req = rei.request(
        ANNE, "rights", reference="DPO-2026-041", justification=JUSTIFICATION, parameters=alice, action="extract"
    )
    rei.approve(req.id, BRICE)
    result = rei.rights(req.id, ANNE, {**alice, "family": " Martin-Fictif "})
    assert result.person_id == s.person_ids["alice"]
    assert set(result.data) == {"person", "condition_occurrence", "measurement"}
    assert all(r["person_id"] == s.person_ids["alice"] for rows in result.data.values() for r in rows)
    assert result.identity is not None and result.identity.fields["given"] == "Alice"
    assert _steps(s) == [
        ("reidentify.request", "anne", "success"),
        ("reidentify.approve", "brice", "success"),
        ("reidentify.execute", "anne", "success"),
    ]
    assert "Martin" not in json.dumps(_trail(s))  # the trail keeps references only
    with pytest.raises(ReidentificationError, match="is done"):
        rei.rights(req.id, ANNE, alice)  # a request runs once


def test_rights_on_an_identity_shared_by_homonyms_does_nothing(s: Setup, rei: Reidentification) -> None:
    """Issue 15: homonyms are now two persons; a rights request by name and birth date cannot tell them apart."""
    alice = PEOPLE["alice"]
    with s.warehouse.vault_connection() as vault:
        vault.execute(
            "INSERT INTO vault.identity (pseudonym, family, given, birth_date, sex, kind, source_hash) "
            "VALUES ($p, $f, $g, CAST($b AS DATE), 'female', 'fhir:Patient', 'another-source-record')",
            {"p": "f" * 64, "f": alice["family"], "g": alice["given"], "b": alice["birthdate"]},
        )
    assert len(s.warehouse.persons_named(alice)) == 2
    req = rei.request(
        ANNE, "rights", reference="DPO-2026-042", justification=JUSTIFICATION, parameters=alice, action="delete"
    )
    rei.approve(req.id, BRICE)
    with pytest.raises(ReidentificationError, match="Several persons of the warehouse share this family name"):
        rei.rights(req.id, ANNE, alice)
    assert s.warehouse.omop.execute(
        "SELECT count(*) FROM omop.person WHERE person_id = $i", {"i": s.person_ids["alice"]}
    ).fetchone() == (1,)


def test_rights_delete_erases_the_person_everywhere(s: Setup, rei: Reidentification) -> None:
    bruno = PEOPLE["bruno"]
    account(s, "gus", "feeding")
    feeder, guard = Operator("gus", "feeding"), WarehouseGuard(s.identity, s.trail)
    with s.warehouse.location_connection(feeder, guard=guard) as con:
        for name in ("bruno", "alice"):
            con.execute(
                "INSERT INTO geo.genetic_result (genetic_result_id, person_id, gene) VALUES ($g, $p, 'BRCA2')",
                {"g": s.person_ids[name] % 1000, "p": s.person_ids[name]},
            )
    req = rei.request(
        ANNE, "rights", reference="DPO-2026-042", justification=JUSTIFICATION, parameters=bruno, action="delete"
    )
    rei.approve(req.id, BRICE)
    refused = pytest.raises(WarehouseAccessRefused, match="EDS-SEC-LOG-6")
    with refused, s.warehouse.location_connection(ANNE, guard=guard):
        pass  # the recontact team does not hold the genetic/location key ...
    result = rei.rights(req.id, ANNE, bruno)
    assert result.deleted == 5  # person, condition, measurement, genetic result, identity
    row = s.warehouse.omop.execute(
        "SELECT count(*) FROM omop.person WHERE person_id = $p", {"p": s.person_ids["bruno"]}
    ).fetchone()
    assert row == (0,)
    with s.warehouse.location_connection(feeder, guard=guard) as con:  # ... yet the person's genetic data is gone
        assert con.execute("SELECT person_id FROM geo.genetic_result").fetchall() == [(s.person_ids["alice"],)]
    with s.trail.engine.connect() as conn:
        erased = [e.content for e in s.trail.entries(conn) if e.content["operation"].endswith("genetic_location.erase")]
    assert [(e["actor"], e["outcome"], e["rule"]) for e in erased] == [
        ("anne", "success", "EDS-SEC-REI-1 EDS-SEC-LOG-6")
    ]


def test_rights_with_other_parameters_than_approved_refused(s: Setup, rei: Reidentification) -> None:
    req = rei.request(
        ANNE,
        "rights",
        reference="DPO-2026-043",
        justification=JUSTIFICATION,
        parameters=PEOPLE["alice"],
        action="extract",
    )
    rei.approve(req.id, BRICE)
    with pytest.raises(ReidentificationError, match="not the parameters approved"):
        rei.rights(req.id, ANNE, PEOPLE["chloe"])


def test_rights_request_needs_an_action(s: Setup, rei: Reidentification) -> None:
    with pytest.raises(ReidentificationError, match="extract or delete"):
        rei.request(ANNE, "rights", reference="DPO-1", justification=JUSTIFICATION, parameters=PEOPLE["alice"])


# ---- REI-2: recontact ---------------------------------------------------------------------------------------------


def test_recontact_selects_identities_from_medical_criteria(s: Setup, rei: Reidentification) -> None:
    req = rei.request(
        ANNE,
        "recontact",
        reference="CSE-2026-07",
        purpose="recontact",
        justification="Study DIAB-2 approved by the committee: offer participation.",
        parameters={"criteria": COHORT},
    )
    rei.approve(req.id, BRICE)
    listing = rei.recontact(req.id, ANNE, COHORT)
    assert listing.purpose == "recontact" and listing.reference == "CSE-2026-07"
    assert {i.person_id for i in listing.identities} == {s.person_ids[n] for n in DIABETIC}
    assert {i.fields["family"] for i in listing.identities} == {PEOPLE[n]["family"] for n in DIABETIC}


def test_recontact_for_another_purpose_refused(s: Setup, rei: Reidentification) -> None:
    with pytest.raises(ReidentificationError, match="serves recontact"):
        rei.request(
            ANNE,
            "recontact",
            reference="X-1",
            purpose="product_promotion",
            justification=JUSTIFICATION,
            parameters={"criteria": COHORT},
        )
    assert _steps(s) == [("reidentify.request", "anne", "denied")]


# ---- REI-3: emergency ---------------------------------------------------------------------------------------------


def test_emergency_from_pseudonym_to_identity(s: Setup, rei: Reidentification) -> None:
    pseudonym = s.warehouse.pseudonym_of(PEOPLE["chloe"])
    req = rei.request(
        ANNE,
        "emergency",
        reference="URG-2026-003",
        justification="Critical potassium result found, the person must be warned today.",
        parameters={"pseudonym": pseudonym},
    )
    rei.approve(req.id, BRICE)
    revealed = rei.emergency(req.id, ANNE, pseudonym)
    assert revealed.fields["given"] == "Chloé" and revealed.fields["phone"] == "0600000000"


def test_emergency_from_person_id_and_unknown_person(s: Setup, rei: Reidentification) -> None:
    pid = str(s.person_ids["alice"])
    req = rei.request(ANNE, "emergency", reference="URG-1", justification=JUSTIFICATION, parameters={"pseudonym": pid})
    rei.approve(req.id, BRICE)
    assert rei.emergency(req.id, ANNE, pid).fields["family"] == "Martin-Fictif"
    unknown = rei.request(
        ANNE, "emergency", reference="URG-2", justification=JUSTIFICATION, parameters={"pseudonym": "12345"}
    )
    rei.approve(unknown.id, BRICE)
    with pytest.raises(ReidentificationError, match="No identity"):
        rei.emergency(unknown.id, ANNE, "12345")


# ---- refusals (REI-4, REI-5) ---------------------------------------------------------------------------------------


def _emergency_request(rei: Reidentification, s: Setup) -> tuple[int, str]:
    pseudonym = s.warehouse.pseudonym_of(PEOPLE["alice"])
    req = rei.request(
        ANNE, "emergency", reference="URG-9", justification=JUSTIFICATION, parameters={"pseudonym": pseudonym}
    )
    return req.id, pseudonym


def test_nothing_revealed_without_approval(s: Setup, rei: Reidentification) -> None:
    request_id, pseudonym = _emergency_request(rei, s)
    with pytest.raises(ReidentificationError, match="nothing is revealed before a second team member approves"):
        rei.emergency(request_id, ANNE, pseudonym)
    assert _steps(s)[-1] == ("reidentify.execute", "anne", "denied")


def test_rejected_request_reveals_nothing(s: Setup, rei: Reidentification) -> None:
    request_id, pseudonym = _emergency_request(rei, s)
    rei.reject(request_id, BRICE)
    with pytest.raises(ReidentificationError, match="is rejected"):
        rei.emergency(request_id, ANNE, pseudonym)
    with pytest.raises(ReidentificationError, match="only a pending request"):
        rei.approve(request_id, BRICE)


def test_same_person_cannot_approve(s: Setup, rei: Reidentification) -> None:
    request_id, _ = _emergency_request(rei, s)
    with pytest.raises(ReidentificationError, match="second person"):
        rei.approve(request_id, Operator("ANNE", "recontact_team"))
    assert rei.list_requests()[0].status == "pending"
    assert _steps(s)[-1] == ("reidentify.approve", "ANNE", "denied")


def test_approver_must_be_an_authorised_team_member(s: Setup, rei: Reidentification) -> None:
    request_id, _ = _emergency_request(rei, s)
    with pytest.raises(ReidentificationError, match="not acting as an authorised member"):
        rei.approve(request_id, Operator("fanny", "recontact_team"))  # no such grant
    with pytest.raises(ReidentificationError, match="not acting as an authorised member"):
        rei.approve(request_id, Operator("fanny", "project_member"))


def test_only_the_requester_runs_the_approved_request(s: Setup, rei: Reidentification) -> None:
    request_id, pseudonym = _emergency_request(rei, s)
    rei.approve(request_id, BRICE)
    with pytest.raises(ReidentificationError, match="carried out by the team member who made it"):
        rei.emergency(request_id, BRICE, pseudonym)


@pytest.mark.parametrize(
    ("reference", "justification", "match"),
    [("", JUSTIFICATION, "reference"), ("URG-1", "", "justification"), ("URG-1", "too short reason", "justification")],
)
def test_request_without_reference_or_justification_refused(
    s: Setup, rei: Reidentification, reference: str, justification: str, match: str
) -> None:
    with pytest.raises(ReidentificationError, match=match):
        rei.request(ANNE, "emergency", reference=reference, justification=justification, parameters={"pseudonym": "1"})
    assert rei.list_requests() == []
    assert _steps(s) == [("reidentify.request", "anne", "denied")]


@pytest.mark.parametrize(
    "operator", [Operator("anne", "project_member"), Operator("anne", None), Operator("fanny", "recontact_team")]
)
def test_wrong_profile_refused(s: Setup, rei: Reidentification, operator: Operator) -> None:
    with pytest.raises(ReidentificationError, match="re-identification team"):
        rei.request(
            operator, "emergency", reference="URG-1", justification=JUSTIFICATION, parameters={"pseudonym": "1"}
        )
    assert rei.list_requests() == []


def test_unknown_procedure_refused(rei: Reidentification) -> None:
    with pytest.raises(ReidentificationError, match="not a re-identification procedure"):
        rei.request(ANNE, "curiosity", reference="X", justification=JUSTIFICATION, parameters={})
