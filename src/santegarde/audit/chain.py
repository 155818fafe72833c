"""The hash chain of the audit trail, independent of where entries are stored.

Each entry's hash covers its canonical content and the previous entry's hash; checkpoints seal
(sequence number, hash) with an HMAC under the audit-sealing key. ``verify`` walks a sequence of
entries and checkpoints and says precisely what breaks: an edited entry (its hash no longer
matches), a deleted, inserted or re-ordered entry (sequence or previous hash), a truncated tail
(a checkpoint beyond the last entry, or the last sealed hash not found) or a forged checkpoint.
A purge of old entries leaves an anchor checkpoint at the last purged entry, from which the rest
stays verifiable.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64


def canonical(content: Mapping[str, Any]) -> bytes:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def entry_hash(seq: int, prev_hash: str, content: Mapping[str, Any]) -> str:
    return hashlib.sha256(f"{seq}|{prev_hash}|".encode() + canonical(content)).hexdigest()


def seal(key: bytes, seq: int, digest: str) -> str:
    return hmac.new(key, f"checkpoint|{seq}|{digest}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    prev_hash: str
    hash: str
    content: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    seq: int
    hash: str
    seal: str
    anchor: bool = False  # written by a purge: entries up to seq were removed on purpose


@dataclass(frozen=True, slots=True)
class Problem:
    seq: int
    what: str

    def __str__(self) -> str:
        return f"entry {self.seq}: {self.what}"


def chain(start_seq: int, prev_hash: str, contents: Iterable[Mapping[str, Any]]) -> list[Entry]:
    entries = []
    for offset, content in enumerate(contents):
        seq = start_seq + offset
        digest = entry_hash(seq, prev_hash, content)
        entries.append(Entry(seq, prev_hash, digest, content))
        prev_hash = digest
    return entries


def verify(entries: Sequence[Entry], checkpoints: Sequence[Checkpoint], key: bytes) -> list[Problem]:
    """Every break in the trail, in order; an empty list means the trail is intact."""
    problems: list[Problem] = []
    sealed: dict[int, Checkpoint] = {}
    for cp in checkpoints:
        if not hmac.compare_digest(cp.seal, seal(key, cp.seq, cp.hash)):
            problems.append(Problem(cp.seq, "its checkpoint seal is forged or altered"))
        else:
            sealed[cp.seq] = cp
    anchors = [cp for cp in sealed.values() if cp.anchor]
    anchor = max(anchors, key=lambda cp: cp.seq) if anchors else None
    expected_seq, expected_prev = (anchor.seq + 1, anchor.hash) if anchor else (1, GENESIS)
    for entry in entries:
        if entry.seq != expected_seq:
            what = "missing entries before it (deleted)" if entry.seq > expected_seq else "out of order or inserted"
            problems.append(Problem(entry.seq, f"{what}: expected entry {expected_seq}"))
        elif entry.prev_hash != expected_prev:
            problems.append(Problem(entry.seq, "its link to the previous entry is broken (inserted or re-ordered)"))
        if entry.hash != entry_hash(entry.seq, entry.prev_hash, entry.content):
            problems.append(Problem(entry.seq, "its content was edited after it was written"))
        sealed_cp = sealed.get(entry.seq)
        if sealed_cp is not None and not sealed_cp.anchor and sealed_cp.hash != entry.hash:
            problems.append(Problem(entry.seq, "it differs from the sealed checkpoint"))
        expected_seq, expected_prev = entry.seq + 1, entry.hash
    last = entries[-1].seq if entries else (anchor.seq if anchor else 0)
    beyond = [cp.seq for cp in sealed.values() if cp.seq > last]
    if beyond:
        problems.append(
            Problem(max(beyond), f"the trail ends at entry {last} but was sealed up to {max(beyond)} (truncated)")
        )
    return problems
