"""/aac over HTTP: programmes, an access request, forms and cases, with the refusals as sentences."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from santegarde.api import create_app
from santegarde.compassionate.registry import Registry, example_text
from santegarde.compassionate.service import CompassionateService
from santegarde.identifiers import make_nir
from santegarde.store.db import migrate
from store_fixtures import Workplace, make_workplace

REQUEST = {
    "patient": {"surname": "Martin", "first_name": "Léa", "sex": "female", "birth": "1980-02", "establishment": "h1"},
    "answers": {
        "poids": 61,
        "taille": 165,
        "diagnostic": "G12.2",
        "date_diagnostic": "2026-02-01",
        "mutation_sod1": True,
        "score_alsfrs": 40,
    },
}


@pytest.fixture
def place(tmp_path: Path) -> Iterator[tuple[Workplace, TestClient]]:
    w = make_workplace(f"sqlite:///{tmp_path / 'aac.db'}", tmp_path, "aac-2022-106")
    migrate(w.service.engine, package="santegarde.compassionate")
    registry = Registry(tmp_path / "programmes", w.service.ref)
    registry.add(example_text(), "example")
    app = create_app(w.identity, records=w.service, compassionate=CompassionateService(w.service, registry))
    yield w, TestClient(app, base_url="https://testserver")
    w.close()


def as_(w: Workplace, client: TestClient, login: str, profile: str, ref: str) -> TestClient:
    token = w.person(login, profile, ref=ref, ends_at=w.identity.now() + timedelta(days=365))
    client.cookies.set("sg_session", token)
    return client


def test_a_request_and_its_forms_over_http(place: tuple[Workplace, TestClient]) -> None:
    w, client = place
    assert client.get("/aac/programmes").status_code == 401
    prescriber = as_(w, client, "dr.prescrit", "care_establishment_staff", "10001112223")
    listed = prescriber.get("/aac/programmes").json()
    assert [(p["id"], p["status"], p["versions"]) for p in listed] == [("velmorine-sla", "active", ["1"])]
    assert prescriber.get("/aac/programmes/velmorine-sla").json()["forms"][0]["id"] == "demande_acces"
    assert prescriber.get("/aac/programmes/nothing").status_code == 404

    nir = make_nir(male=False, year=80, month=2, department="75", commune=101, order=12)
    refused = prescriber.post(
        "/aac/programmes/velmorine-sla/requests",
        json={**REQUEST, "patient": {**REQUEST["patient"], "first_name": f"Léa {nir}"}},
    )
    said = refused.json()["message"]
    assert refused.status_code == 422 and "NIR ou un INS a été trouvé dans patient.first_name" in said
    assert nir not in refused.text
    free = prescriber.post(
        "/aac/programmes/velmorine-sla/requests",
        json={**REQUEST, "answers": {**REQUEST["answers"], "note": "texte libre"}},
    )
    assert free.status_code == 422 and "pas de saisie libre" in free.json()["message"]
    english = prescriber.post(
        "/aac/programmes/velmorine-sla/requests",
        json={**REQUEST, "answers": {**REQUEST["answers"], "note": "texte libre"}},
        headers={"Accept-Language": "en"},
    )
    assert english.status_code == 422 and "There is no free entry" in english.json()["detail"]

    created = prescriber.post("/aac/programmes/velmorine-sla/requests", json=REQUEST)
    assert created.status_code == 201, created.text
    case = created.json()
    assert case["code"].startswith("MARLE-") and case["status"] == "requested" and case["birth"] == "1980-02"
    assert created.headers["location"] == f"/aac/cases/{case['patient_id']}"
    early = prescriber.post(
        f"/aac/cases/{case['patient_id']}/forms/suivi",
        json={"answers": {"date_visite": "2026-11-25", "poids": 60, "score_alsfrs": 39, "observance": "complete"}},
    )
    assert early.status_code == 409 and "sous traitement" in early.json()["message"]

    lab = as_(w, client, "ph.resp", "pharmacist_in_charge", "L-1")
    granted = lab.post(
        f"/aac/cases/{case['patient_id']}/forms/decision_laboratoire", json={"answers": {"decision": "granted"}}
    )
    assert granted.status_code == 201 and granted.json()["status"] == "granted"
    seen = lab.get(f"/aac/cases/{case['patient_id']}").json()
    assert [f["kind"] for f in seen["forms"]] == ["access_request", "decision"]
    assert seen["forms"][0]["answers"]["mutation_sod1"] is True  # the genetic answer, filed under its category

    other = as_(w, client, "dr.ailleurs", "care_establishment_staff", "10001112224")
    assert other.get(f"/aac/cases/{case['patient_id']}").status_code == 403


def test_the_summary_report_over_http(place: tuple[Workplace, TestClient]) -> None:
    w, client = place
    prescriber = as_(w, client, "dr.prescrit", "care_establishment_staff", "10001112223")
    assert prescriber.post("/aac/programmes/velmorine-sla/requests", json=REQUEST).status_code == 201
    refused = prescriber.get("/aac/programmes/velmorine-sla/report?start=2026-11-01&end=2026-12-31")
    said = refused.json()["message"]
    assert refused.status_code == 403 and "rapports de synthèse sont produits par les profils" in said
    lab = as_(w, client, "ph.resp", "pharmacist_in_charge", "L-1")
    answer = lab.get("/aac/programmes/velmorine-sla/report?start=2026-11-01&end=2026-12-31")
    assert answer.status_code == 200, answer.text
    requested = next(e for e in answer.json()["entries"] if e["item"].startswith("Patients ayant fait l'objet"))
    assert requested == {"section": "Effectifs", "item": requested["item"], "value": None, "suppressed": "primary"}
    as_csv = lab.get("/aac/programmes/velmorine-sla/report?start=2026-11-01&end=2026-12-31&format=csv")
    assert as_csv.headers["content-type"].startswith("text/csv") and "moins de patients que le seuil" in as_csv.text
    wrong = lab.get("/aac/programmes/velmorine-sla/report?start=2026-11-01&end=2026-12-31&format=xls")
    assert wrong.status_code == 400 and "json, csv ou pdf" in wrong.json()["message"]
    approved = lab.post(
        "/aac/programmes/velmorine-sla/events", json={"event": "summary_report_approved", "at": "2026-11-20T00:00:00Z"}
    )
    assert approved.status_code == 201 and approved.json()["patients"] == 1
    unknown = lab.post("/aac/programmes/velmorine-sla/events", json={"event": "approved", "at": "2026-11-20T00:00:00Z"})
    assert unknown.status_code == 400 and "summary_report_approved" in unknown.json()["message"]
    from santegarde.identifiers import make_rpps

    rpps = make_rpps("1000123456")
    card = {
        "last_name": "Fictif",
        "first_name": "Camille",
        "profession": "21",
        "rpps": rpps,
        "work_phone": "0400000000",
    }
    staff_client = as_(w, client, "dr.autre", "care_establishment_staff", "10001112225")
    assert staff_client.post("/aac/professionals", json=card).status_code == 201
    bad = staff_client.post("/aac/professionals", json={**card, "rpps": rpps[:-1] + str((int(rpps[-1]) + 1) % 10)})
    assert bad.status_code == 422 and "numéro RPPS n'est pas valide" in bad.json()["message"]
