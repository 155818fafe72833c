"""The information shown to a professional at first connection to the compassionate-access platform (§10.6, AAC-10):
every compassionate screen leads to it until the person acknowledges its current version (nothing of a patient is
shown meanwhile); the acknowledgement is recorded per person and version and traced; a new version asks again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from santegarde.cli.serve import build_app
from santegarde.compassionate.registry import example_text
from santegarde.compassionate.tables import aac_notice_acknowledgement
from santegarde.demo import run_demo
from santegarde.runtime import open_organisation
from santegarde.web.render import LANG_COOKIE
from test_web import browser, csrf, error_of, words
from test_web_aac import PROGRAMME, REQUEST, notice, open_case, service, signed_in
from web_fixtures import Practice, make_compassionate

INFORMATION = "/acces-compassionnel/information"


@pytest.fixture
def hospital(tmp_path: Path) -> Iterator[Practice]:
    p = make_compassionate(tmp_path)
    yield p
    p.close()


def newcomer(hospital: Practice, login: str = "dr.nouveau") -> tuple[TestClient, str]:
    """A prescriber of the establishment connecting to the platform for the first time."""
    hospital.person(login, "care_establishment_staff", ref="10001112229", days=365, informed=False)
    return signed_in(hospital, login)


def acknowledgements(hospital: Practice) -> list[tuple[str, str]]:
    with hospital.place.service.engine.connect() as conn:
        rows = conn.execute(select(aac_notice_acknowledgement.c.login, aac_notice_acknowledgement.c.version)).all()
    return [(r.login, r.version) for r in rows]


def traced(hospital: Practice) -> list[dict[str, Any]]:
    with hospital.place.audit.engine.connect() as conn:
        return [
            e.content
            for e in hospital.place.audit.entries(conn)
            if e.content.get("operation") == "aac.notice.acknowledge"
        ]


def acknowledge(c: TestClient, token: str, hospital: Practice) -> Any:
    version = notice(hospital).shown().version
    return c.post(INFORMATION, data={"csrf": token, "acknowledged": "1", "version": version})


def test_the_first_visit_leads_to_the_notice_and_shows_nothing_of_a_patient(hospital: Practice) -> None:
    known, known_token = signed_in(hospital, "dr.prescrit")  # informed at an earlier connection
    pid = open_case(known, known_token)
    c, token = newcomer(hospital)
    for url in (
        "/acces-compassionnel",
        PROGRAMME,
        PROGRAMME + "/demande",
        f"/acces-compassionnel/dossiers/{pid}",
        f"/acces-compassionnel/dossiers/{pid}/formulaires/suivi",
    ):
        answer = c.get(url)
        assert answer.status_code == 303 and answer.headers["location"] == INFORMATION, url
        assert "MARLE" not in answer.text
    sent = c.post(PROGRAMME + "/demande", data={"csrf": token, **REQUEST, "patient_surname": "Dupont"})
    assert sent.status_code == 303 and sent.headers["location"] == INFORMATION
    assert len(service(hospital).cases()) == 1  # the known prescriber's case only: nothing stored
    follow = c.post(
        f"/acces-compassionnel/dossiers/{pid}/formulaires/suivi", data={"csrf": token, "date_visite": "2026-11-25"}
    )
    assert follow.status_code == 303 and follow.headers["location"] == INFORMATION
    with hospital.place.audit.engine.connect() as conn:  # not one read, write or refusal of a record
        done = {
            e.content["operation"] for e in hospital.place.audit.entries(conn) if e.content["actor"] == "dr.nouveau"
        }
    assert not done, done

    page = c.get(INFORMATION)
    text = " ".join(words(page).split())
    assert page.status_code == 200 and "Information des professionnels à la première connexion" in text
    assert "(§10.6)" in text and "Velmorine 20 mg, comprimé (fictif)" in text and "AAC-EX-2026-0001" in text
    assert "Données relatives aux professionnels de santé" in text
    assert "J'ai pris connaissance de cette information" in text
    assert "<style" not in page.text and "<script>" not in page.text  # drawn in the console's page (strict CSP)
    c.cookies.set(LANG_COOKIE, "en")
    english = c.get(INFORMATION)
    assert "Information for professionals at first connection" in words(english)
    assert "I have read this information" in words(english)


def test_the_acknowledgement_is_recorded_traced_and_the_next_visit_goes_through(hospital: Practice) -> None:
    c, token = newcomer(hospital)
    unticked = c.post(INFORMATION, data={"csrf": token, "version": notice(hospital).shown().version})
    assert unticked.status_code == 422 and "Cochez la case" in error_of(unticked, "acknowledged")
    assert ("dr.nouveau", notice(hospital).shown().version) not in acknowledgements(hospital)

    done = acknowledge(c, token, hospital)
    assert done.status_code == 303 and done.headers["location"] == "/acces-compassionnel"
    version = notice(hospital).shown().version
    assert ("dr.nouveau", version) in acknowledgements(hospital)
    [event] = [e for e in traced(hospital) if e["actor"] == "dr.nouveau"]
    assert event["resource_id"] == version and event["rule"] == "AAC-10" and event["allowed"] is True
    assert event["profile"] == "care_establishment_staff"

    listed = c.get("/acces-compassionnel")
    assert listed.status_code == 200 and "Velmorine dans la sclérose latérale amyotrophique" in words(listed)
    again = acknowledge(c, token, hospital)  # twice (another tab): one record stays
    assert again.status_code == 303
    assert acknowledgements(hospital).count(("dr.nouveau", version)) == 1


def test_a_new_version_of_the_notice_asks_again(hospital: Practice) -> None:
    c, token = signed_in(hospital, "dr.prescrit")
    assert c.get("/acces-compassionnel").status_code == 200
    before = notice(hospital).shown().version
    text = example_text().replace('version: "1"', 'version: "2"', 1).replace("AAC-EX-2026-0001", "AAC-EX-2026-0002")
    assert hospital.compassionate is not None
    hospital.compassionate.registry.add(text, "example v2")  # the notice names the programme's new decision
    after = notice(hospital).shown().version
    assert after != before
    asked = c.get("/acces-compassionnel")
    assert asked.status_code == 303 and asked.headers["location"] == INFORMATION
    assert "AAC-EX-2026-0002" in words(c.get(INFORMATION))
    stale = c.post(INFORMATION, data={"csrf": token, "acknowledged": "1", "version": before})
    assert stale.status_code == 409 and "a changé pendant que vous la lisiez" in words(stale)
    assert ("dr.prescrit", after) not in acknowledgements(hospital)
    assert acknowledge(c, token, hospital).status_code == 303
    assert {("dr.prescrit", before), ("dr.prescrit", after)} <= set(acknowledgements(hospital))
    assert c.get("/acces-compassionnel").status_code == 200


def test_the_acknowledgement_needs_the_console_form(hospital: Practice) -> None:
    c, _ = newcomer(hospital)
    version = notice(hospital).shown().version
    forged = c.post(INFORMATION, data={"acknowledged": "1", "version": version})
    assert forged.status_code == 403 and "Formulaire expiré" in words(forged)
    wrong = c.post(INFORMATION, data={"csrf": "0" * 64, "acknowledged": "1", "version": version})
    assert wrong.status_code == 403
    assert not [a for a in acknowledgements(hospital) if a[0] == "dr.nouveau"] and not [
        e for e in traced(hospital) if e["actor"] == "dr.nouveau"
    ]
    assert c.get("/acces-compassionnel").headers["location"] == INFORMATION


def test_signed_out_the_notice_leads_to_sign_in(hospital: Practice) -> None:
    anonymous = browser(hospital)
    assert anonymous.get(INFORMATION).headers["location"] == "/connexion"
    token = csrf(anonymous.get("/connexion"))
    sent = anonymous.post(INFORMATION, data={"csrf": token, "acknowledged": "1", "version": "x"})
    assert sent.status_code == 303 and sent.headers["location"] == "/connexion"
    version = notice(hospital).shown().version
    assert sorted(acknowledgements(hospital)) == [(x, version) for x in ("dr.ailleurs", "dr.prescrit", "ph.labo")]


def test_the_served_demo_platform_shows_its_own_notice_first(tmp_path: Path) -> None:
    """As ``santegarde serve`` builds it: the notice from the organisation's configuration, programme and transfer
    register; the demo account is led to it, acknowledges it, then reaches the screens."""
    passphrase = "demo passphrase for the tests"
    report = run_demo(tmp_path / "demo", "compassionate", patients=2, seed=3, passphrase=passphrase)
    org = open_organisation(report.config_path, passphrase)
    try:
        with TestClient(build_app(org), base_url="https://testserver") as c:
            token = csrf(c.get("/connexion"))
            signed = c.post(
                "/connexion", data={"csrf": token, "login": report.login, "password": report.password},
                follow_redirects=False,
            )  # fmt: skip
            assert signed.headers["location"] == "/connexion/code"
            # the next step's code (a code is never accepted twice; the demo used the current one when it enrolled)
            code = pyotp.TOTP(report.totp_secret).at(datetime.now(UTC) + timedelta(seconds=30))
            c.post("/connexion/code", data={"csrf": token, "code": code}, follow_redirects=False)
            first = c.get("/acces-compassionnel", follow_redirects=False)
            assert first.status_code == 303 and first.headers["location"] == INFORMATION
            page = c.get(INFORMATION)
            text = " ".join(words(page).split())
            assert page.status_code == 200 and org.config.organisation.name in text
            assert "Velmorine 20 mg, comprimé (fictif)" in text and "(§10.6)" in text
            version = page.text.split('name="version" value="')[1].split('"')[0]
            done = c.post(
                INFORMATION, data={"csrf": token, "acknowledged": "1", "version": version}, follow_redirects=False
            )
            assert done.status_code == 303
            assert c.get("/acces-compassionnel", follow_redirects=False).status_code == 200
        with org.audit.engine.connect() as conn:
            events = [e.content for e in org.audit.entries(conn) if e.content["operation"] == "aac.notice.acknowledge"]
        assert [(e["actor"], e["resource_id"]) for e in events] == [(report.login, version)]
    finally:
        org.close()
