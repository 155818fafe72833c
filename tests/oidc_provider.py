"""A real OpenID provider over HTTP for tests, shaped like Pro Santé Connect (acr eidas1, SubjectNameID).

It runs in a background thread on 127.0.0.1 (port chosen by the system), signs its id_tokens with an RSA
key generated at first start, and has knobs to misbehave: ``audience_override``, ``acr_override``,
``nonce_override``, ``sign_with_other_key``, ``subject_name_id``, ``authorize_error``, ``userinfo_as_jwt``,
``userinfo_subject_override``, ``userinfo_sign_with_other_key``, ``claims_override``, ``auth_methods``.
All data is fictitious.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from santegarde.identifiers import make_rpps

CLIENT_ID = "santegarde-test-client"
CLIENT_SECRET = "fictitious-client-secret"
REDIRECT_URI = "https://santegarde.test/login/callback"
KEY_ID = "test-signing-key"
RPPS = make_rpps("1000123456")


@dataclass
class Grant:
    """What the provider remembers between /authorize, /token and /userinfo."""

    nonce: str
    code_challenge: str
    redirect_uri: str
    acr_values: str


@dataclass
class OidcTestProvider:
    """The provider: start() it, point an OidcSettings at ``issuer``, then stop() it."""

    subject: str = "psc-subject-0001"
    redirect_uri: str = REDIRECT_URI  # the relying party's registered callback
    subject_name_id: str = "8" + RPPS
    given_name: str | None = "Camille"
    family_name: str | None = "Fictive"
    audience_override: str | None = None
    acr_override: str | None = None
    nonce_override: str | None = None
    sign_with_other_key: bool = False
    authorize_error: str | None = None
    userinfo_as_jwt: bool = False
    userinfo_subject_override: str | None = None
    userinfo_sign_with_other_key: bool = False
    claims_override: dict[str, Any] = field(default_factory=dict)  # None as a value removes the claim
    auth_methods: list[str] = field(default_factory=lambda: ["client_secret_basic", "client_secret_post"])
    client_auth_used: list[str] = field(default_factory=list)
    _codes: dict[str, Grant] = field(default_factory=dict)
    _access_tokens: dict[str, Grant] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.key, self.other_key = _signing_keys()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        serve = functools.partial(self._server.serve_forever, poll_interval=0.01)  # a quick shutdown
        self._thread = threading.Thread(target=serve, name="oidc-test-provider", daemon=True)

    @property
    def issuer(self) -> str:
        """The issuer URL (also the base of every endpoint)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> OidcTestProvider:
        """Serve in the background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    # -- endpoints -----------------------------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        """The OpenID configuration document."""
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.issuer + "/authorize",
            "token_endpoint": self.issuer + "/token",
            "userinfo_endpoint": self.issuer + "/userinfo",
            "jwks_uri": self.issuer + "/jwks",
            "response_types_supported": ["code"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "acr_values_supported": ["eidas1"],
            "token_endpoint_auth_methods_supported": self.auth_methods,
        }

    def jwks(self) -> dict[str, Any]:
        """The public signing key (never the other key)."""
        return {"keys": [self.key.as_dict(private=False)]}

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], str]:
        """Auto-approve the configured user: 302 to redirect_uri with a code, or 400 on a bad request."""
        expected = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": self.redirect_uri}
        for name, value in expected.items():
            if query.get(name) != value:
                return 400, {}, f"bad {name}"
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return 400, {}, "PKCE S256 is required"
        if "openid" not in query.get("scope", "").split() or not query.get("state") or not query.get("nonce"):
            return 400, {}, "scope openid, state and nonce are required"
        if self.authorize_error:
            answer = {"error": self.authorize_error, "state": query["state"]}
        else:
            code = secrets.token_urlsafe(24)
            with self._lock:
                self._codes[code] = Grant(
                    query["nonce"], query["code_challenge"], self.redirect_uri, query["acr_values"]
                )
            answer = {"code": code, "state": query["state"]}
        return 302, {"Location": f"{self.redirect_uri}?{urlencode(answer)}"}, ""

    def token(self, form: dict[str, str], authorization: str | None) -> tuple[int, dict[str, Any]]:
        """Check client authentication, code and PKCE verifier; issue an id_token and an access token."""
        if not self._client_authenticated(form, authorization):
            return 401, {"error": "invalid_client"}
        with self._lock:
            grant = self._codes.pop(form.get("code", ""), None)
        if form.get("grant_type") != "authorization_code" or grant is None:
            return 400, {"error": "invalid_grant"}
        if (
            form.get("redirect_uri") != grant.redirect_uri
            or _s256(form.get("code_verifier", "")) != grant.code_challenge
        ):
            return 400, {"error": "invalid_grant"}
        access_token = secrets.token_urlsafe(24)
        with self._lock:
            self._access_tokens[access_token] = grant
        id_token = self._sign(self._id_token_claims(grant), self.sign_with_other_key)
        return 200, {"access_token": access_token, "token_type": "Bearer", "expires_in": 300, "id_token": id_token}

    def userinfo(self, authorization: str | None) -> tuple[int, str, str]:
        """The user's claims (JSON or a signed JWT) for a valid Bearer access token."""
        token = (authorization or "").removeprefix("Bearer ")
        with self._lock:
            known = token in self._access_tokens
        if not authorization or not authorization.startswith("Bearer ") or not known:
            return 401, "application/json", json.dumps({"error": "invalid_token"})
        claims = {
            "sub": self.userinfo_subject_override or self.subject,
            "SubjectNameID": self.subject_name_id,
            "given_name": self.given_name,
            "family_name": self.family_name,
        }
        if self.userinfo_as_jwt:
            return (
                200,
                "application/jwt",
                self._sign({**claims, "iss": self.issuer, "aud": CLIENT_ID}, self.userinfo_sign_with_other_key),
            )
        return 200, "application/json", json.dumps(claims)

    # -- helpers -------------------------------------------------------------------------------------

    def _client_authenticated(self, form: dict[str, str], authorization: str | None) -> bool:
        """client_secret_basic (form-urlencoded pair) or client_secret_post; records which was used."""
        if authorization and authorization.startswith("Basic "):
            pair = base64.b64decode(authorization.removeprefix("Basic ")).decode()
            client_id, _, secret = pair.partition(":")
            method, client_id, secret = "client_secret_basic", unquote(client_id), unquote(secret)
        else:
            method, client_id, secret = "client_secret_post", form.get("client_id", ""), form.get("client_secret", "")
        self.client_auth_used.append(method)
        return method in self.auth_methods and client_id == CLIENT_ID and secrets.compare_digest(secret, CLIENT_SECRET)

    def _id_token_claims(self, grant: Grant) -> dict[str, Any]:
        """The id_token claims, with the misbehaviour knobs applied."""
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.audience_override or CLIENT_ID,
            "sub": self.subject,
            "nonce": self.nonce_override or grant.nonce,
            "acr": self.acr_override or grant.acr_values,
            "iat": now,
            "exp": now + 300,
        }
        claims.update(self.claims_override)
        return {name: value for name, value in claims.items() if value is not None}

    def _sign(self, claims: dict[str, Any], with_other_key: bool) -> str:
        """A compact RS256 JWT signed with the published key (or the other one, if asked to misbehave)."""
        key = self.other_key if with_other_key else self.key
        return jwt.encode({"alg": "RS256", "kid": KEY_ID}, claims, key)


@functools.cache
def _signing_keys() -> tuple[RSAKey, RSAKey]:
    """The published key and another one with the same key id, generated once per test run (RSA is slow)."""
    parameters = {"kid": KEY_ID, "use": "sig", "alg": "RS256"}
    return (
        RSAKey.generate_key(2048, parameters=parameters, private=True),
        RSAKey.generate_key(2048, parameters=parameters, private=True),
    )


def _s256(verifier: str) -> str:
    """The PKCE S256 challenge of a verifier."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _handler_for(provider: OidcTestProvider) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to one provider."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Silence the per-request log on stderr."""

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/.well-known/openid-configuration":
                self._send(200, "application/json", json.dumps(provider.discovery()))
            elif url.path == "/jwks":
                self._send(200, "application/json", json.dumps(provider.jwks()))
            elif url.path == "/authorize":
                status, headers, body = provider.authorize(dict(parse_qsl(url.query)))
                self._send(status, "text/plain", body, headers)
            elif url.path == "/userinfo":
                self._send(*provider.userinfo(self.headers.get("Authorization")))
            else:
                self._send(404, "text/plain", "not found")

        def do_POST(self) -> None:
            if urlsplit(self.path).path != "/token":
                self._send(404, "text/plain", "not found")
                return
            length = int(self.headers.get("Content-Length", "0"))
            form = dict(parse_qsl(self.rfile.read(length).decode("ascii")))
            status, payload = provider.token(form, self.headers.get("Authorization"))
            self._send(status, "application/json", json.dumps(payload))

        def _send(self, status: int, content_type: str, body: str, headers: dict[str, str] | None = None) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler


@pytest.fixture(name="oidc_provider")
def oidc_provider_fixture() -> Iterator[OidcTestProvider]:
    """A running provider, stopped after the test."""
    provider = OidcTestProvider().start()
    try:
        yield provider
    finally:
        provider.stop()
