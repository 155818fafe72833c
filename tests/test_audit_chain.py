"""The audit hash chain detects an edited, deleted, inserted, re-ordered or truncated entry (COM-LOG-2)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from santegarde.audit.chain import GENESIS, Checkpoint, Entry, chain, entry_hash, seal, verify

KEY = b"k" * 32


def _trail(n: int = 6) -> tuple[list[Entry], list[Checkpoint]]:
    entries = chain(1, GENESIS, ({"who": f"user{i}", "op": "read", "resource": f"Patient/{i}"} for i in range(n)))
    checkpoints = [Checkpoint(e.seq, e.hash, seal(KEY, e.seq, e.hash)) for e in entries if e.seq % 3 == 0]
    return entries, checkpoints


def test_intact_trail_verifies() -> None:
    entries, cps = _trail()
    assert verify(entries, cps, KEY) == []


def test_edited_entry_detected() -> None:
    entries, cps = _trail()
    entries[1] = replace(entries[1], content={**entries[1].content, "who": "someone-else"})
    assert any(p.seq == 2 and "edited" in p.what for p in verify(entries, cps, KEY))


def test_deleted_entry_detected() -> None:
    entries, cps = _trail()
    del entries[2]
    assert any(p.seq == 4 and "deleted" in p.what for p in verify(entries, cps, KEY))


def test_inserted_entry_detected() -> None:
    entries, cps = _trail()
    forged = Entry(3, entries[1].hash, "", {"who": "intruder"})
    forged = replace(forged, hash=entry_hash(3, entries[1].hash, forged.content))
    entries.insert(2, forged)
    assert verify(entries, cps, KEY)


def test_reordered_entries_detected() -> None:
    entries, cps = _trail()
    entries[1], entries[2] = entries[2], entries[1]
    assert verify(entries, cps, KEY)


def test_rehashed_edit_detected_by_checkpoint() -> None:
    """An attacker who edits an entry and recomputes every later hash is caught by the sealed checkpoint."""
    entries, cps = _trail()
    contents = [e.content for e in entries]
    contents[0] = {**contents[0], "who": "rewritten"}
    assert any("sealed checkpoint" in p.what for p in verify(chain(1, GENESIS, contents), cps, KEY))


def test_truncated_tail_detected() -> None:
    entries, cps = _trail()
    assert any("truncated" in p.what for p in verify(entries[:4], cps, KEY))


def test_forged_checkpoint_detected() -> None:
    entries, cps = _trail()
    cps[0] = replace(cps[0], seal="0" * 64)
    assert any("forged" in p.what for p in verify(entries, cps, KEY))


def test_purge_with_anchor_keeps_rest_verifiable() -> None:
    entries, cps = _trail()
    anchor = Checkpoint(entries[2].seq, entries[2].hash, seal(KEY, entries[2].seq, entries[2].hash), anchor=True)
    remaining = entries[3:]
    assert verify(remaining, [*(c for c in cps if c.seq > 3), anchor], KEY) == []
    # Without the anchor the purge looks like a deletion.
    assert verify(remaining, [c for c in cps if c.seq > 3], KEY)


@pytest.mark.parametrize("key", [b"x" * 32])
def test_wrong_key_fails_every_checkpoint(key: bytes) -> None:
    entries, cps = _trail()
    assert len(verify(entries, cps, key)) >= len(cps)
