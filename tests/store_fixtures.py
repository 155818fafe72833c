"""A record service on a real database, with people ready to work: the fixtures of the store tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyotp

from identity_fixtures import NEW_PASSWORD, Clock, make_context
from santegarde.audit.trail import AuditTrail
from santegarde.crypto import KeyFamily
from santegarde.identity import accounts, grants, sessions, totp
from santegarde.identity.context import IdentityContext
from santegarde.store.db import make_engine, migrate
from santegarde.store.service import RecordService


@dataclass
class Workplace:
    service: RecordService
    identity: IdentityContext
    audit: AuditTrail

    @property
    def clock(self) -> Clock:
        assert isinstance(self.identity.clock, Clock)
        return self.identity.clock

    def person(self, login: str, profile: str, *, ref: str, two_factors: bool = True, **grant: object) -> str:
        """A person with a grant, a changed password, the charter accepted and (by default) TOTP; their token."""
        ctx = self.identity
        _, temporary = accounts.add(ctx, login, login.replace(".", " ").title(), person_ref=ref, by="admin")
        assert temporary
        if profile in grants.ESTABLISHMENT_PROFILES:
            grant.setdefault("establishment", "h1")
        grants.give(
            ctx,
            login,
            profile,
            validated_by="Responsable",
            validator_role="governance_body",
            reason="test staff",
            by="admin",
            **grant,
        )  # type: ignore[arg-type]
        result = sessions.login(ctx, login, temporary, source="10.0.0.1", workstation_class="office")
        sessions.change_password(ctx, result.token, temporary, NEW_PASSWORD)
        sessions.accept_charter(ctx, result.token, ctx.settings.charter_version)
        if two_factors:
            secret = totp.new_secret()
            sessions.enrol_second_factor(ctx, result.token, secret, pyotp.TOTP(secret).at(ctx.now()))
        return result.token

    def close(self) -> None:
        self.service.engine.dispose()
        self.audit.engine.dispose()


def make_workplace(database_url: str, tmp_path: Path, referential: str = "pra-2020-081") -> Workplace:
    identity = make_context(database_url, tmp_path, referential)
    migrate(identity.engine)
    audit_engine = make_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    migrate(audit_engine, package="santegarde.audit")
    _, seal = identity.keyring.key(KeyFamily.AUDIT_SEAL)
    audit = AuditTrail(audit_engine, seal, clock=identity.clock)
    service = RecordService(identity.engine, identity.referential, identity.keyring, audit, identity)
    return Workplace(service, identity, audit)
