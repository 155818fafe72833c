"""The authentication API over HTTP: cookie-only sessions, every step, refusals as statuses with sentences."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pyotp
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from identity_fixtures import Clock, make_context
from oidc_provider import CLIENT_ID, CLIENT_SECRET, RPPS, OidcTestProvider, oidc_provider_fixture  # noqa: F401
from santegarde.api import create_app
from santegarde.cli.main import app as cli
from santegarde.identity import accounts, grants
from santegarde.identity.context import IdentityContext
from santegarde.identity.oidc import OidcSettings, ProSanteConnect

PASSWORD = "Tisane-Violette-7-Horloge!"


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[IdentityContext]:
    context = make_context(f"sqlite:///{tmp_path / 'api.db'}", tmp_path)
    yield context
    context.engine.dispose()


def add_person(ctx: IdentityContext, login: str = "dr.martin", ref: str = RPPS) -> str:
    _, temporary = accounts.add(ctx, login, "Claire Martin", person_ref=ref, by="admin")
    grants.give(
        ctx, login, "practitioner", validated_by="Dr Martin", validator_role="controller", reason="holder", by="admin"
    )
    assert temporary
    return temporary


def client_for(ctx: IdentityContext, psc: ProSanteConnect | None = None) -> TestClient:
    return TestClient(create_app(ctx, psc=psc), base_url="https://testserver")


def test_full_login_through_the_api(ctx: IdentityContext) -> None:
    temporary = add_person(ctx)
    client = client_for(ctx)
    refused = client.post("/auth/login", json={"login": "dr.martin", "password": "wrong"})
    assert refused.status_code == 401 and refused.json()["message"] == "The login or the password is not correct."
    assert "sg_session" not in client.cookies
    first = client.post("/auth/login", json={"login": "dr.martin", "password": temporary})
    assert first.status_code == 200
    assert first.json()["pending"] == ["password_change", "charter", "second_factor"]
    assert client.cookies.get("sg_session") and client.cookies["sg_session"] not in first.text
    set_cookie = first.headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "secure" in set_cookie and "samesite=strict" in set_cookie
    weak = client.post("/auth/password", json={"current": temporary, "new": "martin"})
    assert weak.status_code == 422 and "bits of entropy" in weak.json()["message"]
    assert client.post("/auth/password", json={"current": temporary, "new": PASSWORD}).status_code == 200
    charter = client.get("/auth/charter").json()
    assert "traçabilité" in charter["text"]
    assert client.post("/auth/charter", json={"version": charter["version"]}).json()["pending"] == ["second_factor"]
    started = client.post("/auth/totp/start").json()
    assert started["qr_svg"].startswith("<svg")
    assert isinstance(ctx.clock, Clock)
    code = pyotp.TOTP(started["secret"]).at(ctx.clock.now)
    codes = client.post("/auth/totp/confirm", json={"secret": started["secret"], "code": code}).json()
    assert len(codes["recovery_codes"]) == 10
    state = client.get("/auth/session").json()
    assert state["factors"] == 2 and state["pending"] == [] and state["profile"] == "practitioner"
    ctx.clock.advance(minutes=16)
    locked = client.get("/auth/session")
    assert locked.status_code == 423 and "inactivity" in locked.json()["message"]
    assert client.post("/auth/unlock", json={"password": PASSWORD}).status_code == 200
    assert client.post("/auth/logout").status_code == 200
    assert client.get("/auth/session").status_code == 401


def test_no_cookie_no_session_and_unknown_fields_refused(ctx: IdentityContext) -> None:
    client = client_for(ctx)
    anonymous = client.get("/auth/session")
    assert anonymous.status_code == 401 and "not logged in" in anonymous.json()["message"]
    extra = client.post("/auth/login", json={"login": "a", "password": "b", "token": "x"})
    assert extra.status_code == 422


def test_blocked_login_answers_429_with_retry_after(ctx: IdentityContext) -> None:
    add_person(ctx)
    client = client_for(ctx)
    for _ in range(ctx.settings.throttle.account_limit):
        assert client.post("/auth/login", json={"login": "dr.martin", "password": "nope"}).status_code == 401
    blocked = client.post("/auth/login", json={"login": "dr.martin", "password": "nope"})
    assert blocked.status_code == 429 and "blocked until" in blocked.json()["message"]
    assert int(blocked.headers["retry-after"]) >= 1


def test_pro_sante_connect_login_through_the_api(ctx: IdentityContext, oidc_provider: OidcTestProvider) -> None:
    add_person(ctx)
    oidc_provider.redirect_uri = "https://testserver/auth/psc/callback"
    with httpx.Client(trust_env=False) as http:
        settings = OidcSettings(
            issuer=oidc_provider.issuer,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            redirect_uri=oidc_provider.redirect_uri,
        )
        client = client_for(ctx, ProSanteConnect(settings, client=http))
        start = client.get("/auth/psc/start", follow_redirects=False)
        assert start.status_code == 302 and "acr_values=eidas1" in start.headers["location"]
        at_provider = http.get(start.headers["location"], follow_redirects=False)
        callback = urlsplit(at_provider.headers["location"])
        done = client.get(f"{callback.path}?{callback.query}", follow_redirects=False)
        assert done.status_code == 303, done.text
        state = client.get("/auth/session").json()
        assert state["method"] == "psc" and state["factors"] == 2 and state["login"] == "dr.martin"
        replay = client.get(f"{callback.path}?{callback.query}", follow_redirects=False)
        assert replay.status_code == 401 and "start it again" in replay.json()["message"]


def test_psc_not_configured(ctx: IdentityContext) -> None:
    answer = client_for(ctx).get("/auth/psc/start", follow_redirects=False)
    assert answer.status_code == 401 and "not configured" in answer.json()["message"]


def test_local_http_sets_a_cookie_a_plain_http_client_sends_back(ctx: IdentityContext) -> None:
    """santegarde serve --dev (127.0.0.1 only): no Secure flag, so a client over http://127.0.0.1 keeps its session."""
    temporary = add_person(ctx)
    local = TestClient(create_app(ctx, local_http=True), base_url="http://127.0.0.1")
    first = local.post("/auth/login", json={"login": "dr.martin", "password": temporary})
    set_cookie = first.headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "secure" not in set_cookie and "samesite=strict" in set_cookie
    assert local.get("/auth/session").status_code == 200  # the cookie came back over plain http
    plain = TestClient(create_app(ctx), base_url="http://127.0.0.1")
    plain.post("/auth/login", json={"login": "dr.martin", "password": temporary})
    lost = plain.get("/auth/session")  # a Secure cookie is not sent over http: the answer says so
    assert lost.status_code == 401 and "santegarde serve --dev" in lost.json()["message"]


def test_the_root_leads_to_the_documentation(ctx: IdentityContext) -> None:
    answer = client_for(ctx).get("/", follow_redirects=False)
    assert answer.status_code == 307 and answer.headers["location"] == "/docs"


def test_the_documentation_is_served_without_a_cdn(ctx: IdentityContext) -> None:
    client = client_for(ctx)
    page = client.get("/docs")
    assert page.status_code == 200 and "/docs/assets/swagger-ui-bundle.js" in page.text
    assert "cdn" not in page.text.lower() and "https://" not in page.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert client.get(f"/docs/assets/{asset}").status_code == 200


def test_serve_dev_is_refused_off_the_local_machine(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["serve", "--dev", "--host", "0.0.0.0", "--config", str(tmp_path / "none.yaml")])
    assert result.exit_code == 2 and "refused on 0.0.0.0" in " ".join(result.output.split())
