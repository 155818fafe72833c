"""Transfers of a programme's data outside the EU (§12, AAC-12): only indirectly identifying data, only to a
recipient declared in the transfer register for that country and those categories; anything else refused, traced,
nothing exported. Inside the EU an export is an ordinary communication, traced."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from santegarde.compassionate.export import ExportRefused, export
from santegarde.compassionate.registry import Registry, example_text
from santegarde.compassionate.service import CompassionateService, Patient
from santegarde.demo import demo_answers
from santegarde.governance import transfers
from santegarde.governance.register import build_register
from santegarde.organisation import build_config
from santegarde.referentials import loader
from santegarde.referentials.model import OrganisationProfile
from santegarde.store.db import migrate
from santegarde.store.service import Request
from store_fixtures import Workplace, make_workplace

PURPOSE = "access_initiation_follow_up"
AFFILIATE = "Filiale Exemple Inc."
REQUEST = {
    "poids": 64,
    "taille": 171,
    "diagnostic": "G12.2",
    "date_diagnostic": "2026-01-10",
    "mutation_sod1": True,
    "score_alsfrs": 40,
}


@pytest.fixture
def place(tmp_path: Path) -> Iterator[tuple[Workplace, CompassionateService, Request, str]]:
    w = make_workplace(f"sqlite:///{tmp_path / 'aac.db'}", tmp_path, "aac-2022-106")
    for package in ("santegarde.compassionate", "santegarde.governance"):
        migrate(w.service.engine, package=package)
    registry = Registry(tmp_path / "programmes", w.service.ref)
    registry.add(example_text(), "example")
    ends = w.identity.now() + timedelta(days=365)
    doctor = Request(w.person("dr.prescrit", "care_establishment_staff", ref="10001112223", ends_at=ends), PURPOSE)
    lab = Request(w.person("ph.resp", "pharmacist_in_charge", ref="L-1", ends_at=ends), PURPOSE)
    service = CompassionateService(w.service, registry)
    case = service.request_access(
        doctor, "velmorine-sla", Patient("Garnier", "Lucie", "female", "1961-05", "h1"), REQUEST
    )
    yield w, service, lab, str(case.code)
    w.close()


def _declare(w: Workplace, *categories: str) -> None:
    request = transfers.TransferRequest(
        "US",
        AFFILIATE,
        categories,
        basis="safeguards",
        safeguard="scc",
        strictly_necessary=True,
        persons_informed=True,
        purpose=PURPOSE,
    )
    transfers.record(w.service.engine, request, profile=OrganisationProfile.COMPASSIONATE, recorded_by="dpo")


def _denied(w: Workplace) -> list[str]:
    with w.audit.engine.connect() as conn:
        return [e.content["rule"] for e in w.audit.entries(conn) if e.content.get("allowed") is False]


def _operations(w: Workplace) -> list[str]:
    with w.audit.engine.connect() as conn:
        return [e.content["operation"] for e in w.audit.entries(conn) if e.content.get("allowed")]


def test_an_export_outside_the_eu_needs_a_declared_transfer_covering_it(
    place: tuple[Workplace, CompassionateService, Request, str],
) -> None:
    w, service, lab, code = place
    identity = ["patient_indirect_identity"]
    with pytest.raises(ExportRefused, match=r"aucun transfert vers Filiale Exemple Inc\. \(US\) n'est déclaré.*§12\.4"):
        export(service, lab, "velmorine-sla", AFFILIATE, "US", identity)
    assert "AAC-12.undeclared" in _denied(w)
    _declare(w, "patient_indirect_identity")
    with pytest.raises(ExportRefused, match="ne couvre que patient_indirect_identity"):  # more than what was declared
        export(service, lab, "velmorine-sla", AFFILIATE, "US", [*identity, "patient_characteristics"])
    with pytest.raises(ExportRefused, match="aucun transfert vers Autre Société"):  # another recipient, same country
        export(service, lab, "velmorine-sla", "Autre Société", "US", identity)
    with pytest.raises(ExportRefused, match=r"aucun transfert vers Filiale Exemple Inc\. \(IN\)"):  # elsewhere
        export(service, lab, "velmorine-sla", AFFILIATE, "IN", identity)
    data = export(service, lab, "velmorine-sla", AFFILIATE, "us", identity)
    assert data["transfer_outside_eu"] and data["country"] == "US"
    assert data["cases"] == [{"code": code, "forms": []}]  # the code only: no sex, birth or answer
    assert "aac.export.transfer.US" in _operations(w)


def test_health_data_never_leave_the_eu_even_if_declared(
    place: tuple[Workplace, CompassionateService, Request, str],
) -> None:
    w, service, lab, _ = place
    with pytest.raises(transfers.TransferError, match="safety ne peuvent pas être transférées"):
        _declare(w, "patient_indirect_identity", "safety")  # the register refuses it (§12.1)
    for category in ("safety", "efficacy", "health", "genetic"):
        with pytest.raises(ExportRefused, match=rf"{category} ne peuvent pas quitter l'Union européenne"):
            export(service, lab, "velmorine-sla", AFFILIATE, "US", ["patient_indirect_identity", category])
    assert _denied(w).count("AAC-12.categories_outside_eu") == 4


def test_within_the_eu_an_export_keeps_only_the_categories_asked(
    place: tuple[Workplace, CompassionateService, Request, str],
) -> None:
    w, service, lab, code = place
    data = export(
        service,
        lab,
        "velmorine-sla",
        "Centre régional de pharmacovigilance",
        "FR",
        ["patient_indirect_identity", "patient_characteristics", "efficacy"],
    )
    assert not data["transfer_outside_eu"]
    (case,) = data["cases"]
    assert case["code"] == code and case["sex"] == "female" and case["birth"] == "1961-05"
    assert case["forms"] == [
        {
            "form": "demande_acces",
            "kind": "access_request",
            "date": case["forms"][0]["date"],
            "poids": 64,
            "taille": 171,
            "score_alsfrs": 40,
        }
    ]  # no diagnosis, no genetic answer: not asked
    with pytest.raises(ExportRefused, match="parmi celles de aac-2022-106"):
        export(service, lab, "velmorine-sla", "CRPV", "FR", ["nom_du_patient"])
    with pytest.raises(ExportRefused, match=r"Atlantide"):
        export(service, lab, "velmorine-sla", "CRPV", "Atlantide", ["patient_indirect_identity"])
    assert "aac.export.eu.FR" in _operations(w)


def test_the_register_lists_the_declared_transfers(
    place: tuple[Workplace, CompassionateService, Request, str], tmp_path: Path
) -> None:
    w, _, _, _ = place
    ref = loader.for_profile("compassionate")
    values, justifications = demo_answers(ref)
    config, ref = build_config(tmp_path / "org", "compassionate", organisation_name="Laboratoire fictif",
                               choices=values, justifications=justifications)  # fmt: skip
    before = build_register(config, ref)
    assert all("Aucun : aucun transfert" in a.transfers for a in before.activities)
    _declare(w, "patient_indirect_identity", "professional_data")
    declared = transfers.entries(w.service.engine)
    register = build_register(config, ref, declared=declared)
    said = {a.id: a.transfers for a in register.activities}
    assert said[PURPOSE].startswith(f"vers {AFFILIATE} (États-Unis) : ")
    assert "clauses contractuelles types" in said[PURPOSE] and "Aucun" not in said[PURPOSE]
    assert "Aucun : aucun transfert" in said["summary_reports"]  # declared for the follow-up only
    english = build_register(config, ref, declared=declared, lang="en")
    assert next(a.transfers for a in english.activities if a.id == PURPOSE).startswith(f"to {AFFILIATE} (")
    assert "_" not in said[PURPOSE]  # category names in words, never identifiers
