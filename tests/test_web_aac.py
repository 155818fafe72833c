"""The console's compassionate-access screens through the one path: programmes, the cases a session may see, the
access request and the protocol's forms drawn from their definition (coded fields only), each refusal in French
next to its field or as a refused page naming the rule; and the walk of every route (each calls the store service
or reaches no record)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from santegarde.compassionate.first_connection import PlatformNotice
from santegarde.compassionate.service import CompassionateService
from santegarde.identifiers import make_nir
from test_web import RECORD_SAMPLES, SAMPLES, browser, csrf, error_of, sign_in, walk, words
from web_fixtures import Practice, make_compassionate

PROGRAMME = "/acces-compassionnel/programmes/velmorine-sla"
REQUEST = {
    "patient_surname": "Martin",
    "patient_first_name": "Léa",
    "patient_sex": "female",
    "patient_birth": "1980-02",
    "patient_establishment": "h1",
    "poids": "61,5",
    "taille": "165",
    "diagnostic": "G12.2",
    "date_diagnostic": "2026-02-01",
    "mutation_sod1": "oui",
    "score_alsfrs": "40",
}
CASE = re.compile(r"^/acces-compassionnel/dossiers/([0-9a-f-]{36})\?enregistre=1$")


@pytest.fixture
def hospital(tmp_path: Path) -> Iterator[Practice]:
    p = make_compassionate(tmp_path)
    yield p
    p.close()


def signed_in(hospital: Practice, login: str) -> tuple[TestClient, str]:
    c = browser(hospital)
    sign_in(hospital, c, login)
    return c, csrf(c.get("/accueil"))


def service(hospital: Practice) -> CompassionateService:
    assert hospital.compassionate is not None
    return hospital.compassionate


def notice(hospital: Practice) -> PlatformNotice:
    assert hospital.notice is not None
    return hospital.notice


def open_case(c: TestClient, token: str) -> str:
    answer = c.post(PROGRAMME + "/demande", data={"csrf": token, **REQUEST})
    assert answer.status_code == 303, answer.text[:2000]
    found = CASE.match(answer.headers["location"])
    assert found, answer.headers["location"]
    return found.group(1)


def test_the_programmes_and_the_access_request_form_has_no_free_entry(hospital: Practice) -> None:
    c, _ = signed_in(hospital, "dr.prescrit")
    home = c.get("/accueil")
    assert 'href="/acces-compassionnel"' in words(home)  # the menu of a compassionate organisation
    listed = c.get("/acces-compassionnel")
    assert listed.status_code == 200 and "Velmorine dans la sclérose latérale amyotrophique" in words(listed)
    assert "en vigueur" in words(listed) and "AAC-EX-2026-0001" in words(listed)
    form = c.get(PROGRAMME + "/demande")
    assert form.status_code == 200 and "Demande d'accès au traitement" in words(form)
    assert "<textarea" not in words(form)
    # the only text inputs are the patient's names (for the initials, never stored), the establishment and numbers
    texts = re.findall(r'<input id="([a-z_]+)" name="[a-z_]+" type="text"', form.text)
    assert set(texts) == {
        "patient_surname",
        "patient_first_name",
        "patient_establishment",
        "poids",
        "taille",
        "score_alsfrs",
    }
    assert 'type="month"' in words(form) and 'type="date"' in words(form) and 'type="radio"' in words(form)
    assert c.get("/acces-compassionnel/programmes/inconnu").status_code == 404


def test_field_errors_in_french_next_to_the_field_and_nothing_stored(hospital: Practice) -> None:
    c, token = signed_in(hospital, "dr.prescrit")
    wrong = {**REQUEST, "poids": "300", "taille": "165,5", "date_diagnostic": "", "mutation_sod1": "peut-être"}
    refused = c.post(PROGRAMME + "/demande", data={"csrf": token, **wrong})
    assert refused.status_code == 422
    assert (
        error_of(refused, "poids")
        == "Cette valeur est hors des bornes du protocole : saisissez un nombre entre 20 et 250 kg."
    )
    assert "nombre entier entre 100 et 230 cm" in error_of(refused, "taille")
    assert error_of(refused, "date_diagnostic") == "Ce champ est obligatoire."
    assert error_of(refused, "mutation_sod1") == "Répondez oui ou non."
    assert 'aria-invalid="true" aria-describedby="poids-erreur"' in words(refused)
    assert 'value="300"' in words(refused)  # what was typed is kept for correction
    assert "Formulaire refusé" in words(refused) and "For the field" not in words(refused)  # French, never the English
    assert service(hospital).cases() == []  # nothing stored

    future = c.post(PROGRAMME + "/demande", data={"csrf": token, **REQUEST, "patient_birth": "2099-01"})
    assert future.status_code == 422 and "sans date future" in error_of(future, "patient_birth")
    blank = c.post(PROGRAMME + "/demande", data={"csrf": token, **REQUEST, "patient_surname": "1234"})
    assert blank.status_code == 422 and "aucune lettre" in error_of(blank, "patient_surname")
    assert service(hospital).cases() == []


def test_a_nir_is_refused_and_never_drawn_back(hospital: Practice) -> None:
    c, token = signed_in(hospital, "dr.prescrit")
    nir = make_nir(male=False, year=80, month=2, department="75", commune=101, order=12)
    refused = c.post(PROGRAMME + "/demande", data={"csrf": token, **REQUEST, "patient_first_name": f"Léa {nir}"})
    assert refused.status_code == 422 and "NIR" in error_of(refused, "patient_first_name")
    assert nir not in words(refused)
    assert service(hospital).cases() == []


def test_a_case_its_timeline_and_a_form_out_of_turn(hospital: Practice) -> None:
    c, token = signed_in(hospital, "dr.prescrit")
    pid = open_case(c, token)
    case = c.get(f"/acces-compassionnel/dossiers/{pid}?enregistre=1")
    assert case.status_code == 200 and "Le formulaire est enregistré dans le dossier." in words(case)
    text = words(case)
    assert "MARLE-00001" in text and "demande en attente de la décision du laboratoire" in text
    assert "février 1980" in text and "61,5 kg" in text and "Maladie du motoneurone (G12.2)" in text
    assert "Martin" not in text and "Léa" not in text  # the names served the initials only
    assert "Demande d'accès au traitement" in text  # the timeline
    listed = c.get(PROGRAMME)
    assert "MARLE-00001" in words(listed) and f"/acces-compassionnel/dossiers/{pid}" in words(listed)

    early = c.post(
        f"/acces-compassionnel/dossiers/{pid}/formulaires/suivi",
        data={
            "csrf": token,
            "date_visite": "2026-11-25",
            "poids": "60",
            "score_alsfrs": "39",
            "observance": "complete",
        },
    )
    assert early.status_code == 409 and "Formulaire hors de son tour" in words(early)
    assert "AAC-3.workflow.follow_up" in words(early) and "« Visite de suivi »" in words(early)
    decide = c.post(
        f"/acces-compassionnel/dossiers/{pid}/formulaires/decision_laboratoire",
        data={"csrf": token, "decision": "granted"},
    )
    assert decide.status_code == 409 and "AAC-3.workflow.decision" in words(decide)  # the laboratory decides

    lab, lab_token = signed_in(hospital, "ph.labo")
    granted = lab.post(
        f"/acces-compassionnel/dossiers/{pid}/formulaires/decision_laboratoire",
        data={"csrf": lab_token, "decision": "granted", "note": "texte libre ignoré"},
    )
    assert granted.status_code == 303
    assert "accès accordé, traitement à initier" in words(lab.get(f"/acces-compassionnel/dossiers/{pid}"))

    initiated = c.post(
        f"/acces-compassionnel/dossiers/{pid}/formulaires/initiation",
        data={"csrf": token, "date_debut": "2026-11-25", "posologie": "20", "score_alsfrs": "40"},
    )
    assert initiated.status_code == 303, initiated.text[:2000]
    state = service(hospital).state(_request(hospital, c), pid)
    assert state.status == "treated" and [f.form for f in state.forms][-1] == "initiation"
    page = words(c.get(f"/acces-compassionnel/dossiers/{pid}"))
    assert "patient sous traitement" in page and "Prochaine visite" in page and "23 décembre 2026" in page


def _request(hospital: Practice, c: TestClient) -> Any:
    from santegarde.store.service import Request

    return Request(c.cookies["sg_session"], "access_initiation_follow_up")


def test_another_establishment_neither_lists_nor_opens_the_case(hospital: Practice) -> None:
    c, token = signed_in(hospital, "dr.prescrit")
    pid = open_case(c, token)
    other, other_token = signed_in(hospital, "dr.ailleurs")
    assert "MARLE-00001" not in other.get(PROGRAMME).text
    refused = other.get(f"/acces-compassionnel/dossiers/{pid}")
    assert refused.status_code == 403 and "Dossier non accessible" in words(refused) and "AAC-8.case" in words(refused)
    assert "61,5" not in words(refused)
    sent = other.post(
        f"/acces-compassionnel/dossiers/{pid}/formulaires/suivi",
        data={
            "csrf": other_token,
            "date_visite": "2026-11-25",
            "poids": "60",
            "score_alsfrs": "39",
            "observance": "complete",
        },
    )
    assert sent.status_code == 403 and "Dossier non accessible" in words(sent)


def test_forms_without_the_csrf_token_or_signed_out_are_refused(hospital: Practice) -> None:
    c, _ = signed_in(hospital, "dr.prescrit")
    forged = c.post(PROGRAMME + "/demande", data={"csrf": "0" * 64, **REQUEST})
    assert forged.status_code == 403 and "Formulaire expiré" in words(forged)
    assert service(hospital).cases() == []
    anonymous = browser(hospital)
    assert anonymous.get("/acces-compassionnel").headers["location"] == "/connexion"
    assert anonymous.get(PROGRAMME).headers["location"] == "/connexion"
    api = anonymous.get("/aac/programmes")  # the API beside the console keeps its JSON answers
    assert api.status_code == 401 and "json" in api.headers["content-type"] and "<html" not in api.text


def test_every_compassionate_route_calls_the_store_service_or_is_public(hospital: Practice) -> None:
    c, token = signed_in(hospital, "dr.prescrit")
    pid = open_case(c, token)
    samples = {
        **SAMPLES,
        **RECORD_SAMPLES,
        ("GET", "/acces-compassionnel"): ("/acces-compassionnel", {}),
        ("GET", "/acces-compassionnel/information"): ("/acces-compassionnel/information", {}),
        ("POST", "/acces-compassionnel/information"): (
            "/acces-compassionnel/information",
            {"acknowledged": "1", "version": notice(hospital).shown().version},
        ),
        ("GET", "/acces-compassionnel/programmes/{programme_id}"): (PROGRAMME, {}),
        ("GET", "/acces-compassionnel/programmes/{programme_id}/demande"): (PROGRAMME + "/demande", {}),
        ("POST", "/acces-compassionnel/programmes/{programme_id}/demande"): (PROGRAMME + "/demande", REQUEST),
        ("GET", "/acces-compassionnel/dossiers/{pid}"): (f"/acces-compassionnel/dossiers/{pid}", {}),
        ("GET", "/acces-compassionnel/dossiers/{pid}/formulaires/{form_id}"): (
            f"/acces-compassionnel/dossiers/{pid}/formulaires/suivi",
            {},
        ),
        ("POST", "/acces-compassionnel/motif"): (
            "/acces-compassionnel/motif",
            {"motif": "mission d'audit A-12 : contrôle de la collecte", "suite": PROGRAMME},
        ),
        ("POST", "/acces-compassionnel/dossiers/{pid}/formulaires/{form_id}"): (
            f"/acces-compassionnel/dossiers/{pid}/formulaires/suivi",
            {"date_visite": "2026-11-25"},
        ),
    }
    walk(hospital, samples, "dr.prescrit")


AUDIT_REASON = "mission d'audit A-12 : contrôle de la procédure de collecte"


def test_the_audit_service_gives_its_written_reason_before_reading(hospital: Practice) -> None:
    """§8.2: the audit service reaches the data only ad hoc and on a written reason. The console asks for it (a form),
    refuses and traces every read without it, then passes it with each read of the session, where it is kept."""
    from sqlalchemy import select

    from santegarde.store.schema import access_justification

    c, token = signed_in(hospital, "dr.prescrit")
    pid = open_case(c, token)
    case_url = f"/acces-compassionnel/dossiers/{pid}"
    hospital.person("audit.interne", "audit", ref="L-7", days=20)
    auditor, token = signed_in(hospital, "audit.interne")

    for url in (PROGRAMME, case_url):  # no reason: the reason is asked, nothing is read, the refusal traced
        asked = auditor.get(url)
        assert asked.status_code == 403 and "Motif de l'accès" in words(asked), url
        assert "MARLE-" not in asked.text
    with hospital.place.audit.engine.connect() as conn:
        denied = [e.content for e in hospital.place.audit.entries(conn) if e.content.get("allowed") is False]
    assert [e["rule"] for e in denied if e.get("actor") == "audit.interne"] == ["accessors.audit.motivated"] * 2

    short = auditor.post("/acces-compassionnel/motif", data={"csrf": token, "motif": "contrôle", "suite": case_url})
    assert short.status_code == 422 and "au moins 15 caractères" in words(short)
    assert "sg_motif" not in short.headers.get("set-cookie", "")
    forged = auditor.post("/acces-compassionnel/motif", data={"motif": AUDIT_REASON, "suite": case_url})
    assert forged.status_code == 403 and "sg_motif" not in forged.headers.get("set-cookie", "")
    elsewhere = auditor.post(
        "/acces-compassionnel/motif", data={"csrf": token, "motif": AUDIT_REASON, "suite": "https://ailleurs.invalid/"}
    )
    assert elsewhere.status_code == 303 and elsewhere.headers["location"] == "/acces-compassionnel"
    given = auditor.post("/acces-compassionnel/motif", data={"csrf": token, "motif": AUDIT_REASON, "suite": case_url})
    assert given.status_code == 303 and given.headers["location"] == case_url

    seen = auditor.get(case_url)
    assert seen.status_code == 200 and "MARLE-" in seen.text
    listed = auditor.get(PROGRAMME)
    assert listed.status_code == 200 and "MARLE-" in listed.text
    with hospital.place.service.engine.connect() as conn:
        kept = conn.execute(select(access_justification)).all()
    assert kept and all(k.kind == "ad_hoc" and k.text == AUDIT_REASON and k.login == "audit.interne" for k in kept)

    # The reason belongs to the session that gave it: another session, even with the cookie copied, is asked again.
    hospital.person("audit.second", "audit", ref="L-8", days=20)
    other, _ = signed_in(hospital, "audit.second")
    copied = next(cookie.value for cookie in auditor.cookies.jar if cookie.name == "sg_motif")
    other.cookies.set("sg_motif", copied)
    again = other.get(case_url)
    assert again.status_code == 403 and "Motif de l'accès" in words(again)
