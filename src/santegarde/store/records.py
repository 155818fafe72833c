"""Writing and reading FHIR resources, only with an allowed policy decision in hand.

The store never decides: it refuses any call that does not carry an allowed ``Decision`` for the
right operation, so that nothing reaches a record without going through policy first.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, select

from santegarde.errors import SantegardeError
from santegarde.policy import Decision
from santegarde.referentials.model import Operation
from santegarde.store.schema import resource


class PolicyRequired(SantegardeError, PermissionError):
    """The store was called without an allowed decision for this operation."""


@dataclass(frozen=True, slots=True)
class StoredResource:
    id: str
    version: int
    resource_type: str
    body: dict[str, Any]


def _require(decision: Decision, operation: Operation) -> None:
    if not decision.allowed:
        raise PolicyRequired(f"refused: {decision}")
    if decision.request.operation is not operation:
        raise PolicyRequired(
            f"the decision allows '{decision.request.operation}', not '{operation}'; ask policy for this operation"
        )


def put(conn: Connection, decision: Decision, body: dict[str, Any]) -> StoredResource:
    """Store a new version of a FHIR resource (its JSON form), under an allowed write decision."""
    _require(decision, Operation.WRITE)
    resource_type = body.get("resourceType")
    if not isinstance(resource_type, str):
        raise ValueError("a FHIR resource needs a 'resourceType'")
    rid = str(body.get("id") or uuid.uuid4())
    current = conn.execute(select(func.max(resource.c.version)).where(resource.c.id == rid)).scalar()
    version = (current or 0) + 1
    stored = {**body, "id": rid, "meta": {**body.get("meta", {}), "versionId": str(version)}}
    conn.execute(
        resource.insert().values(
            id=rid,
            version=version,
            resource_type=resource_type,
            category=decision.request.category,
            purpose=decision.request.purpose,
            rule=decision.rule,
            body=json.dumps(stored, separators=(",", ":")),
            created_at=datetime.now(UTC),
        )
    )
    return StoredResource(rid, version, resource_type, stored)


def get(conn: Connection, decision: Decision, rid: str) -> StoredResource | None:
    """The latest version of a resource, under an allowed read decision for its category."""
    _require(decision, Operation.READ)
    row = conn.execute(
        select(resource)
        .where(resource.c.id == rid, resource.c.category == decision.request.category)
        .order_by(resource.c.version.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return StoredResource(row.id, row.version, row.resource_type, json.loads(row.body))


def counts(conn: Connection) -> dict[str, int]:
    """How many resources of each type are stored (latest versions), without reading their content."""
    rows = conn.execute(
        select(resource.c.resource_type, func.count(func.distinct(resource.c.id))).group_by(resource.c.resource_type)
    )
    return {r[0]: int(r[1]) for r in rows}
