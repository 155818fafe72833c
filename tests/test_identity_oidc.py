"""Login through Pro Santé Connect against a real OpenID provider over HTTP (tests/oidc_provider.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx
import pytest

from oidc_provider import CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, RPPS, OidcTestProvider, oidc_provider_fixture  # noqa: F401
from santegarde.identifiers import make_rpps
from santegarde.identity.oidc import (
    AuthorisationRequest,
    OidcError,
    OidcSettings,
    ProSanteConnect,
    PscIdentity,
    rpps_from_subject_name_id,
)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """A real HTTP client, not reading proxy settings from the environment (the provider is on loopback)."""
    with httpx.Client(trust_env=False) as client:
        yield client


def psc_for(provider: OidcTestProvider, http: httpx.Client, **overrides: str) -> ProSanteConnect:
    """A relying party registered with the test provider."""
    settings = OidcSettings(
        issuer=provider.issuer, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uri=REDIRECT_URI
    )
    return ProSanteConnect(OidcSettings(**{**settings.__dict__, **overrides}), client=http)


def authorise(http: httpx.Client, request: AuthorisationRequest) -> dict[str, str]:
    """What the browser brings back: follow the authorization URL once and read the redirect's query."""
    response = http.get(request.url, follow_redirects=False)
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?")
    return dict(parse_qsl(urlsplit(location).query))


def login(provider: OidcTestProvider, http: httpx.Client) -> PscIdentity:
    """The whole flow: begin, authorize at the provider, finish."""
    psc = psc_for(provider, http)
    request = psc.begin()
    return psc.finish(request, authorise(http, request))


def test_login_maps_subject_name_id_to_rpps(oidc_provider: OidcTestProvider, http: httpx.Client) -> None:
    identity = login(oidc_provider, http)
    assert identity == PscIdentity(
        subject="psc-subject-0001", rpps=RPPS, acr="eidas1", given_name="Camille", family_name="Fictive"
    )
    assert oidc_provider.client_auth_used == ["client_secret_basic"]


def test_authorization_url_carries_psc_parameters(oidc_provider: OidcTestProvider, http: httpx.Client) -> None:
    request = psc_for(oidc_provider, http).begin()
    query = {name: values[0] for name, values in parse_qs(urlsplit(request.url).query).items()}
    assert request.url.startswith(oidc_provider.issuer + "/authorize?")
    assert query["response_type"] == "code"
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == REDIRECT_URI
    assert query["scope"] == "openid scope_all"
    assert query["acr_values"] == "eidas1"
    assert query["state"] == request.state
    assert query["nonce"] == request.nonce
    assert query["code_challenge_method"] == "S256"
    assert request.code_verifier not in request.url
    assert 43 <= len(request.code_verifier) <= 128


def test_client_secret_post_when_basic_is_not_offered(oidc_provider: OidcTestProvider, http: httpx.Client) -> None:
    oidc_provider.auth_methods = ["client_secret_post"]
    assert login(oidc_provider, http).rpps == RPPS
    assert oidc_provider.client_auth_used == ["client_secret_post"]


def test_signed_userinfo_is_verified(oidc_provider: OidcTestProvider, http: httpx.Client) -> None:
    oidc_provider.userinfo_as_jwt = True
    assert login(oidc_provider, http).rpps == RPPS


def test_missing_names_are_none(oidc_provider: OidcTestProvider, http: httpx.Client) -> None:
    oidc_provider.given_name = None
    oidc_provider.family_name = None
    identity = login(oidc_provider, http)
    assert (identity.given_name, identity.family_name) == (None, None)


def test_wrong_audience_refused(oidc_provider: OidcTestProvider, http: httpx.Client) -> None:
    oidc_provider.audience_override = "another-application"
    with pytest.raises(OidcError, match=r"not issued for this application \(audience\)"):
        login(oidc_provider, http)


def test_wrong_signature_refused(oidc_provider: OidcTestProvider, http: httpx.Client) -> None:
    oidc_provider.sign_with_other_key = True
    with pytest.raises(OidcError, match=r"signature .* does not verify"):
        login(oidc_provider, http)


def test_wrong_acr_refused(oidc_provider: OidcTestProvider, http: httpx.Client) -> None:
    oidc_provider.acr_override = "eidas0"
    with pytest.raises(OidcError, match=r"required authentication level eidas1 \(acr\)"):
        login(oidc_provider, http)


def test_nonce_mismatch_refused(oidc_provider: OidcTestProvider, http: httpx.Client) -> None:
    oidc_provider.nonce_override = "a-nonce-from-another-login"
    with pytest.raises(OidcError, match=r"\(nonce\)"):
        login(oidc_provider, http)


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"exp": int(time.time()) - 120}, r"has expired \(exp\)"),
        # a day ahead: the parameters are computed when the suite is collected, long before this test runs
        ({"iat": int(time.time()) + 86_400}, r"dated in the future \(iat\)"),
        ({"exp": None}, r"lacks its validity times"),
        ({"iat": "yesterday"}, r"lacks its validity times"),
        ({"iss": "https://another-provider.test"}, r"issued by another provider \(iss\)"),
        ({"aud": ["another-application", CLIENT_ID], "azp": "another-application"}, r"\(azp\)"),
        ({"sub": None}, r"names no subject \(sub\)"),
    ],
)
def test_id_token_claims_refused(
    oidc_provider: OidcTestProvider, http: httpx.Client, claims: dict[str, object], message: str
) -> None:
    oidc_provider.claims_override = claims
    with pytest.raises(OidcError, match=message):
        login(oidc_provider, http)


def test_times_within_leeway_accepted(oidc_provider: OidcTestProvider, http: httpx.Client) -> None:
    now = int(time.time())
    oidc_provider.claims_override = {"exp": now - 30, "iat": now + 30}
    assert login(oidc_provider, http).rpps == RPPS


def test_audience_list_with_our_client_accepted(oidc_provider: OidcTestProvider, http: httpx.Client) -> None:
    oidc_provider.claims_override = {"aud": ["another-application", CLIENT_ID], "azp": CLIENT_ID}
    assert login(oidc_provider, http).rpps == RPPS


def test_userinfo_about_another_subject_refused(oidc_provider: OidcTestProvider, http: httpx.Client) -> None:
    oidc_provider.userinfo_subject_override = "psc-subject-9999"
    with pytest.raises(OidcError, match=r"another person than its token \(sub\)"):
        login(oidc_provider, http)


def test_signed_userinfo_with_wrong_signature_refused(oidc_provider: OidcTestProvider, http: httpx.Client) -> None:
    oidc_provider.userinfo_as_jwt = True
    oidc_provider.userinfo_sign_with_other_key = True
    with pytest.raises(OidcError, match=r"signature of the identity provider's user information does not verify"):
        login(oidc_provider, http)


def test_no_supported_client_authentication_refused(oidc_provider: OidcTestProvider, http: httpx.Client) -> None:
    oidc_provider.auth_methods = ["private_key_jwt"]
    with pytest.raises(OidcError, match="neither client_secret_basic nor client_secret_post"):
        login(oidc_provider, http)


def test_wrong_state_refused(oidc_provider: OidcTestProvider, http: httpx.Client) -> None:
    psc = psc_for(oidc_provider, http)
    request = psc.begin()
    callback = authorise(http, request)
    with pytest.raises(OidcError, match=r"\(state\)") as refused:
        psc.finish(request, {**callback, "state": "forged-state"})
    assert callback["code"] not in str(refused.value)


def test_missing_state_refused(oidc_provider: OidcTestProvider, http: httpx.Client) -> None:
    psc = psc_for(oidc_provider, http)
    request = psc.begin()
    callback = authorise(http, request)
    del callback["state"]
    with pytest.raises(OidcError, match=r"\(state\)"):
        psc.finish(request, callback)


def test_provider_error_refused(oidc_provider: OidcTestProvider, http: httpx.Client) -> None:
    oidc_provider.authorize_error = "access_denied"
    with pytest.raises(OidcError, match="refused the login with 'access_denied'"):
        login(oidc_provider, http)


def test_provider_error_text_is_not_echoed(oidc_provider: OidcTestProvider, http: httpx.Client) -> None:
    oidc_provider.authorize_error = "<script>alert(1)</script>"
    with pytest.raises(OidcError, match="an unrecognised error") as refused:
        login(oidc_provider, http)
    assert "script" not in str(refused.value)


def test_missing_code_refused(oidc_provider: OidcTestProvider, http: httpx.Client) -> None:
    psc = psc_for(oidc_provider, http)
    request = psc.begin()
    with pytest.raises(OidcError, match="no authorization code"):
        psc.finish(request, {"state": request.state})


def test_code_used_twice_refused(oidc_provider: OidcTestProvider, http: httpx.Client) -> None:
    psc = psc_for(oidc_provider, http)
    request = psc.begin()
    callback = authorise(http, request)
    psc.finish(request, callback)
    with pytest.raises(OidcError, match="'invalid_grant'") as refused:
        psc.finish(request, callback)
    assert callback["code"] not in str(refused.value)


def test_wrong_code_verifier_refused_by_provider(oidc_provider: OidcTestProvider, http: httpx.Client) -> None:
    psc = psc_for(oidc_provider, http)
    request = psc.begin()
    callback = authorise(http, request)
    other = AuthorisationRequest(request.url, request.state, request.nonce, psc.begin().code_verifier)
    with pytest.raises(OidcError, match="'invalid_grant'"):
        psc.finish(other, callback)


def test_wrong_client_secret_refused(oidc_provider: OidcTestProvider, http: httpx.Client) -> None:
    psc = psc_for(oidc_provider, http, client_secret="not-the-secret")
    request = psc.begin()
    with pytest.raises(OidcError, match="'invalid_client'") as refused:
        psc.finish(request, authorise(http, request))
    assert "not-the-secret" not in str(refused.value)


def test_wrong_issuer_refused(oidc_provider: OidcTestProvider, http: httpx.Client) -> None:
    psc = psc_for(oidc_provider, http, issuer=oidc_provider.issuer + "/")
    with pytest.raises(OidcError, match="another issuer"):
        psc.begin()


def test_plain_http_issuer_refused_outside_loopback(http: httpx.Client) -> None:
    settings = OidcSettings("http://psc.example.test", CLIENT_ID, CLIENT_SECRET, REDIRECT_URI)
    with pytest.raises(OidcError, match="must be an https URL"):
        ProSanteConnect(settings, client=http)


def test_unreachable_provider_refused(http: httpx.Client) -> None:
    stopped = OidcTestProvider().start()
    stopped.stop()
    issuer = stopped.issuer
    settings = OidcSettings(issuer, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, timeout_seconds=2.0)
    with pytest.raises(OidcError, match="could not be reached"):
        ProSanteConnect(settings, client=http).begin()


def test_subject_name_id_not_rpps_refused(oidc_provider: OidcTestProvider, http: httpx.Client) -> None:
    oidc_provider.subject_name_id = "0" + "751234567"
    with pytest.raises(OidcError, match="not supported yet"):
        login(oidc_provider, http)


def test_rpps_with_bad_check_digit_refused(oidc_provider: OidcTestProvider, http: httpx.Client) -> None:
    good = make_rpps("1000123456")
    oidc_provider.subject_name_id = "8" + good[:-1] + str((int(good[-1]) + 1) % 10)
    with pytest.raises(OidcError, match="Luhn") as refused:
        login(oidc_provider, http)
    assert good[:-1] not in str(refused.value)


@pytest.mark.parametrize("value", ["3" + "1" * 11, "", "ADELI"])
def test_other_identifier_kinds_not_supported(value: str) -> None:
    with pytest.raises(OidcError, match="not supported yet"):
        rpps_from_subject_name_id(value)


@pytest.mark.parametrize("value", ["8" + "1" * 10, "8" + "1" * 12, "8" + "1234567890A"])
def test_malformed_rpps_identifier_refused(value: str) -> None:
    with pytest.raises(OidcError, match="'8' followed by 11 digits"):
        rpps_from_subject_name_id(value)


def test_rpps_from_subject_name_id() -> None:
    assert rpps_from_subject_name_id("8" + RPPS) == RPPS
