"""Who acts on the warehouse, and which profile may do what with its separate stores (EDS-SEC-LOG-6, EDS-9, EDS-4).

An :class:`Operator` is a login and the profile chosen at login (a session's ``login`` and ``profile``). The
:class:`WarehouseGuard` checks an operator against the identity database — an active account holding an
active grant of exactly that profile — and against the référentiel's data:

- the genetic/location key is mobilised only by the profiles the référentiel lists under ``keys:
  [genetic_location]`` (EDS-SEC-LOG-6: the profiles feeding the warehouse and exporting to a workspace);
- feeding is done only by the profiles that may ``write`` the data collected for the warehouse's constitution;
- an objection is registered only by the profiles that may ``delete`` data (the person handling the rights).

Every refusal is traced in the audit trail with its rule and says what to do; so is every use of the
genetic/location key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

from sqlalchemy import Engine

from santegarde.audit.trail import AuditEvent, AuditTrail
from santegarde.errors import SantegardeError
from santegarde.identity import accounts, grants
from santegarde.identity.context import IdentityContext
from santegarde.policy.rights import rights_handlers
from santegarde.referentials.model import Operation, Referential, SeparateKey

SECTION = "10"
KEY_RULE = "EDS-SEC-LOG-6"
FEED_RULE = "EDS-SEC-ALI-1"
OBJECTION_RULE = "EDS-9"
RESOURCE = "warehouse"
FEED_PURPOSE = "warehouse_constitution"


class WarehouseAccessRefused(SantegardeError):
    """The operator may not do this on the warehouse; the message says why and what to do (traced)."""


@dataclass(frozen=True)
class Operator:
    """Who acts: the login and the profile chosen at login (a session's ``login`` and ``profile``)."""

    login: str
    profile: str | None


def key_profiles(ref: Referential, key: SeparateKey = SeparateKey.GENETIC_LOCATION) -> tuple[str, ...]:
    """The profiles the référentiel allows to mobilise ``key``."""
    return ref.key_holders(key)


def feed_profiles(ref: Referential) -> tuple[str, ...]:
    """The profiles that may write the data collected for the warehouse's constitution (the feeding profiles)."""
    return tuple(
        a.id
        for a in ref.accessors
        if any(Operation.WRITE in acc.operations and FEED_PURPOSE in acc.purposes for acc in a.access)
    )


def objection_profiles(ref: Referential) -> tuple[str, ...]:
    """The profiles that may delete data (those handling the persons' rights), who register objections."""
    return rights_handlers(ref)


class WarehouseGuard:
    """Checks operators against the identity database and the référentiel; traces into the audit trail."""

    def __init__(self, identity: IdentityContext, trail: AuditTrail, records: Engine | None = None) -> None:
        self.identity = identity
        self.trail = trail
        # The records database, where the objection ledger lives (store/objections.py): the organisation's, which
        # holds the identity tables too, unless another is given.
        self.records = records if records is not None else identity.engine

    @property
    def referential(self) -> Referential:
        return self.identity.referential

    def trace(
        self, operator: Operator, operation: str, resource: str, outcome: str, rule: str, purpose: str = ""
    ) -> None:
        self.trail.append(
            AuditEvent(
                actor=operator.login,
                profile=operator.profile or "",
                operation=operation,
                resource_type=RESOURCE,
                resource_id=resource,
                purpose=purpose,
                allowed=outcome == "success",
                rule=rule,
                section=SECTION,
                outcome=outcome,
                referential=self.referential.id,
            )
        )

    def granted(self, operator: Operator) -> bool:
        """An active account holding an active grant of the profile it chose at login."""
        if not operator.profile:
            return False
        now = self.identity.now()
        with self.identity.engine.connect() as conn:
            row = accounts.find(conn, operator.login)
            if row is None or row.status != "active":
                return False
            return any(g.profile == operator.profile for g in grants.active_for_user(conn, row.id, now))

    def refuse(self, operator: Operator, operation: str, resource: str, rule: str, message: str) -> NoReturn:
        """Trace the refusal, then raise it."""
        self.trace(operator, operation, resource, "denied", rule)
        raise WarehouseAccessRefused(message)

    def require(
        self, operator: Operator, profiles: tuple[str, ...], *, operation: str, resource: str, rule: str, what: str
    ) -> None:
        """Refuse (traced) unless the operator acts under one of ``profiles``, chosen at login and granted."""
        acting = operator.profile or "no profile"
        if not profiles:
            self.refuse(
                operator, operation, resource, rule,
                f"The référentiel {self.referential.id} names no profile allowed to {what}, so nobody may.",
            )  # fmt: skip
        if operator.profile not in profiles:
            self.refuse(
                operator, operation, resource, rule,
                f"'{operator.login}' acts under the profile '{acting}', and only the profile(s) "
                f"{', '.join(profiles)} may {what} ({rule}): log in again choosing one of them "
                "(santegarde login --profile …) if you hold it.",
            )  # fmt: skip
        if not self.granted(operator):
            self.refuse(
                operator, operation, resource, rule,
                f"'{operator.login}' holds no active grant of the profile '{acting}' (account disabled, grant "
                f"withdrawn or past its term), so may not {what}: ask for a new authorisation.",
            )  # fmt: skip

    def mobilise_key(self, operator: Operator, operation: str) -> None:
        """EDS-SEC-LOG-6: refuse (traced) unless the operator's profile may mobilise the genetic/location key."""
        self.require(
            operator,
            key_profiles(self.referential),
            operation=operation,
            resource=SeparateKey.GENETIC_LOCATION.value,
            rule=KEY_RULE,
            what="mobilise the key of the genetic and location tracking data",
        )
        self.trace(operator, operation, SeparateKey.GENETIC_LOCATION.value, "success", KEY_RULE)

    def feed(self, operator: Operator, operation: str) -> None:
        """Refuse (traced) unless the operator acts under a feeding profile."""
        self.require(
            operator,
            feed_profiles(self.referential),
            operation=operation,
            resource=RESOURCE,
            rule=FEED_RULE,
            what="feed the warehouse",
        )

    def oppose(self, operator: Operator) -> None:
        """Refuse (traced) unless the operator acts under a profile handling the persons' rights."""
        self.require(
            operator,
            objection_profiles(self.referential),
            operation="warehouse.oppose",
            resource=RESOURCE,
            rule=OBJECTION_RULE,
            what="register an objection",
        )
