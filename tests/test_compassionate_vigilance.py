"""Adverse effects reach pharmacovigilance at once (issue 16, item 4): the report's transaction puts it in the
inbox; only the pharmacovigilance profile lists and acknowledges it; everything else refused in French, traced."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from santegarde.api import create_app
from santegarde.compassionate import vigilance
from santegarde.compassionate.forms import SubmissionRefused
from santegarde.compassionate.service import CompassionateService, Patient
from santegarde.compassionate.tables import aac_vigilance
from santegarde.store.service import AccessDenied
from store_fixtures import Workplace
from test_compassionate_workflow import REQUEST, aac, count, denied_rules, staff  # noqa: F401  (aac: a fixture)

EFFECT = {"effet": "10028813", "grave": True}


def treated(w: Workplace, service: CompassionateService, surname: str = "Martin") -> tuple[Any, str]:
    prescriber = staff(w, f"dr.{surname.lower()}", "care_establishment_staff", f"1000111{len(surname):04d}")
    lab = staff(w, f"ph.{surname.lower()}", "pharmacist_in_charge", f"L-{surname}")
    case = service.request_access(prescriber, "velmorine-sla", Patient(surname, "Léa", "female", "1980-02", "h1"),
                                  REQUEST)  # fmt: skip
    service.submit(lab, case.patient_id, "decision_laboratoire", {"decision": "granted"})
    service.submit(prescriber, case.patient_id, "initiation", {"date_debut": "2026-11-24", "posologie": 20,
                                                               "score_alsfrs": 37})  # fmt: skip
    return prescriber, case.patient_id


def test_a_report_is_in_pharmacovigilances_inbox_at_once_until_acknowledged(
    aac: tuple[Workplace, CompassionateService],  # noqa: F811
) -> None:
    w, service = aac
    prescriber, patient_id = treated(w, service)
    pv = staff(w, "pv.resp", "pharmacovigilance", "L-4")
    assert vigilance.pending(service, pv, "velmorine-sla") == []
    today = w.identity.now().date().isoformat()
    service.submit(prescriber, patient_id, "effet_indesirable", {**EFFECT, "date_survenue": today})
    waiting = vigilance.pending(service, pv, "velmorine-sla")
    assert [(a.case.patient_id, a.report.answers["effet"], a.report.answers["grave"]) for a in waiting] == [
        (patient_id, "10028813", True)
    ]
    with w.service.engine.connect() as conn:  # the inbox row holds no term, no code, no patient id in clear
        row = conn.execute(select(aac_vigilance)).one()
    assert "10028813" not in str(row) and patient_id not in str(row) and row.acknowledged_at is None

    # A refused report (a value out of its field) stores nothing and puts nothing in the inbox.
    before = count(w, aac_vigilance)
    with pytest.raises(SubmissionRefused):
        service.submit(prescriber, patient_id, "effet_indesirable", {**EFFECT, "date_survenue": "2999-01-01"})
    assert count(w, aac_vigilance) == before

    assert vigilance.acknowledge(service, pv, waiting[0].id) == "pv.resp"
    assert vigilance.pending(service, pv, "velmorine-sla") == []
    with pytest.raises(vigilance.AlertRefused, match=r"déjà été pris en compte par pv\.resp"):
        vigilance.acknowledge(service, pv, waiting[0].id)
    with pytest.raises(vigilance.AlertRefused, match=r"Aucun signalement n° 999 .*vigilance list"):
        vigilance.acknowledge(service, pv, 999)
    assert denied_rules(w)[-2:] == ["AAC-8.vigilance.done", "record.not_found"]
    with w.audit.engine.connect() as conn:
        done = [e.content for e in w.audit.entries(conn) if e.content.get("operation") == "aac.vigilance.acknowledge"]
    assert [(e["actor"], e["allowed"], e["resource_id"]) for e in done if e["allowed"]] == [
        ("pv.resp", True, str(waiting[0].id))
    ]

    # A second report comes in after the first was handled: only it is waiting.
    service.submit(prescriber, patient_id, "effet_indesirable", {**EFFECT, "grave": False, "date_survenue": today})
    assert [a.report.answers["grave"] for a in vigilance.pending(service, pv, "velmorine-sla")] == [False]


@pytest.mark.parametrize(
    "profile", ["pharmacist_in_charge", "medical_affairs", "supply", "research_development", "care_establishment_staff"]
)
def test_no_other_profile_reads_or_acknowledges_the_inbox(
    aac: tuple[Workplace, CompassionateService],  # noqa: F811
    profile: str,
) -> None:
    w, service = aac
    prescriber, patient_id = treated(w, service)
    today = w.identity.now().date().isoformat()
    service.submit(prescriber, patient_id, "effet_indesirable", {**EFFECT, "date_survenue": today})
    other = staff(w, "autre.profil", profile, "L-9")
    with pytest.raises(AccessDenied, match="boîte des signalements d'effets indésirables est celle de la pharmaco"):
        vigilance.pending(service, other, "velmorine-sla")
    with pytest.raises(AccessDenied) as refused:
        vigilance.acknowledge(service, other, 1)
    assert "pharmacovigilance grant" in refused.value.in_language("en")
    with w.service.engine.connect() as conn:
        assert conn.execute(select(aac_vigilance.c.acknowledged_at)).scalar_one() is None
    assert len([r for r in denied_rules(w) if r.startswith(("AAC-8.vigilance", "accessors."))]) >= 2


def test_the_inbox_over_http(aac: tuple[Workplace, CompassionateService]) -> None:  # noqa: F811
    w, service = aac
    prescriber, patient_id = treated(w, service)
    today = w.identity.now().date().isoformat()
    service.submit(prescriber, patient_id, "effet_indesirable", {**EFFECT, "date_survenue": today})
    client = TestClient(create_app(w.identity, records=w.service, compassionate=service), base_url="https://testserver")
    client.cookies.set("sg_session", staff(w, "ph.autre", "pharmacist_in_charge", "L-8").token)
    refused = client.get("/aac/programmes/velmorine-sla/vigilance")
    assert refused.status_code == 403 and "celle de la pharmacovigilance" in refused.json()["message"]
    client.cookies.set("sg_session", staff(w, "pv.resp", "pharmacovigilance", "L-4").token)
    inbox = client.get("/aac/programmes/velmorine-sla/vigilance").json()
    assert [(a["patient_id"], a["answers"]["effet"]) for a in inbox] == [(patient_id, "10028813")]
    done = client.post(f"/aac/vigilance/{inbox[0]['id']}/acknowledge")
    assert done.status_code == 200 and done.json()["acknowledged_by"] == "pv.resp"
    again = client.post(f"/aac/vigilance/{inbox[0]['id']}/acknowledge", headers={"Accept-Language": "en"})
    assert again.status_code == 400 and "already acknowledged by pv.resp" in again.json()["detail"]
    assert client.get("/aac/programmes/velmorine-sla/vigilance").json() == []
