"""The deid-fr JSONL format: read notes (refusing bad ones with a sentence), de-identify, write atomically."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from santegarde import refusals
from santegarde.atomic import write_atomic
from santegarde.deid.entities import Entity
from santegarde.deid.refusal import DeidRefused
from santegarde.deid.replace import replace_with_tags, resolve
from santegarde.deid.surrogates import Surrogates

MAX_NOTE = 10 * 1024 * 1024  # characters: a note above this is refused, not cut


class TextDetector(Protocol):
    def detect_many(self, texts: list[str]) -> Iterator[list[Entity]]: ...


class BadInput(DeidRefused, ValueError):
    """A file that cannot be read as UTF-8 deid-fr JSONL; the sentence says why, in French and English."""


@dataclass
class Batch:
    rows: list[dict[str, Any]] = field(default_factory=list)
    # one refusal per refused line, in each language (never the line's text)
    failures: list[dict[str, str]] = field(default_factory=list)


def read_lines(path: Path) -> list[str]:
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise BadInput("utf16", name=path.name)
    if b"\x00" in data:
        raise BadInput("nul_bytes", name=path.name)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput("not_utf8", name=path.name, byte=exc.start) from None
    return text.splitlines()


def parse(lines: list[str]) -> Batch:
    """The notes of the lines; a line that is not a note is reported by number and skipped."""
    batch = Batch()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            batch.failures.append(refusals.sentences("deid", "line_not_json", number=number))
            continue
        text = row.get("note_text") if isinstance(row, dict) else None
        if not isinstance(text, str):
            batch.failures.append(refusals.sentences("deid", "line_no_text", number=number, field="note_text"))
            continue
        if len(text) > MAX_NOTE:
            batch.failures.append(
                refusals.sentences("deid", "line_too_long", number=number, length=len(text), limit=MAX_NOTE)
            )
            continue
        batch.rows.append(row)
    return batch


def gold(row: dict[str, Any]) -> list[Entity]:
    return [Entity(int(e["start"]), int(e["end"]), str(e["label"])) for e in row.get("entities") or []]


def deidentify(
    batch: Batch, detector: TextDetector, surrogates: Surrogates | None = None, patient_field: str = "patient_id"
) -> list[dict[str, Any]]:
    """The rows with ``entities`` replaced by the detected ones and ``note_text_deid`` added.

    With ``surrogates``, names and dates get the patient's consistent surrogates instead of tags; the patient is
    the row's ``patient_field`` when it has one, else the whole batch is one scope.
    """
    out = []
    found = detector.detect_many([r["note_text"] for r in batch.rows])
    for row, entities in zip(batch.rows, found, strict=True):
        kept = resolve(entities)
        if surrogates is None:
            cleaned = replace_with_tags(row["note_text"], kept)
        else:
            cleaned = surrogates.replace(row["note_text"], kept, str(row.get(patient_field, "")))
        out.append({**row, "entities": [e.as_json() for e in kept], "note_text_deid": cleaned})
    return out


def write(path: Path, rows: list[dict[str, Any]]) -> None:
    write_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
