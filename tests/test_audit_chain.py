"""The audit hash chain detects an edited, deleted, inserted, re-ordered or truncated entry (COM-LOG-2)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace

import pytest

from santegarde.audit.chain import GENESIS, Checkpoint, Entry, chain, entry_hash, seal, stored, verify, walk

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


# -- the stored rows: the canonical text hashed as read, older texts decoded (issue 18) ---------------------------


def _rows(entries: list[Entry]) -> list[tuple[int, str, str, str]]:
    return [(e.seq, e.prev_hash, e.hash, stored(e.content)) for e in entries]


def test_the_stored_text_verifies_as_read_and_an_older_text_through_its_content() -> None:
    entries, cps = _trail()
    rows = _rows(entries)
    assert walk(rows, cps, KEY).problems == []
    spaced = [(s, p, h, json.dumps(json.loads(t), sort_keys=True)) for s, p, h, t in rows]  # as stored before
    assert spaced[0][3] != rows[0][3] and walk(spaced, cps, KEY).problems == []
    shuffled = [(s, p, h, json.dumps(dict(reversed(json.loads(t).items())))) for s, p, h, t in rows]
    assert walk(shuffled, cps, KEY).problems == []  # the same content, keys in another order


@pytest.mark.parametrize(
    "edit",
    [
        lambda t: t.replace("user1", "user9"),  # another actor
        lambda t: t.replace('"read"', '"write"'),  # another operation
        lambda t: t[:-1],  # cut: no longer JSON
        lambda t: t + " ",  # another text of the same content: not an edit (its content hashes the same)
        lambda t: "",
    ],
)
def test_an_edited_stored_text_is_detected_whatever_its_form(edit: Callable[[str], str]) -> None:
    entries, cps = _trail()
    rows = _rows(entries)
    seq, prev, digest, text = rows[1]
    rows[1] = (seq, prev, digest, edit(text))
    found = walk(rows, cps, KEY).problems
    same_content = edit(text).strip() == text
    assert bool([p for p in found if p.seq == 2 and "edited" in p.what]) is not same_content


def test_deleted_reordered_and_truncated_stored_rows_are_detected() -> None:
    entries, cps = _trail()
    rows = _rows(entries)
    assert any("deleted" in p.what for p in walk(rows[:2] + rows[3:], cps, KEY).problems)
    assert any("out of order" in p.what for p in walk([rows[0], rows[2], rows[1], *rows[3:]], cps, KEY).problems)
    assert any("truncated" in p.what for p in walk(rows[:4], cps, KEY).problems)


def test_a_walk_counts_keeps_only_the_hashes_asked_for_and_ends_on_the_last_entry() -> None:
    entries, cps = _trail()
    walked = walk(_rows(entries), cps, KEY, keep={2, 5, 99})
    assert walked.count == 6 and walked.last == (6, entries[-1].hash)
    assert walked.kept == {2: entries[1].hash, 5: entries[4].hash}
