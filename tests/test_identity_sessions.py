"""The identity gate end to end (COM-AUT-1..4, COM-ACC-1..2, AAC-SEC-AUT/HAB, EDS-SEC-HAB, EDS-SEC-LOG-5, SEN-2).

Every rule and every refusal, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest

from identity_fixtures import NEW_PASSWORD, Clock, TraceLog, make_context
from santegarde.identity import accounts, grants, reviews, sessions, totp
from santegarde.identity.context import IdentityContext
from santegarde.identity.errors import (
    AccountError,
    GrantError,
    LoginRefused,
    SessionLocked,
    SessionRefused,
    StepRequired,
)
from santegarde.identity.oidc import PscIdentity
from santegarde.identity.passwords import WeakPassword
from santegarde.identity.throttle import Blocked
from santegarde.referentials.model import Sensitivity

HEALTH = Sensitivity.SPECIAL


@pytest.fixture
def ctx(database_url: str, tmp_path: Path) -> Iterator[IdentityContext]:
    context = make_context(database_url, tmp_path)
    yield context
    context.engine.dispose()


def clock(ctx: IdentityContext) -> Clock:
    assert isinstance(ctx.clock, Clock)
    return ctx.clock


def trace(ctx: IdentityContext) -> TraceLog:
    assert isinstance(ctx.trace, TraceLog)
    return ctx.trace


def person(
    ctx: IdentityContext, login: str = "dr.martin", ref: str = "10001234567", profile: str = "practitioner"
) -> str:
    """A person with one grant and a changed password; returns the password."""
    _, temporary = accounts.add(ctx, login, "Claire Martin", person_ref=ref, by="admin")
    assert temporary
    grants.give(
        ctx, login, profile, validated_by="Dr Admin", validator_role="controller", reason="practice staff", by="admin"
    )
    result = sessions.login(ctx, login, temporary, source="10.0.0.1", workstation_class="office")
    assert result.pending[0] == "password_change"
    sessions.change_password(ctx, result.token, temporary, NEW_PASSWORD)
    sessions.logout(ctx, result.token)
    return NEW_PASSWORD


def ready_session(
    ctx: IdentityContext, login: str = "dr.martin", workstation: str = "office", secret: str | None = None
) -> tuple[str, str]:
    """A session past charter and second factor (enrolling TOTP unless ``secret`` is already enrolled)."""
    result = sessions.login(ctx, login, NEW_PASSWORD, source="10.0.0.1", workstation_class=workstation)
    sessions.accept_charter(ctx, result.token, ctx.settings.charter_version)
    if secret is not None:
        sessions.second_factor(ctx, result.token, pyotp.TOTP(secret).at(clock(ctx).now))
        return result.token, secret
    secret = totp.new_secret()
    code = pyotp.TOTP(secret).at(clock(ctx).now)
    sessions.enrol_second_factor(ctx, result.token, secret, code)
    return result.token, secret


def test_one_login_per_person(ctx: IdentityContext) -> None:
    accounts.add(ctx, "dr.martin", "Claire Martin", person_ref="10001234567", by="admin")
    with pytest.raises(AccountError, match="déjà pris"):
        accounts.add(ctx, "dr.martin", "Someone Else", person_ref="10009999999", by="admin")
    with pytest.raises(AccountError, match="a déjà un compte"):
        accounts.add(ctx, "claire", "Claire Martin", person_ref="10001234567", by="admin")
    with pytest.raises(AccountError, match="référence"):
        accounts.add(ctx, "accueil", "Shared desk", person_ref=None, by="admin")
    with pytest.raises(AccountError, match="n'est pas un identifiant valable"):
        accounts.add(ctx, "Dr Martin!", "Claire Martin", person_ref="1", by="admin")


def test_technical_account_never_opens_an_interactive_session(ctx: IdentityContext) -> None:
    account, temporary = accounts.add(
        ctx, "backup-job", "Nightly backup", person_ref=None, kind="technical", by="admin"
    )
    assert temporary is None and account.kind == "technical"
    with pytest.raises(LoginRefused):
        sessions.login(ctx, "backup-job", "anything at all", source="10.0.0.9", workstation_class="office")
    with pytest.raises(AccountError, match="compte technique"):
        accounts.reset_password(ctx, "backup-job", by="admin")


def test_forced_change_after_reset_and_weak_password_refused(ctx: IdentityContext) -> None:
    person(ctx)
    temporary = accounts.reset_password(ctx, "dr.martin", by="admin")
    result = sessions.login(ctx, "dr.martin", temporary, source="10.0.0.1", workstation_class="office")
    assert result.pending[0] == "password_change"
    with pytest.raises(StepRequired, match="mot de passe a été réinitialisé"):
        sessions.require(ctx, result.token, sensitivity=None)
    with pytest.raises(WeakPassword, match=r"about \d+ bits of entropy; at least 50"):
        sessions.change_password(ctx, result.token, temporary, "martin2026")
    with pytest.raises(AccountError, match="mot de passe actuel"):
        sessions.change_password(ctx, result.token, "not it", "Another-Long-Passphrase-42")
    state = sessions.change_password(ctx, result.token, temporary, "Another-Long-Passphrase-42")
    assert "password_change" not in state.pending


def test_unknown_login_and_bad_password_get_the_same_refusal(ctx: IdentityContext) -> None:
    person(ctx)
    with pytest.raises(LoginRefused) as unknown:
        sessions.login(ctx, "nobody", "whatever-password", source="10.0.0.1", workstation_class="office")
    with pytest.raises(LoginRefused) as wrong:
        sessions.login(ctx, "dr.martin", "whatever-password", source="10.0.0.1", workstation_class="office")
    assert str(unknown.value) == str(wrong.value)
    assert ("login", "denied", "unknown-login", "bad credentials") in trace(ctx).events


def test_lockout_after_the_limit_and_it_grows(ctx: IdentityContext) -> None:
    person(ctx)
    limit = ctx.settings.throttle.account_limit
    for _ in range(limit):
        with pytest.raises(LoginRefused):
            sessions.login(ctx, "dr.martin", "wrong-password", source="10.0.0.2", workstation_class="office")
    with pytest.raises(Blocked) as first:
        sessions.login(ctx, "dr.martin", NEW_PASSWORD, source="10.0.0.3", workstation_class="office")
    first_length = first.value.until - clock(ctx).now
    assert first_length == ctx.settings.throttle.first_block
    clock(ctx).advance(seconds=first_length.total_seconds() + 1)
    for _ in range(limit):
        with pytest.raises(LoginRefused):
            sessions.login(ctx, "dr.martin", "wrong-password", source="10.0.0.2", workstation_class="office")
    with pytest.raises(Blocked) as second:
        sessions.login(ctx, "dr.martin", NEW_PASSWORD, source="10.0.0.3", workstation_class="office")
    assert second.value.until - clock(ctx).now == 2 * first_length
    assert "login.block" in trace(ctx).actions("denied")


def test_source_is_throttled_across_accounts(ctx: IdentityContext) -> None:
    for n in range(ctx.settings.throttle.source_limit):
        with pytest.raises(LoginRefused):
            sessions.login(ctx, f"guess{n}", "wrong-password", source="203.0.113.7", workstation_class="office")
    with pytest.raises(Blocked, match="workstation's address"):
        sessions.login(ctx, "other", "wrong-password", source="203.0.113.7", workstation_class="office")


def test_one_factor_session_refused_on_health_data(ctx: IdentityContext) -> None:
    """One factor reaches the directory only; any category of a patient's record, identity included, needs two."""
    person(ctx)
    result = sessions.login(ctx, "dr.martin", NEW_PASSWORD, source="10.0.0.1", workstation_class="office")
    sessions.accept_charter(ctx, result.token, ctx.settings.charter_version)
    assert sessions.require(ctx, result.token, sensitivity=None).profile == "practitioner"
    for sensitivity in (Sensitivity.ORDINARY, HEALTH):
        with pytest.raises(StepRequired, match="deux facteurs") as refused:
            sessions.require(ctx, result.token, sensitivity=sensitivity)
        assert refused.value.step == "second_factor"


def test_totp_second_factor_replay_and_recovery_codes(ctx: IdentityContext) -> None:
    person(ctx)
    token, secret = ready_session(ctx)
    assert sessions.require(ctx, token, sensitivity=HEALTH).factors == 2
    sessions.logout(ctx, token)
    clock(ctx).advance(seconds=60)
    result = sessions.login(ctx, "dr.martin", NEW_PASSWORD, source="10.0.0.1", workstation_class="office")
    code = pyotp.TOTP(secret).at(clock(ctx).now)
    assert sessions.second_factor(ctx, result.token, code).factors == 2
    again = sessions.login(ctx, "dr.martin", NEW_PASSWORD, source="10.0.0.1", workstation_class="office")
    with pytest.raises(totp.InvalidCode, match="already used"):
        sessions.second_factor(ctx, again.token, code)


def test_recovery_code_is_single_use(ctx: IdentityContext) -> None:
    person(ctx)
    result = sessions.login(ctx, "dr.martin", NEW_PASSWORD, source="10.0.0.1", workstation_class="office")
    secret = totp.new_secret()
    codes = sessions.enrol_second_factor(ctx, result.token, secret, pyotp.TOTP(secret).at(clock(ctx).now))
    assert len(codes) == 10
    first = sessions.login(ctx, "dr.martin", NEW_PASSWORD, source="10.0.0.1", workstation_class="office")
    assert sessions.second_factor(ctx, first.token, codes[0]).factors == 2
    second = sessions.login(ctx, "dr.martin", NEW_PASSWORD, source="10.0.0.1", workstation_class="office")
    with pytest.raises(totp.InvalidCode, match="recovery code"):
        sessions.second_factor(ctx, second.token, codes[0])


def test_inactivity_lock_per_workstation_class_and_unlock(ctx: IdentityContext) -> None:
    person(ctx)
    token, secret = ready_session(ctx, workstation="public_area")
    clock(ctx).advance(minutes=4)
    sessions.require(ctx, token, sensitivity=HEALTH)
    clock(ctx).advance(minutes=5, seconds=1)
    with pytest.raises(SessionLocked, match="5 minutes of inactivity"):
        sessions.require(ctx, token, sensitivity=HEALTH)
    with pytest.raises(SessionLocked):  # still locked: the lock was kept
        sessions.require(ctx, token, sensitivity=None)
    with pytest.raises(LoginRefused):
        sessions.unlock(ctx, token, "wrong password")
    sessions.unlock(ctx, token, NEW_PASSWORD)
    assert sessions.require(ctx, token, sensitivity=HEALTH).factors == 2
    office, _ = ready_session(ctx, workstation="office", secret=secret)
    clock(ctx).advance(minutes=10)
    sessions.require(ctx, office, sensitivity=HEALTH)  # 15 minutes in an office


def test_expired_session_refused(ctx: IdentityContext) -> None:
    person(ctx)
    token, _ = ready_session(ctx)
    lifetime = ctx.settings.session_lifetime
    started = clock(ctx).now
    while clock(ctx).now - started < lifetime - timedelta(minutes=10):  # active all along: never idle-locked
        clock(ctx).advance(minutes=10)
        sessions.require(ctx, token, sensitivity=None)
    clock(ctx).advance(minutes=10)
    with pytest.raises(SessionRefused, match="expired"):
        sessions.require(ctx, token, sensitivity=None)
    with pytest.raises(SessionRefused, match="has ended"):
        sessions.require(ctx, token, sensitivity=None)


def test_grant_past_its_term_refused(ctx: IdentityContext) -> None:
    person(ctx)
    accounts.add(ctx, "dr.remplacant", "Paul Remplacant", person_ref="10007654321", by="admin")
    with pytest.raises(GrantError, match="limité dans le temps"):
        grants.give(
            ctx,
            "dr.remplacant",
            "replacement_practitioner",
            validated_by="Dr Martin",
            validator_role="controller",
            reason="replacement in August",
            by="admin",
        )
    ends = clock(ctx).now + timedelta(minutes=10)
    grants.give(
        ctx,
        "dr.remplacant",
        "replacement_practitioner",
        validated_by="Dr Martin",
        validator_role="controller",
        reason="replacement today",
        ends_at=ends,
        by="admin",
    )
    temporary = accounts.reset_password(ctx, "dr.remplacant", by="admin")
    result = sessions.login(ctx, "dr.remplacant", temporary, source="10.0.0.5", workstation_class="office")
    sessions.change_password(ctx, result.token, temporary, NEW_PASSWORD)
    sessions.accept_charter(ctx, result.token, ctx.settings.charter_version)
    sessions.require(ctx, result.token, sensitivity=None)
    clock(ctx).advance(minutes=11)
    with pytest.raises(SessionRefused, match="past its end date"):
        sessions.require(ctx, result.token, sensitivity=None)


def test_departed_user_refused_at_once(ctx: IdentityContext) -> None:
    person(ctx)
    token, _ = ready_session(ctx)
    assert accounts.disable(ctx, "dr.martin", "left the practice", by="admin") == 1
    with pytest.raises(SessionRefused):
        sessions.require(ctx, token, sensitivity=None)
    with pytest.raises(LoginRefused):
        sessions.login(ctx, "dr.martin", NEW_PASSWORD, source="10.0.0.1", workstation_class="office")


def test_profiles_come_from_the_referential(ctx: IdentityContext) -> None:
    accounts.add(ctx, "sec.durand", "Lea Durand", person_ref="STAFF-2", by="admin")
    with pytest.raises(GrantError, match="n'est pas un profil du référentiel pra-2020-081"):
        grants.give(
            ctx,
            "sec.durand",
            "preparer",
            validated_by="Dr Martin",
            validator_role="controller",
            reason="front desk",
            by="admin",
        )
    with pytest.raises(GrantError, match="qui l'a validée"):
        grants.give(
            ctx, "sec.durand", "secretariat", validated_by="", validator_role="controller", reason="x", by="admin"
        )


def test_charter_accepted_before_anything_and_again_for_a_new_version(ctx: IdentityContext) -> None:
    person(ctx)
    result = sessions.login(ctx, "dr.martin", NEW_PASSWORD, source="10.0.0.1", workstation_class="office")
    with pytest.raises(StepRequired, match="charte"):
        sessions.require(ctx, result.token, sensitivity=None)
    with pytest.raises(StepRequired, match="version 1"):
        sessions.accept_charter(ctx, result.token, "0")
    sessions.accept_charter(ctx, result.token, "1")
    sessions.require(ctx, result.token, sensitivity=None)
    object.__setattr__(ctx.settings, "charter_version", "2")
    with pytest.raises(StepRequired, match="charte"):
        sessions.require(ctx, result.token, sensitivity=None)


def test_two_warehouse_profiles_choose_one_at_login(database_url: str, tmp_path: Path) -> None:
    ctx = make_context(database_url, tmp_path, "eds-2021-118")
    try:
        accounts.add(ctx, "d.steward", "Ines Leroy", person_ref="STAFF-9", by="admin")
        with pytest.raises(GrantError, match="instance de gouvernance"):
            grants.give(
                ctx,
                "d.steward",
                "data_steward",
                validated_by="Head of IT",
                validator_role="line_manager",
                reason="warehouse team",
                by="admin",
            )
        grants.give(
            ctx,
            "d.steward",
            "data_steward",
            validated_by="CSE",
            validator_role="governance_body",
            reason="warehouse team",
            by="admin",
        )
        with pytest.raises(GrantError, match="projet"):
            grants.give(
                ctx,
                "d.steward",
                "project_member",
                validated_by="CSE",
                validator_role="governance_body",
                reason="study",
                ends_at=ctx.now() + timedelta(days=90),
                by="admin",
            )
        grants.give(
            ctx,
            "d.steward",
            "project_member",
            validated_by="CSE",
            validator_role="governance_body",
            reason="study",
            ends_at=ctx.now() + timedelta(days=90),
            project="P-2026-04",
            by="admin",
        )
        temporary = accounts.reset_password(ctx, "d.steward", by="admin")
        result = sessions.login(ctx, "d.steward", temporary, source="10.0.0.7", workstation_class="office")
        assert set(result.profiles) == {"data_steward", "project_member"} and "profile" in result.pending
        sessions.change_password(ctx, result.token, temporary, NEW_PASSWORD)
        sessions.accept_charter(ctx, result.token, "1")
        with pytest.raises(StepRequired, match="plusieurs profils"):
            sessions.require(ctx, result.token, sensitivity=None)
        chosen = sessions.choose_profile(ctx, result.token, "project_member")
        assert chosen.profile == "project_member" and chosen.project == "P-2026-04"
        with pytest.raises(StepRequired, match="deux facteurs"):  # every warehouse access needs two factors
            sessions.require(ctx, result.token, sensitivity=None)
    finally:
        ctx.engine.dispose()


def test_pro_sante_connect_login_maps_rpps(ctx: IdentityContext) -> None:
    person(ctx)
    result = sessions.psc_login(
        ctx,
        PscIdentity("f:123", "10001234567", "eidas1", "Claire", "Martin"),
        source="10.0.0.1",
        workstation_class="office",
    )
    assert "second_factor" not in result.pending
    with pytest.raises(LoginRefused, match="No active santegarde account"):
        sessions.psc_login(
            ctx, PscIdentity("f:9", "10009999990", "eidas1", None, None), source="10.0.0.1", workstation_class="office"
        )


def test_review_campaign_ends_unconfirmed_grants(ctx: IdentityContext) -> None:
    person(ctx)
    person(ctx, "sec.durand", "STAFF-2", "secretariat")
    campaign = reviews.start(ctx, reason="yearly", by="Dr Martin")
    assert campaign.count("pending") == 2
    with pytest.raises(GrantError, match="déjà ouverte"):
        reviews.start(ctx, reason="yearly", by="Dr Martin")
    martin = next(line for line in campaign.lines if line.login == "dr.martin")
    reviews.decide(ctx, campaign.id, martin.grant_id, confirm=True, by="Dr Martin")
    closed = reviews.close(ctx, campaign.id, by="Dr Martin")
    assert closed.count("confirmed") == 1 and closed.count("ended") == 1 and closed.closed_at is not None
    with pytest.raises(LoginRefused, match="no active profile"):
        sessions.login(ctx, "sec.durand", NEW_PASSWORD, source="10.0.0.1", workstation_class="office")
    with pytest.raises(GrantError, match="est close"):
        reviews.close(ctx, campaign.id, by="Dr Martin")


def test_secrets_never_reach_the_trace(ctx: IdentityContext) -> None:
    person(ctx)
    with pytest.raises(LoginRefused):
        sessions.login(ctx, "dr.martin", "Mon-Secret-Tres-Long-1", source="10.0.0.1", workstation_class="office")
    text = repr(trace(ctx).events)
    assert NEW_PASSWORD not in text and "Mon-Secret" not in text


def test_replacing_a_second_factor_needs_the_current_one(ctx: IdentityContext) -> None:
    person(ctx)
    ready_session(ctx)
    result = sessions.login(ctx, "dr.martin", NEW_PASSWORD, source="10.0.0.1", workstation_class="office")
    other = totp.new_secret()
    with pytest.raises(StepRequired, match="déjà enregistré"):
        sessions.enrol_second_factor(ctx, result.token, other, pyotp.TOTP(other).at(clock(ctx).now))
