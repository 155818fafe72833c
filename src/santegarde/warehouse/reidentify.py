"""Re-identification procedures (EDS-5, EDS-SEC-REI-1..5): rights, recontact for research, medical emergency.

Each procedure is for the small recontact team only (profile ``recontact_team``, chosen at login and held by an
active grant), runs only on a real request (a request reference and a justification of at least 20 characters),
and reveals nothing until a second member of the team — another login, also authorised — has approved exactly
that request. The parameters (an identity, medical criteria, a pseudonym) are bound to the approval by their
SHA-256 digest and are not stored. Every step, refusals included, is traced; a request runs once.
"""

# ruff: noqa: S608 - names come from the OMOP 5.4 spec constants; the criteria SQL is the approved request's; values go as $parameters
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
from sqlalchemy import Engine, insert, select, update

from santegarde.audit.trail import AuditEvent, AuditTrail
from santegarde.clock import utc_now
from santegarde.errors import SantegardeError
from santegarde.governance.tables import wh_reidentifications
from santegarde.identity import accounts, grants
from santegarde.identity.context import IdentityContext
from santegarde.warehouse import omop
from santegarde.warehouse.access import Operator, WarehouseGuard
from santegarde.warehouse.core import Warehouse, delete_person_rows
from santegarde.warehouse.governance import check_cohort_sql
from santegarde.warehouse.pseudonym import IdentityIncomplete, bigint_sql, person_id_of

Clock = Callable[[], datetime]
PROFILE = "recontact_team"
REFERENTIAL = "eds-2021-118"
SECTION = "10"
MIN_JUSTIFICATION = 20
ACTIONS = ("extract", "delete")
IDENTITY_COLUMNS = (
    "pseudonym",
    "family",
    "given",
    "sex",
    "birth_date",
    "birth_place",
    "phone",
    "email",
    "address",
    "postal_code",
    "city",
    "death_date",
)


@dataclass(frozen=True)
class Procedure:
    kind: str
    purposes: tuple[str, ...]
    rule: str
    description: str


PROCEDURES: dict[str, Procedure] = {
    "rights": Procedure(
        "rights",
        ("rights_management",),
        "EDS-SEC-REI-1",
        "identity → pseudonym → the person's data, extracted or deleted",
    ),
    "recontact": Procedure(
        "recontact",
        ("recontact", "recontact_genetic_findings", "recontact_additional_findings"),
        "EDS-SEC-REI-2",
        "medical criteria → pseudonyms → identities, for that purpose only",
    ),
    "emergency": Procedure("emergency", ("health_risk_warning",), "EDS-SEC-REI-3", "pseudonym → identity"),
}


class ReidentificationError(SantegardeError):
    """A re-identification step is refused or cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class Request:
    id: int
    kind: str
    reference: str
    justification: str
    purpose: str
    action: str | None
    parameters_digest: str
    status: str
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    executed_at: datetime | None


@dataclass(frozen=True)
class RevealedIdentity:
    """Directly identifying data of one person, revealed for the request's purpose only."""

    person_id: int
    fields: Mapping[str, Any]


@dataclass(frozen=True)
class RightsResult:
    request: int
    action: str
    person_id: int
    identity: RevealedIdentity | None
    data: Mapping[str, list[dict[str, Any]]]
    deleted: int


@dataclass(frozen=True)
class RecontactList:
    request: int
    reference: str
    purpose: str
    identities: tuple[RevealedIdentity, ...]


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def _request(row: Any) -> Request:
    return Request(
        row.id,
        row.kind,
        row.reference,
        row.justification,
        row.purpose,
        row.action,
        row.parameters_digest,
        row.status,
        row.requested_by,
        _aware(row.requested_at) or row.requested_at,
        row.decided_by,
        _aware(row.decided_at),
        _aware(row.executed_at),
    )


def parameters_digest(kind: str, parameters: Mapping[str, Any]) -> str:
    """The SHA-256 that binds an approval to exactly the parameters asked for."""
    canonical = json.dumps({"kind": kind, **{k: str(v).strip() for k, v in parameters.items()}}, sort_keys=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _rights_parameters(identity: Mapping[str, str]) -> dict[str, str]:
    return {k: str(identity.get(k, "")).strip() for k in ("family", "given", "birthdate")}


class Reidentification:
    """The three procedures over one warehouse, its governance database, the identity database and the trail."""

    def __init__(
        self,
        warehouse: Warehouse,
        governance_engine: Engine,
        identity: IdentityContext,
        trail: AuditTrail,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self.warehouse = warehouse
        self.governance = governance_engine
        self.identity = identity
        self.trail = trail
        self._clock = clock

    # -- tracing and checks --------------------------------------------------------------------------------
    def _trace(
        self, operator: Operator, operation: str, resource: str, outcome: str, rule: str, purpose: str = ""
    ) -> None:
        self.trail.append(
            AuditEvent(
                actor=operator.login,
                profile=operator.profile or "",
                operation=operation,
                resource_type="reidentification",
                resource_id=resource,
                purpose=purpose,
                allowed=outcome == "success",
                rule=rule,
                section=SECTION,
                outcome=outcome,
                referential=REFERENTIAL,
            )
        )

    def _refuse(
        self, operator: Operator, operation: str, resource: str, rule: str, message: str, purpose: str = ""
    ) -> None:
        self._trace(operator, operation, resource, "denied", rule, purpose)
        raise ReidentificationError(message)

    def _authorised(self, operator: Operator) -> bool:
        if operator.profile != PROFILE:
            return False
        now = self.identity.now()
        with self.identity.engine.connect() as conn:
            row = accounts.find(conn, operator.login)
            if row is None or row.status != "active":
                return False
            return any(g.profile == PROFILE for g in grants.active_for_user(conn, row.id, now))

    def _check_operator(self, operator: Operator, operation: str, resource: str, purpose: str = "") -> None:
        if not self._authorised(operator):
            self._refuse(
                operator,
                operation,
                resource,
                "EDS-SEC-REI-4",
                f"'{operator.login}' is not acting as an authorised member of the re-identification team (profile "
                f"'{PROFILE}' chosen at login and granted): the procedures are reserved to that small trained team.",
                purpose,
            )

    def _load(self, request_id: int) -> Request:
        with self.governance.connect() as conn:
            row = conn.execute(select(wh_reidentifications).where(wh_reidentifications.c.id == request_id)).first()
        if row is None:
            raise ReidentificationError(f"There is no re-identification request {request_id}.")
        return _request(row)

    def _set(self, request_id: int, **values: Any) -> Request:
        with self.governance.begin() as conn:
            conn.execute(update(wh_reidentifications).where(wh_reidentifications.c.id == request_id).values(**values))
        return self._load(request_id)

    # -- request and approval ------------------------------------------------------------------------------
    def request(
        self,
        operator: Operator,
        kind: str,
        *,
        reference: str,
        justification: str,
        parameters: Mapping[str, Any],
        purpose: str | None = None,
        action: str | None = None,
    ) -> Request:
        """Register a request (nothing is revealed yet): its reference, justification and parameters' digest."""
        procedure = PROCEDURES.get(kind)
        if procedure is None:
            raise ReidentificationError(f"'{kind}' is not a re-identification procedure; use {', '.join(PROCEDURES)}.")
        chosen = purpose or procedure.purposes[0]
        self._check_operator(operator, "reidentify.request", "-", chosen)
        if not reference.strip():
            self._refuse(
                operator,
                "reidentify.request",
                "-",
                "EDS-SEC-REI-5",
                "A re-identification runs only on a real request: give its reference (--reference).",
                chosen,
            )
        if len(justification.strip()) < MIN_JUSTIFICATION:
            self._refuse(
                operator,
                "reidentify.request",
                "-",
                "EDS-SEC-REI-5",
                f"A re-identification is justified and documented: give a justification of at least "
                f"{MIN_JUSTIFICATION} characters (--justification).",
                chosen,
            )
        if chosen not in procedure.purposes:
            self._refuse(
                operator,
                "reidentify.request",
                "-",
                procedure.rule,
                f"The {kind} procedure serves {', '.join(procedure.purposes)} only, not '{chosen}'.",
                chosen,
            )
        if kind == "rights" and action not in ACTIONS:
            raise ReidentificationError(f"A rights request says what to do with the data: {' or '.join(ACTIONS)}.")
        params = _rights_parameters(parameters) if kind == "rights" else dict(parameters)
        with self.governance.begin() as conn:
            new_id = conn.execute(
                insert(wh_reidentifications)
                .values(
                    kind=kind,
                    reference=reference.strip(),
                    justification=justification.strip(),
                    purpose=chosen,
                    action=action if kind == "rights" else None,
                    parameters_digest=parameters_digest(kind, params),
                    status="pending",
                    requested_by=operator.login,
                    requested_at=self._clock(),
                )
                .returning(wh_reidentifications.c.id)
            ).scalar_one()
        self._trace(operator, "reidentify.request", str(new_id), "success", procedure.rule, chosen)
        return self._load(int(new_id))

    def approve(self, request_id: int, approver: Operator) -> Request:
        """A second member of the team approves the request; the requester never approves their own."""
        found = self._load(request_id)
        rule = PROCEDURES[found.kind].rule
        self._check_operator(approver, "reidentify.approve", str(request_id), found.purpose)
        if approver.login.strip().lower() == found.requested_by.strip().lower():
            self._refuse(
                approver,
                "reidentify.approve",
                str(request_id),
                rule,
                "The approval comes from a second person: the requester cannot approve their own request.",
                found.purpose,
            )
        if found.status != "pending":
            raise ReidentificationError(f"Request {request_id} is {found.status}; only a pending request is approved.")
        result = self._set(request_id, status="approved", decided_by=approver.login, decided_at=self._clock())
        self._trace(approver, "reidentify.approve", str(request_id), "success", rule, found.purpose)
        return result

    def reject(self, request_id: int, approver: Operator) -> Request:
        """A second member of the team turns the request down."""
        found = self._load(request_id)
        self._check_operator(approver, "reidentify.reject", str(request_id), found.purpose)
        if found.status != "pending":
            raise ReidentificationError(f"Request {request_id} is {found.status}; only a pending request is rejected.")
        result = self._set(request_id, status="rejected", decided_by=approver.login, decided_at=self._clock())
        self._trace(
            approver, "reidentify.reject", str(request_id), "success", PROCEDURES[found.kind].rule, found.purpose
        )
        return result

    def get(self, request_id: int) -> Request:
        """One request (its status, who asked and who approved; never its parameters)."""
        return self._load(request_id)

    def list_requests(self) -> list[Request]:
        with self.governance.connect() as conn:
            rows = conn.execute(select(wh_reidentifications).order_by(wh_reidentifications.c.id)).all()
        return [_request(r) for r in rows]

    def _ready(self, request_id: int, kind: str, operator: Operator, parameters: Mapping[str, Any]) -> Request:
        """The checks before anything is revealed: team member, the requester, approved, same parameters."""
        found = self._load(request_id)
        resource = str(request_id)
        rule = PROCEDURES[kind].rule
        self._check_operator(operator, "reidentify.execute", resource, found.purpose)
        if found.kind != kind:
            raise ReidentificationError(f"Request {request_id} is a {found.kind} request, not a {kind} one.")
        if found.status != "approved":
            self._refuse(
                operator,
                "reidentify.execute",
                resource,
                rule,
                f"Request {request_id} is {found.status}: nothing is revealed before a second team member approves "
                "it (`warehouse reidentify approve`), and a request runs once.",
                found.purpose,
            )
        if operator.login.strip().lower() != found.requested_by.strip().lower():
            self._refuse(
                operator,
                "reidentify.execute",
                resource,
                rule,
                f"Request {request_id} is carried out by the team member who made it ({found.requested_by}).",
                found.purpose,
            )
        if parameters_digest(kind, parameters) != found.parameters_digest:
            self._refuse(
                operator,
                "reidentify.execute",
                resource,
                rule,
                f"These are not the parameters approved in request {request_id}; make a new request for them.",
                found.purpose,
            )
        return found

    def _done(self, found: Request, operator: Operator) -> None:
        self._set(found.id, status="done", executed_at=self._clock())
        self._trace(
            operator, "reidentify.execute", str(found.id), "success", PROCEDURES[found.kind].rule, found.purpose
        )

    # -- the three procedures ------------------------------------------------------------------------------
    def _identities(self, person_ids: list[int]) -> dict[int, RevealedIdentity]:
        if not person_ids:
            return {}
        columns = ", ".join(f"i.{c}" for c in IDENTITY_COLUMNS)
        with self.warehouse.vault_connection() as con:
            rows = con.execute(
                f"SELECT {bigint_sql('i.pseudonym')} AS pid, {columns} FROM vault.identity AS i "
                f"WHERE {bigint_sql('i.pseudonym')} IN (SELECT unnest($ids))",
                {"ids": person_ids},
            ).fetchall()
        return {int(r[0]): RevealedIdentity(int(r[0]), dict(zip(IDENTITY_COLUMNS, r[1:], strict=True))) for r in rows}

    def rights(self, request_id: int, operator: Operator, identity: Mapping[str, str]) -> RightsResult:
        """REI-1: from the identity the person supplied, find the pseudonym and extract or delete their data."""
        params = _rights_parameters(identity)
        found = self._ready(request_id, "rights", operator, params)
        try:
            pseudonym = self.warehouse.pseudonym_of(params)
        except IdentityIncomplete as exc:
            raise ReidentificationError(str(exc)) from None
        if len(self.warehouse.persons_named(params) - {pseudonym}) > 0:
            raise ReidentificationError(
                "Several persons of the warehouse share this family name, first name and birth date (homonyms kept "
                "apart by identity matching): the request cannot tell which one is the person; nothing was done. "
                "Resolve it with the identity-vigilance team (INS, birthplace) before acting."
            )
        person = person_id_of(pseudonym)
        data: dict[str, list[dict[str, Any]]] = {}
        deleted = 0
        con = self.warehouse.omop
        revealed = self._identities([person]).get(person)
        if found.action == "extract":
            for table in omop.PURGE_ORDER:
                cursor = con.execute(f"SELECT * FROM omop.{table} WHERE {omop.person_rows(table)}", {"i": person})
                names = [d[0] for d in cursor.description or ()]
                rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
                if rows:
                    data[table] = rows
        else:
            deleted = _erase(self.warehouse, pseudonym, person, operator, WarehouseGuard(self.identity, self.trail))
        self._done(found, operator)
        return RightsResult(found.id, found.action or "", person, revealed, data, deleted)

    def recontact(self, request_id: int, operator: Operator, criteria_sql: str) -> RecontactList:
        """REI-2: medical criteria (a SELECT of person_id on OMOP) → pseudonyms → identities, for that purpose."""
        found = self._ready(request_id, "recontact", operator, {"criteria": criteria_sql})
        try:
            criteria = check_cohort_sql(criteria_sql)
        except SantegardeError as exc:
            raise ReidentificationError(str(exc)) from None
        con = self.warehouse.omop
        con.execute("USE omop")
        try:
            rows = con.execute(f"SELECT DISTINCT person_id FROM ({criteria}) AS criteria").fetchall()
        except duckdb.Error as exc:
            raise ReidentificationError(f"The medical criteria could not be run on the warehouse: {exc}") from None
        finally:
            con.execute("USE memory")
        identities = self._identities([int(r[0]) for r in rows])
        self._done(found, operator)
        ordered = tuple(identities[k] for k in sorted(identities))
        return RecontactList(found.id, found.reference, found.purpose, ordered)

    def emergency(self, request_id: int, operator: Operator, pseudonym: str) -> RevealedIdentity:
        """REI-3: from a warehouse pseudonym (hex) or OMOP person_id, the identity of the person to warn."""
        found = self._ready(request_id, "emergency", operator, {"pseudonym": pseudonym})
        text = pseudonym.strip()
        try:
            person = int(text) if text.isdigit() else person_id_of(text)
        except ValueError:
            raise ReidentificationError(f"'{text}' is neither a warehouse pseudonym nor a person_id.") from None
        revealed = self._identities([person]).get(person)
        if revealed is None:
            self._trace(operator, "reidentify.execute", str(found.id), "error", "EDS-SEC-REI-3", found.purpose)
            raise ReidentificationError(
                "No identity corresponds to this pseudonym in the identity vault (unknown, or the person objected)."
            )
        self._done(found, operator)
        return revealed


def _erase(warehouse: Warehouse, pseudonym: str, person: int, operator: Operator, guard: WarehouseGuard) -> int:
    """Erase the person's data from every store (an erasure, not an objection: later feeds may bring it back).

    The recontact team does not hold the genetic/location key (EDS-SEC-LOG-6): the person's genetic results
    are deleted through the warehouse's narrow, traced erase path, never read.
    """
    deleted = 0
    with warehouse.vault_connection() as con:
        deleted += delete_person_rows(con, person)
        deleted += warehouse.erase_genetic_location(person, by=operator, rule="EDS-SEC-REI-1", guard=guard)
        for table in ("identity", "mapping"):
            deleted += _count(con.execute(f"DELETE FROM vault.{table} WHERE pseudonym = $p", {"p": pseudonym}))
    return deleted


def _count(result: duckdb.DuckDBPyConnection) -> int:
    row = result.fetchone()
    return int(row[0]) if row else 0
