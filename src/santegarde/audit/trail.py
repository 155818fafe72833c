"""The audit trail in its own database: append, seal, verify, purge, export.

Entries record references, never contents (who, profile, operation, resource type and id,
purpose, decision, rule, section, outcome, source). Appends are serialised by a lock on the
one-row head table, so the chain has no fork even with concurrent writers: an append moves the head forward from the
head this process last wrote with one UPDATE whose WHERE checks its sequence number, hash and seal (the row lock
and the check in one statement), and falls back to reading the head under lock and checking its seal when that
head is no longer there. A request may defer its appends and write them as one batch (one head move, one
multi-row insert) before it answers. Every append seals the
head (an HMAC over its sequence number and hash under the audit-sealing key) in the head row it
already updates, and, with an anchor file, appends the sealed head to that file when the
transaction commits; every ``checkpoint_every`` entries a checkpoint is sealed too.

A trail proves its own completeness: its first entry is written when it is initialised (a migrated
database holds an unsealed head at 0, "never used"), so an empty trail is a failed trail;
``verify`` requires the sealed head to match the last entry, every checkpoint after the last purge
anchor, and the anchor file's heads. A missing or forged head stops every append with a sentence.
"""

from __future__ import annotations

import json
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    and_,
    bindparam,
    delete,
    event,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import SQLAlchemyError

from santegarde.audit import chain, operations, request
from santegarde.audit.anchor import BEHIND, AnchorFile, Head
from santegarde.audit.anchor import MISSING as MISSING_ANCHOR
from santegarde.audit.tables import checkpoint, entry, head
from santegarde.audit.witness import SyslogWitness
from santegarde.clock import utc_now
from santegarde.errors import WordedError
from santegarde.refusals import LANGS, Said, sentences

Clock = Callable[[], datetime]


class TrailTampered(WordedError):
    """The trail's head is missing or not validly sealed: nothing more is appended to a tampered trail.

    Worded from the catalogue's ``audit_trail`` area, French by default, English as the option."""

    def __init__(self, key: str, /, **facts: Any) -> None:
        super().__init__(sentences("audit_trail", key, **facts))
        self.key = key


class AnchorRestartRefused(TrailTampered):
    """The anchor file cannot be restarted (none, or the trail itself is broken, or nothing to restart)."""


_UNSEALED = "unsealed"


def _problem_fact(problem: chain.Problem) -> dict[str, str]:
    return {lang: problem.in_language(lang) for lang in LANGS}


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
    outcome: str  # success, denied, not_found, error, rolled_back
    source: str = "local"
    referential: str = ""
    patient: str = ""  # the patient's resource id when the access concerns a patient (a reference)
    break_glass: bool = False
    care_relationship: bool | None = None
    justification: int | None = None  # id of the written justification kept with the records (break-glass, formality)


_EVENT_FIELDS = tuple(f.name for f in fields(AuditEvent))

# The first entry of every trail: after it, an empty trail can only be an emptied one.
INITIALISED = AuditEvent(
    actor="santegarde",
    profile="",
    operation="audit.initialise",
    resource_type="AuditTrail",
    resource_id="trail",
    purpose="traceability",
    allowed=True,
    rule="COM-LOG-2",
    section="",
    outcome="success",
)


# Entered when the anchor file is restarted after a deliberate restore (actor and the kept file's name set then).
ANCHOR_RESTARTED = replace(INITIALISED, operation="audit.anchor.restart", resource_type="AuditAnchor")


@dataclass(frozen=True, slots=True)
class VerifyReport:
    entries: int
    checkpoints: int
    problems: tuple[chain.Problem, ...]
    notes: tuple[
        chain.Problem, ...
    ] = ()  # facts worth knowing that are not breaks (e.g. the anchor file one step behind)

    @property
    def intact(self) -> bool:
        return not self.problems


@dataclass(frozen=True, slots=True)
class _HeadRow:
    seq: int
    hash: str
    seal: str | None

    @property
    def fresh(self) -> bool:
        """Written by the migration, never used: no entry yet, no seal."""
        return self.seq == 0 and self.hash == chain.GENESIS and self.seal is None


# The FHIR extension carrying the id of the HTTP request an entry was written in (as in the access log line).
REQUEST_EXTENSION = "https://santegarde.invalid/fhir/StructureDefinition/audit-request"
OPERATION_SYSTEM = "https://santegarde.invalid/fhir/CodeSystem/audit-operation"  # the trail's codes, named in English

VERIFY_CHUNK = 5000  # entries fetched per round trip when the trail is walked
# What verifying reads of each entry, in order, streamed (a server-side cursor on PostgreSQL, rows in chunks).
_STORED_ROWS = (
    select(entry.c.seq, entry.c.prev_hash, entry.c.hash, entry.c.content)
    .order_by(entry.c.seq)
    .execution_options(stream_results=True, yield_per=VERIFY_CHUNK)
)

# Statements built once (not coerced again at every append): an entry (or many, executemany), and the head moved
# forward only from the head this process knows — one statement that locks, checks and reseals the head.
_INSERT_ENTRY = insert(entry)
_ADVANCE_HEAD = (
    update(head)
    .where(
        and_(
            head.c.id == 1,
            head.c.seq == bindparam("known_seq"),
            head.c.hash == bindparam("known_hash"),
            head.c.seal == bindparam("known_seal"),
        )
    )
    .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"), seal=bindparam("new_seal"))
)


def content_names(key: str, value: str) -> ColumnElement[bool]:
    """A first filter on the stored text: entries whose content may hold ``key`` = ``value`` (a plain string without
    LIKE wildcards or quotes), stored canonically or, before that, with spaces. The caller checks the decoded
    content."""
    return or_(entry.c.content.like(f'%"{key}":"{value}"%'), entry.c.content.like(f'%"{key}": "{value}"%'))


@dataclass(slots=True)
class AuditBatch:
    """Events of one request waiting to be appended together when it ends (:meth:`AuditTrail.deferred`)."""

    trail: AuditTrail
    events: list[AuditEvent] = field(default_factory=list)

    def rolled_back(self, since: int) -> None:
        """The successes traced from event ``since`` on were rolled back with their transaction: they say so."""
        self.events[since:] = [
            replace(e, outcome=ROLLED_BACK) if e.outcome == "success" else e for e in self.events[since:]
        ]


ROLLED_BACK = "rolled_back"  # allowed and done, then undone with the transaction that held it (nothing stored)
_DEFERRED: ContextVar[AuditBatch | None] = ContextVar("santegarde_audit_deferred", default=None)


@dataclass(slots=True)
class _Pending:
    """Anchor lines of one transaction; ``create``: this transaction may create the anchor file (a new trail)."""

    lines: list[str]
    create: bool = False


class AuditTrail:
    def __init__(
        self,
        engine: Engine,
        seal_key: bytes,
        *,
        clock: Clock = utc_now,
        checkpoint_every: int = 100,
        anchor: Path | None = None,
        witness: SyslogWitness | None = None,
    ):
        """``anchor``: the append-only file of sealed heads outside the database (None: no anchor file);
        ``witness``: where its lines also go (syslog), once written to the file."""
        self.engine = engine
        self._key = seal_key
        self._clock = clock
        self._every = checkpoint_every
        self.anchor = AnchorFile(anchor, seal_key) if anchor is not None else None
        self._witness = witness
        # Anchor lines waiting for their transaction's commit, by connection (rolled back: dropped).
        self._pending: weakref.WeakKeyDictionary[Connection, _Pending] = weakref.WeakKeyDictionary()
        self._listening: weakref.WeakSet[Engine] = weakref.WeakSet()
        # Connections of transaction(): their anchor lines are written after the commit, not as it starts.
        self._after_commit: weakref.WeakSet[Connection] = weakref.WeakSet()
        # Told the duration of every successful append, in seconds (the server's metrics set it; None: nobody).
        self.append_observer: Callable[[float], None] | None = None
        # The head this process last wrote or found validly sealed: the next append moves the head forward from it
        # in one statement, and falls back to locking and checking the head if it is no longer there (written by
        # another process, rolled back, or altered: the check then refuses, as before).
        self._known: _HeadRow | None = None

    def now(self) -> datetime:
        """The trail's own clock (the time written on its entries)."""
        return self._clock()

    def _head(self, conn: Connection, *, lock: bool) -> _HeadRow | None:
        query = select(head.c.seq, head.c.hash, head.c.seal).where(head.c.id == 1)
        row = conn.execute(query.with_for_update() if lock else query).first()
        return None if row is None else _HeadRow(int(row.seq), str(row.hash), row.seal)

    def _lock_head(self, conn: Connection) -> _HeadRow:
        """The head, locked for this transaction; refused if it is missing or not validly sealed."""
        row = self._head(conn, lock=True)
        if row is None:
            raise TrailTampered("no_head")
        if row.fresh:
            if self.anchor is not None and self.anchor.has_lines():
                raise TrailTampered("emptied", path=self.anchor.path)
            return row
        if row.seal is None:
            raise TrailTampered("unsealed", seq=row.seq)
        if not chain.is_sealed(self._key, row.seal, row.seq, row.hash, "head"):
            raise TrailTampered("forged_head", seq=row.seq)
        return row

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A transaction of the trail whose anchor lines are written once it has committed.

        The database is the record and the anchor file its witness: a line is written only for a head that
        is committed, so a process killed between the two leaves the file one step behind (the next entry
        anchors the head again), never ahead of the trail (which would read as a truncated trail).
        """
        opened: list[Connection] = []
        try:
            with self.engine.begin() as conn:
                opened.append(conn)
                self._after_commit.add(conn)  # the commit listener leaves its lines to us
                yield conn
        except BaseException:
            for conn in opened:
                self._pending.pop(conn, None)
            raise
        finally:
            for conn in opened:
                self._after_commit.discard(conn)
        self._write_anchor(self._pending.pop(opened[0], None))

    def append(self, event: AuditEvent, conn: Connection | None = None) -> chain.Entry | None:
        """Append one event; within ``conn``'s transaction if given (best in :meth:`transaction`), else its own.

        Inside :meth:`deferred` (and without ``conn``) the event waits for the end of the request and None is
        returned; otherwise the entry written."""
        if conn is None:
            deferred = _DEFERRED.get()
            if deferred is not None and deferred.trail is self:
                deferred.events.append(event)
                return None
            return self.append_many([event])[-1]
        return self.append_many([event], conn)[-1]

    def append_many(self, events: Sequence[AuditEvent], conn: Connection | None = None) -> list[chain.Entry]:
        """Append events in order in one transaction: the head moved and resealed once, the entries in one
        multi-row insert, a checkpoint for every multiple of ``checkpoint_every`` they cross, one anchor line.

        Its duration (with the commit when the transaction is its own) goes to ``append_observer`` if one is set."""
        if not events:
            return []
        started = time.perf_counter()
        if conn is None:
            with self.transaction() as own:
                written = self._append_many(events, own)
        else:
            written = self._append_many(events, conn)
        if self.append_observer is not None:
            self.append_observer(time.perf_counter() - started)
        return written

    def _append_many(self, events: Sequence[AuditEvent], conn: Connection) -> list[chain.Entry]:
        known = self._known
        if known is not None:
            written = self._write(conn, known, list(events))
            if written:
                return written
        current = self._lock_head(conn)
        if current.fresh:  # the trail's first entry, a head (and anchor line) of its own
            first = self._write(conn, current, [INITIALISED], create_anchor=True, locked=True)[0]
            current = _HeadRow(first.seq, first.hash, None)
        return self._write(conn, current, list(events), locked=True)

    @contextmanager
    def deferred(self) -> Iterator[AuditBatch]:
        """Within this block, appends without a connection wait and are written together as it ends, in one
        transaction — also when the block raises (a refusal is traced before the error goes on). The block's caller
        must let nothing it read out before the block ends: if the trail refuses the append, the block raises.
        Nested blocks join the outer one."""
        if (outer := _DEFERRED.get()) is not None and outer.trail is self:
            yield outer
            return
        deferred = AuditBatch(self)
        token = _DEFERRED.set(deferred)
        try:
            yield deferred
        finally:
            _DEFERRED.reset(token)
            self.append_many(deferred.events)

    def _write(
        self,
        conn: Connection,
        current: _HeadRow,
        events: list[AuditEvent],
        *,
        create_anchor: bool = False,
        locked: bool = False,
    ) -> list[chain.Entry]:
        """Chain ``events`` after ``current`` and write them. Unless ``locked`` (the head read under lock and
        checked), the head moves only if it is still ``current`` (seal included): an empty list when it is not."""
        at = self._clock()
        # The fields by name (all scalars): dataclasses.asdict deep-copies each one, a quarter of a 100-entry page's
        # time in issue 17's profile.
        contents = [{**{name: getattr(e, name) for name in _EVENT_FIELDS}, "at": at.isoformat()} for e in events]
        request_id = request.current()
        if request_id is not None:  # written during an HTTP request: its id, as in the access log line
            for content in contents:
                content["request_id"] = request_id
        new = chain.chain(current.seq + 1, current.hash, contents)
        last = new[-1]
        seal = chain.seal_head(self._key, last.seq, last.hash)
        moved = {"new_seq": last.seq, "new_hash": last.hash, "new_seal": seal}
        if locked:
            conn.execute(update(head).where(head.c.id == 1).values(seq=last.seq, hash=last.hash, seal=seal))
        else:
            known = {"known_seq": current.seq, "known_hash": current.hash, "known_seal": current.seal}
            if conn.execute(_ADVANCE_HEAD, {**known, **moved}).rowcount != 1:
                self._known = None
                return []
        conn.execute(
            _INSERT_ENTRY,
            [
                {
                    "seq": e.seq,
                    "at": at,
                    "content": chain.stored(e.content),
                    "prev_hash": e.prev_hash,
                    "hash": e.hash,
                }
                for e in new
            ],
        )
        for e in new:
            if e.seq % self._every == 0:
                self._seal(conn, e.seq, e.hash, anchor=False)
        self._anchor_at_commit(conn, last.seq, last.hash, create=create_anchor)
        # Rolled back after this, the next append finds the head elsewhere and falls back to the locked path.
        self._known = _HeadRow(last.seq, last.hash, seal)
        return new

    def _anchor_at_commit(self, conn: Connection, seq: int, digest: str, *, create: bool = False) -> None:
        """Append the sealed head to the anchor file when ``conn``'s transaction commits (never if it rolls back).

        The line is written as the commit starts, while the head is still locked, so lines follow the
        order of the heads; a commit failing after it leaves a line ahead of the database, which
        ``verify`` reports (a false alarm rather than a silence). Only a new trail (``create``), a
        sealed legacy head or a restarted anchor creates the file: once deleted, it is not silently
        re-created by the next append (which would hide, say, an older copy of the database put back).
        """
        if self.anchor is None:
            return
        # Listeners once per engine: registering them on each connection would cost a tenth of an append.
        if conn.engine not in self._listening:
            event.listen(conn.engine, "commit", self._flush_anchor)
            event.listen(conn.engine, "rollback", self._drop_anchor)
            self._listening.add(conn.engine)
        pending = self._pending.setdefault(conn, _Pending([]))
        pending.lines.append(self.anchor.line(seq, digest))
        pending.create |= create
        if not pending.create and not self.anchor.path.exists():
            raise self.anchor.missing()  # refused before the commit: nothing is traced without its witness

    def _flush_anchor(self, conn: Connection) -> None:
        """Commit of a transaction opened elsewhere (not :meth:`transaction`): the lines go as the commit starts."""
        if conn in self._after_commit:
            return  # written by transaction() once the commit is done
        self._write_anchor(self._pending.pop(conn, None))

    def _write_anchor(self, pending: _Pending | None) -> None:
        if pending and pending.lines and self.anchor is not None:
            self.anchor.append(pending.lines, create=pending.create)
            if self._witness is not None:
                self._witness.send(pending.lines)

    def _drop_anchor(self, conn: Connection) -> None:
        self._pending.pop(conn, None)

    def _seal(self, conn: Connection, seq: int, digest: str, *, anchor: bool) -> None:
        conn.execute(delete(checkpoint).where(checkpoint.c.seq == seq))
        conn.execute(
            insert(checkpoint).values(
                seq=seq, hash=digest, seal=chain.seal(self._key, seq, digest), anchor=anchor, at=self._clock()
            )
        )

    def initialise(self) -> bool:
        """Write the first entry of a never-used trail (True); do nothing to a trail already in use (False).

        A headless, emptied or unreadable trail is left as it is, for ``verify`` to report: it is never re-created.
        """
        try:
            with self.transaction() as conn:
                row = self._head(conn, lock=True)
                if row is None or not row.fresh or (self.anchor is not None and self.anchor.has_lines()):
                    return False
                self._write(conn, row, [INITIALISED], create_anchor=True, locked=True)
                return True
        except SQLAlchemyError:
            return False  # a missing or damaged audit database: verify says so in a sentence

    def seal_head(self) -> int:
        """Seal the head of a trail written before heads were sealed, once ``verify`` finds nothing else wrong.

        Returns the sealed sequence number; refuses a trail with any other problem, or a head already sealed.
        An anchor file may be missing (a trail from before anchors has none): sealing starts it.
        """
        _, _, found, anchored = self._check()
        missing = [p for p in anchored if p.key == MISSING_ANCHOR] if self.anchor else []
        others = [p for p in found if p.key != _UNSEALED] + [p for p in anchored if p not in missing]
        if others or len(found) != 1:
            if others:
                raise TrailTampered("seal_other_problem", problem=_problem_fact(others[0]))
            raise TrailTampered("already_sealed")
        with self.transaction() as conn:
            row = self._head(conn, lock=True)
            if row is None:  # deleted since the check
                raise TrailTampered("head_deleted")
            conn.execute(update(head).where(head.c.id == 1).values(seal=chain.seal_head(self._key, row.seq, row.hash)))
            self._anchor_at_commit(conn, row.seq, row.hash, create=True)
            return row.seq

    def restart_anchor(self, by: str) -> Path | None:
        """Start a new anchor file after a deliberate restore of the audit database from a verified backup.

        The trail must be intact but for its anchor file, which no longer matches (an older copy was
        restored on purpose). The old file is kept beside it, renamed, as evidence; the restart is an
        entry of the trail (who did it), whose sealed head is the first line of the new file. Returns
        the kept file, or None if the anchor file was missing.
        """
        if self.anchor is None:
            raise AnchorRestartRefused("no_anchor_file")
        _, _, found, anchored = self._check()
        if found or not anchored:
            if found:
                raise AnchorRestartRefused("restart_broken", problem=_problem_fact(found[0]))
            raise AnchorRestartRefused("restart_needless")
        kept = self.anchor.path.with_name(f"{self.anchor.path.name}.replaced-{self._clock():%Y%m%dT%H%M%S%fZ}")
        if self.anchor.path.exists():
            self.anchor.path.rename(kept)
        try:
            with self.transaction() as conn:
                current = self._lock_head(conn)
                restarted = replace(ANCHOR_RESTARTED, actor=by, resource_id=kept.name if kept.exists() else "")
                self._write(conn, current, [restarted], create_anchor=True, locked=True)
        except BaseException:
            if kept.exists():
                kept.rename(self.anchor.path)  # nothing half-done: the old file stays the anchor
            raise
        return kept if kept.exists() else None

    def entries(self, conn: Connection) -> Iterator[chain.Entry]:
        """Every entry in order, streamed (a server-side cursor on PostgreSQL, rows fetched in chunks)."""
        query = select(entry).order_by(entry.c.seq).execution_options(stream_results=True, yield_per=VERIFY_CHUNK)
        for row in conn.execute(query):
            yield chain.Entry(row.seq, row.prev_hash, row.hash, json.loads(row.content))

    def tail_problem(self, last: int = 100) -> tuple[str, int] | None:
        """A quick look at the end of the trail (``santegarde doctor``): None when the head is validly sealed and
        the last ``last`` entries chain up to it; else (what, entry): ``no_head``, ``unsealed``, ``forged_head``,
        ``edited``, ``unlinked`` or ``head_mismatch``. The whole trail is ``verify``'s."""
        with self.engine.connect() as conn:
            row = self._head(conn, lock=False)
            if row is None:
                return ("no_head", 0)
            if row.fresh:
                return None
            if row.seal is None:
                return ("unsealed", row.seq)
            if not chain.is_sealed(self._key, row.seal, row.seq, row.hash, "head"):
                return ("forged_head", row.seq)
            query = select(entry).where(entry.c.seq > row.seq - last).order_by(entry.c.seq.desc()).limit(last)
            rows = list(reversed(conn.execute(query).all()))
        if not rows or (rows[-1].seq, rows[-1].hash) != (row.seq, row.hash):
            return ("head_mismatch", row.seq)
        previous: Any = None
        for r in rows:
            if not chain.content_matches(r.seq, r.prev_hash, r.hash, r.content):
                return ("edited", int(r.seq))
            if previous is not None and (r.seq != previous.seq + 1 or r.prev_hash != previous.hash):
                return ("unlinked", int(r.seq))
            previous = r
        return None

    def verify(self) -> VerifyReport:
        """Check the chain, the sealed head, the checkpoints and the anchor file; every problem is a sentence."""
        entries, cps, found, anchored = self._check()
        notes = tuple(p for p in anchored if p.key == BEHIND)
        broken = [p for p in anchored if p.key != BEHIND]
        return VerifyReport(entries, cps, tuple(found + broken), notes)

    def _check(self) -> tuple[int, int, list[chain.Problem], list[chain.Problem]]:
        """(entries, checkpoints, problems of the database, problems against the anchor file)."""
        keep = self.anchor.seqs() if self.anchor is not None else frozenset()
        try:
            with self.engine.connect() as conn:
                cps = [
                    chain.Checkpoint(r.seq, r.hash, r.seal, bool(r.anchor)) for r in conn.execute(select(checkpoint))
                ]
                row = self._head(conn, lock=False)
                # One pass over the stored rows, none kept (only the hashes of the entries the anchor file names).
                rows = conn.execute(_STORED_ROWS).tuples()
                walked = chain.walk(rows, cps, self._key, every=self._every, keep=keep)
        except SQLAlchemyError as exc:
            cause = type(getattr(exc, "orig", None) or exc).__name__
            return 0, 0, [chain.problem(0, "unreadable", cause=cause)], []
        found = walked.problems
        found.extend(self._head_problems(row, walked.last, cps))
        anchored = []
        if self.anchor is not None and row is not None:
            hashes = walked.kept | {c.seq: c.hash for c in cps if c.anchor}
            anchored = self.anchor.check(Head(row.seq, row.hash), hashes)
        return walked.count, len(cps), found, anchored

    def _head_problems(
        self, row: _HeadRow | None, last_entry: tuple[int, str] | None, cps: list[chain.Checkpoint]
    ) -> list[chain.Problem]:
        """The head must be there, sealed, and be the last entry (or the anchor of a purge of every entry)."""
        if row is None:
            return [chain.problem(0, "no_head")]
        purged = max((c for c in cps if c.anchor), key=lambda c: c.seq, default=None)
        last = last_entry if last_entry is not None else (purged.seq, purged.hash) if purged else None
        if last is None:
            return [chain.problem(0, "no_entry")]
        problems = []
        if row.seal is None:
            problems.append(chain.problem(0, _UNSEALED))
        elif not chain.is_sealed(self._key, row.seal, row.seq, row.hash, "head"):
            problems.append(chain.problem(0, "head_forged", seq=row.seq))
        if (row.seq, row.hash) != last:
            what = "head_truncated" if row.seq > last[0] else "head_altered"
            problems.append(chain.problem(last[0], what, head=row.seq, last=last[0]))
        return problems

    def check_copy(self, recorded: Mapping[str, Any] | None, copy: AuditTrail) -> list[Said]:
        """Compare a copy of this trail (a restored backup) with the sealed head its backup header recorded.

        The recorded head must carry a valid seal, be the copy's head, and agree with this trail's
        anchor file where the file has a line for it (else the copy comes from a rewritten trail).
        """
        if not recorded:
            return [Said.of("backup_check", "no_sealed_head")]
        seq, digest = int(recorded.get("seq", -1)), str(recorded.get("hash", ""))
        if not chain.is_sealed(self._key, recorded.get("seal"), seq, digest, "head"):
            return [Said.of("backup_check", "head_seal_invalid")]
        problems = []
        with copy.engine.connect() as conn:
            row = copy._head(conn, lock=False)
        if row is None or (row.seq, row.hash) != (seq, digest):
            found = (
                {"fr": "aucune", "en": "none"} if row is None else {"fr": f"entrée {row.seq}", "en": f"entry {row.seq}"}
            )
            problems.append(Said.of("backup_check", "copy_head", found=found, seq=seq))
        if self.anchor is not None and self.anchor.path.exists():
            heads, _ = self.anchor.read()
            if any(h.seq == seq and h.hash != digest for h in heads):
                problems.append(Said.of("backup_check", "copy_anchor", seq=seq))
        return problems

    def purge(self, before: datetime) -> int:
        """Delete entries older than ``before``, leaving a sealed anchor so the rest stays verifiable.

        When every entry is purged, the anchor is the head's own entry: the trail proves it was purged,
        not emptied. The anchor file keeps only the heads still useful (checkpoints after the purge and
        the last head).
        """
        with self.engine.begin() as conn:
            current = self._lock_head(conn)
            last = conn.execute(
                select(entry.c.seq, entry.c.hash).where(entry.c.at < before).order_by(entry.c.seq.desc()).limit(1)
            ).first()
            if last is None:
                return 0
            count = conn.execute(select(func.count()).select_from(entry).where(entry.c.seq <= last.seq)).scalar_one()
            self._seal(conn, last.seq, last.hash, anchor=True)
            conn.execute(delete(entry).where(entry.c.seq <= last.seq))
            conn.execute(delete(checkpoint).where(checkpoint.c.seq < last.seq))
            if self.anchor is not None:  # under the head's lock: no append writes to the file meanwhile
                self.anchor.compact(last.seq, self._every, Head(current.seq, current.hash))
            return int(count)

    def during(self, conn: Connection, request_id: str) -> Iterator[chain.Entry]:
        """The entries appended while the HTTP request ``request_id`` was answered, in order."""
        query = select(entry).where(content_names("request_id", request.check(request_id))).order_by(entry.c.seq)
        for row in conn.execute(query):
            found = chain.Entry(row.seq, row.prev_hash, row.hash, json.loads(row.content))
            if found.content.get("request_id") == request_id:
                yield found

    def as_fhir_audit_events(self, request_id: str | None = None) -> Iterator[dict[str, Any]]:
        """The trail as FHIR R4 AuditEvent resources (JSON), references only; only one request's with ``request_id``."""
        actions = {"read": "R", "write": "U", "export": "R", "transmit": "R", "archive": "U", "delete": "D"}
        with self.engine.connect() as conn:
            for e in self.entries(conn) if request_id is None else self.during(conn, request_id):
                c = e.content
                request_ext = [{"url": REQUEST_EXTENSION, "valueString": c["request_id"]}] if "request_id" in c else []
                yield {
                    "resourceType": "AuditEvent",
                    "id": f"audit-{e.seq}",
                    "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest"},
                    "subtype": [
                        {
                            "system": OPERATION_SYSTEM,
                            "code": c["operation"],
                            "display": operations.name(c["operation"], "en"),
                        }
                    ],
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
                        },
                        *request_ext,
                    ],
                }
