"""The reports' pseudonymised extract: refreshed with each form in its transaction, sealed under the patient's key,
holding only what the reports count; the report computed from it equals the report read through the path; a
rebuild restores it for cases opened before it; the pharmacovigilance queue reads only the cases it names."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from santegarde.compassionate import extract
from santegarde.compassionate.rebuild import rebuild
from santegarde.compassionate.registry import Registry, example_text
from santegarde.compassionate.report import build
from santegarde.compassionate.service import CompassionateService, Patient, WorkflowRefused
from santegarde.compassionate.tables import aac_extract
from santegarde.crypto import DecryptionRefused
from santegarde.store.db import migrate
from santegarde.store.schema import patient_key
from santegarde.store.service import AccessDenied, Request
from store_fixtures import Workplace, make_workplace

PURPOSE = "access_initiation_follow_up"
START, END = date(2026, 1, 1), date(2026, 12, 31)
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


def _programme(service: CompassionateService, people: dict[str, Request], n: int) -> list[str]:
    """n patients: all granted and treated, followed up; one in three with an adverse effect, one in four stopped."""
    doctor, lab = people["doctor"], people["lab"]
    today = service.records.identity.now().date().isoformat()
    ids = []
    for i in range(n):
        patient = Patient(f"Martin{'abcdefghij'[i % 10]}", "Claire", ("female", "male")[i % 2], "1961-05", "h1")
        case = service.request_access(doctor, "velmorine-sla", patient, {**REQUEST, "poids": 45 + 3 * i})
        service.submit(lab, case.patient_id, "decision_laboratoire", {"decision": "granted"})
        service.submit(
            doctor, case.patient_id, "initiation", {"date_debut": today, "posologie": 20, "score_alsfrs": 39}
        )
        service.submit(
            doctor,
            case.patient_id,
            "suivi",
            {"date_visite": today, "poids": 60 + i, "score_alsfrs": 30 + i, "observance": "complete"},
        )
        if i % 3 == 0:
            service.submit(
                doctor,
                case.patient_id,
                "effet_indesirable",
                {"effet": "10028813", "date_survenue": today, "grave": False},
            )
        if i % 4 == 0:
            service.submit(doctor, case.patient_id, "arret", {"date_arret": today, "motif_arret": "inefficacite"})
        ids.append(case.patient_id)
    return ids


def _figures(service: CompassionateService, lab: Request) -> list[tuple[str, str, object, object]]:
    report = build(service, lab, "velmorine-sla", START, END, 2)
    return [(e.section, e.item, e.value, e.suppressed) for e in report.entries]


def test_the_report_from_the_extract_equals_the_report_through_the_path(
    place: tuple[Workplace, CompassionateService, dict[str, Request]],
) -> None:
    w, service, people = place
    _programme(service, people, 12)
    from_extract = _figures(service, people["lab"])
    with w.service.engine.begin() as conn:  # as if every case predated the extract: all read through the path
        conn.execute(delete(aac_extract))
    assert extract.rows(w.service, "velmorine-sla")[1] and _figures(service, people["lab"]) == from_extract
    done = rebuild(service, people["lab"], "velmorine-sla")
    assert (done.cases, done.skipped) == (12, 0)
    assert not extract.rows(w.service, "velmorine-sla")[1] and _figures(service, people["lab"]) == from_extract
    counts = {item: value for section, item, value, _ in from_extract if section == "Effectifs"}
    assert counts["Patients traités pendant la période"] == 12
    assert counts["Patients ayant arrêté le traitement"] == 3
    weights = {item: value for section, item, value, _ in from_extract if section == "Patients traités — Poids"}
    assert weights["50 à 69 kg"] == 10 and weights["70 à 89 kg"] == 2  # the weight of the last visit, not the height


def test_the_extract_holds_only_what_the_reports_count_sealed_under_the_patients_key(
    place: tuple[Workplace, CompassionateService, dict[str, Request]],
) -> None:
    w, service, people = place
    first, second = _programme(service, people, 2)
    with w.service.engine.connect() as conn:
        sealed = {int(r.number): bytes(r.sealed) for r in conn.execute(select(aac_extract))}
    for token in sealed.values():  # nothing readable in the database
        assert b"10028813" not in token and b"female" not in token and b"granted" not in token
    (row, *_), missing = extract.rows(w.service, "velmorine-sla")
    assert not missing and row.birth == "1961-05" and row.sex == "female"
    assert [kind.value for _, kind, _, _ in row.forms] == [
        "access_request",
        "decision",
        "initiation",
        "follow_up",
        "adverse_effect",
        "stop",
    ]
    kept = {k for _, _, _, answers in row.forms for k in answers}
    assert kept == {"poids", "decision", "score_alsfrs", "effet"}  # no height, diagnosis, dose, date or seriousness
    # A sealed row copied onto another case does not open (the seal is bound to the case).
    with w.service.engine.begin() as conn:
        conn.execute(update(aac_extract).where(aac_extract.c.number == 2).values(sealed=sealed[1]))
    with pytest.raises(DecryptionRefused, match="reconstruisez-les à partir des dossiers"):
        extract.rows(w.service, "velmorine-sla")
    # Erased keys: the row no longer opens, and the case is counted nowhere.
    with w.service.engine.begin() as conn:
        conn.execute(update(aac_extract).where(aac_extract.c.number == 2).values(sealed=sealed[2]))
        conn.execute(delete(patient_key).where(patient_key.c.patient_id == first))
    rows, missing = extract.rows(w.service, "velmorine-sla")
    assert [r.patient_id for r in rows] == [second] and not missing


def test_a_refused_form_leaves_the_extract_as_it_was(
    place: tuple[Workplace, CompassionateService, dict[str, Request]],
) -> None:
    w, service, people = place
    (stopped,) = _programme(service, people, 1)  # the first patient is stopped
    before = extract.rows(w.service, "velmorine-sla")[0][0].forms
    with pytest.raises(WorkflowRefused, match="suppose un patient sous traitement"):
        service.submit(
            people["doctor"],
            stopped,
            "suivi",
            {"date_visite": "2026-11-02", "poids": 61, "score_alsfrs": 30, "observance": "complete"},
        )
    assert extract.rows(w.service, "velmorine-sla")[0][0].forms == before


def test_rebuilding_needs_the_right_to_produce_the_reports(
    place: tuple[Workplace, CompassionateService, dict[str, Request]],
) -> None:
    w, service, people = place
    _programme(service, people, 1)
    with pytest.raises(AccessDenied, match="rapports de synthèse sont produits par les profils"):
        rebuild(service, people["supply"], "velmorine-sla")
    assert extract.rows(w.service, "velmorine-sla")[0]  # untouched
    with w.service.engine.begin() as conn:
        conn.execute(delete(aac_extract))
    done = rebuild(service, people["lab"], "velmorine-sla", only_missing=True)
    assert (done.cases, done.skipped) == (1, 0)
    assert rebuild(service, people["lab"], "velmorine-sla", only_missing=True).cases == 0


def test_the_adverse_effect_queue_reads_only_the_cases_with_an_effect(
    place: tuple[Workplace, CompassionateService, dict[str, Request]], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, service, people = place
    ids = _programme(service, people, 6)
    read: list[str] = []
    state = service.state

    def spy(req: Request, patient_id: str) -> object:
        read.append(patient_id)
        return state(req, patient_id)

    monkeypatch.setattr(service, "state", spy)
    found = service.adverse_effects(people["lab"], "velmorine-sla")
    assert sorted(read) == sorted([ids[0], ids[3]])  # one in three has an effect
    assert {c.patient_id for c, _ in found} == {ids[0], ids[3]} and all(
        f.answers["effet"] == "10028813" for _, f in found
    )
    read.clear()
    assert service.adverse_effects(people["lab"], "velmorine-sla", since=date(2027, 1, 1)) == [] and read == []


def _follow_up(w: Workplace, doctor: Request, patient_id: str) -> dict[str, object]:
    """The patient's follow-up record holding the weight, as the doctor reads it."""
    from santegarde.store.schema import record

    with w.service.engine.connect() as conn:
        ids = conn.execute(
            select(record.c.id).where(
                record.c.patient_id == patient_id,
                record.c.resource_type == "QuestionnaireResponse",
                record.c.current.is_(True),
            )
        ).scalars()
        bodies = [w.service.read(doctor, "QuestionnaireResponse", str(i)) for i in ids]
    return next(b for b in bodies if "/suivi|" in str(b["questionnaire"]) and "poids" in str(b.get("item")))


def _weighed(body: dict[str, object], kilograms: float) -> dict[str, object]:
    items = [dict(i) for i in body["item"]]  # type: ignore[attr-defined]
    for item in items:
        if item["linkId"] == "poids":
            item["answer"] = [{**item["answer"][0], "valueQuantity": {**item["answer"][0]["valueQuantity"],
                                                                      "value": kilograms}}]  # fmt: skip
    return {k: v for k, v in body.items() if k != "meta"} | {"item": items}


def test_a_form_rectified_through_the_records_is_counted_as_rectified(
    place: tuple[Workplace, CompassionateService, dict[str, Request]],
) -> None:
    """Issue 16, item 5: a follow-up rectified outside the workflow (a FHIR update, a rights rectification) makes
    its case's row stale: the report counts the corrected weight, through the path, until the rebuild reseals it."""
    w, service, people = place
    both = _programme(service, people, 2)  # the first is stopped, the second treated
    weights = lambda: {  # noqa: E731  (threshold 2: both patients always fall in the same band here)
        item: value for section, item, value, _ in _figures(service, people["lab"]) if section.endswith("Poids")
    }
    assert weights() == {"50 à 69 kg": 2}
    for patient in both:
        body = _follow_up(w, people["doctor"], patient)
        w.service.update(people["doctor"], "QuestionnaireResponse", str(body["id"]), _weighed(body, 95))
    stale = extract.rows(w.service, "velmorine-sla")[1]
    assert sorted(patient for _, patient in stale) == sorted(both)  # the rows no longer count: the records changed
    assert weights() == {"90 kg et plus": 2}
    # The next form of a stale case does not extend its row (the row would keep the old weight).
    today = service.records.identity.now().date().isoformat()
    visit = {"date_visite": today, "poids": 96, "score_alsfrs": 31, "observance": "complete"}
    service.submit(people["doctor"], both[1], "suivi", visit)
    assert len(extract.rows(w.service, "velmorine-sla")[1]) == 2 and weights() == {"90 kg et plus": 2}
    done = rebuild(service, people["lab"], "velmorine-sla", only_missing=True)
    assert done.cases == 2 and not extract.rows(w.service, "velmorine-sla")[1]
    assert weights() == {"90 kg et plus": 2}
    # Fresh again: a new form extends the row, which stays in step with the records.
    service.submit(people["doctor"], both[1], "suivi", {**visit, "poids": 68})
    rows, missing = extract.rows(w.service, "velmorine-sla")
    kilograms = [a["poids"] for _, _, _, a in rows[1].forms if "poids" in a]
    assert not missing and kilograms[-1] == 68 and {95, 96} <= set(kilograms) and 61 not in kilograms


def test_a_corrected_patient_record_makes_the_row_stale_too(
    place: tuple[Workplace, CompassionateService, dict[str, Request]],
) -> None:
    w, service, people = place
    first, _ = _programme(service, people, 2)  # a woman, a man
    sexes = lambda: {  # noqa: E731
        item: value for section, item, value, _ in _figures(service, people["lab"]) if section.endswith("Sexe")
    }
    assert sexes() == {"femmes": None, "hommes": None}  # one each: under the threshold of 2
    patient = w.service.read(people["doctor"], "Patient", first)
    corrected = {k: v for k, v in patient.items() if k != "meta"} | {"gender": "male"}
    w.service.update(people["doctor"], "Patient", first, corrected)
    assert [p for _, p in extract.rows(w.service, "velmorine-sla")[1]] == [first]
    assert sexes() == {"hommes": 2}


def test_a_rights_rectification_is_counted_as_rectified(
    place: tuple[Workplace, CompassionateService, dict[str, Request]],
) -> None:
    """The rights desk's rectification (§11) of a follow-up form: the report counts the corrected weight."""
    from santegarde.referentials.model import Right
    from santegarde.rights import Requester, RightsService

    w, service, people = place
    migrate(w.service.engine, package="santegarde.rights")
    both = _programme(service, people, 2)
    lab = people["lab"]
    desk = RightsService(w.service, organisation="Laboratoire fictif")
    for patient in both:
        asked = desk.receive(lab, Right.RECTIFICATION, patient, Requester.PERSON)
        desk.register.record_identity_check(lab, asked.id, "pièce d'identité vue par le prescripteur, conforme")
        body = _follow_up(w, people["doctor"], patient)
        assert desk.execute(lab, asked.id, corrected=_weighed(body, 92)).executed
    assert len(extract.rows(w.service, "velmorine-sla")[1]) == 2
    weights = {item: value for section, item, value, _ in _figures(service, lab) if section.endswith("Poids")}
    assert weights == {"90 kg et plus": 2}
