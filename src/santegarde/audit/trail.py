"""The audit trail in its own database: append, seal, verify, purge, export.

Entries record references, never contents (who, profile, operation, resource type and id,
purpose, decision, rule, section, outcome, source). Appends are serialised by a lock on the
one-row head table, so the chain has no fork even with concurrent writers. Every
``checkpoint_every`` entries the head is sealed with an HMAC under the audit-sealing key.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select, update

from santegarde.audit import chain
from santegarde.audit.tables import checkpoint, entry, head
from santegarde.clock import utc_now

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """What happened, by references only: never a name, an identifier or a value of the record."""

    actor: str
    profile: str
    operation: str
    resource_type: str
    resource_id: str
    purpose: str
    allowed: bool
    rule: str
    section: str
    outcome: str  # success, denied, error
    source: str = "local"
    referential: str = ""
    patient: str = ""  # the patient's resource id when the access concerns a patient (a reference)
    break_glass: bool = False
    care_relationship: bool | None = None
    justification: int | None = None  # id of the written justification kept with the records (break-glass, formality)


@dataclass(frozen=True, slots=True)
class VerifyReport:
    entries: int
    checkpoints: int
    problems: tuple[chain.Problem, ...]

    @property
    def intact(self) -> bool:
        return not self.problems


class AuditTrail:
    def __init__(self, engine: Engine, seal_key: bytes, *, clock: Clock = utc_now, checkpoint_every: int = 100):
        self.engine = engine
        self._key = seal_key
        self._clock = clock
        self._every = checkpoint_every

    def now(self) -> datetime:
        """The trail's own clock (the time written on its entries)."""
        return self._clock()

    def _lock_head(self, conn: Connection) -> tuple[int, str]:
        row = conn.execute(select(head.c.seq, head.c.hash).where(head.c.id == 1).with_for_update()).first()
        if row is None:
            conn.execute(insert(head).values(id=1, seq=0, hash=chain.GENESIS))
            return 0, chain.GENESIS
        return int(row.seq), str(row.hash)

    def append(self, event: AuditEvent, conn: Connection | None = None) -> chain.Entry:
        """Append one event; within ``conn``'s transaction if given, else in a transaction of its own."""
        if conn is None:
            with self.engine.begin() as own:
                return self.append(event, own)
        seq, prev = self._lock_head(conn)
        at = self._clock()
        content = {**asdict(event), "at": at.isoformat()}
        new = chain.chain(seq + 1, prev, [content])[0]
        conn.execute(
            insert(entry).values(
                seq=new.seq, at=at, content=json.dumps(content, sort_keys=True), prev_hash=new.prev_hash, hash=new.hash
            )
        )
        conn.execute(update(head).where(head.c.id == 1).values(seq=new.seq, hash=new.hash))
        if new.seq % self._every == 0:
            self._seal(conn, new.seq, new.hash, anchor=False)
        return new

    def _seal(self, conn: Connection, seq: int, digest: str, *, anchor: bool) -> None:
        conn.execute(delete(checkpoint).where(checkpoint.c.seq == seq))
        conn.execute(
            insert(checkpoint).values(
                seq=seq, hash=digest, seal=chain.seal(self._key, seq, digest), anchor=anchor, at=self._clock()
            )
        )

    def seal_now(self) -> int:
        """Seal the current head (e.g. at shutdown or on a schedule); returns the sealed sequence number."""
        with self.engine.begin() as conn:
            seq, digest = self._lock_head(conn)
            if seq:
                self._seal(conn, seq, digest, anchor=False)
            return seq

    def entries(self, conn: Connection) -> Iterator[chain.Entry]:
        for row in conn.execute(select(entry).order_by(entry.c.seq)):
            yield chain.Entry(row.seq, row.prev_hash, row.hash, json.loads(row.content))

    def verify(self) -> VerifyReport:
        with self.engine.connect() as conn:
            entries = list(self.entries(conn))
            cps = [chain.Checkpoint(r.seq, r.hash, r.seal, bool(r.anchor)) for r in conn.execute(select(checkpoint))]
            recorded_head = conn.execute(select(head.c.seq, head.c.hash)).first()
        problems = chain.verify(entries, cps, self._key)
        last = entries[-1] if entries else None
        if (
            recorded_head is not None
            and last is not None
            and (recorded_head.seq, recorded_head.hash) != (last.seq, last.hash)
        ):
            problems.append(
                chain.Problem(
                    last.seq,
                    f"the trail's head says entry {recorded_head.seq}: entries after "
                    f"{last.seq} are missing (truncated)",
                )
            )
        return VerifyReport(len(entries), len(cps), tuple(problems))

    def purge(self, before: datetime) -> int:
        """Delete entries older than ``before``, leaving a sealed anchor so the rest stays verifiable."""
        with self.engine.begin() as conn:
            self._lock_head(conn)
            last = conn.execute(
                select(entry.c.seq, entry.c.hash).where(entry.c.at < before).order_by(entry.c.seq.desc()).limit(1)
            ).first()
            if last is None:
                return 0
            count = conn.execute(select(func.count()).select_from(entry).where(entry.c.seq <= last.seq)).scalar_one()
            self._seal(conn, last.seq, last.hash, anchor=True)
            conn.execute(delete(entry).where(entry.c.seq <= last.seq))
            conn.execute(delete(checkpoint).where(checkpoint.c.seq < last.seq))
            return int(count)

    def as_fhir_audit_events(self) -> Iterator[dict[str, Any]]:
        """The trail as FHIR R4 AuditEvent resources (JSON), references only."""
        actions = {"read": "R", "write": "U", "export": "R", "transmit": "R", "archive": "U", "delete": "D"}
        with self.engine.connect() as conn:
            for e in self.entries(conn):
                c = e.content
                yield {
                    "resourceType": "AuditEvent",
                    "id": f"audit-{e.seq}",
                    "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest"},
                    "action": actions.get(c["operation"], "E"),
                    "recorded": c["at"],
                    "outcome": "0" if c["outcome"] == "success" else "4",
                    "outcomeDesc": f"{'allowed' if c['allowed'] else 'denied'} by {c['referential']} "
                    f"§{c['section']} ({c['rule']})",
                    "purposeOfEvent": [{"text": c["purpose"]}],
                    "agent": [
                        {
                            "who": {"identifier": {"value": c["actor"]}},
                            "role": [{"text": c["profile"]}],
                            "requestor": True,
                            "network": {"address": c["source"]},
                        }
                    ],
                    "source": {"observer": {"display": "santegarde"}},
                    "entity": [{"what": {"reference": f"{c['resource_type']}/{c['resource_id']}"}}],
                    "extension": [
                        {
                            "url": "https://santegarde.invalid/fhir/StructureDefinition/audit-chain",
                            "valueString": f"{e.seq}:{e.hash}",
                        }
                    ],
                }
