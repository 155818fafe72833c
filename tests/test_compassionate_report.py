"""The periodic summary report for the ANSM: counts equal a direct count over the synthetic patients, no cell under
the threshold appears, and a profile without the right is refused before anything is read."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from santegarde.compassionate.registry import Registry, example_text
from santegarde.compassionate.report import ReportRefused, build
from santegarde.compassionate.service import CompassionateService, Patient
from santegarde.store.db import migrate
from santegarde.store.service import AccessDenied, Request
from santegarde.synthetic import generate_dataset
from store_fixtures import Workplace, make_workplace

PURPOSE = "access_initiation_follow_up"
THRESHOLD = 4
START, END = date(2026, 11, 1), date(2026, 12, 31)
REQUEST = {
    "taille": 170,
    "diagnostic": "G12.2",
    "date_diagnostic": "2026-01-10",
    "mutation_sod1": True,
    "score_alsfrs": 40,
}


@pytest.fixture
def place(tmp_path: Path) -> Iterator[tuple[Workplace, CompassionateService]]:
    w = make_workplace(f"sqlite:///{tmp_path / 'aac.db'}", tmp_path, "aac-2022-106")
    migrate(w.service.engine, package="santegarde.compassionate")
    registry = Registry(tmp_path / "programmes", w.service.ref)
    registry.add(example_text(), "example")
    yield w, CompassionateService(w.service, registry)
    w.close()


def test_the_report_counts_what_happened_and_hides_small_cells(place: tuple[Workplace, CompassionateService]) -> None:
    w, service = place
    ends = w.identity.now() + timedelta(days=365)
    doctor = Request(w.person("dr.prescrit", "care_establishment_staff", ref="10001112223", ends_at=ends), PURPOSE)
    lab = Request(w.person("ph.resp", "pharmacist_in_charge", ref="L-1", ends_at=ends), PURPOSE)
    supply = Request(w.person("appro", "supply", ref="L-2", ends_at=ends), PURPOSE)
    today = w.identity.now().date().isoformat()
    people = generate_dataset(16, 12, "practice").patients
    truth: Counter[str] = Counter()
    sexes: Counter[str] = Counter()
    effects: Counter[str] = Counter()
    for i, person in enumerate(people):
        name = person.name[0]
        patient = Patient(name.family, name.given[0], person.gender, str(person.birthDate)[:7], "h1")
        weight = 45 + 4 * i  # bands: under 50, 50-69, 70-89, 90 and more
        case = service.request_access(doctor, "velmorine-sla", patient, {**REQUEST, "poids": weight})
        truth["requested"] += 1
        if i >= 8:  # four refusals: a cell of the threshold's size
            service.submit(
                lab,
                case.patient_id,
                "decision_laboratoire",
                {"decision": "refused", "motif_refus": "contre_indication"},
            )
            continue
        service.submit(lab, case.patient_id, "decision_laboratoire", {"decision": "granted"})
        truth["granted"] += 1
        if i == 7:
            continue
        service.submit(
            doctor, case.patient_id, "initiation", {"date_debut": today, "posologie": 20, "score_alsfrs": 39}
        )
        truth["treated"] += 1
        sexes[person.gender] += 1
        for term in ["10028813"] * (i < 5) + ["10019211"] * (i == 0):  # one patient also has a headache
            service.submit(
                doctor, case.patient_id, "effet_indesirable", {"effet": term, "date_survenue": today, "grave": False}
            )
            effects[term] += 1
        if 3 <= i <= 6:
            service.submit(doctor, case.patient_id, "arret", {"date_arret": today, "motif_arret": "inefficacite"})
            truth["stopped"] += 1

    with pytest.raises(AccessDenied, match="rapports de synthèse sont produits par les profils"):
        build(service, supply, "velmorine-sla", START, END, THRESHOLD)
    with pytest.raises(ReportRefused, match=r"finit \(2026-11-01\) avant de commencer") as refused:
        build(service, lab, "velmorine-sla", END, START, THRESHOLD)
    assert "ends (2026-11-01) before it starts (2026-12-31)" in refused.value.in_language("en")
    with pytest.raises(ReportRefused, match="au moins 2"):
        build(service, lab, "velmorine-sla", START, END, 1)

    report = build(service, lab, "velmorine-sla", START, END, THRESHOLD)
    counts = {e.item: e.value for e in report.entries if e.section == "Effectifs"}
    assert counts["Patients ayant fait l'objet d'une demande d'accès"] == truth["requested"] == 12
    assert counts["Patients dont l'accès a été accordé"] == truth["granted"] == 8
    assert counts["Patients traités pendant la période"] == truth["treated"] == 7
    assert counts["Patients ayant arrêté le traitement"] == truth["stopped"] == 4
    assert counts["Patients dont une personne de l'entourage a été affectée"] == 0
    effects_shown = [e for e in report.entries if e.section == "Effets indésirables (MedDRA)"]
    headache = next(e for e in effects_shown if e.item == "10019211 Céphalée")
    assert effects["10019211"] == 1 and headache.value is None and headache.suppressed == "primary"
    assert any(e.suppressed == "complementary" for e in effects_shown)  # 1 could not be found by subtraction
    nausea = next(e for e in effects_shown if e.item == "10028813 Nausée")
    assert nausea.value in (effects["10028813"], None)
    for e in report.entries:  # no published count under the threshold, and every suppression says why
        assert e.value is None or e.value == 0 or e.section in ("Exposition", "Efficacité") or e.value >= THRESHOLD
        assert (e.value is None) == (e.suppressed is not None) or e.section == "Efficacité"  # no visit: no mean
    by_sex = {e.item: e for e in report.entries if e.section == "Patients traités — Sexe"}
    for sex, n in sexes.items():
        entry = by_sex[{"female": "femmes", "male": "hommes"}[sex]]
        assert entry.value == n or (entry.value is None and (n < THRESHOLD or entry.suppressed == "complementary"))
    exposure = next(e for e in report.entries if e.section == "Exposition")
    assert exposure.value == truth["treated"]  # initiated and, for some, stopped the same day: one day each
    data = json.loads(json.dumps(report.as_dict()))
    assert data["small_cell_threshold"] == THRESHOLD and data["period"]["start"] == "2026-11-01"
    assert "masquage complémentaire" in report.csv() or "moins de patients que le seuil" in report.csv()
    page = report.html()
    assert "Rapport périodique de synthèse" in page and "_" not in page.split("<body>")[1].replace("\\_", "")
