"""Data-subject rights executed end to end (COM-RGT-1, COM-QUAL-1, PRA-5, PHA-4, AAC-11, EDS-9).

On SQLite and PostgreSQL: each right executed through the record path, each exclusion refused with
its rule and section, deadlines, identity checks, the related-person refusal of AAC-11, erasure by
key destruction, restriction by freezing, and the answer letter.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from santegarde.api import rights as rights_api
from santegarde.api.app import create_app
from santegarde.audit.tables import entry
from santegarde.audit.trail import AuditTrail
from santegarde.crypto import DecryptionRefused, KeyFamily
from santegarde.referentials.model import Art6Basis, Right
from santegarde.rights import Requester, RightsError, RightsService, Status, add_months
from santegarde.store.db import make_engine, migrate, tables
from santegarde.store.schema import patient_key, record
from santegarde.store.service import AccessDenied, NotFound, RecordService, Request
from store_fixtures import Workplace, make_workplace


def patient(pid: str = "p-1", family: str = "Fictivé") -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "name": [{"family": family, "given": ["Alix"]}],
        "gender": "female",
        "birthDate": "1979-03-21",
    }


def observation(pid: str = "p-1", oid: str = "o-1", value: float = 61.5) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "subject": {"reference": f"Patient/{pid}"},
        "valueQuantity": {"value": value, "unit": "kg"},
    }


def open_place(database_url: str, tmp_path: Path, ref: str) -> Workplace:
    w = make_workplace(database_url, tmp_path, ref)
    migrate(w.service.engine, package="santegarde.rights")
    return w


@pytest.fixture
def practice(database_url: str, tmp_path: Path) -> Iterator[Workplace]:
    w = open_place(database_url, tmp_path, "pra-2020-081")
    yield w
    w.close()


@pytest.fixture
def doc(practice: Workplace) -> Request:
    token = practice.person("dr.martin", "practitioner", ref="10001234567")
    req = Request(token, "medical_record")
    practice.service.create(req, patient())
    practice.service.create(req, observation())
    return req


def desk(w: Workplace, **kwargs: Any) -> RightsService:
    return RightsService(w.service, organisation="Cabinet Fictif", **kwargs)


def checked(rs: RightsService, req: Request, right: Right | str, requester: str = "person", **details: Any) -> int:
    r = rs.receive(req, right, "p-1", requester, **details)
    rs.register.record_identity_check(req, r.id, "carte d'identité présentée à l'accueil, conforme")
    return r.id


def audit_rows(w: Workplace) -> list[dict[str, Any]]:
    with w.audit.engine.connect() as conn:
        return [json.loads(r.content) for r in conn.execute(select(entry.c.content).order_by(entry.c.seq))]


# -- register, identity checks, deadlines ------------------------------------------------------------


def test_the_migration_creates_the_register(practice: Workplace) -> None:
    migrate(practice.service.engine, package="santegarde.rights")  # idempotent
    assert {"rights_request", "rights_freeze"} <= tables(practice.service.engine)
    assert "rights_objection" not in tables(practice.service.engine)  # its rows are in the objection ledger


def test_nothing_is_executed_before_the_identity_check(practice: Workplace, doc: Request) -> None:
    rs = desk(practice)
    r = rs.receive(doc, Right.ACCESS, "p-1", Requester.PERSON)
    assert r.status is Status.RECEIVED and r.received_by == "dr.martin"
    with pytest.raises(RightsError, match="n'a pas été vérifiée"):
        rs.execute(doc, r.id)
    with pytest.raises(RightsError, match="comment l'identité a été vérifiée"):
        rs.register.record_identity_check(doc, r.id, "ok")
    ops = [e["operation"] for e in audit_rows(practice)]
    assert "rights.register" in ops and "rights.execute" in ops


def test_unknown_right_requester_or_missing_purpose_are_refused(practice: Workplace, doc: Request) -> None:
    rs = desk(practice)
    with pytest.raises(RightsError, match="n'est pas un droit"):
        rs.receive(doc, "information", "p-1", "person")
    with pytest.raises(RightsError, match="n'est pas un type de demandeur"):
        rs.receive(doc, "access", "p-1", "neighbour")
    with pytest.raises(RightsError, match="porte sur une finalité"):
        rs.receive(doc, "objection", "p-1", "person")
    with pytest.raises(RightsError, match="n'est pas une finalité"):
        rs.receive(doc, "objection", "p-1", "person", purpose="marketing")
    with pytest.raises(RightsError, match="ce que la personne conteste"):
        rs.receive(doc, "restriction", "p-1", "person")


def test_one_month_deadline_extended_once_by_two_months_with_a_reason(practice: Workplace, doc: Request) -> None:
    rs = desk(practice)
    now = practice.clock.now
    r = rs.receive(doc, Right.RECTIFICATION, "p-1", "person")
    assert r.due_at == add_months(now, 1) and "un mois à compter de la réception" in r.deadline_rule
    with pytest.raises(RightsError, match="motif de la prolongation"):
        rs.register.extend(doc, r.id, "busy")
    extended = rs.register.extend(doc, r.id, "many requests received this month, complex file")
    assert extended.status is Status.EXTENDED and extended.deadline == add_months(now, 3)
    with pytest.raises(RightsError, match="qu'une fois"):
        rs.register.extend(doc, r.id, "still many requests received this month")
    assert rs.register.overdue() == []
    practice.clock.advance(days=95)
    assert [o.id for o in rs.register.overdue()] == [r.id]


def test_calendar_months() -> None:
    from datetime import UTC, datetime

    assert add_months(datetime(2026, 1, 31, tzinfo=UTC), 1) == datetime(2026, 2, 28, tzinfo=UTC)
    assert add_months(datetime(2026, 11, 30, tzinfo=UTC), 3) == datetime(2027, 2, 28, tzinfo=UTC)


def test_medical_record_access_eight_days_or_two_months(practice: Workplace, doc: Request) -> None:
    rs = desk(practice)
    now = practice.clock.now
    recent = rs.receive(doc, Right.ACCESS, "p-1", "person", purpose="medical_record")
    old = rs.receive(doc, Right.ACCESS, "p-1", "person", purpose="medical_record", older_than_five_years=True)
    assert recent.due_at == now + timedelta(days=8) and "L. 1111-7" in recent.deadline_rule
    assert old.due_at == add_months(now, 2)
    with pytest.raises(RightsError, match="ne peut pas être prolongé"):
        rs.register.extend(doc, recent.id, "many requests received this month, complex file")
    practice.clock.advance(days=9)
    assert [o.id for o in rs.register.overdue()] == [recent.id]


# -- the practice (pra-2020-081) ---------------------------------------------------------------------


def test_access_gives_a_fhir_bundle_and_a_readable_summary(practice: Workplace, doc: Request) -> None:
    from fhir.resources.R4B.bundle import Bundle

    rs = desk(practice)
    out = rs.execute(doc, checked(rs, doc, Right.ACCESS))
    assert out.executed and out.request.status is Status.EXECUTED
    assert out.bundle is not None and out.bundle["type"] == "collection"
    Bundle.model_validate(out.bundle)
    assert {e["resource"]["resourceType"] for e in out.bundle["entry"]} == {"Patient", "Observation"}
    assert out.summary_html is not None and "61.5" in out.summary_html and "Fictivé" in out.summary_html
    summary = unescape(out.summary_html)
    assert "Mesure ou résultat d'examen (n° o-1)" in summary
    # The elements are named in French, never by their FHIR path.
    assert "<td>Nom › Nom de famille</td><td>Fictivé</td>" in summary
    assert "<td>Valeur mesurée › Valeur</td><td>61.5</td>" in summary
    assert not re.search(r"<td>[a-z]+[A-Z.\[]", summary) and "valueQuantity" not in summary
    reads = [e for e in audit_rows(practice) if e["operation"] == "rights.records"]
    assert len(reads) == 2 and all(e["patient"] == "p-1" for e in reads)


def test_rectification_is_an_update_with_history(practice: Workplace, doc: Request) -> None:
    rs = desk(practice)
    rid = checked(rs, doc, Right.RECTIFICATION)
    with pytest.raises(RightsError, match="ressource corrigée"):
        rs.execute(doc, rid)
    with pytest.raises(RightsError, match="ne concerne pas le patient"):
        rs.execute(doc, rid, corrected=observation("p-2"))
    out = rs.execute(doc, rid, corrected=observation(value=62.0))
    assert out.executed and out.affected == ("Observation/o-1",)
    history = practice.service.history(doc, "Observation", "o-1")
    assert [h["valueQuantity"]["value"] for h in history] == [62.0, 61.5]


def test_erasure_is_refused_for_the_medical_record_kept_under_a_legal_obligation(
    practice: Workplace, doc: Request
) -> None:
    rs = desk(practice)
    out = rs.execute(doc, checked(rs, doc, Right.ERASURE))
    assert not out.executed and "art. 17.3 b du RGPD" in out.message
    assert "Gestion des dossiers médicaux" in out.message and "medical_record" not in out.message
    assert practice.service.read(doc, "Patient", "p-1")["id"] == "p-1"


def test_erasure_destroys_the_keys(practice: Workplace) -> None:
    token = practice.person("dr.martin", "practitioner", ref="10001234567")
    booking = Request(token, "appointments")  # legitimate interest: no exception of art. 17.3
    practice.service.create(booking, patient())
    rs = desk(practice)
    with practice.service.engine.connect() as conn:
        before = {r.id for r in conn.execute(select(record.c.id))}
    out = rs.execute(booking, checked(rs, booking, Right.ERASURE))
    assert out.executed and "effacées" in out.message
    with practice.service.engine.connect() as conn:
        assert conn.execute(select(patient_key).where(patient_key.c.patient_id == "p-1")).first() is None
        assert conn.execute(select(record).where(record.c.patient_id == "p-1")).first() is None
    assert before == {"p-1"}
    with pytest.raises((NotFound, DecryptionRefused)):
        practice.service.read(booking, "Patient", "p-1")
    erased = [e for e in audit_rows(practice) if e["operation"] == "erase"]
    assert erased and erased[-1]["outcome"] == "success"


def test_erasure_is_traced_before_it_commits(practice: Workplace, doc: Request, tmp_path: Path) -> None:
    """The attack: the trail's database fails (or the process dies) after the erasure committed, before its entry.

    The erasure's entries are committed first: with a trail that cannot be written, nothing is erased.
    """
    broken_engine = make_engine(f"sqlite:///{tmp_path / 'not-a-trail.db'}")  # no audit tables: every append fails
    _, seal = practice.identity.keyring.key(KeyFamily.AUDIT_SEAL)
    service = RecordService(
        practice.service.engine,
        practice.service.ref,
        practice.identity.keyring,
        AuditTrail(broken_engine, seal),
        practice.identity,
    )
    try:
        with pytest.raises(OperationalError):
            service.erase_patient(doc, "p-1", "erasure requested by the patient")
    finally:
        broken_engine.dispose()
    assert practice.service.read(doc, "Observation", "o-1")["id"] == "o-1"  # nothing erased, keys kept
    assert practice.service.erase_patient(doc, "p-1", "erasure requested by the patient") == 2
    rows = audit_rows(practice)
    erasure = [e for e in rows if e["operation"].startswith("erase")]
    erased = [(e["operation"], e["resource_type"], e["resource_id"], e["outcome"]) for e in erasure]
    assert erased == [
        ("erase", "Observation", "o-1", "intent"),
        ("erase", "Patient", "p-1", "intent"),
        ("erase.keys_destroyed", "Patient", "p-1", "intent"),
        ("erase", "Patient", "p-1", "success"),
    ]
    assert all(e["patient"] == "p-1" and "requested" not in json.dumps(e) for e in erasure)


def test_an_erasure_killed_before_its_answer_is_completed_by_executing_again(practice: Workplace, doc: Request) -> None:
    """Killed after the erasure committed, before the answer: executing the request again answers it."""
    rs = desk(practice)
    request_id = checked(rs, doc, Right.ERASURE)
    practice.service.erase_patient(doc, "p-1", f"erasure requested, rights request {request_id}")  # then killed
    assert rs.get(request_id).status is Status.IDENTITY_CHECKED
    out = rs.execute(doc, request_id)
    assert out.executed and out.request.status is Status.EXECUTED and "2 enregistrement(s)" in out.message
    with pytest.raises(RightsError, match="déjà reçu une réponse"):
        rs.execute(doc, request_id)


def test_erasure_needs_delete_rights(practice: Workplace, doc: Request) -> None:
    sec = Request(practice.person("sec.durand", "secretariat", ref="S-2"), "appointments")
    with pytest.raises(AccessDenied):
        practice.service.erase_patient(sec, "p-1", "erasure requested by the patient")
    with pytest.raises(NotFound):
        practice.service.erase_patient(doc, "p-404", "erasure requested by the patient")
    assert practice.service.read(doc, "Patient", "p-1")["id"] == "p-1"


def test_restriction_freezes_refuses_writes_and_lifts(practice: Workplace, doc: Request) -> None:
    rs = desk(practice)
    rid = checked(rs, doc, Right.RESTRICTION, grounds="accuracy of the weight disputed")
    out = rs.execute(doc, rid)
    assert out.executed and set(out.affected) == {"Patient/p-1", "Observation/o-1"}
    seen = practice.service.read(doc, "Observation", "o-1")
    assert "weight disputed" in seen["meta"]["tag"][-1]["display"]
    with pytest.raises(AccessDenied, match="frozen"):
        practice.service.update(doc, "Observation", "o-1", observation(value=70.0))
    lifted = rs.lift_restriction(doc, rid)
    assert lifted.lifted_at is not None
    practice.service.update(doc, "Observation", "o-1", observation(value=70.0))
    with pytest.raises(RightsError, match="déjà été levée"):
        rs.lift_restriction(doc, rid)


def test_objection_to_the_medical_record_is_refused_with_its_rule(practice: Workplace, doc: Request) -> None:
    rs = desk(practice)
    out = rs.execute(doc, checked(rs, doc, Right.OBJECTION, purpose="medical_record"))
    assert not out.executed and out.request.status is Status.REFUSED
    assert out.request.section == "9" and "medical_record" in (out.request.rule or "")
    assert "obligation" in out.message
    denied = [e for e in audit_rows(practice) if e["operation"] == "rights.objection"]
    assert denied[-1]["outcome"] == "denied" and denied[-1]["section"] == "9"
    ok = rs.execute(doc, checked(rs, doc, Right.OBJECTION, purpose="appointments"))
    assert ok.executed and rs.objections("p-1") == ["appointments"]


def test_portability_refused_on_a_legal_obligation(practice: Workplace, doc: Request) -> None:
    rs = desk(practice)
    out = rs.execute(doc, checked(rs, doc, Right.PORTABILITY, purpose="medical_record"))
    assert not out.executed and "20.1" in (out.request.rule or "") and out.request.section == "9"


def test_an_answered_request_is_not_executed_twice(practice: Workplace, doc: Request) -> None:
    rs = desk(practice)
    rid = checked(rs, doc, Right.ACCESS)
    rs.execute(doc, rid)
    with pytest.raises(RightsError, match="déjà reçu une réponse"):
        rs.execute(doc, rid)


def test_the_letter_renders_in_french_with_deadline_and_cnil(practice: Workplace, doc: Request) -> None:
    rs = desk(practice)
    refused = rs.execute(doc, checked(rs, doc, Right.OBJECTION, purpose="medical_record"))
    letter = rs.letter(refused.request.id)
    assert isinstance(letter, str)
    html = unescape(letter)
    assert "droit d'opposition" in html and "ne peut pas être satisfaite" in html and "CNIL" in html
    assert "section 9" in html and "Délai de réponse" in html
    visible = re.sub(r"<style.*?</style>|<[^>]+>", " ", html, flags=re.S)
    assert "« Gestion des dossiers médicaux »" in visible and "un mois à compter de la réception" in visible
    assert not re.findall(r"\b(the|and|of|from|receipt|GDPR|Generated|rights)\b", visible), visible
    assert not re.findall(r"\b[a-z0-9]+(?:_[a-z0-9]+)+\b", visible), visible
    done = rs.execute(doc, checked(rs, doc, Right.ACCESS))
    assert "a été satisfaite" in unescape(str(rs.letter(done.request.id)))
    pdf = rs.letter(done.request.id, "pdf")
    assert isinstance(pdf, bytes) and pdf.startswith(b"%PDF")


# Tell-tale English words and raw identifiers that must never reach a letter the person reads.
LETTER_ENGLISH = re.compile(
    r"\b(the|and|of|from|to|is|was|request|receipt|GDPR|Generated|rights|right|records?|deadline|data|"
    r"purpose|refused|executed|years?|months?|set by controller)\b",
    re.IGNORECASE,
)
SNAKE = re.compile(r"\b[a-z0-9]+(?:_[a-z0-9]+)+\b")


def _visible(letter: str | bytes) -> str:
    html = unescape(str(letter))
    return " ".join(re.sub(r"<style.*?</style>|<[^>]+>", " ", html, flags=re.S).split())


def test_every_kind_of_letter_is_french_without_english_or_identifiers(practice: Workplace, doc: Request) -> None:
    """One letter per answer the desk writes: executed (access, rectification, restriction, objection), refused
    (objection, portability, erasure of the medical record), extended, and still pending."""
    rs = desk(practice)
    answered = {
        "access": rs.execute(doc, checked(rs, doc, Right.ACCESS)),
        "rectification": rs.execute(
            doc, checked(rs, doc, Right.RECTIFICATION), corrected=observation(value=62.0)
        ),
        "objection": rs.execute(doc, checked(rs, doc, Right.OBJECTION, purpose="appointments")),
        "objection refused": rs.execute(doc, checked(rs, doc, Right.OBJECTION, purpose="medical_record")),
        "portability refused": rs.execute(doc, checked(rs, doc, Right.PORTABILITY, purpose="medical_record")),
        "erasure refused": rs.execute(doc, checked(rs, doc, Right.ERASURE)),
    }
    numbers = {kind: out.request.id for kind, out in answered.items()}
    restriction = checked(rs, doc, Right.RESTRICTION, grounds="exactitude du poids enregistré")
    numbers["restriction"] = rs.execute(doc, restriction).request.id
    extended = checked(rs, doc, Right.RECTIFICATION)
    rs.register.extend(doc, extended, "nombreuses demandes reçues ce mois-ci, dossier complexe")
    numbers["extended"] = extended
    numbers["pending"] = rs.receive(doc, Right.ACCESS, "p-1", "legal_representative").id
    assert not answered["erasure refused"].executed and answered["objection"].executed
    for kind, number in numbers.items():
        text = _visible(rs.letter(number))
        assert "Madame, Monsieur" in text and "CNIL" in text, kind
        assert not LETTER_ENGLISH.findall(text), (kind, LETTER_ENGLISH.findall(text), text)
        assert not SNAKE.findall(text), (kind, SNAKE.findall(text), text)
        assert "du RGPD" in text or "article" in text or "art." in text, kind


# -- the pharmacy (pha-2022-067) ---------------------------------------------------------------------


@pytest.fixture
def pharmacy(database_url: str, tmp_path: Path) -> Iterator[Workplace]:
    w = open_place(database_url, tmp_path, "pha-2022-067")
    yield w
    w.close()


def test_pharmacy_rights(pharmacy: Workplace) -> None:
    ph = Request(pharmacy.person("ph.durand", "pharmacist", ref="10009876543"), "dispensing")
    pharmacy.service.create(ph, patient())
    contract = desk(pharmacy, bases={"dispensing": Art6Basis.CONTRACT})
    refused = contract.execute(ph, checked(contract, ph, Right.OBJECTION, purpose="prescription_book_and_registers"))
    assert not refused.executed and refused.request.section == "9"
    assert "prescription_book_and_registers" in (refused.request.rule or "")
    port = contract.execute(ph, checked(contract, ph, Right.PORTABILITY, purpose="dispensing"))
    assert port.executed and port.bundle is not None and len(port.bundle["entry"]) == 1
    legal = desk(pharmacy, bases={"dispensing": Art6Basis.LEGAL_OBLIGATION})
    no = legal.execute(ph, checked(legal, ph, Right.PORTABILITY, purpose="dispensing"))
    assert not no.executed and "20.1" in (no.request.rule or "")
    assert contract.execute(ph, checked(contract, ph, Right.ACCESS)).executed
    erased = contract.execute(ph, checked(contract, ph, Right.ERASURE))
    assert erased.executed
    with pytest.raises((NotFound, DecryptionRefused)):
        pharmacy.service.read(ph, "Patient", "p-1")


# -- compassionate access (aac-2022-106) -------------------------------------------------------------


@pytest.fixture
def compassionate(database_url: str, tmp_path: Path) -> Iterator[tuple[Workplace, Request]]:
    w = open_place(database_url, tmp_path, "aac-2022-106")
    token = w.person("ph.resp", "pharmacist_in_charge", ref="10001112223", ends_at=w.identity.now().replace(year=2027))
    req = Request(token, "access_initiation_follow_up")
    w.service.create(req, {"resourceType": "Patient", "id": "p-1", "gender": "female"})
    w.service.create(req, observation())
    yield w, req
    w.close()


@pytest.mark.parametrize("right", [Right.ERASURE, Right.OBJECTION, Right.PORTABILITY])
def test_compassionate_access_excludes_erasure_objection_portability(
    compassionate: tuple[Workplace, Request], right: Right
) -> None:
    w, req = compassionate
    rs = desk(w)
    out = rs.execute(req, checked(rs, req, right, purpose="access_initiation_follow_up"))
    assert not out.executed and out.request.section == "11.3" and "référentiel" in (out.request.rule or "")
    assert w.service.read(req, "Patient", "p-1")["id"] == "p-1"
    text = _visible(rs.letter(out.request.id))
    assert not LETTER_ENGLISH.findall(text) and not SNAKE.findall(text), text


def test_compassionate_access_rectification_and_restriction(compassionate: tuple[Workplace, Request]) -> None:
    w, req = compassionate
    rs = desk(w)
    assert rs.execute(req, checked(rs, req, Right.ACCESS)).executed
    assert rs.execute(req, checked(rs, req, Right.RECTIFICATION), corrected=observation(value=60.0)).executed
    assert rs.execute(req, checked(rs, req, Right.RESTRICTION, grounds="accuracy disputed")).executed


@pytest.mark.parametrize("right", [Right.ACCESS, Right.RECTIFICATION])
def test_aac11_related_person_is_refused_and_told_why(compassionate: tuple[Workplace, Request], right: Right) -> None:
    w, req = compassionate
    rs = desk(w)
    out = rs.execute(req, checked(rs, req, right, Requester.RELATED_PERSON))
    assert not out.executed and out.bundle is None and out.request.rule == "AAC-11"
    assert out.request.section == "11.1" and "secret médical" in out.message and "§11.1" in out.message
    assert "secret médical" in unescape(str(rs.letter(out.request.id)))
    text = _visible(rs.letter(out.request.id))
    assert not LETTER_ENGLISH.findall(text) and not SNAKE.findall(text), text
    assert not [e for e in audit_rows(w) if e["operation"] == "rights.records"]


# -- the warehouse (eds-2021-118) --------------------------------------------------------------------


def test_warehouse_objection_and_erasure_apply(database_url: str, tmp_path: Path) -> None:
    w = open_place(database_url, tmp_path, "eds-2021-118")
    try:
        feed = Request(w.person("feed.bot", "feeding", ref="F-1"), "warehouse_constitution")
        steward = Request(w.person("dpo.desk", "data_steward", ref="D-1"), "rights_management")
        w.service.create(feed, patient())
        rs = desk(w)
        obj = rs.execute(steward, checked(rs, steward, Right.OBJECTION, purpose="warehouse_constitution"))
        assert obj.executed and "durablement" in obj.message
        assert rs.objections("p-1") == ["warehouse_constitution"]
        port = rs.execute(steward, checked(rs, steward, Right.PORTABILITY, purpose="warehouse_constitution"))
        assert not port.executed and port.request.section == "9.2"
        erased = rs.execute(steward, checked(rs, steward, Right.ERASURE))
        assert erased.executed
        for out in (obj, port, erased):
            text = _visible(rs.letter(out.request.id))
            assert not LETTER_ENGLISH.findall(text) and not SNAKE.findall(text), text
        with w.service.engine.connect() as conn:
            assert conn.execute(select(record).where(record.c.patient_id == "p-1")).first() is None
    finally:
        w.close()


# -- the HTTP routes ---------------------------------------------------------------------------------


def test_routes(practice: Workplace, doc: Request) -> None:
    rs = desk(practice)
    app = create_app(practice.identity, records=practice.service)
    app.include_router(rights_api.router(practice.service, rs))
    c = TestClient(app, base_url="https://testserver")
    assert c.post("/rights/requests", json={"right": "access", "patient_id": "p-1"}).status_code == 401
    c.cookies.set("sg_session", doc.token)
    h = {"X-Purpose": "medical_record"}
    created = c.post("/rights/requests", json={"right": "access", "patient_id": "p-1"}, headers=h)
    assert created.status_code == 201
    rid = created.json()["id"]
    assert c.post(f"/rights/requests/{rid}/execute", headers=h).status_code == 400
    checked_ = c.post(
        f"/rights/requests/{rid}/identity-check", json={"how": "carte vitale et pièce d'identité"}, headers=h
    )
    assert checked_.json()["status"] == "identity_checked"
    done = c.post(f"/rights/requests/{rid}/execute", headers=h).json()
    assert done["executed"] and done["bundle"]["type"] == "collection"
    assert c.get(f"/rights/requests/{rid}", headers=h).json()["status"] == "executed"
    letter = c.get(f"/rights/requests/{rid}/letter", headers=h)
    assert letter.status_code == 200 and "CNIL" in letter.text


def test_pharmacy_erasure_refused_for_a_validated_register_entry(pharmacy: Workplace) -> None:
    ph = Request(pharmacy.person("ph.durand", "pharmacist", ref="10009876543"), "dispensing")
    pharmacy.service.create(ph, patient())
    pharmacy.service.freeze(ph, "Patient", "p-1", "validated register entry", permanent=True)
    rs = desk(pharmacy, bases={"dispensing": Art6Basis.CONTRACT})
    out = rs.execute(ph, checked(rs, ph, Right.ERASURE))
    assert not out.executed and out.request.rule == "GDPR art. 17.3 b" and out.request.section == "9"
    assert pharmacy.service.read(ph, "Patient", "p-1")["id"] == "p-1"
