"""The console in several workers, or after a restart: the CSRF key is derived from the organisation's identity
key (not drawn by the process) and the profiles offered at login are read from the grants (not kept in memory),
so a form drawn by one worker is accepted by another and the profile choice survives a restart."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from identity_fixtures import NEW_PASSWORD
from santegarde.identity import grants
from santegarde.web.render import CSRF_COOKIE, Renderer
from test_web import browser, csrf
from web_fixtures import Practice, make_practice


@pytest.fixture
def practice(tmp_path: Path) -> Iterator[Practice]:
    p = make_practice(tmp_path)
    yield p
    p.close()


def other_worker(practice: Practice, first: TestClient) -> TestClient:
    """A second console over the same organisation (another worker, or the same after a restart), holding the
    browser's cookies."""
    second = browser(practice)
    for name, value in first.cookies.items():
        second.cookies.set(name, value)
    return second


def test_a_form_drawn_by_one_worker_is_accepted_by_another(practice: Practice) -> None:
    first = browser(practice)
    token = csrf(first.get("/connexion"))
    second = other_worker(practice, first)
    signed = second.post("/connexion", data={"csrf": token, "login": "dr.martin", "password": NEW_PASSWORD})
    assert signed.status_code == 303 and signed.headers["location"] == "/connexion/code"
    code = other_worker(practice, second).post(
        "/connexion/code", data={"csrf": token, "code": practice.code("dr.martin")}
    )
    assert code.status_code == 303 and code.headers["location"] == "/accueil"


def test_a_token_signed_under_another_key_is_refused(practice: Practice) -> None:
    c = browser(practice)
    c.get("/connexion")
    seed = c.cookies[CSRF_COOKIE]
    foreign = Renderer(practice.place.identity.referential)._token(seed)  # a key of another process
    refused = c.post("/connexion", data={"csrf": foreign, "login": "dr.martin", "password": NEW_PASSWORD})
    assert refused.status_code == 403 and "Formulaire expiré" in refused.text


def test_the_profile_choice_survives_a_restart(practice: Practice) -> None:
    ctx = practice.place.identity
    grants.give(
        ctx,
        "dr.martin",
        "replacement_practitioner",
        validated_by="Responsable",
        validator_role="governance_body",
        reason="replacement",
        by="admin",
        ends_at=ctx.now() + timedelta(days=30),
    )
    first = browser(practice)
    token = csrf(first.get("/connexion"))
    first.post("/connexion", data={"csrf": token, "login": "dr.martin", "password": NEW_PASSWORD})
    coded = first.post("/connexion/code", data={"csrf": token, "code": practice.code("dr.martin")})
    assert coded.headers["location"] == "/connexion/profil"
    restarted = other_worker(practice, first)
    choice = restarted.get("/connexion/profil")
    assert choice.status_code == 200 and choice.text.count('type="radio"') == 2
    assert 'value="replacement_practitioner"' in choice.text and 'value="practitioner"' in choice.text
    chosen = restarted.post("/connexion/profil", data={"csrf": token, "profil": "replacement_practitioner"})
    assert chosen.headers["location"] == "/accueil"
