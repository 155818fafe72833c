"""Compassionate access on the one record path (issue 16, step 2): access request → decision → initiation →
follow-ups → adverse effect → stop, as the establishment's staff and the laboratory's profiles, with the refusals."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from sqlalchemy import func, select

from identity_fixtures import NEW_PASSWORD
from santegarde.compassionate.forms import SubmissionRefused
from santegarde.compassionate.patient_code import initials
from santegarde.compassionate.registry import Registry, example_text
from santegarde.compassionate.screening import nir_fields
from santegarde.compassionate.service import CaseNotFound, CompassionateService, Patient, WorkflowRefused
from santegarde.compassionate.tables import aac_case, aac_workflow
from santegarde.identifiers import make_nir
from santegarde.identity import accounts, grants, sessions, totp
from santegarde.store.db import migrate
from santegarde.store.schema import record, record_part
from santegarde.store.service import AccessDenied, Request
from store_fixtures import Workplace, make_workplace

PURPOSE = "access_initiation_follow_up"
NIR = make_nir(male=False, year=68, month=4, department="69", commune=123, order=45)
REQUEST = {
    "poids": 71.5,
    "taille": 168,
    "diagnostic": "G12.2",
    "date_diagnostic": "2026-03-02",
    "mutation_sod1": True,
    "score_alsfrs": 38,
}


@pytest.mark.parametrize(
    ("surname", "first_name", "expected"),
    [
        ("Dupont", "Marie", "DUPMA"),
        ("de La Fontaine", "Jean-Pierre", "FONJE"),
        ("D'Artagnan", "Charles", "ARTCH"),
        ("Lœuvre", "Éloïse", "LOEEL"),
        ("Ba", "Li", "BAXLI"),
        ("Le", "Zoé", "LEXZO"),  # a particle alone is the name itself
        ("van der Berg", "Anne", "BERAN"),
        ("  Müller-Schmidt ", "J", "MULJX"),
    ],
)
def test_the_initials_are_normalised(surname: str, first_name: str, expected: str) -> None:
    assert initials(surname, first_name) == expected


def test_a_nir_is_recognised_by_shape_and_key_anywhere() -> None:
    spaced = f"{NIR[0]} {NIR[1:3]} {NIR[3:5]} {NIR[5:7]} {NIR[7:10]} {NIR[10:13]} {NIR[13:]}"
    assert nir_fields({"a": {"b": [1, f"voir {spaced} ici"]}}) == ["a.b[1]"]
    assert nir_fields({"x": NIR}) == ["x"]
    wrong_key = NIR[:13] + f"{(int(NIR[13:]) + 1) % 100:02d}"
    assert nir_fields({"x": wrong_key, "y": NIR[:13], "z": 71.5}) == []


@pytest.fixture
def aac(database_url: str, tmp_path: Path) -> Iterator[tuple[Workplace, CompassionateService]]:
    w = make_workplace(database_url, tmp_path, "aac-2022-106")
    migrate(w.service.engine, package="santegarde.compassionate")
    registry = Registry(tmp_path / "programmes", w.service.ref)
    registry.add(example_text(), "example")
    try:
        yield w, CompassionateService(w.service, registry)
    finally:
        w.close()


SECRETS: dict[str, str] = {}


def staff(w: Workplace, login: str, profile: str, ref: str, *, establishment: str = "h1", days: int = 365) -> Request:
    """A person with a grant of ``days`` (tied to ``establishment`` for the profiles that act for one), the password
    changed, the charter accepted and TOTP enrolled."""
    ctx = w.identity
    _, temporary = accounts.add(ctx, login, login.replace(".", " ").title(), person_ref=ref, by="admin")
    assert temporary
    grants.give(
        ctx,
        login,
        profile,
        validated_by="Responsable",
        validator_role="governance_body",
        reason="test staff",
        by="admin",
        ends_at=ctx.now() + timedelta(days=days),
        establishment=establishment if profile in grants.ESTABLISHMENT_PROFILES else None,
    )
    result = sessions.login(ctx, login, temporary, source="10.0.0.1", workstation_class="office")
    sessions.change_password(ctx, result.token, temporary, NEW_PASSWORD)
    sessions.accept_charter(ctx, result.token, ctx.settings.charter_version)
    SECRETS[login] = totp.new_secret()
    sessions.enrol_second_factor(ctx, result.token, SECRETS[login], pyotp.TOTP(SECRETS[login]).at(ctx.now()))
    return Request(result.token, PURPOSE)


def again(w: Workplace, login: str) -> Request:
    """A new session once the last one expired (the clock moved on by days)."""
    result = sessions.login(w.identity, login, NEW_PASSWORD, source="10.0.0.1", workstation_class="office")
    sessions.second_factor(w.identity, result.token, pyotp.TOTP(SECRETS[login]).at(w.identity.now()))
    return Request(result.token, PURPOSE)


def denied_rules(w: Workplace) -> list[str]:
    with w.audit.engine.connect() as conn:
        return [e.content["rule"] for e in w.audit.entries(conn) if e.content.get("allowed") is False]


def count(w: Workplace, table: object = record) -> int:
    with w.service.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_a_patient_through_the_whole_workflow(aac: tuple[Workplace, CompassionateService]) -> None:
    w, service = aac
    prescriber = staff(w, "dr.prescrit", "care_establishment_staff", "10001112223")
    colleague = staff(w, "dr.ailleurs", "care_establishment_staff", "10001112224")
    lab = staff(w, "ph.resp", "pharmacist_in_charge", "L-1")
    supply = staff(w, "appro", "supply", "L-2")
    patient = Patient("de La Fontaine", "Jean-Pierre", "male", "1968-04", "h1")

    case = service.request_access(prescriber, "velmorine-sla", patient, REQUEST)
    assert case.code == f"FONJE-{case.number:05d}" and case.status == "requested"
    assert case.birth == "1968-04" and case.forms[0].answers["diagnostic"] == "G12.2"
    with w.service.engine.connect() as conn:  # the genetic answer is filed (and keyed) under its own category
        ids = select(record.c.id).where(record.c.patient_id == case.patient_id)
        parts = set(conn.execute(select(record_part.c.category).where(record_part.c.record_id.in_(ids))).scalars())
    assert parts == {"patient_indirect_identity", "health", "genetic"}
    with pytest.raises(WorkflowRefused, match="c'est le laboratoire qui statue"):
        service.submit(prescriber, case.patient_id, "decision_laboratoire", {"decision": "granted"})
    with pytest.raises(WorkflowRefused, match="qu'une fois l'accès accordé"):
        service.submit(
            prescriber, case.patient_id, "initiation", {"date_debut": "2026-11-20", "posologie": 20, "score_alsfrs": 37}
        )
    with pytest.raises(WorkflowRefused, match="motif codé"):
        service.submit(lab, case.patient_id, "decision_laboratoire", {"decision": "refused"})
    assert service.submit(lab, case.patient_id, "decision_laboratoire", {"decision": "granted"}).status == "granted"
    initiated = {"date_debut": "2026-11-24", "posologie": 20, "score_alsfrs": 37}
    assert service.submit(prescriber, case.patient_id, "initiation", initiated).status == "treated"

    w.clock.advance(days=28)
    prescriber, lab = again(w, "dr.prescrit"), again(w, "ph.resp")
    visit = {
        "date_visite": w.identity.now().date().isoformat(),
        "poids": 70.0,
        "score_alsfrs": 35,
        "observance": "complete",
    }
    service.submit(prescriber, case.patient_id, "suivi", visit)
    w.clock.advance(days=40)  # due after 28 days, overdue after 7 more
    prescriber, lab = again(w, "dr.prescrit"), again(w, "ph.resp")
    colleague, supply = again(w, "dr.ailleurs"), again(w, "appro")
    late = service.overdue(lab, "velmorine-sla")
    assert [(c.code, due) for c, due in late] == [(case.code, (w.identity.now() - timedelta(days=12)).date())]
    service.submit(
        prescriber,
        case.patient_id,
        "effet_indesirable",
        {"effet": "10028813", "date_survenue": w.identity.now().date().isoformat(), "grave": False},
    )
    stopped = service.submit(
        prescriber,
        case.patient_id,
        "arret",
        {"date_arret": w.identity.now().date().isoformat(), "motif_arret": "effet_indesirable"},
    )
    # The submission returns the step from the ledger and the form just stored; the case is read through the path.
    assert stopped.status == "stopped" and [f.form for f in stopped.forms] == ["arret"]
    assert service.state(prescriber, case.patient_id).adverse_effects == 1
    assert service.overdue(lab, "velmorine-sla") == []

    vigilance = staff(w, "pv.resp", "pharmacovigilance", "L-4")  # the effect reaches pharmacovigilance's queue
    queue = service.adverse_effects(vigilance, "velmorine-sla")
    assert [(c.code, f.answers["effet"]) for c, f in queue] == [(case.code, "10028813")]

    # A follow-up for a patient who stopped: refused, traced, nothing stored.
    before = count(w)
    with pytest.raises(WorkflowRefused, match=r"suppose un patient sous traitement.*arrêté.*Rien n'a été enregistré"):
        service.submit(prescriber, case.patient_id, "suivi", visit)
    assert count(w) == before and "AAC-3.workflow.follow_up" in denied_rules(w)

    # Who sees what: the laboratory reads the case (pseudonymised); another establishment's staff does not;
    # the supply service sees the patient's code and none of the forms.
    assert service.state(lab, case.patient_id).status == "stopped"
    with pytest.raises(AccessDenied, match=r"ne pouvez pas lire le dossier d'accès compassionnel de ce patient"):
        service.state(colleague, case.patient_id)
    seen = service.state(supply, case.patient_id)
    assert seen.code == case.code and seen.forms == []
    with pytest.raises(CaseNotFound):
        service.state(lab, "no-such-patient")


def test_what_is_refused_stores_nothing_and_is_traced(aac: tuple[Workplace, CompassionateService]) -> None:
    w, service = aac
    prescriber = staff(w, "dr.prescrit", "care_establishment_staff", "10001112223")

    def refused(patient: Patient, answers: dict, match: str, rule: str) -> None:
        before = (count(w), count(w, aac_case))
        with pytest.raises(SubmissionRefused) as caught:
            service.request_access(prescriber, "velmorine-sla", patient, answers)
        assert re.search(match, caught.value.in_language("en")), caught.value.in_language("en")
        assert str(caught.value) != caught.value.in_language("en")  # French by default
        assert (count(w), count(w, aac_case)) == before
        assert denied_rules(w)[-1] == rule

    good = Patient("Martin", "Léa", "female", "1980-02", "h1")
    refused(
        Patient(NIR, "Léa", "female", "1980-02", "h1"),
        REQUEST,
        r"NIR or an INS was found in patient\.surname",
        "AAC-5.nir_ins",
    )
    refused(
        good,
        {**REQUEST, "poids": 400},
        r"'poids' \(Poids\), 400 kg is out of bounds.*between 20 and 250",
        "AAC-7.value",
    )
    refused(good, {**REQUEST, "diagnostic": "Z99"}, r"'Z99' is not allowed.*G12.2", "AAC-7.value")
    refused(good, {**REQUEST, "commentaire": "libre"}, "has no field 'commentaire'.*no free entry", "AAC-7.value")
    refused(good, {**REQUEST, "taille": 168.5}, "whole number", "AAC-7.value")
    refused(Patient("Martin", "Léa", "female", "1980-02-11", "h1"), REQUEST, "only for a child", "AAC-5.birth")
    assert NIR not in str(denied_rules(w))


def test_same_initials_get_different_codes(aac: tuple[Workplace, CompassionateService]) -> None:
    w, service = aac
    prescriber = staff(w, "dr.prescrit", "care_establishment_staff", "10001112223")
    first = service.request_access(
        prescriber, "velmorine-sla", Patient("Dupont", "Marie", "female", "1970-01", "h1"), REQUEST
    )
    second = service.request_access(
        prescriber, "velmorine-sla", Patient("Dupuis", "Marc", "male", "1971-05", "h1"), REQUEST
    )
    assert first.code != second.code and first.code and second.code
    assert first.code[:5] == second.code[:5] == "DUPMA"


def test_a_suspended_programme_takes_no_form(aac: tuple[Workplace, CompassionateService], tmp_path: Path) -> None:
    w, service = aac
    prescriber = staff(w, "dr.prescrit", "care_establishment_staff", "10001112223")
    case = service.request_access(
        prescriber, "velmorine-sla", Patient("Martin", "Léa", "female", "1980-02", "h1"), REQUEST
    )
    suspended = example_text().replace(
        "expires: 2027-07-14", "expires: 2027-07-14\n  suspended_or_withdrawn: 2026-11-01"
    )
    service.registry.add(suspended.replace('version: "1"', 'version: "2"'), "v2")
    with pytest.raises(WorkflowRefused, match="a suspendu ou retiré son autorisation le 01/11/2026"):
        service.request_access(prescriber, "velmorine-sla", Patient("Durand", "Paul", "male", "1950-03", "h1"), REQUEST)
    assert "AAC-3.programme_status" in denied_rules(w)
    # The patient included under version 1 stays under it: what was collected keeps its protocol.
    assert service.state(prescriber, case.patient_id).version == "1"


def test_the_ansms_approval_starts_the_retention_clock(aac: tuple[Workplace, CompassionateService]) -> None:
    from santegarde.compassionate import events
    from santegarde.store import retention

    w, service = aac
    prescriber = staff(w, "dr.prescrit", "care_establishment_staff", "10001112223")
    lab = staff(w, "ph.resp", "pharmacist_in_charge", "L-1")
    service.request_access(prescriber, "velmorine-sla", Patient("Martin", "Léa", "female", "1980-02", "h1"), REQUEST)
    stored = count(w)

    def line() -> retention.RuleLine:
        found = retention.plan(w.service.engine, w.service.ref, {}, w.identity.now()).line("follow_up_data")
        assert found is not None
        return found

    assert line().waiting == stored  # no approval recorded: the active base waits for the ANSM
    with pytest.raises(AccessDenied, match="pharmacien responsable qui enregistre"):
        events.record(service, prescriber, "velmorine-sla", "summary_report_approved", w.identity.now())
    assert "accessors.care_establishment_staff.default_deny" in denied_rules(w)
    with pytest.raises(events.EventRefused, match="dans le futur"):
        events.record(service, lab, "velmorine-sla", "summary_report_approved", w.identity.now() + timedelta(days=1))
    assert events.record(service, lab, "velmorine-sla", "summary_report_approved", w.identity.now()) == 1
    assert line().waiting == 0 and line().archive_now == 0
    w.clock.advance(days=2 * 366)  # two years after the approval: to the intermediate archive
    assert line().archive_now == stored


def test_professionals_are_recorded_with_a_checked_rpps(aac: tuple[Workplace, CompassionateService]) -> None:
    from santegarde.compassionate.professionals import Professional, add
    from santegarde.identifiers import make_rpps

    w, service = aac
    prescriber = staff(w, "dr.prescrit", "care_establishment_staff", "10001112223")
    affairs = staff(w, "affaires.med", "medical_affairs", "L-3")
    rpps = make_rpps("1000123456")
    good = Professional("Fictif", "Camille", "10", rpps, work_email="c.fictif@chu-exemple.invalid", specialty="SM32")
    wrong_key = rpps[:-1] + str((int(rpps[-1]) + 1) % 10)
    with pytest.raises(SubmissionRefused, match="numéro RPPS n'est pas valide"):
        add(service.records, prescriber, Professional("Fictif", "Camille", "10", wrong_key, work_phone="0400000000"))
    with pytest.raises(SubmissionRefused, match="code TRE-G15"):
        add(service.records, prescriber, Professional("Fictif", "Camille", "99", rpps, work_phone="0400000000"))
    with pytest.raises(SubmissionRefused, match=r"code TRE-R38 \(spécialité ordinale\) : SM26"):
        add(service.records, prescriber, Professional("Fictif", "Camille", "10", rpps, "a@b.fr", specialty="SM99"))
    with pytest.raises(SubmissionRefused, match="coordonnées professionnelles"):
        add(service.records, prescriber, Professional("Fictif", "Camille", "10", rpps))
    assert count(w) == 0 and denied_rules(w)[-1] == "AAC-6.professional"
    stored = add(service.records, prescriber, good)
    read = service.records.read(Request(affairs.token, "professional_contacts"), "Practitioner", stored["id"])
    assert read["name"][0]["family"] == "Fictif" and read["identifier"][0]["value"] == rpps  # identifying, per §8.2
    specialty = read["qualification"][1]["code"]["coding"][0]
    assert (specialty["code"], specialty["display"]) == ("SM32", "Neurologie") and "TRE_R38" in specialty["system"]


def test_a_form_for_another_establishments_patient_is_refused(aac: tuple[Workplace, CompassionateService]) -> None:
    w, service = aac
    prescriber = staff(w, "dr.prescrit", "care_establishment_staff", "10001112223")
    other = staff(w, "dr.ailleurs", "care_establishment_staff", "10001112224")
    lab = staff(w, "ph.resp", "pharmacist_in_charge", "L-1")
    case = service.request_access(
        prescriber, "velmorine-sla", Patient("Martin", "Léa", "female", "1980-02", "h1"), REQUEST
    )
    service.submit(lab, case.patient_id, "decision_laboratoire", {"decision": "granted"})
    before = count(w)
    with pytest.raises(AccessDenied):
        service.submit(
            other, case.patient_id, "initiation", {"date_debut": "2026-11-24", "posologie": 20, "score_alsfrs": 37}
        )
    assert count(w) == before


def test_an_interrupted_request_is_completed_not_duplicated(
    aac: tuple[Workplace, CompassionateService], monkeypatch: pytest.MonkeyPatch
) -> None:
    from santegarde.compassionate.service import IncompleteRequest
    from santegarde.store.mapping import MappingError

    w, service = aac
    prescriber = staff(w, "dr.prescrit", "care_establishment_staff", "10001112223")
    lab = staff(w, "ph.resp", "pharmacist_in_charge", "L-1")
    create = service.records.create

    def failing(req: Request, body: dict, **hook: Any) -> dict:  # the database refuses the form's record (injected)
        if body["resourceType"] == "QuestionnaireResponse":
            raise MappingError("the database refused the write")
        return create(req, body, **hook)

    monkeypatch.setattr(service.records, "create", failing)
    created = r"dossier du patient a été créé \(code MARLE-.*Soumettez à nouveau le formulaire"
    with pytest.raises(IncompleteRequest, match=created) as cut:
        service.request_access(
            prescriber, "velmorine-sla", Patient("Martin", "Léa", "female", "1980-02", "h1"), REQUEST
        )
    monkeypatch.undo()
    patient_id = next(pid for _, pid in service.cases("velmorine-sla"))
    assert patient_id in str(cut.value) and service.state(lab, patient_id).forms == []
    with pytest.raises(WorkflowRefused, match="formulaire de demande d'accès n'est pas encore enregistré"):
        service.submit(lab, patient_id, "decision_laboratoire", {"decision": "granted"})
    assert service.submit(prescriber, patient_id, "demande_acces", REQUEST).forms[0].kind.value == "access_request"
    with pytest.raises(WorkflowRefused, match="déjà enregistrée"):
        service.submit(prescriber, patient_id, "demande_acces", REQUEST)


def test_the_workflow_ledger_follows_the_forms_in_their_transaction(
    aac: tuple[Workplace, CompassionateService],
) -> None:
    """One ledger row per case, moved by each step in the form's transaction; it holds no answer; a case without a
    row (opened before the ledger) gets it rebuilt from its records read through the path."""
    w, service = aac
    prescriber = staff(w, "dr.prescrit", "care_establishment_staff", "10001112223")
    lab = staff(w, "ph.resp", "pharmacist_in_charge", "L-1")

    def row(patient_id: str) -> Any:
        with w.service.engine.connect() as conn:
            return conn.execute(select(aac_workflow).where(aac_workflow.c.patient_id == patient_id)).one()

    case = service.request_access(
        prescriber, "velmorine-sla", Patient("Durand", "Paul", "male", "1961-07", "h1"), REQUEST
    )
    first = row(case.patient_id)
    assert (first.status, first.request_recorded, first.last_kind) == ("requested", True, "access_request")
    service.submit(lab, case.patient_id, "decision_laboratoire", {"decision": "granted"})
    service.submit(prescriber, case.patient_id, "initiation", {"date_debut": "2026-11-24", "posologie": 20,
                                                               "score_alsfrs": 37})  # fmt: skip
    treated = row(case.patient_id)
    assert treated.status == "treated" and treated.next_due == (w.identity.now() + timedelta(days=28)).date()
    service.submit(
        prescriber,
        case.patient_id,
        "effet_indesirable",
        {"effet": "10028813", "date_survenue": w.identity.now().date().isoformat(), "grave": False},
    )
    assert row(case.patient_id).last_kind == "initiation"  # an adverse effect is not a step: the ledger ignores it
    assert all("10028813" not in str(v) and str(v) != "37" for v in row(case.patient_id))  # no answer in the row

    # A refused turn rolls the record back with the ledger: nothing stored, the row unchanged.
    before = count(w)
    with pytest.raises(WorkflowRefused, match="déjà fait l'objet d'une décision"):
        service.submit(lab, case.patient_id, "decision_laboratoire", {"decision": "granted"})
    assert count(w) == before and row(case.patient_id).status == "treated"

    # A case opened before the ledger existed: its row is rebuilt from the records, then moved on.
    with w.service.engine.begin() as conn:
        conn.execute(aac_workflow.delete().where(aac_workflow.c.patient_id == case.patient_id))
    with pytest.raises(WorkflowRefused, match=r"qu'une fois l'accès accordé \(le dossier est sous traitement\)"):
        service.submit(prescriber, case.patient_id, "initiation", {"date_debut": "2026-11-24", "posologie": 20,
                                                                   "score_alsfrs": 37})  # fmt: skip
    stopped = service.submit(
        prescriber, case.patient_id, "arret", {"date_arret": "2026-11-25", "motif_arret": "effet_indesirable"}
    )
    assert stopped.status == "stopped" and row(case.patient_id).status == "stopped"
    assert row(case.patient_id).next_due is None


LABORATORY = (  # §8.2: the laboratory's profiles that read the follow-up data (pseudonymised)
    "pharmacist_in_charge",
    "pharmacovigilance",
    "medical_affairs",
    "research_development",
    "regulatory_affairs",
    "market_access",
)
AUDIT_REASON = "mission d'audit A-12 : contrôle de la collecte des données de suivi"


def test_a_patient_walks_from_request_to_retention_dates_under_every_profile(
    aac: tuple[Workplace, CompassionateService],
) -> None:
    """The issue's walk: request → decision → initiation → follow-ups → adverse effect → stop → summary report →
    retention dates, as the prescriber, another member of the establishment's staff and each laboratory profile
    (supply and the ad hoc audit included), on each engine."""
    from santegarde.compassionate import events, vigilance
    from santegarde.compassionate.report import build
    from santegarde.store import retention

    w, service = aac
    prescriber = staff(w, "dr.prescrit", "care_establishment_staff", "10001112223")
    colleague = staff(w, "ph.hopital", "care_establishment_staff", "10001112225")  # the establishment's pharmacist
    elsewhere = staff(w, "dr.ailleurs", "care_establishment_staff", "10001112224", establishment="h2")
    lab = {profile: staff(w, f"labo.{n}", profile, f"L-{n}") for n, profile in enumerate(LABORATORY)}
    supply = staff(w, "labo.appro", "supply", "L-S")
    auditor = staff(w, "labo.audit", "audit", "L-A", days=20)  # an ad hoc mission of at most 31 days
    today = w.identity.now().date().isoformat()
    started = {"date_debut": today, "posologie": 20, "score_alsfrs": 37}
    effect = {"effet": "10028813", "date_survenue": today, "grave": False}
    stop = {"date_arret": today, "motif_arret": "effet_indesirable"}

    case = service.request_access(prescriber, "velmorine-sla", Patient("Martin", "Léa", "female", "1980-02", "h1"),
                                  REQUEST)  # fmt: skip
    pid = case.patient_id
    service.submit(lab["pharmacist_in_charge"], pid, "decision_laboratoire", {"decision": "granted"})
    service.submit(prescriber, pid, "initiation", started)
    with pytest.raises(AccessDenied):  # a colleague reaches the patient once in their care, not before
        service.state(colleague, pid)
    w.service.declare_care(colleague, pid, "care_team")
    visit = {"date_visite": today, "poids": 70.0, "score_alsfrs": 35, "observance": "complete"}
    service.submit(prescriber, pid, "suivi", visit)
    service.submit(colleague, pid, "suivi", {**visit, "score_alsfrs": 34})
    service.submit(colleague, pid, "effet_indesirable", effect)
    inbox = vigilance.pending(service, lab["pharmacovigilance"], "velmorine-sla")  # at once, in pharmacovigilance
    assert [(a.case.code, a.report.answers["effet"]) for a in inbox] == [(case.code, "10028813")]
    vigilance.acknowledge(service, lab["pharmacovigilance"], inbox[0].id)
    w.clock.advance(minutes=1)  # the stop comes after the effect (at the same instant, the workflow's order)
    service.submit(prescriber, pid, "arret", stop)

    walked = ["access_request", "decision", "initiation", "follow_up", "follow_up", "adverse_effect", "stop"]
    for who in (prescriber, colleague, *lab.values()):
        seen = service.state(who, pid)
        assert (seen.code, seen.status, [f.kind.value for f in seen.forms]) == (case.code, "stopped", walked)
    assert service.state(supply, pid).forms == []  # the supply service: the patient's code, none of the forms
    with pytest.raises(AccessDenied):
        service.state(elsewhere, pid)  # another establishment
    with pytest.raises(AccessDenied, match="sur motif écrit"):
        service.state(auditor, pid)  # the audit service: only on a written reason
    audited = service.state(Request(auditor.token, PURPOSE, reason=AUDIT_REASON), pid)
    assert [f.kind.value for f in audited.forms] == walked

    # A second patient through the same steps, so that each count of the report reaches the threshold (2).
    second = service.request_access(
        prescriber, "velmorine-sla", Patient("Durand", "Paul", "male", "1961-07", "h1"), {**REQUEST, "poids": 82}
    )
    service.submit(lab["pharmacist_in_charge"], second.patient_id, "decision_laboratoire", {"decision": "granted"})
    service.submit(prescriber, second.patient_id, "initiation", started)
    service.submit(prescriber, second.patient_id, "effet_indesirable", effect)
    service.submit(prescriber, second.patient_id, "arret", stop)

    day = w.identity.now().date()
    for profile, who in lab.items():  # every laboratory profile that reads the follow-up data produces the report
        report = build(service, who, "velmorine-sla", day - timedelta(days=30), day, 2)
        counts = {e.item: e.value for e in report.entries if e.section == "Effectifs"}
        assert counts["Patients ayant fait l'objet d'une demande d'accès"] == 2, profile
        assert counts["Patients dont l'accès a été accordé"] == counts["Patients ayant arrêté le traitement"] == 2
        effects = {e.item: e.value for e in report.entries if e.section == "Effets indésirables (MedDRA)"}
        assert effects["10028813 Nausée"] == 2
        assert all(e.value is None or e.value == 0 or e.value >= 2 or e.section in ("Exposition", "Efficacité")
                   for e in report.entries)  # fmt: skip
    for who in (prescriber, supply):
        with pytest.raises(AccessDenied, match="rapports de synthèse"):
            build(service, who, "velmorine-sla", day - timedelta(days=30), day, 2)

    # The ANSM approves the report's summary: the active base runs two more years, then the intermediate archive
    # until seventy years after the authorisation's expiry.
    def line() -> retention.RuleLine:
        found = retention.plan(w.service.engine, w.service.ref, {}, w.identity.now()).line("follow_up_data")
        assert found is not None
        return found

    stored = line().waiting
    assert stored == count(w) and line().archive_now == 0
    events.record(service, lab["pharmacist_in_charge"], "velmorine-sla", "summary_report_approved", w.identity.now())
    assert line().waiting == 0 and line().active == stored
    w.clock.advance(days=2 * 365)  # the day before the second anniversary (2027 and 2028: 730 days, one leap day)
    assert line().archive_now == 0
    w.clock.advance(days=2)
    assert line().archive_now == stored
