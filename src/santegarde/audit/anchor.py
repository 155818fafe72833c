"""The anchor file: the trail's sealed heads written outside its database, append-only.

Each line is one head of the trail as it was committed — ``<sequence> <hash> <seal>`` — sealed with
an HMAC under the audit-sealing key (role ``anchor``), so a line cannot be forged or altered without
the key. Lines are appended (one ``write`` in append mode, never a re-read), which keeps appends
cheap; a purge rewrites the file atomically with only the lines still useful (the checkpoints after
the purge and the last head), so it stays bounded across purges.

Against it, ``check`` detects what the database alone cannot: a rewrite of the whole audit
database, an emptied trail, or the restore of an older copy of it (the file has heads the database
has not reached or does not hold). Once deleted, the file is not re-created by an append: only a
new trail, or an explicit ``audit restart-anchor``, starts one. What it cannot detect: the file
cut back to the prefix that matches an older copy of the database put back with it; keep it on
other storage (``audit_anchor_path``), or send the heads to a remote syslog (``audit_syslog``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from santegarde.atomic import write_atomic
from santegarde.audit import chain
from santegarde.errors import WordedError
from santegarde.refusals import sentences

ROLE = "anchor"
NAME = "audit.anchor"
# Problem keys (catalogue area ``audit_chain``). An anchor file behind the trail is not a break (a line is written
# after its entry commits, and a process can stop in between); verify reports it as a note. Ahead of the trail, or
# disagreeing with it, is a break.
MISSING = "anchor_missing"
BEHIND = "anchor_behind"


class AnchorUnwritable(WordedError):
    """The anchor file cannot be written, or is missing: the audited operation must not go on without it."""


@dataclass(frozen=True, slots=True)
class Head:
    seq: int
    hash: str


class AnchorFile:
    def __init__(self, path: Path, key: bytes):
        self.path = path
        self._key = key

    def line(self, seq: int, digest: str) -> str:
        return f"{seq} {digest} {chain.seal(self._key, seq, digest, ROLE)}\n"

    def append(self, lines: list[str], *, create: bool = False) -> None:
        """Append sealed heads in one write; no read, no rewrite. Only ``create`` makes the file (mode 0600)."""
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | (os.O_CREAT if create else 0), 0o600)
            try:
                os.write(fd, "".join(lines).encode("ascii"))
            finally:
                os.close(fd)
        except OSError as exc:
            if isinstance(exc, FileNotFoundError) and not create:
                raise self.missing() from exc
            raise AnchorUnwritable(
                sentences("audit_trail", "anchor_unwritable", path=self.path, why=exc.strerror)
            ) from exc

    def missing(self) -> AnchorUnwritable:
        return AnchorUnwritable(sentences("audit_trail", "anchor_missing", path=self.path))

    def has_lines(self) -> bool:
        return self.path.exists() and self.path.stat().st_size > 0

    def read(self) -> tuple[list[Head], list[chain.Problem]]:
        """The sealed heads of the file, and a problem for every line that is not one (forged or damaged)."""
        heads: list[Head] = []
        problems: list[chain.Problem] = []
        for number, raw in enumerate(self._lines(), 1):
            head = self._parse(raw)
            if head is not None:
                heads.append(head)
            else:
                problems.append(chain.problem(0, "anchor_line_forged", number=number, path=self.path))
        return heads, problems

    def seqs(self) -> set[int]:
        """The sequence numbers its lines name, seals unchecked (:meth:`check` checks them): the entries whose hash a
        walk over the trail keeps for :meth:`check`."""
        return {int(first) for raw in self._lines() if (first := raw.split(" ", 1)[0]).isdigit()}

    def _lines(self) -> list[str]:
        return self.path.read_text(encoding="ascii", errors="replace").splitlines() if self.path.exists() else []

    def _parse(self, raw: str) -> Head | None:
        parts = raw.split(" ")
        if len(parts) != 3 or not parts[0].isdigit():
            return None
        seq, digest, mac = int(parts[0]), parts[1], parts[2]
        return Head(seq, digest) if chain.is_sealed(self._key, mac, seq, digest, ROLE) else None

    def check(self, head: Head, hashes: Mapping[int, str]) -> list[chain.Problem]:
        """Compare the database's head and entry hashes (``hashes``, by sequence) with the anchored heads."""
        if not self.path.exists():
            return [chain.problem(0, MISSING, path=self.path)]
        heads, problems = self.read()
        if not heads:
            return [*problems, chain.problem(0, "anchor_empty", path=self.path)]
        top = max(heads, key=lambda h: h.seq)
        if top.seq > head.seq:
            problems.append(chain.problem(0, "anchor_ahead", anchored=top.seq, head=head.seq))
        elif top.seq < head.seq:
            problems.append(chain.problem(0, BEHIND, anchored=top.seq, head=head.seq))
        rewritten = sorted(h.seq for h in heads if h.seq in hashes and hashes[h.seq] != h.hash)
        if rewritten:
            problems.append(chain.problem(rewritten[0], "anchor_rewritten", n=len(rewritten)))
        return problems

    def compact(self, after: int, every: int, last: Head) -> None:
        """Keep the heads after ``after`` at multiples of ``every``, and ``last``; atomic rewrite (at a purge).

        Lines without a valid seal are kept as they are: they are evidence, and ``check`` goes on reporting them.
        A missing file is not re-created: the purge is refused.
        """
        if not self.path.exists():
            raise self.missing()
        kept: list[str] = []
        for raw in self._lines():
            head = self._parse(raw)
            if head is None:
                kept.append(raw + "\n")
            elif head.seq > after and every > 0 and head.seq % every == 0 and head.seq != last.seq:
                kept.append(self.line(head.seq, head.hash))
        write_atomic(self.path, "".join([*kept, self.line(last.seq, last.hash)]))
