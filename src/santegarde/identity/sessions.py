"""Login and server-side sessions (COM-AUT-2..4, AAC-SEC-AUT-1..5, AAC-SEC-SEN-1..2, EDS-SEC-AUT-1, EDS-SEC-LOG-5,
EDS-SEC-SEN-2).

A session is a random token that only the client holds (the database keeps its SHA-256); it is
carried in a cookie or header, never in a URL. It expires, and it locks itself after the
inactivity limit of its workstation class (5 minutes in areas open to the public); unlocking
needs the password again. Before a session can reach data, every pending step is done: a
password change after a reset, the confidentiality charter and logging notice, the choice of
one profile when the account holds several, and the second factor where the référentiel needs it. Where the
organisation sets a validity for the sensitisation training, no session opens without a valid one (``training``).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.engine import Row

from santegarde.identity import accounts, grants, training
from santegarde.identity.clock import aware
from santegarde.identity.context import IdentityContext
from santegarde.identity.errors import AccountError, LoginRefused, SessionLocked, SessionRefused, StepRequired
from santegarde.identity.oidc import PscIdentity
from santegarde.identity.tables import charter_acceptance, grant, session, user
from santegarde.identity.throttle import Blocked, account_key, source_key
from santegarde.identity.totp import InvalidCode, confirm_enrolment
from santegarde.referentials.model import OrganisationProfile, Referential, Sensitivity

REFUSED = "The login or the password is not correct."
# Activity is recorded at most this often: a session may lock up to this much earlier than its limit,
# never later, and most checks stay read-only.
ACTIVITY_GRANULARITY = timedelta(seconds=20)


def second_factor_required(ref: Referential, sensitivity: Sensitivity | None) -> bool:
    """Two factors for every access to a patient's record; under the warehouse and compassionate-access texts, for
    every access at all.

    The practice and pharmacy texts ask strong authentication "for users accessing health data". Every element of a
    patient's record kept by a care organisation is health data in the GDPR's sense (being someone's patient says
    something of their health), so the stricter reading applies: any category of patient data (``sensitivity`` not
    None) needs two factors; only the directory of professionals and organisations does not.
    """
    if ref.organisation_profile in (OrganisationProfile.WAREHOUSE, OrganisationProfile.COMPASSIONATE):
        return True
    return sensitivity is not None


@dataclass(frozen=True)
class LoginResult:
    token: str
    pending: tuple[str, ...]
    profiles: tuple[str, ...]


@dataclass(frozen=True)
class SessionContext:
    """Who is asking, as the policy and the audit trail need it."""

    user_id: int
    login: str
    profile: str | None
    grant_id: int | None
    project: str | None
    factors: int
    method: str
    pending: tuple[str, ...]
    grant_active: bool = False
    establishment: str | None = None  # the establishment the chosen grant is tied to (AAC-8), if any
    country: str | None = None  # the country the chosen grant is used from (ISO 3166; None: the EU/EEA, AAC-12)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _refuse(ctx: IdentityContext, conn: Connection, keys: list[str], now: datetime, source: str, actor: str) -> None:
    for key in keys:
        failure = ctx.throttle.fail(conn, key, now)
        if failure.blocked_until is not None:
            ctx.trace(
                "login.block",
                "denied",
                actor=actor,
                source=source,
                rule="AAC-SEC-AUT-5",
                detail=f"{key.split(':')[0]} blocked until {failure.blocked_until.isoformat()}",
            )


def login(ctx: IdentityContext, login_name: str, password: str, *, source: str, workstation_class: str) -> LoginResult:
    """Check the password (first factor) and open a session with its pending steps."""
    if workstation_class not in ctx.settings.idle_limits:
        raise LoginRefused(
            f"Unknown workstation class '{workstation_class}'; use one of: {', '.join(ctx.settings.idle_limits)}."
        )
    now = ctx.now()
    with ctx.engine.begin() as conn:
        row = accounts.find(conn, login_name)
        keys = [account_key(row.id if row else None, login_name), source_key(source)]
        actor = row.login if row else "unknown-login"
        try:
            ctx.throttle.check(conn, keys, now)
        except Blocked:
            ctx.trace("login", "denied", actor=actor, source=source, rule="AAC-SEC-AUT-5", detail="blocked")
            raise
        verification = ctx.hashing.verify(row.password_hash if row else None, password)
        if row is None or not verification.ok or row.status != "active" or row.kind != "person":
            why = "bad credentials" if row is None or not verification.ok else f"account {row.status}/{row.kind}"
            _refuse(ctx, conn, keys, now, source, actor)
            ctx.trace("login", "denied", actor=actor, source=source, rule="COM-AUT-2", detail=why)
            failed = True
        else:
            failed = False
            if verification.needs_rehash:
                conn.execute(update(user).where(user.c.id == row.id).values(password_hash=ctx.hashing.hash(password)))
            ctx.throttle.succeed(conn, keys[0])
    if failed:
        # Outside the transaction so the failure counters are committed before the refusal.
        raise LoginRefused(REFUSED)
    assert row is not None
    result = _open(ctx, row, factors=1, method="password", source=source, workstation_class=workstation_class)
    ctx.trace("login", "success", actor=row.login, source=source, rule="COM-AUT-2", detail="first factor")
    return result


def psc_login(ctx: IdentityContext, identity: PscIdentity, *, source: str, workstation_class: str) -> LoginResult:
    """Pro Santé Connect (e-CPS/CPS, eIDAS substantial): a two-factor session for the account of that RPPS."""
    with ctx.engine.connect() as conn:
        row = conn.execute(select(user).where(user.c.person_ref == identity.rpps)).first()
    if row is None or row.status != "active" or row.kind != "person":
        ctx.trace(
            "login.psc",
            "denied",
            actor="unknown-login" if row is None else row.login,
            source=source,
            rule="COM-AUT-3",
            detail="no active account for this professional",
        )
        raise LoginRefused(
            "No active santegarde account is linked to this health professional; ask your administrator to create "
            "one with your RPPS number."
        )
    result = _open(ctx, row, factors=2, method="psc", source=source, workstation_class=workstation_class)
    ctx.trace("login.psc", "success", actor=row.login, source=source, rule="COM-AUT-3", detail="acr eidas1")
    return result


def _open(
    ctx: IdentityContext,
    row: Row,
    *,
    factors: int,
    method: str,
    source: str,
    workstation_class: str,
) -> LoginResult:
    now = ctx.now()
    token = secrets.token_urlsafe(32)
    with ctx.engine.begin() as conn:
        active = grants.active_for_user(conn, row.id, now)
        if not active:
            ctx.trace("login", "denied", actor=row.login, source=source, rule="COM-ACC-1", detail="no active grant")
            raise LoginRefused(
                "This account holds no active profile; ask the person who validates authorisations to grant one."
            )
        try:
            training.check(ctx, conn, row, now)
        except training.TrainingRequired:
            ctx.trace("login", "denied", actor=row.login, source=source, rule=training.RULE, detail="no valid training")
            raise
        chosen = active[0].id if len(active) == 1 else None
        conn.execute(
            insert(session).values(
                token_hash=_hash(token),
                user_id=row.id,
                grant_id=chosen,
                factors=factors,
                method=method,
                workstation_class=workstation_class,
                source=source[:64],
                created_at=now,
                last_seen_at=now,
                expires_at=now + ctx.settings.session_lifetime,
            )
        )
        state = _context(ctx, conn, _session_row(conn, _hash(token)), row, now)
    return LoginResult(token, state.pending, tuple(g.profile for g in active))


def _session_row(conn: Connection, token_hash: str) -> Row:
    row = conn.execute(select(session).where(session.c.token_hash == token_hash)).first()
    if row is None or row.ended_at is not None:
        raise SessionRefused("This session does not exist or has ended; log in again.")
    return row


def _context(ctx: IdentityContext, conn: Connection, srow: Row, urow: Row, now: datetime) -> SessionContext:
    pending = []
    if urow.must_change_password:
        pending.append("password_change")
    accepted = conn.execute(
        select(charter_acceptance.c.version).where(
            charter_acceptance.c.user_id == urow.id, charter_acceptance.c.version == ctx.settings.charter_version
        )
    ).first()
    if accepted is None:
        pending.append("charter")
    chosen = None
    if srow.grant_id is None:
        pending.append("profile")
    else:
        chosen = grants.by_id(conn, srow.grant_id)
    if srow.factors < 2:
        pending.append("second_factor")
    return SessionContext(
        urow.id,
        urow.login,
        chosen.profile if chosen else None,
        chosen.id if chosen else None,
        chosen.project if chosen else None,
        int(srow.factors),
        srow.method,
        tuple(pending),
        chosen is not None and chosen.active(now),
        chosen.establishment if chosen else None,
        chosen.country if chosen else None,
    )


def _live(ctx: IdentityContext, conn: Connection, token: str, now: datetime) -> tuple[Row, Row]:
    """The session and user rows if usable now; locks on inactivity, refuses when expired, locked or user gone."""
    srow = _session_row(conn, _hash(token))
    urow = conn.execute(select(user).where(user.c.id == srow.user_id)).one()
    _usable(ctx, conn, srow, urow.status, now)
    return srow, urow


def _usable(ctx: IdentityContext, conn: Connection, srow: Row, status: str, now: datetime) -> None:
    """Refuse a session that is expired (ended now), locked, idle past its limit (locked now) or whose account is
    no longer active (ended now); the caller commits what was changed, even though the call is refused."""
    if aware(srow.expires_at) <= now:
        conn.execute(update(session).where(session.c.token_hash == srow.token_hash).values(ended_at=now))
        raise SessionRefused("This session has expired; log in again.")
    if srow.locked_at is not None:
        raise SessionLocked("This session is locked after inactivity; unlock it with your password.")
    idle = ctx.settings.idle_limits.get(srow.workstation_class)
    if idle is not None and now - aware(srow.last_seen_at) > idle:
        conn.execute(update(session).where(session.c.token_hash == srow.token_hash).values(locked_at=now))
        minutes = int(idle.total_seconds() // 60)
        raise SessionLocked(
            f"This session locked itself after {minutes} minutes of inactivity; unlock it with your password."
        )
    if status != "active":
        conn.execute(update(session).where(session.c.token_hash == srow.token_hash).values(ended_at=now))
        raise SessionRefused("This account is disabled; the session has ended.")


# Everything the gate needs, in one statement built once: the session, its account, the acceptance of the current
# charter and the chosen grant (read fresh on every call: a revoked grant or an ended session counts at once).
_s, _u, _g, _c = session.c, user.c, grant.c, charter_acceptance.c
_STATE_COLUMNS = (
    _s.token_hash,
    _s.user_id,
    _s.grant_id,
    _s.factors,
    _s.method,
    _s.workstation_class,
    _s.last_seen_at,
    _s.expires_at,
    _s.locked_at,
    _s.ended_at,
    _u.login,
    _u.status,
    _u.must_change_password,
    _c.version.label("charter_accepted"),
    _g.id.label("chosen_grant"),
    _g.profile.label("grant_profile"),
    _g.project.label("grant_project"),
    _g.establishment.label("grant_establishment"),
    _g.country.label("grant_country"),
    _g.starts_at.label("grant_starts_at"),
    _g.ends_at.label("grant_ends_at"),
    _g.revoked_at.label("grant_revoked_at"),
)
_STATE = (
    select(*_STATE_COLUMNS)
    .select_from(
        session.join(user, _u.id == _s.user_id)
        .outerjoin(charter_acceptance, (_c.user_id == _s.user_id) & (_c.version == bindparam("charter")))
        .outerjoin(grant, _g.id == _s.grant_id)
    )
    .where(_s.token_hash == bindparam("token_hash"))
)


def _joined_context(row: Row, now: datetime) -> SessionContext:
    """The session's context from the joined row of :data:`_STATE` (what ``_context`` reads in three statements)."""
    pending = []
    if row.must_change_password:
        pending.append("password_change")
    if row.charter_accepted is None:
        pending.append("charter")
    chosen = row.grant_id is not None and row.chosen_grant is not None
    if row.grant_id is None:
        pending.append("profile")
    if row.factors < 2:
        pending.append("second_factor")
    active = chosen and (
        row.grant_revoked_at is None
        and aware(row.grant_starts_at) <= now
        and (row.grant_ends_at is None or now < aware(row.grant_ends_at))
    )
    return SessionContext(
        row.user_id,
        row.login,
        row.grant_profile if chosen else None,
        row.chosen_grant if chosen else None,
        row.grant_project if chosen else None,
        int(row.factors),
        row.method,
        tuple(pending),
        bool(active),
        row.grant_establishment if chosen else None,
        row.grant_country if chosen else None,
    )


def state(ctx: IdentityContext, token: str) -> SessionContext:
    """The session's state and pending steps (refused if expired, locked or ended); counts as activity.

    One statement reads the session, its account, the charter acceptance and the chosen grant; a second, at most
    every ``ACTIVITY_GRANULARITY``, records the activity.
    """
    now = ctx.now()
    with ctx.engine.connect() as conn:
        try:
            row = conn.execute(_STATE, {"token_hash": _hash(token), "charter": ctx.settings.charter_version}).first()
            if row is None or row.ended_at is not None:
                raise SessionRefused("This session does not exist or has ended; log in again.")
            _usable(ctx, conn, row, row.status, now)
        finally:
            conn.commit()  # a lock or an expiry found now is kept, even though the call is refused
        if now - aware(row.last_seen_at) >= ACTIVITY_GRANULARITY:
            conn.execute(update(session).where(session.c.token_hash == row.token_hash).values(last_seen_at=now))
            conn.commit()
        return _joined_context(row, now)


def require(ctx: IdentityContext, token: str, *, sensitivity: Sensitivity | None) -> SessionContext:
    """The gate before data: a live session, every step done, a grant still valid, two factors where needed."""
    return demand(ctx, state(ctx, token), sensitivity=sensitivity)


def demand(ctx: IdentityContext, current: SessionContext, *, sensitivity: Sensitivity | None) -> SessionContext:
    """The gate's checks on a state read in this request (``state``): every step done, the grant valid, two factors
    where ``sensitivity`` needs them. Reads nothing: one request checks its session once, then demands again for
    each sensitivity it reaches; refusals are traced as by ``require``."""
    needed = [p for p in current.pending if p != "second_factor"]
    if second_factor_required(ctx.referential, sensitivity) and "second_factor" in current.pending:
        needed.append("second_factor")
    if needed:
        step = needed[0]
        ctx.trace("session.require", "denied", actor=current.login, source="session", rule="COM-AUT-3", detail=step)
        raise StepRequired(step)
    if not current.grant_active:
        ctx.trace(
            "session.require",
            "denied",
            actor=current.login,
            source="session",
            rule="AAC-SEC-HAB-1",
            detail="grant withdrawn or past its term",
        )
        raise SessionRefused(
            "The profile of this session is no longer granted (withdrawn or past its end date); "
            "ask for a new authorisation."
        )
    return current


def second_factor(ctx: IdentityContext, token: str, code: str) -> SessionContext:
    now = ctx.now()
    with ctx.engine.connect() as conn:
        try:
            srow, urow = _live(ctx, conn, token, now)
        finally:
            conn.commit()
        key = account_key(urow.id, urow.login)
        ctx.throttle.check(conn, [key], now)
        try:
            used = accounts.check_second_factor(ctx, conn, urow, code, now)
        except (InvalidCode, AccountError):
            conn.rollback()
            failure = ctx.throttle.fail(conn, key, now)
            conn.commit()
            ctx.trace(
                "login.second_factor",
                "denied",
                actor=urow.login,
                source=srow.source,
                rule="COM-AUT-3",
                detail="blocked" if failure.blocked_until else "bad code",
            )
            raise
        conn.execute(update(session).where(session.c.token_hash == srow.token_hash).values(factors=2, last_seen_at=now))
        conn.commit()
    ctx.trace("login.second_factor", "success", actor=urow.login, source=srow.source, rule="COM-AUT-3", detail=used)
    return state(ctx, token)


def enrol_second_factor(ctx: IdentityContext, token: str, secret: str, code: str) -> list[str]:
    """Confirm a TOTP enrolment started with ``totp.start_enrolment``; returns the recovery codes, once."""
    now = ctx.now()
    step = confirm_enrolment(secret, code, at=now)
    with ctx.engine.begin() as conn:
        srow, urow = _live(ctx, conn, token, now)
        enrolled = conn.execute(select(user.c.totp_secret).where(user.c.id == srow.user_id)).scalar_one()
        if enrolled is not None and srow.factors < 2:
            raise StepRequired("second_factor", "already_enrolled")
        codes = accounts.store_totp(ctx, conn, srow.user_id, secret, step)
        conn.execute(update(session).where(session.c.token_hash == srow.token_hash).values(factors=2, last_seen_at=now))
        login_name = urow.login
    ctx.trace("account.enrol_totp", "success", actor=login_name, source="session", rule="COM-AUT-3")
    return codes


def profiles_held(ctx: IdentityContext, token: str) -> tuple[str, ...]:
    """The profiles the session's account holds an active grant for, read from the grants (the choice offered at
    login, EDS-SEC-LOG-5): the same in every worker and after a restart."""
    now = ctx.now()
    with ctx.engine.begin() as conn:
        srow, _ = _live(ctx, conn, token, now)
        return tuple(g.profile for g in grants.active_for_user(conn, srow.user_id, now))


def choose_profile(ctx: IdentityContext, token: str, profile: str) -> SessionContext:
    """An account holding several profiles works under one per session (EDS-SEC-LOG-5)."""
    now = ctx.now()
    with ctx.engine.begin() as conn:
        srow, _ = _live(ctx, conn, token, now)
        match = [g for g in grants.active_for_user(conn, srow.user_id, now) if g.profile == profile]
        if not match:
            raise StepRequired("profile", "no_grant", profile=profile)
        conn.execute(update(session).where(session.c.token_hash == srow.token_hash).values(grant_id=match[0].id))
    return state(ctx, token)


def accept_charter(ctx: IdentityContext, token: str, version: str) -> SessionContext:
    """Record the acceptance of the current charter and logging notice (COM-LOG-1, EDS-SEC-SEN-2)."""
    if version != ctx.settings.charter_version:
        raise StepRequired("charter", "charter_version", version=ctx.settings.charter_version)
    now = ctx.now()
    with ctx.engine.begin() as conn:
        srow, urow = _live(ctx, conn, token, now)
        exists = conn.execute(
            select(charter_acceptance).where(
                charter_acceptance.c.user_id == srow.user_id, charter_acceptance.c.version == version
            )
        ).first()
        if exists is None:
            conn.execute(insert(charter_acceptance).values(user_id=srow.user_id, version=version, accepted_at=now))
        login_name = urow.login
    ctx.trace(
        "charter.accept",
        "success",
        actor=login_name,
        source="session",
        rule="EDS-SEC-SEN-2",
        detail=f"version {version}",
    )
    return state(ctx, token)


def change_password(ctx: IdentityContext, token: str, current: str, new: str) -> SessionContext:
    now = ctx.now()
    with ctx.engine.begin() as conn:
        _, urow = _live(ctx, conn, token, now)
        accounts.change_password(ctx, conn, urow, current, new)
    ctx.trace("account.change_password", "success", actor=urow.login, source="session", rule="COM-AUT-2")
    return state(ctx, token)


def unlock(ctx: IdentityContext, token: str, password: str) -> SessionContext:
    """Re-authenticate to unlock a session locked after inactivity (failures count like login failures)."""
    now = ctx.now()
    with ctx.engine.begin() as conn:
        srow = _session_row(conn, _hash(token))
        urow = conn.execute(select(user).where(user.c.id == srow.user_id)).one()
        key = account_key(urow.id, urow.login)
        ctx.throttle.check(conn, [key], now)
        if aware(srow.expires_at) <= now or urow.status != "active":
            raise SessionRefused("This session has expired or its account is disabled; log in again.")
        ok = ctx.hashing.verify(urow.password_hash, password).ok
        if ok:
            conn.execute(
                update(session).where(session.c.token_hash == srow.token_hash).values(locked_at=None, last_seen_at=now)
            )
        else:
            ctx.throttle.fail(conn, key, now)
    ctx.trace("session.unlock", "success" if ok else "denied", actor=urow.login, source=srow.source, rule="COM-AUT-4")
    if not ok:
        raise LoginRefused(REFUSED)
    return state(ctx, token)


def rotate(ctx: IdentityContext, token: str) -> str:
    """A new token for a live session, the old one refused from now on (after the second factor, a password change).

    Whoever learnt the token before the session gained its privileges (a fixed or leaked pre-login cookie)
    holds nothing afterwards.
    """
    fresh = secrets.token_urlsafe(32)
    with ctx.engine.begin() as conn:
        srow, _ = _live(ctx, conn, token, ctx.now())
        conn.execute(update(session).where(session.c.token_hash == srow.token_hash).values(token_hash=_hash(fresh)))
    return fresh


def logout(ctx: IdentityContext, token: str, *, source: str = "local") -> None:
    """End the session; traced (the end of a session bounds what its token could do)."""
    with ctx.engine.begin() as conn:
        srow = _session_row(conn, _hash(token))
        conn.execute(update(session).where(session.c.token_hash == srow.token_hash).values(ended_at=ctx.now()))
        login = conn.execute(select(user.c.login).where(user.c.id == srow.user_id)).scalar_one()
    ctx.trace("logout", "success", actor=login, source=source, rule="COM-LOG-1")
