"""Consent and objection are records the path obeys, not headers a client asserts (issue #23).

Lifestyle data (pra-2020-081 §5) are collected only while a stored, active Consent covers the patient, the category
and the purpose; withdrawing it refuses further collection and use from that moment. An objection (GDPR art. 21.1)
to a purpose based on a legitimate interest refuses every later request for that purpose and that patient, until
the controller lifts it or records compelling legitimate grounds. Every refusal is traced. SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, inspect, select, text

from santegarde.api import create_app
from santegarde.audit.review import detect
from santegarde.audit.tables import entry
from santegarde.demo import demo_answers
from santegarde.governance import conformity, dpia, ledgers
from santegarde.governance.register import build_register, render_register
from santegarde.organisation import build_config
from santegarde.referentials.model import CategoryKind, Right
from santegarde.rights import RightsService
from santegarde.store import consents, justifications, objections
from santegarde.store.db import make_engine, migrate
from santegarde.store.inspection import LedgerCounts, ledger_counts
from santegarde.store.mapping import MappingError
from santegarde.store.schema import consent_ledger, objection_ledger, record
from santegarde.store.service import AccessDenied, Request
from store_fixtures import Workplace, make_workplace
from test_store import appointment as booked
from test_store import patient

CARE = "medical_record"
SOCIAL = {
    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "social-history"}]
}


@pytest.fixture
def place(database_url: str, tmp_path: Path) -> Iterator[Workplace]:
    w = make_workplace(database_url, tmp_path)
    yield w
    w.close()


@pytest.fixture
def doctor(place: Workplace) -> str:
    token = place.person("dr.martin", "practitioner", ref="10001234567")
    for pid in ("p-1", "p-2"):
        place.service.create(Request(token, CARE), patient(pid))
    return token


def trail(w: Workplace) -> list[dict[str, Any]]:
    with w.audit.engine.connect() as conn:
        return [json.loads(r.content) for r in conn.execute(select(entry).order_by(entry.c.seq))]


def smoking(pid: str = "p-1", oid: str = "s-1") -> dict[str, Any]:
    """An Observation of the social history: tobacco use (LOINC 72166-2), fictitious."""
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "category": [SOCIAL],
        "code": {"coding": [{"system": "http://loinc.org", "code": "72166-2"}]},
        "subject": {"reference": f"Patient/{pid}"},
        "valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "8517006"}]},
    }


def consent(pid: str = "p-1", cid: str = "k-1", category: str = "lifestyle", purpose: str = CARE) -> dict[str, Any]:
    return {
        "resourceType": "Consent",
        "id": cid,
        "status": "active",
        "scope": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{pid}"},
        "dateTime": "2026-11-24T09:00:00+01:00",
        "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]},
        "provision": {
            "code": [{"coding": [{"system": consents.CATEGORY_SYSTEM, "code": category}]}],
            "purpose": [{"system": consents.PURPOSE_SYSTEM, "code": purpose}],
        },
    }


def appointment(pid: str = "p-1", aid: str = "a-1") -> dict[str, Any]:
    """An appointment without its reason (health data, not needed to manage appointments)."""
    body = {**booked(pid), "id": aid}
    del body["reasonCode"]
    return body


def denied(w: Workplace, rule_part: str) -> list[dict[str, Any]]:
    return [e for e in trail(w) if not e["allowed"] and rule_part in e["rule"]]


# -- consent ------------------------------------------------------------------------------------------------


def test_a_client_header_can_no_longer_assert_consent(place: Workplace, doctor: str) -> None:
    api = TestClient(create_app(place.identity, records=place.service), base_url="https://testserver")
    api.cookies.set("sg_session", doctor)
    sent = api.post("/fhir/Observation", json=smoking(), headers={"X-Purpose": CARE, "X-Consent-Recorded": "true"})
    assert sent.status_code == 403
    assert "consentement de la personne, enregistré et en vigueur" in sent.json()["issue"][0]["diagnostics"]
    assert denied(place, "lifestyle.requires_consent")
    with place.service.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(record).where(record.c.id == "s-1")).scalar() == 0


def test_lifestyle_needs_an_active_consent_and_stops_at_withdrawal(place: Workplace, doctor: str) -> None:
    req = Request(doctor, CARE)
    with pytest.raises(AccessDenied, match="consentement de la personne, enregistré et en vigueur") as refused:
        place.service.create(req, smoking())
    assert "stored, active Consent" in refused.value.in_language("en")
    assert refused.value.rule == "categories.lifestyle.requires_consent"
    place.service.create(req, consent())
    with place.service.engine.connect() as conn:
        assert consents.active(conn, "p-1", "lifestyle", CARE, place.clock.now)
        assert not consents.active(conn, "p-2", "lifestyle", CARE, place.clock.now)
    assert place.service.create(req, smoking())["id"] == "s-1"
    with pytest.raises(AccessDenied, match="enregistré et en vigueur"):  # another patient: no consent of theirs
        place.service.create(req, smoking("p-2", "s-2"))

    place.clock.advance(minutes=5)
    withdrawn = place.service.withdraw_consent(req, "k-1")
    assert withdrawn["status"] == "inactive"
    when = place.clock.now
    with pytest.raises(AccessDenied, match=f"le patient l'a retiré le {when:%d/%m/%Y à %H h %M}") as refused:
        place.service.create(req, smoking(oid="s-3"))
    assert f"withdrew it on {when:%Y-%m-%d %H:%M}" in refused.value.in_language("en")
    with pytest.raises(AccessDenied, match=f"a retiré son consentement le {when:%d/%m/%Y à %H h %M}") as refused:
        place.service.read(req, "Observation", "s-1")  # no further use either
    assert f"withdrew consent on {when:%Y-%m-%d %H:%M}" in refused.value.in_language("en")
    with place.service.engine.connect() as conn:  # the data collected before stay
        assert conn.execute(select(record.c.id).where(record.c.id == "s-1")).first() is not None
    assert len(denied(place, "lifestyle.requires_consent")) == 4
    with pytest.raises(AccessDenied, match="n'est pas en vigueur"):
        place.service.withdraw_consent(req, "k-1")

    place.service.create(req, consent(cid="k-2"))  # a new consent: collection and use again
    assert place.service.read(req, "Observation", "s-1")["id"] == "s-1"


def test_an_expired_consent_no_longer_allows_collecting_or_reading(place: Workplace, doctor: str) -> None:
    req = Request(doctor, CARE)
    start, end = place.clock.now, place.clock.now + timedelta(minutes=3)
    body = consent()
    body["provision"]["period"] = {"start": start.isoformat(), "end": end.isoformat()}
    place.service.create(req, body)
    place.service.create(req, smoking())
    assert place.service.read(req, "Observation", "s-1")["id"] == "s-1"
    place.clock.advance(minutes=4)  # past the consent's end date
    with pytest.raises(AccessDenied, match=rf"a expiré le {end:%d/%m/%Y à %H h %M} \(UTC\)") as refused:
        place.service.create(req, smoking(oid="s-2"))
    assert f"expired on {end:%Y-%m-%d %H:%M} UTC" in refused.value.in_language("en")
    assert refused.value.rule == "categories.lifestyle.requires_consent"
    with pytest.raises(
        AccessDenied, match=f"depuis l'expiration du consentement du patient le {end:%d/%m/%Y}"
    ) as refused:
        place.service.read(req, "Observation", "s-1")
    assert refused.value.rule == "categories.lifestyle.requires_consent"
    with place.service.engine.connect() as conn:
        found = consents.standing(conn, "p-1", "lifestyle", CARE, place.clock.now)
        assert (found.active, found.ended, found.ended_at) == (False, consents.EXPIRED, end)
        assert consents.standing(conn, "p-2", "lifestyle", CARE, place.clock.now) == consents.Standing(False)
    assert len(denied(place, "lifestyle.requires_consent")) == 2


def test_a_consent_for_what_no_consent_covers_is_refused_and_not_stored(place: Workplace, doctor: str) -> None:
    req = Request(doctor, CARE)
    for body, message in [
        (consent(category="astrology"), "'astrology' is not a category"),
        (consent(category="health"), "'health' is not a category of pra-2020-081 collected on consent"),
        (consent(purpose="horoscopes"), "'horoscopes' is not a purpose"),
        (consent(purpose="appointments"), "does not use lifestyle"),
    ]:
        with pytest.raises(MappingError, match=message):
            place.service.create(req, body)
    with place.service.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(consent_ledger)).scalar() == 0
        assert (
            conn.execute(select(func.count()).select_from(record).where(record.c.resource_type == "Consent")).scalar()
            == 0
        )
    assert len(denied(place, "COM-MIN-1.consent_scope")) == 4


def test_fhir_consent_create_read_withdraw(place: Workplace, doctor: str) -> None:
    api = TestClient(create_app(place.identity, records=place.service), base_url="https://testserver")
    api.cookies.set("sg_session", doctor)
    headers = {"X-Purpose": CARE}
    assert api.post("/fhir/Consent", json=consent(), headers=headers).status_code == 201
    assert api.get("/fhir/Consent/k-1", headers=headers).json()["status"] == "active"
    assert api.post("/fhir/Observation", json=smoking(), headers=headers).status_code == 201
    assert api.post("/fhir/Consent/k-1/$withdraw", headers=headers).json()["status"] == "inactive"
    assert api.post("/fhir/Observation", json=smoking(oid="s-2"), headers=headers).status_code == 403


# -- objection ----------------------------------------------------------------------------------------------


def test_an_objection_to_reminders_refuses_that_purpose_for_that_patient_only(place: Workplace, doctor: str) -> None:
    rdv = Request(doctor, "appointments")
    place.service.create(rdv, appointment("p-1"))
    place.service.create(rdv, appointment("p-2", "a-2"))
    objection = place.service.record_objection(rdv, "p-1", "appointments")
    assert objection.lifted_at is None
    with pytest.raises(AccessDenied, match=f"s'est opposé .* le {objection.recorded_at:%d/%m/%Y}") as refused:
        place.service.read(rdv, "Appointment", "a-1")
    said = refused.value.in_language("en")
    assert f"objected to the purpose 'appointments' on {objection.recorded_at:%Y-%m-%d}" in said
    assert f"opposition n° {objection.number}" in str(refused.value) and "appointments" not in str(refused.value)
    with pytest.raises(AccessDenied, match="opposé"):
        place.service.update(rdv, "Appointment", "a-1", appointment("p-1"))
    assert place.service.read(rdv, "Appointment", "a-2")["id"] == "a-2"  # another patient
    assert place.service.read(Request(doctor, CARE), "Patient", "p-1")["id"] == "p-1"  # another purpose
    refusals = denied(place, "COM-RGT-1.objection")
    assert len(refusals) == 2 and all(e["patient"] == "p-1" for e in refusals)
    assert [o.purpose for o in place.service.objections_of(rdv, "p-1")] == ["appointments"]

    place.service.lift_objection(rdv, "p-1", "appointments")
    assert place.service.read(rdv, "Appointment", "a-1")["id"] == "a-1"
    assert any(e["operation"] == "objection.lift" and e["allowed"] for e in trail(place))


def test_an_objection_to_a_legal_obligation_purpose_is_refused_with_the_article(place: Workplace, doctor: str) -> None:
    with pytest.raises(AccessDenied, match=r"ne s'applique pas à cette finalité \(RGPD, art. 21.1\)") as refused:
        place.service.record_objection(Request(doctor, CARE), "p-1", CARE)
    assert "does not apply to 'medical_record' (GDPR art. 21.1)" in refused.value.in_language("en")
    assert denied(place, "COM-RGT-1.objection.medical_record")
    assert place.service.objections_of(Request(doctor, CARE), "p-1") == []


def test_compelling_grounds_are_written_kept_and_flagged(place: Workplace, doctor: str) -> None:
    rdv = Request(doctor, "appointments")
    place.service.create(rdv, appointment("p-1"))
    place.service.record_objection(rdv, "p-1", "appointments")
    with pytest.raises(AccessDenied, match="doivent être écrits"):
        place.service.lift_objection(rdv, "p-1", "appointments", grounds="because")
    assert denied(place, "COM-RGT-1.compelling_grounds")
    grounds = "follow-up appointment of a fictitious vaccination campaign that cannot wait"
    lifted = place.service.lift_objection(rdv, "p-1", "appointments", grounds=grounds)
    assert lifted.lift_kind == "compelling_grounds" and lifted.justification
    assert justifications.read(place.service.engine, lifted.justification).text == grounds
    assert grounds not in json.dumps(trail(place))
    with place.audit.engine.connect() as conn:
        flagged = [a for a in detect(place.audit.entries(conn)) if a.kind == "justified_access"]
    assert any(f"no. {lifted.justification}" in a.detail for a in flagged)
    assert place.service.read(rdv, "Appointment", "a-1")["id"] == "a-1"


def test_only_the_controller_lifts_an_objection_or_records_compelling_grounds(place: Workplace, doctor: str) -> None:
    secretary = place.person("sec.durand", "secretariat", ref="10001234575")
    rdv = Request(secretary, "appointments")
    place.service.create(Request(doctor, "appointments"), appointment("p-1"))
    place.service.record_objection(rdv, "p-1", "appointments")  # the desk records what the person says
    grounds = "follow-up appointment of a fictitious vaccination campaign that cannot wait"
    for given in (None, grounds):
        with pytest.raises(AccessDenied, match="Seul le responsable du traitement lève une opposition") as refused:
            place.service.lift_objection(rdv, "p-1", "appointments", grounds=given)
        assert refused.value.rule == "COM-RGT-1.controller" and "practitioner" in str(refused.value)
    refusals = denied(place, "COM-RGT-1.controller")
    assert len(refusals) == 2 and all(e["actor"] == "sec.durand" and e["patient"] == "p-1" for e in refusals)
    with place.service.engine.connect() as conn:  # still in force: nothing was written, no justification kept
        assert conn.execute(select(objection_ledger.c.lifted_at)).scalar_one() is None
    with pytest.raises(AccessDenied, match="opposé"):
        place.service.read(rdv, "Appointment", "a-1")
    lifted = place.service.lift_objection(Request(doctor, "appointments"), "p-1", "appointments")
    assert lifted.lift_kind == "lifted" and lifted.lifted_by == "dr.martin"


def test_erasing_a_patient_takes_their_ledgers_with_them(place: Workplace, doctor: str) -> None:
    req = Request(doctor, CARE)
    place.service.create(req, consent())
    place.service.create(Request(doctor, "appointments"), appointment("p-1"))
    place.service.record_objection(Request(doctor, "appointments"), "p-1", "appointments")
    place.service.erase_patient(req, "p-1", "erasure requested, request 1")
    with place.service.engine.connect() as conn:
        for table in (consent_ledger, objection_ledger):
            assert conn.execute(select(func.count()).select_from(table)).scalar() == 0, table.name
    assert place.service.consent_ledger(req, "p-2") == []  # the other patient's (empty) ledger still answers


def test_the_rights_desks_objections_move_into_the_ledger_without_loss(database_url: str) -> None:
    """Migration r002: the rights desk's own list of honoured objections becomes the path's objection ledger."""
    engine = make_engine(database_url)
    try:
        migrate(engine)
        migrate(engine, "r001", package="santegarde.rights")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO rights_objection (patient_id, purpose, warehouse, request_id, recorded_at) VALUES "
                    "('p-1', 'appointments', false, 7, '2025-03-04 10:00:00+00:00'), "
                    "('p-1', 'appointments', false, 9, '2025-04-04 10:00:00+00:00'), "
                    "('p-2', 'bookkeeping', false, 8, '2025-03-05 11:00:00+00:00')"
                )
            )
        migrate(engine, package="santegarde.rights")
        assert "rights_objection" not in inspect(engine).get_table_names()
        with engine.connect() as conn:
            assert [(o.purpose, o.recorded_by) for o in objections.of_patient(conn, "p-1")] == [
                ("appointments", "rights request 7")  # one objection in force, not two
            ]
            found = objections.in_force(conn, "p-2", "bookkeeping")
            assert found is not None and f"{found.recorded_at:%Y-%m-%d %H:%M}" == "2025-03-05 11:00"
    finally:
        engine.dispose()


def test_fhir_consent_search_by_patient(place: Workplace, doctor: str) -> None:
    api = TestClient(create_app(place.identity, records=place.service), base_url="https://testserver")
    api.cookies.set("sg_session", doctor)
    headers = {"X-Purpose": CARE}
    for body in (consent(), consent(cid="k-2"), consent("p-2", "k-3")):
        assert api.post("/fhir/Consent", json=body, headers=headers).status_code == 201
    found = api.post("/fhir/Consent/_search", json={"patient": "p-1"}, headers=headers).json()
    assert sorted(e["resource"]["id"] for e in found["entry"]) == ["k-1", "k-2"]
    assert api.post("/fhir/Consent/_search", json={"patient": "p-9"}, headers=headers).json()["total"] == 0
    refused = api.post("/fhir/Patient/_search", json={"patient": "p-1"}, headers=headers)
    said = refused.json()["issue"][0]["diagnostics"]
    assert refused.status_code == 400 and "cannot be searched by the parameter 'patient'" in said


def test_http_objection_record_show_lift_with_refusals(place: Workplace, doctor: str) -> None:
    secretary = place.person("sec.durand", "secretariat", ref="10001234575")
    place.service.create(Request(doctor, "appointments"), appointment("p-1"))
    api = TestClient(create_app(place.identity, records=place.service), base_url="https://testserver")
    rdv = {"X-Purpose": "appointments"}

    assert api.post("/fhir/Patient/p-1/$objection", json={"against": "appointments"}, headers=rdv).status_code == 401
    api.cookies.set("sg_session", secretary)
    made = api.post("/fhir/Patient/p-1/$objection", json={"against": "appointments"}, headers=rdv)
    assert made.status_code == 201
    parts = {p["name"]: p for p in made.json()["parameter"][0]["part"]}
    assert parts["purpose"]["valueCode"] == "appointments" and parts["inForce"]["valueBoolean"] is True
    legal = api.post("/fhir/Patient/p-1/$objection", json={"against": CARE}, headers=rdv)
    assert legal.status_code == 403 and "(RGPD, art. 21.1)" in legal.json()["issue"][0]["diagnostics"]
    assert api.post("/fhir/Patient/p-404/$objection", json={"against": "appointments"}, headers=rdv).status_code == 404
    assert api.get("/fhir/Appointment/a-1", headers=rdv).status_code == 403  # the path obeys it
    shown = api.get("/fhir/Patient/p-1/$objection", headers=rdv).json()
    assert len(shown["parameter"]) == 1

    lift = {"against": "appointments", "compelling_grounds": "a fictitious campaign that cannot wait at all"}
    refused = api.post("/fhir/Patient/p-1/$lift-objection", json=lift, headers=rdv)
    assert refused.status_code == 403 and "Seul le responsable" in refused.json()["issue"][0]["diagnostics"]
    api.cookies.set("sg_session", doctor)
    lifted = api.post("/fhir/Patient/p-1/$lift-objection", json=lift, headers=rdv)
    assert lifted.status_code == 200
    parts = {p["name"]: p for p in lifted.json()["parameter"][0]["part"]}
    assert parts["how"]["valueCode"] == "compelling_grounds" and parts["justification"]["valueInteger"]
    assert api.get("/fhir/Appointment/a-1", headers=rdv).status_code == 200
    assert api.post("/fhir/Patient/p-1/$lift-objection", json=lift, headers=rdv).status_code == 404  # none in force
    operations = [(e["operation"], e["allowed"]) for e in trail(place) if e["operation"].startswith("objection")]
    assert ("objection.record", False) in operations and ("objection.lift", False) in operations
    assert ("objection.lift", True) in operations


# -- evidence -----------------------------------------------------------------------------------------------


def test_the_register_dpia_and_conformity_count_consents_and_objections_in_french(
    place: Workplace, doctor: str, tmp_path: Path
) -> None:
    req, rdv = Request(doctor, CARE), Request(doctor, "appointments")
    place.service.create(req, consent())
    place.service.create(req, consent("p-2", "k-2"))
    place.service.withdraw_consent(req, "k-2")
    for pid in ("p-1", "p-2"):
        place.service.create(rdv, appointment(pid, f"a-{pid}"))
        place.service.record_objection(rdv, pid, "appointments")
    place.service.lift_objection(rdv, "p-2", "appointments")
    counts = ledger_counts(place.service.engine, place.clock.now)
    assert counts[CARE] == LedgerCounts(consents_given=2, consents_withdrawn=1)
    assert counts["appointments"] == LedgerCounts(objections_in_force=1, objections_lifted=1)

    ref = place.service.ref
    told = ledgers.from_database(place.service.engine, ref, place.clock.now)
    assert told.lines == (
        "Finalité « Gestion des rendez-vous » : 1 opposition(s) en vigueur, 1 levée(s) à la demande de la personne, "
        "0 écartée(s) pour motifs légitimes et impérieux (signalée(s) à la revue des traces).",
        "Finalité « Gestion des dossiers médicaux » : 2 consentement(s) recueilli(s), dont 1 retiré(s) et 0 arrivé(s) "
        "à échéance.",
    )
    config, _ = build_config(
        tmp_path / "org", "practice", organisation_name="Cabinet Fictif", choices=demo_answers(ref)[0],
        justifications=demo_answers(ref)[1],
    )  # fmt: skip
    documents = {
        "register": render_register(build_register(config, ref, ledgers=told)),
        "dpia": dpia.render(dpia.build(config, ref, ledgers=told)),
        "conformity": conformity.render(replace(conformity.build_report(config, ref), ledgers=told)),
    }
    for name, html in documents.items():
        text = unescape(html)
        assert "Consentements et oppositions enregistrés" in text and told.lines[1] in text, name
        for secret in ("p-1", "p-2", "k-1", "k-2", "medical_record", "dr.martin"):  # counts only, in French
            assert secret not in text, (name, secret)
    from openpyxl import load_workbook

    from santegarde.governance.register import write_xlsx

    book = load_workbook(write_xlsx(build_register(config, ref, ledgers=told), tmp_path / "registre.xlsx"))
    cells = [str(c.value) for sheet in book.worksheets for row in sheet.iter_rows() for c in row if c.value]
    assert "Consentements et oppositions enregistrés" in cells and told.lines[1] in cells  # the workbook too
    empty = ledgers.summary({}, ref)
    assert empty.lines == ("Aucun consentement ni aucune opposition n'est enregistré à ce jour.",)


def test_a_patients_access_copy_lists_their_consents_and_objections(place: Workplace, doctor: str) -> None:
    migrate(place.service.engine, package="santegarde.rights")
    req, rdv = Request(doctor, CARE), Request(doctor, "appointments")
    place.service.create(req, consent())
    place.service.withdraw_consent(req, "k-1")
    place.service.create(req, consent(cid="k-2"))
    place.service.create(req, consent("p-2", "k-3"))
    place.service.create(rdv, appointment("p-1"))
    place.service.record_objection(rdv, "p-1", "appointments")
    rs = RightsService(place.service, organisation="Cabinet Fictif")
    asked = rs.receive(req, Right.ACCESS, "p-1", "person")
    rs.register.record_identity_check(req, asked.id, "carte d'identité présentée à l'accueil, conforme")
    out = rs.execute(req, asked.id)
    text = unescape(out.summary_html or "")
    day = f"{place.clock.now:%d/%m/%Y}"
    assert "Vos consentements" in text and "Vos oppositions" in text
    assert "Consentement n° k-1 : « Informations relatives aux habitudes de vie »" in text
    assert f"retiré le {day}" in text and "Consentement n° k-2" in text
    assert "k-3" not in text  # another patient's consent
    assert f"Opposition n° 1 au traitement de vos données pour la finalité « Gestion des rendez-vous », " \
           f"enregistrée le {day} : en vigueur." in text  # fmt: skip


# -- review: social history under the other texts ---------------------------------------------------------------

LIFESTYLE_PURPOSES = {  # the purposes whose data, by each text, include lifestyle habits (§5 / 5.2.1.2 / 7.2)
    "pha-2022-067": {  # §5: "depending on the context, with the patient's consent, necessary for the health care"
        "dispensing", "patient_follow_up_files", "professional_cooperation", "therapeutic_education",
        "corresponding_pharmacist", "advice_and_services", "internal_research",
    },
    "aac-2022-106": {"access_initiation_follow_up", "summary_reports"},  # 7.2: tobacco, alcohol, drugs
    "eds-2021-118": {  # 5.2.1.2: consumption of tobacco, alcohol, drugs; lifestyle habits (pseudonymised data)
        "warehouse_constitution", "activity_indicators", "pmsi_coding_quality", "decision_support",
        "feasibility_studies", "research", "rights_management",
    },
}  # fmt: skip


@pytest.mark.parametrize("ref_id", sorted(LIFESTYLE_PURPOSES))
def test_social_history_is_kept_out_of_purposes_whose_text_gives_no_lifestyle_data(tmp_path: Path, ref_id: str) -> None:
    """Reviewed against the texts: each lists lifestyle habits among the data of its care or warehouse purposes only,
    so a social-history Observation under another purpose (appointments, bookkeeping, registers, contacts with
    professionals, recontact…) is refused as minimisation — never filed under the broader health category."""
    w = make_workplace(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path, ref_id)
    try:
        ref = w.service.ref
        pursued = [p.id for p in ref.purposes if not (p.forbidden or p.out_of_scope)]
        found = {p: w.service._category_for(CategoryKind.LIFESTYLE, p) for p in pursued}
        assert {p for p, c in found.items() if c is not None} == LIFESTYLE_PURPOSES[ref_id]
        assert set(found.values()) <= {"lifestyle", None}
    finally:
        w.close()
