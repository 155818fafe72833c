"""Grants of a référentiel profile to an account (COM-ACC-1..2, AAC-SEC-HAB-1, EDS-SEC-HAB-1..6).

Profiles are the référentiel's accessors, never a list in code. Each grant names who validated
it; a profile the text marks time-limited needs an end date; under the warehouse text a profile
that reaches data is validated by a governance body (a line manager only validates engineers
and administrators, whose profile reaches no data). Withdrawal takes effect at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.engine import Row

from santegarde.identifiers import countries
from santegarde.identity import accounts
from santegarde.identity.clock import aware
from santegarde.identity.context import IdentityContext
from santegarde.identity.errors import GrantError
from santegarde.identity.tables import grant, user
from santegarde.referentials.model import OrganisationProfile

VALIDATOR_ROLES = ("controller", "governance_body", "line_manager")
# The profiles that act for one care establishment and see only its patients (aac-2022-106 §4.1, §8.1).
ESTABLISHMENT_PROFILES = frozenset({"care_establishment_staff"})
ESTABLISHMENT_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


@dataclass(frozen=True)
class Grant:
    id: int
    login: str
    profile: str
    validated_by: str
    validator_role: str
    reason: str
    project: str | None
    starts_at: datetime
    ends_at: datetime | None
    revoked_at: datetime | None
    establishment: str | None = None  # the establishment whose patients a collecting staff member sees (AAC-8)
    country: str | None = None  # ISO 3166 code of the country it is used from; None: inside the EU/EEA (AAC-12)

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and self.starts_at <= now and (self.ends_at is None or now < self.ends_at)


def _from_row(row: Row) -> Grant:
    return Grant(
        row.id,
        row.login,
        row.profile,
        row.validated_by,
        row.validator_role,
        row.reason,
        row.project,
        aware(row.starts_at),
        aware(row.ends_at) if row.ends_at else None,
        aware(row.revoked_at) if row.revoked_at else None,
        row.establishment,
        row.country,
    )


def _query():  # type: ignore[no-untyped-def]
    return select(grant, user.c.login).join(user, user.c.id == grant.c.user_id)


def give(
    ctx: IdentityContext,
    login: str,
    profile: str,
    *,
    validated_by: str,
    validator_role: str,
    reason: str,
    ends_at: datetime | None = None,
    project: str | None = None,
    establishment: str | None = None,
    country: str | None = None,
    by: str,
) -> Grant:
    ref = ctx.referential
    accessor = ref.accessor(profile)
    if accessor is None:
        raise GrantError("not_a_profile", profile=profile, rid=ref.id, profiles=", ".join(a.id for a in ref.accessors))
    if validator_role not in VALIDATOR_ROLES:
        raise GrantError("validator_role", roles=", ".join(VALIDATOR_ROLES), role=validator_role)
    if not validated_by.strip() or len(reason.strip()) < 5:
        raise GrantError("undocumented")
    now = ctx.now()
    if accessor.time_limited and ends_at is None:
        raise GrantError("time_limited", profile=profile, rid=ref.id, section=accessor.section)
    if ends_at is not None and ends_at <= now:
        raise GrantError("past_end")
    if ends_at is not None and accessor.max_grant_days and ends_at - now > timedelta(days=accessor.max_grant_days):
        raise GrantError(
            "ad_hoc_mission", profile=profile, rid=ref.id, section=accessor.section, days=accessor.max_grant_days
        )
    reaches_data = bool(accessor.access)
    if (
        ref.organisation_profile is OrganisationProfile.WAREHOUSE
        and reaches_data
        and validator_role != "governance_body"
    ):
        raise GrantError("governance_body", rid=ref.id, profile=profile)
    warehouse = ref.organisation_profile is OrganisationProfile.WAREHOUSE
    if warehouse and accessor.time_limited and not project:
        raise GrantError("project", rid=ref.id, profile=profile)
    establishment = _establishment(profile, accessor.section, establishment)
    country = _country(country)
    with ctx.engine.begin() as conn:
        row = accounts.get(conn, login)
        if row.status != "active":
            raise GrantError("disabled", login=login)
        if row.kind == "technical" and accessor.health_data and reaches_data:
            raise GrantError("technical")
        new_id = conn.execute(
            insert(grant)
            .values(
                user_id=row.id,
                profile=profile,
                validated_by=validated_by.strip(),
                validator_role=validator_role,
                reason=reason.strip(),
                project=project,
                establishment=establishment,
                country=country,
                starts_at=now,
                ends_at=ends_at,
                created_at=now,
            )
            .returning(grant.c.id)
        ).scalar_one()
        result = _from_row(conn.execute(_query().where(grant.c.id == new_id)).one())
    ctx.trace(
        "grant.give",
        "success",
        actor=by,
        source="admin",
        rule="COM-ACC-2",
        detail=f"grant {new_id}: account {row.id} as {profile}" + (f", used from {country}" if country else ""),
    )
    return result


def _establishment(profile: str, section: str, establishment: str | None) -> str | None:
    """The establishment of a grant: required for the profiles tied to one (the collecting staff of an
    establishment, AAC-8), refused for the others (their reach is not an establishment's)."""
    value = (establishment or "").strip()
    if profile in ESTABLISHMENT_PROFILES:
        if not ESTABLISHMENT_ID.match(value):
            raise GrantError("establishment_needed", profile=profile, section=section)
        return value
    if value:
        raise GrantError("establishment_refused", profile=profile)
    return None


def _country(country: str | None) -> str | None:
    """The country a grant is used from, as its ISO 3166 code (None: inside the EU/EEA). A grant used from outside
    the EU makes each of its readings a transfer (aac-2022-106 §12.4), so a mistyped code is refused, never kept."""
    if country is None or not country.strip():
        return None
    code = countries.country_code(country)
    if code is None:
        raise GrantError("country", country=country.strip()[:40])
    return code


def revoke(ctx: IdentityContext, grant_id: int, reason: str, *, by: str) -> Grant:
    if len(reason.strip()) < 5:
        raise GrantError("revoke_reason")
    with ctx.engine.begin() as conn:
        row = conn.execute(_query().where(grant.c.id == grant_id)).first()
        if row is None:
            raise GrantError("no_grant", grant=grant_id)
        if row.revoked_at is not None:
            raise GrantError("already_revoked", grant=grant_id)
        conn.execute(update(grant).where(grant.c.id == grant_id).values(revoked_at=ctx.now(), revoked_reason=reason))
        result = _from_row(conn.execute(_query().where(grant.c.id == grant_id)).one())
    ctx.trace("grant.revoke", "success", actor=by, source="admin", rule="COM-ACC-2", detail=f"grant {grant_id}")
    return result


def by_id(conn: Connection, grant_id: int) -> Grant | None:
    row = conn.execute(_query().where(grant.c.id == grant_id)).first()
    return _from_row(row) if row is not None else None


def for_user(conn: Connection, user_id: int) -> list[Grant]:
    return [_from_row(r) for r in conn.execute(_query().where(grant.c.user_id == user_id).order_by(grant.c.id))]


def active_for_user(conn: Connection, user_id: int, now: datetime) -> list[Grant]:
    return [g for g in for_user(conn, user_id) if g.active(now)]


def all_grants_in(conn: Connection) -> list[Grant]:
    return [_from_row(r) for r in conn.execute(_query().order_by(grant.c.id))]


def all_grants(ctx: IdentityContext) -> list[Grant]:
    with ctx.engine.connect() as conn:
        return all_grants_in(conn)


def holders(ctx: IdentityContext, profiles: set[str] | frozenset[str]) -> list[accounts.Account]:
    """The active accounts holding, now, an active grant of one of ``profiles`` (e.g. the practitioners an
    appointment may be booked with), by name. References and names only: no secret, no health data."""
    now = ctx.now()
    with ctx.engine.connect() as conn:
        logins = {g.login for g in all_grants_in(conn) if g.profile in profiles and g.active(now)}
        if not logins:
            return []
        rows = conn.execute(
            select(user).where(user.c.login.in_(logins), user.c.status == "active").order_by(user.c.display_name)
        )
        return [accounts.Account.from_row(r) for r in rows]
