"""Cheaper audit appends (issue 18) keep every guarantee of the trail (COM-LOG-2).

An append moves the head forward from the head this process last wrote, in one statement that also checks it
(sequence number, hash and seal): two statements an entry instead of three. A request reaching several resources
appends its entries together (one head move, one multi-row insert). Each test here tries to get around that: a head
altered after this process wrote it, a second writer, a rolled-back append, a refusal inside a batch, a tampered
trail under a batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, event, select, update

from santegarde.audit import chain
from santegarde.audit.tables import checkpoint, entry, head
from santegarde.audit.trail import AuditEvent, AuditTrail, TrailTampered
from santegarde.store.db import make_engine, migrate

KEY = b"b" * 32


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 2, 1, 9, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=7)
        return self.now


def _event(i: int, outcome: str = "success") -> AuditEvent:
    return AuditEvent(
        f"user-{i % 3}", "practitioner", "read", "Observation", f"obs-{i}", "medical_record",
        outcome == "success", "r", "6", outcome,
    )  # fmt: skip


@pytest.fixture
def trail(database_url: str, tmp_path: Path) -> Iterator[AuditTrail]:
    engine = make_engine(database_url)
    migrate(engine, package="santegarde.audit")
    t = AuditTrail(engine, KEY, clock=Clock(), checkpoint_every=5, anchor=tmp_path / "audit.anchor")
    t.append(_event(0))  # this process now knows the head it wrote
    yield t
    engine.dispose()


def _statements(engine: Engine) -> list[str]:
    sent: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: sent.append(a[2].split()[0].upper()))
    return sent


def _seqs(trail: AuditTrail) -> list[int]:
    with trail.engine.connect() as conn:
        return [e.seq for e in trail.entries(conn)]


def test_an_append_after_the_first_sends_two_statements(trail: AuditTrail) -> None:
    sent = _statements(trail.engine)
    trail.append(_event(1))
    assert sent == ["UPDATE", "INSERT"]  # the head moved from the known one (checked in its WHERE), the entry
    assert trail.verify().intact


@pytest.mark.parametrize(
    "attack",
    [
        pytest.param(delete(head), id="head-deleted"),
        pytest.param(update(head).values(seal=None), id="seal-removed"),
        pytest.param(update(head).values(seal="0" * 64), id="seal-forged"),
        pytest.param(update(head).values(seq=0, hash=chain.GENESIS, seal=None), id="fresh-head-planted"),
    ],
)
def test_a_head_altered_after_this_process_wrote_it_still_stops_the_next_append(
    trail: AuditTrail, attack: object
) -> None:
    with trail.engine.begin() as conn:
        conn.execute(attack)  # type: ignore[call-overload]
    before = _seqs(trail)
    with pytest.raises(TrailTampered):
        trail.append(_event(1))
    assert _seqs(trail) == before  # nothing appended past an altered head


def test_a_head_resealed_with_a_checkpoint_seal_is_refused(trail: AuditTrail) -> None:
    """A seal of another role over the same (seq, hash): not the head's seal, whatever this process remembers."""
    with trail.engine.begin() as conn:
        row = conn.execute(select(head.c.seq, head.c.hash)).one()
        conn.execute(update(head).values(seal=chain.seal(KEY, row.seq, row.hash)))
    with pytest.raises(TrailTampered, match="sceau valable"):
        trail.append(_event(1))


def test_two_writers_on_one_trail_keep_one_chain(trail: AuditTrail) -> None:
    """Another process appends between two of ours: our next append finds the head moved and chains after it."""
    other = AuditTrail(trail.engine, KEY, clock=Clock(), checkpoint_every=5, anchor=trail.anchor and trail.anchor.path)
    for i in range(1, 13):
        (trail if i % 3 else other).append(_event(i))
    report = trail.verify()
    assert report.intact, report.problems
    assert _seqs(trail) == list(range(1, 15))


def test_a_rolled_back_append_is_not_the_known_head(trail: AuditTrail) -> None:
    with pytest.raises(RuntimeError), trail.transaction() as conn:
        trail.append(_event(1), conn)
        raise RuntimeError("the caller's transaction fails")
    trail.append(_event(2))
    assert trail.verify().intact and _seqs(trail) == [1, 2, 3]


def test_many_events_are_one_head_move_one_insert_and_their_checkpoints(trail: AuditTrail) -> None:
    sent = _statements(trail.engine)
    written = trail.append_many([_event(i) for i in range(1, 12)])
    assert [e.seq for e in written] == list(range(3, 14))
    assert sent.count("UPDATE") == 1 and sent.count("INSERT") == 1 + 2  # the entries, checkpoints 5 and 10
    report = trail.verify()
    assert report.intact and report.entries == 13 and report.checkpoints == 2
    assert trail.anchor is not None and trail.anchor.path.read_text().splitlines()[-1].split()[0] == "13"


def test_deferred_appends_wait_for_the_end_of_the_request(trail: AuditTrail) -> None:
    with trail.deferred():
        assert trail.append(_event(1)) is None
        with trail.deferred():  # a nested request joins the outer one
            trail.append(_event(2))
        assert _seqs(trail) == [1, 2]  # nothing written yet
    assert _seqs(trail) == [1, 2, 3, 4]
    with trail.engine.connect() as conn:
        assert [e.content["resource_id"] for e in trail.entries(conn)][2:] == ["obs-1", "obs-2"]


def test_a_refusal_inside_a_deferred_request_is_traced_before_the_error_goes_on(trail: AuditTrail) -> None:
    with pytest.raises(PermissionError), trail.deferred():
        trail.append(_event(1, "denied"))
        raise PermissionError("refused")
    with trail.engine.connect() as conn:
        assert [e.content["outcome"] for e in trail.entries(conn)][-1] == "denied"


def test_a_deferred_request_on_a_tampered_trail_raises(trail: AuditTrail) -> None:
    """What the request read does not leave: the block raises when the trail refuses its entries."""
    with trail.engine.begin() as conn:
        conn.execute(delete(checkpoint))
        conn.execute(update(head).values(seal=None))
    answered = False
    with pytest.raises(TrailTampered):
        with trail.deferred():
            trail.append(_event(1))
        answered = True
    assert not answered


def test_a_batch_spanning_a_checkpoint_verifies_after_an_edit_is_detected(trail: AuditTrail) -> None:
    trail.append_many([_event(i) for i in range(1, 9)])
    with trail.engine.begin() as conn:
        conn.execute(update(entry).where(entry.c.seq == 6).values(content='{"actor": "someone-else"}'))
    assert any("edited" in p.what for p in trail.verify().problems)
