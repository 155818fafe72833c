"""Login through Pro Santé Connect (PSC), the French OpenID Connect provider for health professionals.

Authorization code flow with PKCE (S256), ``acr_values=eidas1``; the id_token is verified against the
provider's JWKS (RS256 or ES256) and the userinfo claim ``SubjectNameID`` ("8" + RPPS) gives the RPPS.
Error messages never repeat a token, a code or an identifier.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import re
import time
from base64 import b64encode
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard
from urllib.parse import quote, urlencode, urlsplit

import httpx
from authlib.common.security import generate_token  # type: ignore[import-untyped]
from authlib.oauth2.rfc7636 import create_s256_code_challenge  # type: ignore[import-untyped]
from joserfc import jwt
from joserfc.errors import BadSignatureError, JoseError
from joserfc.jwk import KeySet

from santegarde.errors import SantegardeError
from santegarde.identifiers import InvalidIdentifier, validate_rpps

SIGNING_ALGORITHMS = ("RS256", "ES256")
LEEWAY_SECONDS = 60
RPPS_PREFIX = "8"
_ERROR_CODE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


@dataclass(frozen=True)
class OidcSettings:
    """How santegarde is registered with the OpenID provider (PSC or its test platform)."""

    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str
    acr_values: str = "eidas1"
    scope: str = "openid scope_all"
    timeout_seconds: float = 10.0


class OidcError(SantegardeError):
    """A login through the OpenID provider that failed or was refused; never carries a token or a code."""


@dataclass(frozen=True)
class AuthorisationRequest:
    """What to keep (in the user's session) between :meth:`ProSanteConnect.begin` and ``finish``."""

    url: str
    state: str
    nonce: str
    code_verifier: str


@dataclass(frozen=True)
class PscIdentity:
    """A health professional authenticated by PSC."""

    subject: str
    rpps: str
    acr: str
    given_name: str | None
    family_name: str | None


def rpps_from_subject_name_id(value: str) -> str:
    """The RPPS number in a PSC ``SubjectNameID`` ("8" + 11 digits, Luhn-valid), or :class:`OidcError`."""
    if not isinstance(value, str) or not value.startswith(RPPS_PREFIX):
        raise OidcError(
            "The identity provider identified this professional by a kind of identifier that is not supported "
            "yet (only RPPS-based identifiers, starting with 8, are); ask an administrator to register the "
            "professional by RPPS number."
        )
    number = value[1:]
    if len(number) != 11 or not number.isdigit():
        raise OidcError(
            "The identity provider's RPPS-based identifier is not '8' followed by 11 digits; "
            "the login cannot be trusted, contact the identity provider's support."
        )
    try:
        return validate_rpps(number)
    except InvalidIdentifier as exc:
        raise OidcError(f"The identity provider's RPPS-based identifier is not valid: {exc.message}") from exc


def _is_loopback(host: str) -> bool:
    """Whether a host name is this machine (plain HTTP is only accepted there, for tests)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_url(url: str, what: str) -> None:
    """Refuse an endpoint that is not HTTPS (plain HTTP on the loopback is allowed for tests)."""
    parts = urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(parts.hostname or "")):
        return
    raise OidcError(f"The identity provider's {what} must be an https URL; check the OpenID settings.")


def _provider_error(payload: Mapping[str, Any]) -> str:
    """The provider's ``error`` code if it is a plain code, else a neutral phrase (nothing echoed blindly)."""
    error = payload.get("error")
    if isinstance(error, str) and _ERROR_CODE.fullmatch(error):
        return f"'{error}'"
    return "an unrecognised error"


class ProSanteConnect:
    """A relying party of Pro Santé Connect: :meth:`begin` a login, then :meth:`finish` it on the callback."""

    def __init__(self, settings: OidcSettings, client: httpx.Client | None = None) -> None:
        _check_url(settings.issuer, "issuer")
        self._settings = settings
        self._client = client if client is not None else httpx.Client(timeout=settings.timeout_seconds)
        self._configuration: dict[str, Any] | None = None
        self._keys: KeySet | None = None

    # -- begin ---------------------------------------------------------------------------------------

    def begin(self) -> AuthorisationRequest:
        """A fresh authorization request (state, nonce, PKCE verifier) and the URL to send the browser to."""
        endpoint = self._endpoint("authorization_endpoint")
        state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
        params = {
            "response_type": "code",
            "client_id": self._settings.client_id,
            "redirect_uri": self._settings.redirect_uri,
            "scope": self._settings.scope,
            "state": state,
            "nonce": nonce,
            "acr_values": self._settings.acr_values,
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
        }
        separator = "&" if urlsplit(endpoint).query else "?"
        return AuthorisationRequest(endpoint + separator + urlencode(params), state, nonce, verifier)

    # -- finish --------------------------------------------------------------------------------------

    def finish(self, request: AuthorisationRequest, callback: Mapping[str, str]) -> PscIdentity:
        """Check the callback, exchange its code, verify the id_token and read the professional's RPPS."""
        if not hmac.compare_digest(str(callback.get("state", "")), request.state):
            raise OidcError(
                "The login answer does not belong to the login that was started here (state); start the login again."
            )
        if "error" in callback:
            raise OidcError(
                f"The identity provider refused the login with {_provider_error(callback)}; start the login again."
            )
        code = callback.get("code")
        if not code:
            raise OidcError("The identity provider's answer has no authorization code; start the login again.")
        tokens = self._exchange(code, request.code_verifier)
        claims = self._verify_id_token(tokens, request.nonce)
        userinfo = self._userinfo(tokens["access_token"])
        if userinfo.get("sub") != claims["sub"]:
            raise OidcError(
                "The identity provider's user information is about another person than its token (sub); "
                "the login cannot be trusted."
            )
        return PscIdentity(
            subject=claims["sub"],
            rpps=rpps_from_subject_name_id(userinfo.get("SubjectNameID", "")),
            acr=claims["acr"],
            given_name=_optional_str(userinfo.get("given_name")),
            family_name=_optional_str(userinfo.get("family_name")),
        )

    # -- HTTP ----------------------------------------------------------------------------------------

    def _send(self, method: str, url: str, what: str, **kwargs: Any) -> httpx.Response:
        """One HTTP exchange with the provider; network failures become :class:`OidcError`."""
        try:
            return self._client.request(method, url, timeout=self._settings.timeout_seconds, **kwargs)
        except httpx.HTTPError as exc:
            raise OidcError(
                f"The identity provider's {what} could not be reached ({type(exc).__name__}); try again later."
            ) from exc

    def _json(self, response: httpx.Response, what: str) -> dict[str, Any]:
        """The JSON object of a successful response, or :class:`OidcError`."""
        try:
            payload = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            payload = None
        if response.status_code != httpx.codes.OK:
            error = _provider_error(payload) if isinstance(payload, dict) else "no usable error"
            raise OidcError(
                f"The identity provider's {what} answered HTTP {response.status_code} with {error}; "
                "try again later or check the OpenID settings."
            )
        if not isinstance(payload, dict):
            raise OidcError(f"The identity provider's {what} did not answer a JSON object; try again later.")
        return payload

    def _discovery(self) -> dict[str, Any]:
        """The provider's OpenID configuration, fetched once."""
        if self._configuration is None:
            url = self._settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
            configuration = self._json(self._send("GET", url, "discovery document"), "discovery document")
            if configuration.get("issuer") != self._settings.issuer:
                raise OidcError(
                    "The identity provider's discovery document names another issuer than the configured one; "
                    "check the OpenID issuer setting."
                )
            self._configuration = configuration
        return self._configuration

    def _endpoint(self, name: str) -> str:
        """An endpoint URL of the discovery document, checked to be HTTPS."""
        url = self._discovery().get(name)
        if not isinstance(url, str) or not url:
            raise OidcError(f"The identity provider's discovery document has no {name}; check the OpenID issuer.")
        _check_url(url, name)
        return url

    def _exchange(self, code: str, verifier: str) -> dict[str, Any]:
        """The token endpoint's answer for an authorization code (client_secret_basic, else _post)."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self._settings.redirect_uri,
            "code_verifier": verifier,
        }
        headers = {"Accept": "application/json"}
        methods = self._discovery().get("token_endpoint_auth_methods_supported", ["client_secret_basic"])
        if "client_secret_basic" in methods:
            pair = f"{quote(self._settings.client_id, safe='')}:{quote(self._settings.client_secret, safe='')}"
            headers["Authorization"] = "Basic " + b64encode(pair.encode()).decode("ascii")
        elif "client_secret_post" in methods:
            form |= {"client_id": self._settings.client_id, "client_secret": self._settings.client_secret}
        else:
            raise OidcError(
                "The identity provider accepts neither client_secret_basic nor client_secret_post for this "
                "application; check how the application is registered."
            )
        endpoint = self._endpoint("token_endpoint")
        response = self._send("POST", endpoint, "token endpoint", data=form, headers=headers)
        tokens = self._json(response, "token endpoint")
        for name in ("id_token", "access_token"):
            if not isinstance(tokens.get(name), str):
                raise OidcError(f"The identity provider's token endpoint did not return an {name}; try again later.")
        return tokens

    def _userinfo(self, access_token: str) -> dict[str, Any]:
        """The userinfo claims (JSON, or a signed JWT verified like the id_token)."""
        endpoint = self._endpoint("userinfo_endpoint")
        headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json, application/jwt"}
        response = self._send("GET", endpoint, "userinfo endpoint", headers=headers)
        if response.status_code == httpx.codes.OK and response.headers.get("content-type", "").startswith(
            "application/jwt"
        ):
            claims = self._verified_claims(response.text.strip(), "user information")
            self._check_issuer_and_audience(claims, "user information")
            return claims
        return self._json(response, "userinfo endpoint")

    # -- JWT verification ----------------------------------------------------------------------------

    def _key_set(self, refresh: bool = False) -> KeySet:
        """The provider's signing keys (JWKS), fetched once and again on an unknown key id."""
        if self._keys is None or refresh:
            document = self._json(self._send("GET", self._endpoint("jwks_uri"), "key set"), "key set")
            try:
                self._keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
            except (JoseError, ValueError, TypeError, KeyError) as exc:
                raise OidcError("The identity provider's key set (JWKS) could not be read; try again later.") from exc
        return self._keys

    def _verified_claims(self, token: str, what: str) -> dict[str, Any]:
        """The claims of a JWT whose RS256/ES256 signature verifies with the provider's keys."""
        for refresh in (False, True):
            try:
                return dict(jwt.decode(token, self._key_set(refresh), algorithms=list(SIGNING_ALGORITHMS)).claims)
            except (BadSignatureError, ValueError) as exc:
                failure: Exception = exc
                break
            except JoseError as exc:
                failure = exc  # e.g. an unknown key id: the provider may have rotated its keys
        raise OidcError(
            f"The signature of the identity provider's {what} does not verify with its published keys "
            f"({type(failure).__name__}); the login cannot be trusted."
        ) from failure

    def _check_issuer_and_audience(self, claims: Mapping[str, Any], what: str) -> None:
        """Refuse claims issued by another provider or for another application."""
        if claims.get("iss") != self._settings.issuer:
            raise OidcError(f"The identity provider's {what} was issued by another provider (iss); login refused.")
        audience = claims.get("aud")
        audiences = [audience] if isinstance(audience, str) else audience
        if not isinstance(audiences, list) or self._settings.client_id not in audiences:
            raise OidcError(f"The identity provider's {what} was not issued for this application (audience).")
        if "azp" in claims and claims["azp"] != self._settings.client_id:
            raise OidcError(f"The identity provider's {what} was not issued for this application (azp).")

    def _verify_id_token(self, tokens: Mapping[str, Any], nonce: str) -> dict[str, Any]:
        """The id_token's claims after checking signature, iss, aud, exp, iat, nonce and acr."""
        claims = self._verified_claims(tokens["id_token"], "token")
        self._check_issuer_and_audience(claims, "token")
        _check_times(claims)
        if not hmac.compare_digest(str(claims.get("nonce", "")), nonce):
            raise OidcError(
                "The identity provider's token does not belong to the login started here (nonce); start again."
            )
        if claims.get("acr") != self._settings.acr_values:
            raise OidcError(
                f"The identity provider's token was not obtained with the required authentication level "
                f"{self._settings.acr_values} (acr); log in again with an e-CPS or a CPS card."
            )
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise OidcError("The identity provider's token names no subject (sub); the login cannot be trusted.")
        return claims


def _check_times(claims: Mapping[str, Any]) -> None:
    """Refuse an id_token that has expired or was issued in the future (60 s leeway)."""
    now = time.time()
    expires, issued = claims.get("exp"), claims.get("iat")
    if not _is_number(expires) or not _is_number(issued):
        raise OidcError(
            "The identity provider's token lacks its validity times (exp, iat); the login cannot be trusted."
        )
    if expires + LEEWAY_SECONDS < now:
        raise OidcError("The identity provider's token has expired (exp); start the login again.")
    if issued - LEEWAY_SECONDS > now:
        raise OidcError(
            "The identity provider's token is dated in the future (iat); check this server's clock and start again."
        )


def _is_number(value: object) -> TypeGuard[int | float]:
    """A JSON number that is not a boolean."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _optional_str(value: object) -> str | None:
    """A non-empty string claim, else None."""
    return value if isinstance(value, str) and value else None
