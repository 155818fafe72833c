"""The HTTP API's own guards: body size, cross-site writes, path ids, and the session token after the second factor.

Each test replays an attack found on the demo and checks it is refused with a sentence (never a 500).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from identity_fixtures import Clock, make_context
from santegarde.api import create_app
from santegarde.config.model import DEFAULT_MAX_BODY_BYTES, Server
from santegarde.identity import accounts, grants
from santegarde.identity.context import IdentityContext
from santegarde.rights import RightsService
from santegarde.store.db import migrate
from store_fixtures import Workplace, make_workplace
from test_store import patient

PASSWORD = "Tisane-Violette-7-Horloge!"
PURPOSE = {"X-Purpose": "medical_record"}
RPPS = "10001234565"  # fictitious, with a valid key


@pytest.fixture
def place(tmp_path: Path) -> Iterator[Workplace]:
    w = make_workplace(f"sqlite:///{tmp_path / 'guards.db'}", tmp_path)
    yield w
    w.close()


def app_for(w: Workplace, server: Server | None = None) -> FastAPI:
    rights = RightsService(w.service, organisation="Cabinet Fictif")
    return create_app(w.identity, records=w.service, rights=rights, server=server)


def doctor(w: Workplace, app: FastAPI) -> TestClient:
    c = TestClient(app, base_url="https://testserver")
    c.cookies.set("sg_session", w.person("dr.martin", "practitioner", ref=RPPS))
    return c


def diagnostics(answer: Any) -> str:
    body = answer.json()
    return str(body["issue"][0]["diagnostics"] if "issue" in body else body["message"])


# -- request body size -------------------------------------------------------------------------------------------


def asgi_post(app: FastAPI, path: str, chunks: list[bytes], headers: list[tuple[bytes, bytes]]) -> tuple[int, int]:
    """POST ``chunks`` as a streamed body straight to the ASGI app; (status, chunks the app read)."""
    read = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal read
        if read < len(chunks):
            read += 1
            return {"type": "http.request", "body": chunks[read - 1], "more_body": read < len(chunks)}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 443),
    }
    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    return next(m["status"] for m in sent if m["type"] == "http.response.start"), read


def test_a_huge_body_is_refused_413_with_a_sentence(place: Workplace) -> None:
    app = app_for(place)
    doc = doctor(place, app)
    huge = doc.post("/fhir/Patient", json=patient(family="X" * (DEFAULT_MAX_BODY_BYTES + 1)), headers=PURPOSE)
    assert huge.status_code == 413 and "larger than this server accepts" in diagnostics(huge)
    assert huge.json()["issue"][0]["code"] == "too-long"
    assert doc.get("/fhir/Patient/p-1", headers=PURPOSE).status_code == 404  # nothing stored
    login = doc.post("/auth/login", content=b"{" + b" " * DEFAULT_MAX_BODY_BYTES + b"}")
    assert login.status_code == 413 and "server.max_body_bytes" in login.json()["message"]
    assert doc.post("/fhir/Patient", json=patient(), headers=PURPOSE).status_code == 201


def test_a_chunked_body_without_content_length_is_cut_at_the_limit(place: Workplace) -> None:
    app = app_for(place, Server(max_body_bytes=4096))
    chunks = [b"{" + b" " * 1023] + [b" " * 1024] * 99  # 100 KB announced nowhere
    status, read = asgi_post(app, "/auth/login", chunks, [(b"transfer-encoding", b"chunked")])
    assert status == 413 and read == 5  # stopped reading just past 4096 bytes
    lying = [(b"content-length", b"10")]  # a Content-Length smaller than the body sent
    status, read = asgi_post(app, "/auth/login", chunks, lying)
    assert status == 413 and read == 5
    small = [b'{"login": "x", ', b'"password": "y"}']
    assert asgi_post(app, "/auth/login", small, [])[0] == 401  # within the limit: the route answers


def test_the_limit_comes_from_the_configuration(place: Workplace) -> None:
    doc = doctor(place, app_for(place, Server(max_body_bytes=2048)))
    refused = doc.post("/fhir/Patient", json=patient(family="Y" * 3000), headers=PURPOSE)
    assert refused.status_code == 413 and "2048 bytes" in diagnostics(refused)
    assert doc.post("/fhir/Patient", json=patient(family="Y" * 500), headers=PURPOSE).status_code == 201
    with pytest.raises(ValueError, match="greater than or equal to 1024"):
        Server(max_body_bytes=10)


# -- Origin check ----------------------------------------------------------------------------------------------


def test_cross_site_writes_are_refused_and_same_site_or_headerless_ones_allowed(place: Workplace) -> None:
    app = app_for(place, Server(allowed_origins=["https://console.cabinet.example"]))
    doc = doctor(place, app)
    for header in ({"Origin": "https://evil.example"}, {"Referer": "https://evil.example/page"}, {"Origin": "null"}):
        refused = doc.post("/fhir/Patient", json=patient(), headers={**PURPOSE, **header})
        assert refused.status_code == 403 and "comes from another site" in diagnostics(refused), header
    logout = doc.post("/auth/logout", headers={"Origin": "http://testserver"})  # same host, other scheme
    assert logout.status_code == 403 and "server.allowed_origins" in diagnostics(logout)
    assert doc.get("/fhir/Patient/p-1", headers={**PURPOSE, "Origin": "https://evil.example"}).status_code == 404
    assert doc.post("/fhir/Patient", json=patient(), headers=PURPOSE).status_code == 201  # curl: no Origin
    own = doc.put("/fhir/Patient/p-1", json=patient(), headers={**PURPOSE, "Origin": "https://testserver:443"})
    assert own.status_code == 200
    referer = doc.put("/fhir/Patient/p-1", json=patient(), headers={**PURPOSE, "Referer": "https://testserver/docs"})
    assert referer.status_code == 200
    console = doc.put(
        "/fhir/Patient/p-1", json=patient(), headers={**PURPOSE, "Origin": "https://Console.cabinet.example"}
    )
    assert console.status_code == 200
    with pytest.raises(ValueError, match="allowed_origins"):
        Server(allowed_origins=["https://console.example/path"])


# -- path ids --------------------------------------------------------------------------------------------------


def test_fhir_ids_outside_the_fhir_pattern_are_400_with_a_sentence(place: Workplace) -> None:
    doc = doctor(place, app_for(place))
    for rid in ("a" * 65, "p_1", "%C3%A9t%C3%A9", "p%201"):
        for answer in (
            doc.get(f"/fhir/Patient/{rid}", headers=PURPOSE),
            doc.get(f"/fhir/Patient/{rid}/_history", headers=PURPOSE),
            doc.put(f"/fhir/Patient/{rid}", json=patient(), headers=PURPOSE),
            doc.post(f"/fhir/Patient/{rid}/$declare-care", json={"basis": "consultation"}, headers=PURPOSE),
        ):
            assert answer.status_code == 400 and "is not a FHIR id" in diagnostics(answer), rid
    assert doc.get(f"/fhir/Patient/{'a' * 64}", headers=PURPOSE).status_code == 404


@pytest.fixture
def register(database_url: str, tmp_path: Path) -> Iterator[Workplace]:
    w = make_workplace(database_url, tmp_path)
    migrate(w.service.engine, package="santegarde.rights")
    yield w
    w.close()


def test_rights_request_numbers_out_of_range_are_404_never_500(register: Workplace) -> None:
    doc = doctor(register, app_for(register))
    for number in (str(2**31), str(2**63), str(2**64 + 5), "0", "9" * 40):
        answer = doc.get(f"/rights/requests/{number}", headers=PURPOSE)
        assert answer.status_code == 404 and "pas de demande d'exercice des droits" in answer.json()["detail"], number
        english = doc.get(f"/rights/requests/{number}", headers={**PURPOSE, "Accept-Language": "en-GB,fr;q=0.5"})
        assert "There is no rights request" in english.json()["detail"], number
        posted = doc.post(f"/rights/requests/{number}/extend", json={"reason": "complex"}, headers=PURPOSE)
        assert posted.status_code == 404
    for text in ("-1", "abc", "1e3", "١٢"):
        answer = doc.get(f"/rights/requests/{text}/letter", headers=PURPOSE)
        assert answer.status_code == 400 and "n'est pas un nombre" in answer.json()["message"], text
    assert doc.get(f"/rights/requests/{2**31 - 1}", headers=PURPOSE).status_code == 404  # the largest one the
    # registers hold on both engines reaches the database and is simply not there


def test_malformed_requests_and_unknown_routes_are_answered_with_sentences(place: Workplace) -> None:
    doc = doctor(place, app_for(place))
    note = doc.post(
        "/fhir/Patient/p-1/$declare-care", json={"basis": "consultation", "note": "x" * 201}, headers=PURPOSE
    )
    assert note.status_code == 422 and note.json()["resourceType"] == "OperationOutcome"
    assert diagnostics(note).startswith("The request is not valid: at body.note")
    body = doc.post("/auth/login", json={"login": "a"})
    assert body.status_code == 422 and body.json()["message"].startswith("The request is not valid: at body.password")
    nowhere = doc.get("/nowhere")
    assert nowhere.status_code == 404 and "see /docs" in nowhere.json()["message"]
    # outside /fhir every refusal is one RFC 9457 problem, never FastAPI's "detail" list
    for answer in (body, nowhere, doc.post("/auth/login", content=b"{", headers={"Content-Type": "application/json"})):
        problem = answer.json()
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert problem["status"] == answer.status_code and problem["type"] == "about:blank"
        assert isinstance(problem["detail"], str) and problem["detail"] == problem["message"] and problem["title"]
    method = doc.delete("/fhir/Patient/p-1", headers=PURPOSE)
    assert method.status_code == 405 and "does not accept DELETE" in diagnostics(method)
    assert "GET" in method.headers["allow"]


# -- session token rotation ------------------------------------------------------------------------------------


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[IdentityContext]:
    context = make_context(f"sqlite:///{tmp_path / 'rotate.db'}", tmp_path)
    yield context
    context.engine.dispose()


def session_of(ctx: IdentityContext, token: str) -> int:
    c = TestClient(create_app(ctx), base_url="https://testserver")
    c.cookies.set("sg_session", token)
    return c.get("/auth/session").status_code


def test_the_token_changes_after_the_second_factor_and_a_password_change(ctx: IdentityContext) -> None:
    _, temporary = accounts.add(ctx, "dr.martin", "Claire Martin", person_ref=RPPS, by="admin")
    grants.give(ctx, "dr.martin", "practitioner", validated_by="M", validator_role="controller", reason="owner", by="a")
    assert temporary and isinstance(ctx.clock, Clock)
    client = TestClient(create_app(ctx), base_url="https://testserver")
    client.post("/auth/login", json={"login": "dr.martin", "password": temporary})
    before_password = client.cookies["sg_session"]
    assert client.post("/auth/password", json={"current": temporary, "new": PASSWORD}).status_code == 200
    assert client.cookies["sg_session"] != before_password and session_of(ctx, before_password) == 401
    client.post("/auth/charter", json={"version": client.get("/auth/charter").json()["version"]})
    before_enrolment = client.cookies["sg_session"]
    secret = client.post("/auth/totp/start").json()["secret"]
    code = pyotp.TOTP(secret).at(ctx.clock.now)
    assert client.post("/auth/totp/confirm", json={"secret": secret, "code": code}).status_code == 200
    assert session_of(ctx, before_enrolment) == 401 and client.get("/auth/session").json()["factors"] == 2
    client.post("/auth/logout")
    ctx.clock.advance(seconds=60)
    client.post("/auth/login", json={"login": "dr.martin", "password": PASSWORD})
    pre_2fa = client.cookies["sg_session"]
    wrong = client.post("/auth/second-factor", json={"code": "000000"})
    assert wrong.status_code == 401 and client.cookies["sg_session"] == pre_2fa  # no new token for a failure
    done = client.post("/auth/second-factor", json={"code": pyotp.TOTP(secret).at(ctx.clock.now)})
    assert done.status_code == 200 and done.json()["factors"] == 2
    assert "sg_session=" in done.headers["set-cookie"] and "samesite=strict" in done.headers["set-cookie"].lower()
    after = client.cookies["sg_session"]
    assert after != pre_2fa and after not in done.text
    assert session_of(ctx, pre_2fa) == 401  # whoever held the pre-2FA token holds nothing now
    assert session_of(ctx, after) == 200
