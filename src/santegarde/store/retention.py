"""The retention engine and the intermediate archive (COM-RET-1, COM-ARC-1, PRA-4, PHA-3, AAC-9).

Internal to the store. For every record it finds the rule of the référentiel that governs it, the
start of its active phase, and whether it is due to move to the archive or to end (deletion, or
anonymisation keeping counts only). It never decrypts health data: archiving re-wraps each part's
ciphertext under the archive key family, so the archive needs both the archive key and the patient's
key. Only :meth:`santegarde.store.service.RecordService.read_archived` opens an archived record.

- The rule: the one recorded for the record (``record_retention``, or the pharmacy register entry's
  rule), else the référentiel rule whose ``applies_to`` holds the record's purpose; when several do,
  the longest applies (never delete early) and the plan says so.
- The start: a recorded event (``retention_event``, per patient or per record) when there is one;
  else ``last_intervention`` is the latest version of any record of the patient (the file moves as a
  whole), and the other routine events are the record's first version. Events that are decisions of
  someone else (the agency's approval, an authorisation's expiry) have no default: the record waits.
- Holds (``retention_hold``, per patient or per record) and pending rights (a non-permanent freeze)
  block the end; the plan counts them as held.
- The records are streamed patient by patient (live and archived versions in one ordered pass, one patient's
  records held at a time), so the memory of the plan and of the run does not grow with them.
- ``run`` works in transactional batches of records due, set-based (one statement per table and batch, not per
  record), resumable and idempotent: each record's state goes active → archived → ended, and a second run with the
  same clock changes nothing. Its report counts; the events go to the journal, batch by batch.
- Write-ahead (:mod:`santegarde.store.writeahead`): each batch is staged in its transaction, then
  handed to the journal's ``intend`` — which makes the batch's audit entries durable — and only then
  committed; ``committed`` follows. A process killed anywhere leaves every archived or deleted record
  and every destroyed key traced; a re-run does the rest.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import (
    BindParameter,
    Connection,
    Engine,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    union_all,
    update,
)

from santegarde import refusals
from santegarde.config.model import ChoiceAnswer
from santegarde.crypto import KeyFamily, Keyring, decrypt, encrypt
from santegarde.errors import SantegardeError, WordedError
from santegarde.faults import crash_point
from santegarde.referentials.model import Duration, EndAction, Phase, Referential, RetentionRule
from santegarde.store import mapping, vault
from santegarde.store.schema import (
    access_justification,
    archive_part,
    archive_record,
    care_relationship,
    consent_ledger,
    objection_ledger,
    pharmacy_register_entry,
    record,
    record_freeze,
    record_index,
    record_part,
    record_retention,
    retention_aggregate,
    retention_event,
    retention_hold,
)

ANONYMISATION_METHOD = (
    "Anonymisation by aggregation (santegarde retention engine): at the end of its retention period a record is "
    "deleted with every version and every encrypted part, from the live store and from the archive; the only thing "
    "kept is the increment of a counter per (retention rule, FHIR resource type, year of creation of the record). "
    "No identifier, pseudonym, date finer than the year, code, value or free text is kept, and no key links a count "
    "to a person or to a record: the result is aggregated data that cannot single out, link or infer anything "
    "about an individual (EDPB/G29 opinion 05/2014 criteria)."
)
"""The method the conformity report cites for 'anonymise' (COM-RET-1): counts only, nothing linkable."""

PATIENT = "patient"
RECORD = "record"
SCOPES = (PATIENT, RECORD)
ACTIVE, ARCHIVED, ENDED = "active", "archived", "ended"
LAST_INTERVENTION = "last_intervention"
END_OF_ACTIVE = "end_of_active_phase"
# Routine events a record's own dates stand for when nobody recorded them.
DEFAULTED_EVENTS = frozenset(
    {
        "register_entry",
        "fse_transmitted",
        "prescription_dispensed",
        "collection",
        "trace_recorded",
        "set_by_controller",
        "creation",
    }
)
# Short names accepted for the long event names of the référentiels.
EVENT_ALIASES: dict[str, tuple[str, ...]] = {
    "ansm_approval_of_last_summary_report_synthesis": ("summary_report_approved",),
    "compassionate_access_authorisation_expiry": ("authorisation_expired",),
    "expiry_of_ansm_authorisation_decision_or_date_of_suspension_or_withdrawal_decision": (
        "authorisation_expired",
        "authorisation_suspended_or_withdrawn",
    ),
}
END_ACTION_CHOICE = "retention_end_action"  # optional config choice: 'delete' or 'anonymise'

Progress = Callable[[int, int], None]  # (records processed, total)


class Journal(Protocol):
    """Where a run's operations are traced, batch by batch, ahead of their commit."""

    def intend(self, events: Sequence[RetentionEvent]) -> None:
        """Make the batch's entries durable (committed); called before the batch commits. Raising aborts it."""

    def committed(self, events: Sequence[RetentionEvent]) -> None:
        """Called once the batch committed."""


class RetentionError(SantegardeError, ValueError):
    """A retention request is malformed (unknown rule, scope or event); the message says what to do."""


class RetentionRefused(WordedError, RetentionError):
    """A retention request refused in French and English (the catalogue's ``retention_records`` area)."""


def refused(key: str, **facts: Any) -> RetentionRefused:
    return RetentionRefused(refusals.sentences("retention_records", key, **facts))


class Status(StrEnum):
    ACTIVE = "active"  # live, not due
    ARCHIVED = "archived"  # in the archive, not due to end
    ARCHIVE_NOW = "archive_now"
    END_NOW = "end_now"
    HELD = "held"  # due to end, but a hold or a pending right keeps it
    WAITING = "waiting"  # the date cannot be known yet (event not recorded, duration not set)
    UNRULED = "unruled"  # no rule of the référentiel covers the record's purpose


@dataclass(frozen=True)
class RetentionEvent:
    """One operation of the engine, for the audit trail (references only)."""

    operation: str  # retention.archive, retention.delete, retention.anonymise, retention.keys_destroyed
    resource_type: str
    record_id: str
    rule: str


@dataclass(frozen=True, order=True)
class Note:
    """Why a record is waiting or how its rule was chosen: a key of the catalogue's ``retention_notes`` area and its
    facts, identifiers of the référentiel (events, rules, purposes, choices) that the reader's side names."""

    key: str
    event: str = ""
    rule: str = ""
    others: tuple[str, ...] = ()
    purpose: str = ""
    choice: str = ""


@dataclass(frozen=True)
class RuleLine:
    """Counts of one rule in a plan."""

    rule: str
    name: str
    section: str
    end_action: str
    active: int = 0
    archived: int = 0
    archive_now: int = 0
    end_now: int = 0
    held: int = 0
    waiting: int = 0
    notes: tuple[Note, ...] = ()


@dataclass(frozen=True)
class Plan:
    at: datetime
    lines: tuple[RuleLine, ...]
    unruled: int
    unruled_purposes: tuple[str, ...]

    def line(self, rule: str) -> RuleLine | None:
        return next((line for line in self.lines if line.rule == rule), None)


@dataclass(frozen=True)
class RunReport:
    at: datetime
    archived: int
    deleted: int
    anonymised: int
    held: int
    waiting: int
    keys_destroyed: int
    batches: int


# -- durations and dates ----------------------------------------------------------------------------


def utc(moment: datetime) -> datetime:
    """SQLite gives naive datetimes back: they are UTC, as everything the store writes."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def add_duration(start: datetime, duration: Duration) -> datetime:
    """``start`` plus a calendar duration (a month end is clamped: 31 Jan + 1 month = 28/29 Feb)."""
    months = start.month - 1 + duration.months + 12 * duration.years
    year, month = start.year + months // 12, months % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day) + timedelta(days=duration.days)


def _chosen(rule: RetentionRule, choices: Mapping[str, ChoiceAnswer]) -> Duration | None:
    answer = choices.get(rule.controller_choice or "")
    if answer is None or not isinstance(answer.value, str):
        return None
    try:
        return Duration.model_validate(answer.value)
    except ValueError:
        return None


def phase_duration(
    rule: RetentionRule, phase: Phase, choices: Mapping[str, ChoiceAnswer], *, active: bool
) -> Duration | None:
    """The phase's duration: the text's, else the controller's choice (active phase), never below the minimum."""
    duration = phase.duration or (_chosen(rule, choices) if active else None)
    if (
        duration is not None
        and phase.min_duration is not None
        and duration.total_days() < phase.min_duration.total_days()
    ):
        return phase.min_duration
    return duration


def _length(rule: RetentionRule, choices: Mapping[str, ChoiceAnswer]) -> float:
    """Approximate total length, to pick the longest of several matching rules; unknown counts as infinite."""
    total = 0.0
    for phase, active in ((rule.active, True), (rule.archive, False)):
        if phase is None:
            continue
        duration = phase_duration(rule, phase, choices, active=active) or phase.max_duration
        if duration is None or phase.until_event or (not active and phase.start_event != END_OF_ACTIVE):
            return float("inf")
        total += duration.total_days()
    return total


def end_action(rule: RetentionRule, choices: Mapping[str, ChoiceAnswer]) -> EndAction:
    """Delete or anonymise: the text's action; where it leaves both, the controller's choice, else delete."""
    if rule.end_action != EndAction.DELETE_OR_ANONYMISE:
        return rule.end_action
    answer = choices.get(f"{rule.id}_end_action") or choices.get(END_ACTION_CHOICE)
    return EndAction.ANONYMISE if answer is not None and answer.value == "anonymise" else EndAction.DELETE


TRACE_DEFAULT = Duration(years=1)  # COM-LOG-3: traces kept at least 6 months and at most 1 year


def trace_rule(ref: Referential) -> RetentionRule | None:
    """The référentiel's rule for the traces of users' actions (logging), if it has one."""
    return next((r for r in ref.retention if "trace" in r.id or "traces" in r.applies_to), None)


def trace_duration(ref: Referential, choices: Mapping[str, ChoiceAnswer]) -> Duration:
    """How long traces are kept: the trace rule's duration, else the controller's choice, else one year.

    Never below the rule's minimum nor above its maximum (and never above one year when the text sets no
    maximum: COM-LOG-3).
    """
    rule = trace_rule(ref)
    chosen: Duration = TRACE_DEFAULT
    if rule is not None and rule.active.duration is not None:
        chosen = rule.active.duration
    elif rule is not None and rule.controller_choice and rule.controller_choice in choices:
        chosen = Duration.model_validate(str(choices[rule.controller_choice].value))
    low = rule.active.min_duration if rule is not None and rule.active.min_duration else Duration(months=6)
    high = rule.active.max_duration if rule is not None and rule.active.max_duration else TRACE_DEFAULT
    if chosen.total_days() < low.total_days():
        return low
    if chosen.total_days() > high.total_days():
        return high
    return chosen


# -- what the engine knows of each record -------------------------------------------------------------


@dataclass
class _Item:
    id: str
    resource_type: str
    patient_id: str | None
    purpose: str
    first: datetime
    last: datetime
    state: str  # active (live) or archived
    rule: str | None = None
    explicit: bool = False
    patient_last: datetime | None = None  # the last date of any record of its patient (live or archived)


@dataclass
class _Facts:
    """What decides besides the records themselves: small, kept for the whole pass (the records are streamed)."""

    rules: dict[str, str] = field(default_factory=dict)  # record id → its recorded (explicit) rule
    events: dict[tuple[str, str, str], datetime] = field(default_factory=dict)
    held: set[tuple[str, str]] = field(default_factory=set)
    frozen: set[str] = field(default_factory=set)
    # purpose → (the longest of its rules, the note naming the others): the same for every record of a pass
    by_purpose: dict[str, tuple[RetentionRule | None, Note | None]] = field(default_factory=dict)


STREAM_CHUNK = 2000  # rows fetched per round trip when the records are walked


def _facts(conn: Connection, now: datetime) -> _Facts:
    facts = _Facts()
    for row in conn.execute(select(pharmacy_register_entry.c.record_id, pharmacy_register_entry.c.retention_rule)):
        if row.retention_rule:
            facts.rules[row.record_id] = row.retention_rule
    explicit = select(record_retention.c.record_id, record_retention.c.rule).where(
        record_retention.c.explicit.is_(True), record_retention.c.rule.is_not(None)
    )
    for row in conn.execute(explicit):
        facts.rules[row.record_id] = row.rule
    for row in conn.execute(select(retention_event)):
        facts.events[(row.scope, row.scope_id, row.event)] = utc(row.at)
    holds = conn.execute(
        select(retention_hold.c.scope, retention_hold.c.scope_id).where(
            retention_hold.c.released_at.is_(None), or_(retention_hold.c.until.is_(None), retention_hold.c.until > now)
        )
    )
    facts.held = {(r.scope, r.scope_id) for r in holds}
    facts.frozen = set(
        conn.execute(select(record_freeze.c.record_id).where(record_freeze.c.permanent.is_(False))).scalars()
    )
    return facts


def _items(conn: Connection, facts: _Facts) -> Iterator[_Item]:
    """Every record, its live and archived versions merged, streamed patient by patient: only one patient's records
    are held at a time (each item then knows its patient's last date); a record of no patient goes at once."""
    columns = [record.c.id, record.c.version, record.c.resource_type, record.c.patient_id, record.c.purpose]
    live = select(*columns, record.c.created_at, literal(ACTIVE).label("state"))
    archived = select(
        archive_record.c.id,
        archive_record.c.version,
        archive_record.c.resource_type,
        archive_record.c.patient_id,
        archive_record.c.purpose,
        archive_record.c.created_at,
        literal(ARCHIVED).label("state"),
    )
    both = union_all(live, archived).subquery()
    query = (
        select(both)
        .order_by(both.c.patient_id, both.c.id, both.c.state, both.c.version)  # live before archived, as gathered
        .execution_options(stream_results=True, yield_per=STREAM_CHUNK)
    )
    group: list[_Item] = []  # the current patient's records
    current: _Item | None = None
    for row in conn.execute(query):
        at = utc(row.created_at)
        if current is not None and current.id == row.id:  # ordered by version: the latest version's purpose governs
            current.purpose, current.last = row.purpose, max(current.last, at)
            current.patient_id = row.patient_id or current.patient_id
            continue
        if current is not None:
            yield from _close(group, current, row.patient_id)
        current = _Item(row.id, row.resource_type, row.patient_id, row.purpose, at, at, row.state)
        if row.id in facts.rules:
            current.rule, current.explicit = facts.rules[row.id], True
    if current is not None:
        yield from _close(group, current, None, last=True)


def _close(group: list[_Item], item: _Item, next_patient: str | None, *, last: bool = False) -> Iterator[_Item]:
    """``item`` is complete: held with its patient's other records until the next row is another patient's."""
    if item.patient_id is None:
        yield item
    else:
        group.append(item)
    if group and (last or next_patient != group[-1].patient_id):
        latest = max(i.last for i in group)
        for held in group:
            held.patient_last = latest
        yield from group
        group.clear()


# -- the decision for one record ----------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    status: Status
    rule: RetentionRule | None
    note: Note | None = None
    ambiguous: Note | None = None


def _rule_of(
    facts: _Facts, item: _Item, ref: Referential, choices: Mapping[str, ChoiceAnswer]
) -> tuple[RetentionRule | None, Note | None]:
    if item.explicit and item.rule:
        return ref.retention_rule(item.rule), None
    known = facts.by_purpose.get(item.purpose)
    if known is None:
        known = facts.by_purpose[item.purpose] = _purpose_rule(item.purpose, ref, choices)
    return known


def _purpose_rule(
    purpose: str, ref: Referential, choices: Mapping[str, ChoiceAnswer]
) -> tuple[RetentionRule | None, Note | None]:
    """The rule of a purpose's records (no recorded rule of their own): the longest of those that apply."""
    matching = [r for r in ref.retention if purpose in r.applies_to]
    if not matching:
        return None, None
    chosen = max(matching, key=lambda r: _length(r, choices))
    note = None
    if len(matching) > 1:  # the longest applies (never delete early)
        others = tuple(r.id for r in matching if r is not chosen)
        note = Note("several_rules", rule=chosen.id, others=others, purpose=purpose)
    return chosen, note


def _event(facts: _Facts, item: _Item, name: str) -> datetime | None:
    for alias in (name, *EVENT_ALIASES.get(name, ())):
        for scope, ident in ((RECORD, item.id), (PATIENT, item.patient_id or "")):
            found = facts.events.get((scope, ident, alias))
            if found is not None:
                return found
    return None


def _start(facts: _Facts, item: _Item, event: str) -> datetime | None:
    recorded = _event(facts, item, event)
    if recorded is not None:
        return recorded
    if event == LAST_INTERVENTION:
        return (item.patient_last or item.last) if item.patient_id else item.last
    return item.first if event in DEFAULTED_EVENTS else None


def _phase_end(
    facts: _Facts,
    item: _Item,
    rule: RetentionRule,
    phase: Phase,
    start: datetime | None,
    choices: Mapping[str, ChoiceAnswer],
    *,
    active: bool,
) -> tuple[datetime | None, Note | None]:
    """When the phase ends, or None and why it cannot be known yet."""
    if start is None:
        return None, Note("waiting_event", event=phase.start_event)
    if phase.until_event:
        until = _event(facts, item, phase.until_event)
        if until is None:
            return None, Note("waiting_event", event=phase.until_event)
        return (min(until, add_duration(start, phase.max_duration)) if phase.max_duration else until), None
    duration = phase_duration(rule, phase, choices, active=active) or (None if active else phase.max_duration)
    if duration is None:
        return None, Note("no_duration", rule=rule.id, choice=rule.controller_choice or "")  # choice: for scripts
    return add_duration(start, duration), None


def _held(facts: _Facts, item: _Item) -> bool:
    return (
        (RECORD, item.id) in facts.held
        or (item.patient_id is not None and (PATIENT, item.patient_id) in facts.held)
        or item.id in facts.frozen
    )


def verdict(
    facts: _Facts, item: _Item, ref: Referential, choices: Mapping[str, ChoiceAnswer], now: datetime
) -> Verdict:
    rule, ambiguous = _rule_of(facts, item, ref, choices)
    if rule is None:
        return Verdict(Status.UNRULED, None, Note("unruled", purpose=item.purpose))
    active_end, why = _phase_end(
        facts, item, rule, rule.active, _start(facts, item, rule.active.start_event), choices, active=True
    )
    if active_end is None:
        return Verdict(Status.WAITING, rule, why, ambiguous)
    if now < active_end:
        return Verdict(Status.ACTIVE if item.state == ACTIVE else Status.ARCHIVED, rule, None, ambiguous)
    if rule.archive is not None:
        start = (
            active_end if rule.archive.start_event == END_OF_ACTIVE else _start(facts, item, rule.archive.start_event)
        )
        archive_end, why = _phase_end(facts, item, rule, rule.archive, start, choices, active=False)
        if archive_end is None or now < archive_end:
            if item.state == ACTIVE:
                return Verdict(Status.ARCHIVE_NOW, rule, None, ambiguous)
            return Verdict(Status.WAITING if archive_end is None else Status.ARCHIVED, rule, why, ambiguous)
    if not _held(facts, item):
        return Verdict(Status.END_NOW, rule, None, ambiguous)
    if item.state == ACTIVE and rule.archive is not None:  # held past its active phase: kept, but in the archive
        return Verdict(Status.ARCHIVE_NOW, rule, None, ambiguous)
    return Verdict(Status.HELD, rule, None, ambiguous)


# -- the plan -------------------------------------------------------------------------------------------


def plan(engine: Engine, ref: Referential, choices: Mapping[str, ChoiceAnswer], now: datetime) -> Plan:
    """What a run at ``now`` would do, per rule; counts only, nothing decrypted."""
    now = utc(now)
    counts: dict[str, dict[str, int]] = {r.id: defaultdict(int) for r in ref.retention}
    notes: dict[str, set[Note]] = defaultdict(set)
    unruled: set[str] = set()
    unruled_count = 0
    with engine.connect() as conn:  # the records streamed and counted: memory does not grow with them
        facts = _facts(conn, now)
        for item in _items(conn, facts):
            v = verdict(facts, item, ref, choices, now)
            if v.rule is None:
                unruled_count += 1
                unruled.add(item.purpose)
                continue
            counts.setdefault(v.rule.id, defaultdict(int))[v.status.value] += 1
            for note in (v.note, v.ambiguous):
                if note:
                    notes[v.rule.id].add(note)
    lines = []
    for rule in ref.retention:
        c = counts[rule.id]
        lines.append(
            RuleLine(
                rule.id,
                rule.name,
                rule.section,
                end_action(rule, choices).value,
                active=c[Status.ACTIVE],
                archived=c[Status.ARCHIVED],
                archive_now=c[Status.ARCHIVE_NOW],
                end_now=c[Status.END_NOW],
                held=c[Status.HELD],
                waiting=c[Status.WAITING],
                notes=tuple(sorted(notes[rule.id])),
            )
        )
    return Plan(now, tuple(lines), unruled_count, tuple(sorted(unruled)))


# -- the run --------------------------------------------------------------------------------------------


def _archive_aad(rid: str, version: int) -> str:
    return f"archive/{rid}/{version}"


# The statements of a batch, built once: their ids bound as one expanding parameter (compiled once, cached).
_IDS: BindParameter[list[str]] = bindparam("ids", expanding=True)
_KNOWN_STATES = select(record_retention.c.record_id).where(record_retention.c.record_id.in_(_IDS))
_PARTS = select(record_part.c.record_id, record_part.c.version, record_part.c.category, record_part.c.token).where(
    record_part.c.record_id.in_(_IDS)
)
_COPY_VERSIONS = insert(archive_record).from_select(
    [*(c.name for c in record.columns), "rule", "archived_at"],
    select(
        *record.columns,
        bindparam("rule", type_=archive_record.c.rule.type),
        bindparam("at", type_=archive_record.c.archived_at.type),
    ).where(record.c.id.in_(_IDS)),
)
_DELETE = {
    (table.name, column.name): delete(table).where(column.in_(_IDS))
    for table, column in (
        (record_part, record_part.c.record_id),
        (record_index, record_index.c.record_id),
        (record, record.c.id),
        (archive_part, archive_part.c.record_id),
        (archive_record, archive_record.c.id),
        (record_freeze, record_freeze.c.record_id),
        (consent_ledger, consent_ledger.c.consent_id),
        (care_relationship, care_relationship.c.patient_id),
        (access_justification, access_justification.c.patient_id),
        (consent_ledger, consent_ledger.c.patient_id),
        (objection_ledger, objection_ledger.c.patient_id),
    )
}


def _delete(conn: Connection, column: Any, ids: Collection[str]) -> None:
    """Delete the rows of ``column``'s table whose ``column`` is one of ``ids`` (a statement built once)."""
    conn.execute(_DELETE[(column.table.name, column.name)], {"ids": list(ids)})


def _set_states(conn: Connection, rules: Mapping[str, str], state: str, now: datetime) -> None:
    """Record ``state`` for the records of ``rules`` (record id → its rule): one update of those already known and
    one multi-row insert of the others."""
    ids = list(rules)
    values: dict[str, Any] = {"state": state, ("archived_at" if state == ARCHIVED else "ended_at"): now}
    known = set(conn.execute(_KNOWN_STATES, {"ids": ids}).scalars())
    if known:
        conn.execute(
            update(record_retention).where(record_retention.c.record_id.in_(_IDS)).values(**values),
            {"ids": list(known)},
        )
    new = [{"record_id": rid, "rule": rules[rid], "explicit": False, **values} for rid in ids if rid not in known]
    if new:
        conn.execute(insert(record_retention), new)


def _archive(conn: Connection, ring: Keyring, rules: Mapping[str, str], now: datetime) -> None:
    """Move every version and part of these records (id → rule) to the archive, re-wrapping each token; nothing
    decrypted. Set-based: one copy of the versions per rule, one read and one multi-row insert of the parts, one
    delete per table."""
    ids = list(rules)
    by_rule: dict[str, list[str]] = defaultdict(list)
    for rid, rule in rules.items():
        by_rule[rule].append(rid)
    for rule, rids in by_rule.items():
        conn.execute(_COPY_VERSIONS, {"rule": rule, "at": now, "ids": rids})
    parts = conn.execute(_PARTS, {"ids": ids}).all()
    if parts:
        conn.execute(
            insert(archive_part),
            [
                {
                    "record_id": rid,
                    "version": version,
                    "category": category,
                    "token": encrypt(ring, KeyFamily.ARCHIVE, token, record=_archive_aad(rid, version), field=category),
                }
                for rid, version, category, token in parts
            ],
        )
    _delete(conn, record_part.c.record_id, ids)
    _delete(conn, record_index.c.record_id, ids)
    _delete(conn, record.c.id, ids)
    _delete(conn, consent_ledger.c.consent_id, ids)  # archived: authorises no more
    _set_states(conn, rules, ARCHIVED, now)


def _end(conn: Connection, ended: Sequence[tuple[_Item, RetentionRule, EndAction]], now: datetime) -> None:
    """Delete these records everywhere; those anonymised are first counted in the aggregate (one bump per rule,
    type and year). Set-based: one delete per table."""
    counts: dict[tuple[str, str, int], int] = defaultdict(int)
    for item, rule, action in ended:
        if action == EndAction.ANONYMISE:
            counts[(rule.id, item.resource_type, item.first.year)] += 1
    for (rule_id, resource_type, year), n in sorted(counts.items()):
        key = and_(
            retention_aggregate.c.rule == rule_id,
            retention_aggregate.c.resource_type == resource_type,
            retention_aggregate.c.year_of_creation == year,
        )
        bumped = conn.execute(
            update(retention_aggregate).where(key).values(count=retention_aggregate.c.count + n)
        ).rowcount
        if not bumped:
            conn.execute(
                insert(retention_aggregate).values(
                    rule=rule_id, resource_type=resource_type, year_of_creation=year, count=n
                )
            )
    ids = [item.id for item, _, _ in ended]
    for column in (
        record_part.c.record_id,
        record_index.c.record_id,
        record.c.id,
        archive_part.c.record_id,
        archive_record.c.id,
        record_freeze.c.record_id,
        consent_ledger.c.consent_id,  # a Consent that ends authorises no more
    ):
        _delete(conn, column, ids)
    _set_states(conn, {item.id: rule.id for item, rule, _ in ended}, ENDED, now)


_REMAINING = [
    select(column).where(column.in_(_IDS)).distinct()
    for table in (record, archive_record)
    for column in (table.c.patient_id, table.c.id)
]


def _orphaned(conn: Connection, patients: Collection[str]) -> list[str]:
    """Those of ``patients`` of whom no live or archived record remains, in order."""
    remaining: set[str] = set()
    for statement in _REMAINING:
        remaining.update(conn.execute(statement, {"ids": list(patients)}).scalars())
    return sorted(set(patients) - remaining)


def _destroy_keys(conn: Connection, ring: Keyring, patients: Collection[str]) -> list[str]:
    """Destroy the keys of these patients (none of whose records remains) and what tied them to anyone: the care
    relationships, justifications, consents and objections. The patients whose keys there were."""
    destroyed = vault.PatientKeys(ring).destroy_many(conn, _orphaned(conn, patients))
    if destroyed:
        for column in (
            care_relationship.c.patient_id,
            access_justification.c.patient_id,
            consent_ledger.c.patient_id,
            objection_ledger.c.patient_id,
        ):
            _delete(conn, column, destroyed)
    return destroyed


@dataclass
class _Tally:
    """What a run counts as it goes (nothing else of it is kept: the events go to the journal batch by batch)."""

    archived: int = 0
    deleted: int = 0
    anonymised: int = 0
    held: int = 0
    waiting: int = 0
    keys: int = 0
    batches: int = 0
    seen: int = 0


def _move(
    engine: Engine,
    ring: Keyring,
    choices: Mapping[str, ChoiceAnswer],
    now: datetime,
    journal: Journal,
    due: Sequence[tuple[_Item, Verdict]],
    tally: _Tally,
) -> None:
    """One batch in one transaction: archive and end its records, destroy the keys of the patients left with none,
    hand the batch's events to the journal (durable before the commit), commit, tell the journal."""
    events: list[RetentionEvent] = []
    archived: dict[str, str] = {}
    ended: list[tuple[_Item, RetentionRule, EndAction]] = []
    for item, v in due:
        assert v.rule is not None
        if v.status == Status.ARCHIVE_NOW:
            archived[item.id] = v.rule.id
            events.append(RetentionEvent("retention.archive", item.resource_type, item.id, v.rule.id))
        else:
            action = end_action(v.rule, choices)
            ended.append((item, v.rule, action))
            name = "anonymise" if action == EndAction.ANONYMISE else "delete"
            events.append(RetentionEvent(f"retention.{name}", item.resource_type, item.id, v.rule.id))
    with engine.begin() as conn:
        if archived:
            _archive(conn, ring, archived, now)
        if ended:
            _end(conn, ended, now)
        touched = {item.patient_id for item, _, _ in ended if item.patient_id}
        destroyed = _destroy_keys(conn, ring, touched) if touched else []
        events.extend(RetentionEvent("retention.keys_destroyed", "Patient", p, "COM-ARC-1") for p in destroyed)
        crash_point("retention.staged")
        journal.intend(events)  # durable before the batch commits: nothing disappears untraced
    crash_point("retention.committed")
    journal.committed(events)
    anonymised = sum(1 for _, _, action in ended if action == EndAction.ANONYMISE)
    tally.archived += len(archived)
    tally.anonymised += anonymised
    tally.deleted += len(ended) - anonymised
    tally.keys += len(destroyed)
    tally.batches += 1


def _records(conn: Connection) -> int:
    """How many records (live or archived) a run looks at: the total its progress counts towards."""
    return sum(
        int(conn.execute(select(func.count(table.c.id.distinct()))).scalar_one()) for table in (record, archive_record)
    )


def run(
    engine: Engine,
    ring: Keyring,
    ref: Referential,
    choices: Mapping[str, ChoiceAnswer],
    now: datetime,
    journal: Journal,
    batch: int = 500,
    progress: Progress | None = None,
) -> RunReport:
    """Archive and end what is due at ``now``, in transactional batches; resumable and idempotent.

    The records are streamed and decided as they come (as :func:`plan` does); every ``batch`` records due are moved
    in one transaction, set-based. Each batch is traced through ``journal.intend`` before it commits (write-ahead),
    then ``journal.committed``; the report keeps counts only, so memory does not grow with the records. ``progress``
    hears (records looked at, records in the store) after each batch and at the end.
    """
    if batch < 1:
        raise RetentionError("The batch size must be at least 1 record.")
    now = utc(now)
    tally = _Tally()
    with engine.connect() as conn:  # a snapshot, read as a stream, while each batch commits on its own connection
        total = _records(conn)
        facts = _facts(conn, now)
        due: list[tuple[_Item, Verdict]] = []
        for item in _items(conn, facts):
            tally.seen += 1
            v = verdict(facts, item, ref, choices, now)
            if v.status in (Status.ARCHIVE_NOW, Status.END_NOW):
                due.append((item, v))
            elif v.status == Status.HELD:
                tally.held += 1
            elif v.status == Status.WAITING:
                tally.waiting += 1
            if len(due) >= batch:
                _move(engine, ring, choices, now, journal, due, tally)
                due = []
                if progress is not None:
                    progress(tally.seen, total)
        if due:
            _move(engine, ring, choices, now, journal, due, tally)
    if progress is not None:
        progress(tally.seen, total)
    return RunReport(
        now,
        tally.archived,
        tally.deleted,
        tally.anonymised,
        tally.held,
        tally.waiting,
        tally.keys,
        tally.batches,
    )


# -- explicit rules, events and holds --------------------------------------------------------------------


def assign_rule(engine: Engine, ref: Referential, record_id: str, rule_id: str) -> None:
    """Record the rule that governs a record (e.g. an FSE duplicate: fse_duplicates), overriding the purpose's."""
    if ref.retention_rule(rule_id) is None:
        known = ", ".join(r.id for r in ref.retention)
        raise refused("unknown_rule", rid=ref.id, rule=rule_id, known=known)
    with engine.begin() as conn:
        done = conn.execute(
            update(record_retention)
            .where(record_retention.c.record_id == record_id)
            .values(rule=rule_id, explicit=True)
        ).rowcount
        if not done:
            conn.execute(
                insert(record_retention).values(record_id=record_id, rule=rule_id, explicit=True, state=ACTIVE)
            )


def _scope(scope: str) -> str:
    if scope not in SCOPES:
        raise refused("unknown_scope", scope=scope)
    return scope


def record_event(engine: Engine, scope: str, scope_id: str, event: str, at: datetime, by: str, now: datetime) -> None:
    """Record (or correct) the date of an event from which a retention phase runs."""
    _scope(scope)
    if not event.strip() or not scope_id.strip():
        raise refused("event_needed")
    key = and_(
        retention_event.c.scope == scope, retention_event.c.scope_id == scope_id, retention_event.c.event == event
    )
    with engine.begin() as conn:
        done = conn.execute(
            update(retention_event).where(key).values(at=utc(at), recorded_at=now, recorded_by=by)
        ).rowcount
        if not done:
            conn.execute(
                insert(retention_event).values(
                    scope=scope, scope_id=scope_id, event=event, at=utc(at), recorded_at=now, recorded_by=by
                )
            )


def add_hold(
    engine: Engine, scope: str, scope_id: str, reason: str, now: datetime, until: datetime | None = None
) -> int:
    """Put a patient's file or a record under a legal hold: never destroyed while it holds. Returns its number."""
    _scope(scope)
    if len(reason.strip()) < 5:
        raise refused("hold_reason")
    with engine.begin() as conn:
        result = conn.execute(
            insert(retention_hold).values(
                scope=scope, scope_id=scope_id, reason=reason.strip()[:300], since=now, until=until
            )
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]


@dataclass(frozen=True, slots=True)
class Hold:
    number: int
    scope: str
    scope_id: str
    reason: str
    since: datetime
    until: datetime | None


def holds_in_force(engine: Engine, now: datetime) -> list[Hold]:
    """The legal holds not released and not past their end, oldest first (what a desk lists to release one)."""
    h = retention_hold.c
    query = (
        select(h.id, h.scope, h.scope_id, h.reason, h.since, h.until)
        .where(h.released_at.is_(None), or_(h.until.is_(None), h.until > now))
        .order_by(h.id)
    )
    with engine.connect() as conn:
        return [Hold(r.id, r.scope, r.scope_id, r.reason, r.since, r.until) for r in conn.execute(query)]


def release_hold(engine: Engine, hold_id: int, now: datetime) -> None:
    with engine.begin() as conn:
        done = conn.execute(
            update(retention_hold)
            .where(retention_hold.c.id == hold_id, retention_hold.c.released_at.is_(None))
            .values(released_at=now)
        ).rowcount
    if not done:
        raise refused("no_hold", number=hold_id)


# -- the archive, read only through RecordService.read_archived -------------------------------------------


def archived_versions(conn: Connection, record_id: str) -> list[vault.Version]:
    """The archived versions of a record, newest first (metadata only: nothing decrypted)."""
    rows = conn.execute(
        select(archive_record).where(archive_record.c.id == record_id).order_by(archive_record.c.version.desc())
    ).all()
    result = []
    for row in rows:
        cats = conn.execute(
            select(archive_part.c.category).where(
                archive_part.c.record_id == row.id, archive_part.c.version == row.version
            )
        ).scalars()
        result.append(
            vault.Version(
                row.id,
                row.version,
                row.resource_type,
                row.patient_id,
                utc(row.created_at),
                row.created_by,
                row.purpose,
                bool(row.free_text),
                tuple(sorted(cats)),
            )
        )
    return result


def open_archived(
    engine: Engine, ring: Keyring, ref: Referential, record_id: str, allowed: Collection[str] | None = None
) -> list[dict[str, Any]]:
    """Decrypt an archived record's versions (archive key, then patient key), limited to ``allowed`` categories."""
    keys = vault.PatientKeys(ring)
    bodies = []
    with engine.connect() as conn:
        for v in archived_versions(conn, record_id):
            tokens = conn.execute(
                select(archive_part.c.category, archive_part.c.token).where(
                    archive_part.c.record_id == v.id, archive_part.c.version == v.version
                )
            )
            parts = []
            for category, wrapped in tokens:
                if allowed is not None and category not in allowed:
                    continue
                inner = decrypt(ring, wrapped, record=_archive_aad(v.id, v.version), field=category)
                parts.append(vault.open_part(keys, conn, ref, v, category, inner))
            meta: dict[str, Any] = {
                "versionId": str(v.version),
                "lastUpdated": v.created_at.isoformat(),
                "tag": [{"system": "https://santegarde.fr/fhir/CodeSystem/retention", "code": "archived"}],
            }
            bodies.append(mapping.merge(v.resource_type, v.id, meta, parts))
    return bodies
