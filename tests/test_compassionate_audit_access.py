"""AAC-8: the audit service reaches the data only ad hoc and on a written reason (§8.2), within a short grant.

Without its reason (or with too short a one) every read is refused with the sentence saying what to give, and the
refusal is traced; with it, the read goes through, the reason is kept and the trace points to it. A grant to the
audit profile runs at most 31 days (one mission)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from santegarde.compassionate.registry import Registry, example_text
from santegarde.compassionate.service import CompassionateService, Patient
from santegarde.identity import grants
from santegarde.identity.errors import GrantError
from santegarde.store.db import migrate
from santegarde.store.schema import access_justification
from santegarde.store.service import AccessDenied, Request
from store_fixtures import Workplace, make_workplace

PURPOSE = "access_initiation_follow_up"
REASON = "contrôle du respect de la procédure de recueil, mission d'audit A-12"
REQUEST = {"poids": 64, "taille": 171, "diagnostic": "G12.2", "date_diagnostic": "2026-01-10", "mutation_sod1": True,
           "score_alsfrs": 40}  # fmt: skip


@pytest.fixture
def place(tmp_path: Path) -> Iterator[tuple[Workplace, CompassionateService, str, str]]:
    w = make_workplace(f"sqlite:///{tmp_path / 'aac.db'}", tmp_path, "aac-2022-106")
    migrate(w.service.engine, package="santegarde.compassionate")
    registry = Registry(tmp_path / "programmes", w.service.ref)
    registry.add(example_text(), "example")
    now = w.identity.now()
    doctor = w.person("dr.prescrit", "care_establishment_staff", ref="10001112223", ends_at=now + timedelta(days=365))
    auditor = w.person("audit.interne", "audit", ref="L-9", ends_at=now + timedelta(days=20))
    service = CompassionateService(w.service, registry)
    case = service.request_access(
        Request(doctor, PURPOSE), "velmorine-sla", Patient("Garnier", "Lucie", "female", "1961-05", "h1"), REQUEST
    )
    yield w, service, auditor, case.patient_id
    w.close()


def _traced(w: Workplace) -> list[dict[str, object]]:
    with w.audit.engine.connect() as conn:
        return [e.content for e in w.audit.entries(conn) if e.content.get("actor") == "audit.interne"]


def test_without_a_written_reason_the_audit_service_reads_nothing_and_is_traced(
    place: tuple[Workplace, CompassionateService, str, str],
) -> None:
    w, service, auditor, patient = place
    for reason in (None, "", "   contrôle   "):  # none, empty, too short
        with pytest.raises(AccessDenied) as refused:
            w.service.read(Request(auditor, PURPOSE, reason=reason), "Patient", patient)
        assert "sur motif écrit" in str(refused.value) and "--reason" in str(refused.value)
        assert "written reason" in refused.value.in_language("en")
    with pytest.raises(AccessDenied):
        service.state(Request(auditor, PURPOSE), patient)
    with pytest.raises(AccessDenied):  # a break-the-glass reason is not an audit's reason
        w.service.read(Request(auditor, PURPOSE, break_glass=REASON), "Patient", patient)
    denied = [e for e in _traced(w) if e.get("allowed") is False]
    assert len(denied) >= 5 and all(e["rule"] == "accessors.audit.motivated" for e in denied)
    with w.service.engine.connect() as conn:
        assert conn.execute(select(access_justification)).all() == []


def test_with_its_reason_the_read_goes_through_and_the_reason_is_kept(
    place: tuple[Workplace, CompassionateService, str, str],
) -> None:
    w, service, auditor, patient = place
    seen = w.service.read(Request(auditor, PURPOSE, reason=REASON), "Patient", patient)
    assert seen["gender"] == "female"  # pseudonymised data (§8.2)
    state = service.state(Request(auditor, PURPOSE, reason=REASON), patient)
    assert state.forms  # the case's forms, read with the reason
    with w.service.engine.connect() as conn:
        kept = conn.execute(select(access_justification)).all()
    assert kept and all(k.kind == "ad_hoc" and k.text == REASON and k.login == "audit.interne" for k in kept)
    allowed = [e for e in _traced(w) if e.get("allowed") is True and e.get("operation") == "read"]
    assert allowed and all(e.get("justification") for e in allowed)


def test_the_audit_service_never_writes_even_with_a_reason(
    place: tuple[Workplace, CompassionateService, str, str],
) -> None:
    w, _, auditor, patient = place
    body = w.service.read(Request(auditor, PURPOSE, reason=REASON), "Patient", patient)
    body.pop("meta", None)
    with pytest.raises(AccessDenied) as refused:
        w.service.update(Request(auditor, PURPOSE, reason=REASON), "Patient", patient, {**body, "gender": "male"})
    assert "motif" not in str(refused.value)  # refused by the policy (read only), not for want of a reason


def test_an_audit_grant_covers_one_mission_of_at_most_31_days(
    place: tuple[Workplace, CompassionateService, str, str],
) -> None:
    w, _, _, _ = place
    from santegarde.identity import accounts

    accounts.add(w.identity, "audit.long", "Audit Long", person_ref="L-10", by="admin")
    give = {"validated_by": "Responsable", "validator_role": "governance_body", "reason": "mission", "by": "admin"}
    with pytest.raises(GrantError, match="mission de 31 jours au plus"):
        grants.give(w.identity, "audit.long", "audit", ends_at=w.identity.now() + timedelta(days=90), **give)
    with pytest.raises(GrantError, match="donnez une date de fin"):
        grants.give(w.identity, "audit.long", "audit", **give)
    assert grants.give(w.identity, "audit.long", "audit", ends_at=w.identity.now() + timedelta(days=31), **give)


def test_over_http_the_reason_comes_in_the_x_access_reason_header(
    place: tuple[Workplace, CompassionateService, str, str],
) -> None:
    from fastapi.testclient import TestClient

    from santegarde.api.app import create_app

    w, _, auditor, patient = place
    client = TestClient(create_app(w.identity, records=w.service), base_url="https://testserver")
    client.cookies.set("sg_session", auditor)
    refused = client.get(f"/fhir/Patient/{patient}", headers={"X-Purpose": PURPOSE})
    assert refused.status_code == 403 and "--reason" in refused.text
    ascii_reason = "audit mission A-12: checking the collection procedure"
    seen = client.get(f"/fhir/Patient/{patient}", headers={"X-Purpose": PURPOSE, "X-Access-Reason": ascii_reason})
    assert seen.status_code == 200 and seen.json()["id"] == patient
    with w.service.engine.connect() as conn:
        kept = conn.execute(select(access_justification.c.text)).scalars().all()
    assert kept == [ascii_reason]
