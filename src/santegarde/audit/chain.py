"""The hash chain of the audit trail, independent of where entries are stored.

Each entry's hash covers its canonical content and the previous entry's hash; checkpoints seal
(sequence number, hash) with an HMAC under the audit-sealing key, every ``every`` entries, and a
missing one is reported. The head (the last entry) and the lines of the anchor file are sealed the
same way under their own labels, so that no seal can be moved from one role to another (a
checkpoint's seal does not make a truncated trail's head). ``verify`` walks a sequence of
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
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from santegarde.refusals import Said

GENESIS = "0" * 64


def canonical(content: Mapping[str, Any]) -> bytes:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def entry_hash(seq: int, prev_hash: str, content: Mapping[str, Any]) -> str:
    return hashlib.sha256(f"{seq}|{prev_hash}|".encode() + canonical(content)).hexdigest()


def seal(key: bytes, seq: int, digest: str, role: str = "checkpoint") -> str:
    """The HMAC of (sequence number, hash) under the audit-sealing key, for one role: checkpoint, head or anchor."""
    return hmac.new(key, f"{role}|{seq}|{digest}".encode(), hashlib.sha256).hexdigest()


def seal_head(key: bytes, seq: int, digest: str) -> str:
    return seal(key, seq, digest, "head")


def is_sealed(key: bytes, mac: str | None, seq: int, digest: str, role: str = "checkpoint") -> bool:
    """Whether ``mac`` is the seal of (seq, digest) for ``role``, compared in constant time."""
    return mac is not None and hmac.compare_digest(mac, seal(key, seq, digest, role))


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
    """A break (or a note) found in the trail: a key of the catalogue's ``audit_chain`` area, in every language."""

    seq: int
    key: str
    said: Said

    @property
    def what(self) -> str:
        """The English sentence (logs and English messages)."""
        return self.said.in_language("en")

    def in_language(self, lang: str) -> str:
        """``entrée 7 : …`` for a problem of one entry; the sentence alone for the whole trail (``seq`` 0)."""
        text = self.said.in_language(lang)
        return Said.of(AREA, "entry", seq=self.seq, what=text).in_language(lang) if self.seq else text

    def __str__(self) -> str:
        return self.in_language("fr")


AREA = "audit_chain"


def problem(seq: int, key: str, /, **facts: Any) -> Problem:
    """The problem ``key`` of entry ``seq`` (0: the whole trail), its sentences filled from ``facts``."""
    return Problem(seq, key, Said.of(AREA, key, **facts))


def chain(start_seq: int, prev_hash: str, contents: Iterable[Mapping[str, Any]]) -> list[Entry]:
    entries = []
    for offset, content in enumerate(contents):
        seq = start_seq + offset
        digest = entry_hash(seq, prev_hash, content)
        entries.append(Entry(seq, prev_hash, digest, content))
        prev_hash = digest
    return entries


def stored(content: Mapping[str, Any]) -> str:
    """The text an entry's content is stored as: its canonical form, so that verifying hashes the stored text as is."""
    return canonical(content).decode()


def content_matches(seq: int, prev_hash: str, digest: str, text: str) -> bool:
    """Whether the stored ``text`` of entry ``seq`` is the content its hash was computed over.

    Entries are stored in canonical form: one SHA-256 of the text as read says so, without decoding it. Text stored
    otherwise (entries written before the canonical form was stored) is decoded and re-encoded canonically."""
    return hashlib.sha256(f"{seq}|{prev_hash}|{text}".encode()).hexdigest() == digest or _decoded_matches(
        seq, prev_hash, digest, text
    )


def _decoded_matches(seq: int, prev_hash: str, digest: str, text: str) -> bool:
    """Whether ``text``, decoded and re-encoded canonically, is the content the hash covers (older stored forms)."""
    try:
        content = json.loads(text)
    except ValueError:
        return False
    return entry_hash(seq, prev_hash, content) == digest


@dataclass(slots=True)
class Walk:
    """What one pass over a trail found: its problems, how many entries it read, the last one's (seq, hash), and the
    hashes of the entries whose sequence number was asked for (``keep``: those an anchor file records)."""

    problems: list[Problem]
    count: int
    last: tuple[int, str] | None
    kept: dict[int, str]


def verify(entries: Iterable[Entry], checkpoints: Sequence[Checkpoint], key: bytes, *, every: int = 0) -> list[Problem]:
    """Every break in a trail of :class:`Entry` (their content as mappings); :func:`walk` on their stored form."""
    rows = ((e.seq, e.prev_hash, e.hash, stored(e.content)) for e in entries)
    return walk(rows, checkpoints, key, every=every).problems


def walk(
    rows: Iterable[tuple[int, str, str, str]],
    checkpoints: Sequence[Checkpoint],
    key: bytes,
    *,
    every: int = 0,
    keep: Container[int] = frozenset(),
) -> Walk:
    """Every break in the trail, in order, from its stored rows (seq, previous hash, hash, content text); no
    problem means the trail is intact.

    ``rows`` is walked once, in order, and none is kept: a trail of any length verifies in bounded memory.

    With ``every``, the checkpoint of every multiple of ``every`` after the last purge anchor, up to
    the last entry, must be there: deleting checkpoints (to hide a re-chained edit) is a break.
    """
    problems: list[Problem] = []
    sealed: dict[int, Checkpoint] = {}
    forged: set[int] = set()
    for cp in checkpoints:
        if not is_sealed(key, cp.seal, cp.seq, cp.hash):
            problems.append(problem(cp.seq, "checkpoint_forged"))
            forged.add(cp.seq)
        else:
            sealed[cp.seq] = cp
    anchors = [cp for cp in sealed.values() if cp.anchor]
    anchor = max(anchors, key=lambda cp: cp.seq) if anchors else None
    expected_seq, expected_prev = (anchor.seq + 1, anchor.hash) if anchor else (1, GENESIS)
    count, kept = 0, {}
    sha256 = hashlib.sha256
    # The loop runs once per entry: the common case (in order, linked, canonical text) is tested first and cheaply.
    for seq, prev_hash, digest, text in rows:
        count += 1
        if seq != expected_seq:
            what = "missing_before" if seq > expected_seq else "out_of_order"
            problems.append(problem(seq, what, expected=expected_seq))
        elif prev_hash != expected_prev:
            problems.append(problem(seq, "link_broken"))
        if sha256(f"{seq}|{prev_hash}|{text}".encode()).hexdigest() != digest and not _decoded_matches(
            seq, prev_hash, digest, text
        ):
            problems.append(problem(seq, "edited"))
        if seq in sealed:
            sealed_cp = sealed[seq]
            if not sealed_cp.anchor and sealed_cp.hash != digest:
                problems.append(problem(seq, "differs_checkpoint"))
        if seq in keep:
            kept[seq] = digest
        expected_seq, expected_prev = seq + 1, digest
    last_entry = (expected_seq - 1, expected_prev) if count else None
    last = last_entry[0] if last_entry is not None else (anchor.seq if anchor else 0)
    beyond = [cp.seq for cp in sealed.values() if cp.seq > last]
    if beyond:
        problems.append(problem(max(beyond), "truncated", last=last, sealed=max(beyond)))
    if every > 0:
        first = (anchor.seq if anchor else 0) // every * every + every
        problems.extend(
            problem(seq, "checkpoint_missing")
            for seq in range(first, last + 1, every)
            if seq not in sealed and seq not in forged
        )
    return Walk(problems, count, last_entry, kept)
