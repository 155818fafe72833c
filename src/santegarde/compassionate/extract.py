"""The reports' pseudonymised extract: what the summary report and the pharmacovigilance queue compute from.

Reading every record of every case through the record path for a report decrypts, decides and traces each one: on
10,000 patients with 20 visits that is hundreds of thousands of decryptions. The extract keeps, per case, only the
fields the reports use — the sex, the year and month of birth, and for each form its kind, its day and the few
coded answers counted (the decision, the weight, the efficacy score, the adverse effect's MedDRA term) — with no
name, initials, code, record id or establishment: the row is keyed by the case's number and sealed under the
patient's own health key (``RecordService.seal_derived``), so erasing the patient makes it unreadable as well.

It is refreshed in the transaction that stores each form, through RecordService's ``in_transaction`` hook: the
form and its line in the extract are committed together or not at all. A case opened before the extract existed
has no row (the hook leaves it alone) until ``santegarde aac extract rebuild`` reads it through the path.

Each row also keeps how many record versions its patient had when it was sealed. Any other write to the patient's
records — a form rectified through the rights desk or a FHIR update, a corrected Patient — adds a version: the row
is then stale, left out like a missing one (the reports read that case through the path, so they count what the
records say now) until ``santegarde aac extract rebuild --missing-only`` seals it again.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from santegarde.compassionate.programme import Form, FormField, FormKind, Programme
from santegarde.compassionate.tables import aac_case, aac_extract
from santegarde.store.service import RecordService


def label(number: int) -> str:
    """What a row's seal is bound to: a row copied onto another case does not open."""
    return f"aac_extract/{number}"


def role(form: Form, f: FormField) -> str | None:
    """What the reports count a field of this form as — "decision", "weight", "efficacy" or "meddra" — or None:
    every other answer stays in the records only."""
    if form.kind is FormKind.DECISION and f.id == "decision":
        return "decision"
    number = f.type == "number"
    weight = number and f.unit == "kg" and f.category == "patient_characteristics"  # the weight, not the height
    if form.kind in (FormKind.ACCESS_REQUEST, FormKind.FOLLOW_UP) and weight:
        return "weight"
    if form.kind is FormKind.FOLLOW_UP and number and f.category == "efficacy":
        return "efficacy"
    if form.kind is FormKind.ADVERSE_EFFECT and f.type == "code" and f.system == "meddra":
        return "meddra"
    return None


def roles(programme: Programme) -> dict[tuple[str, str], str]:
    """(form id, field id) → role, for every field the reports count."""
    return {(form.id, f.id): r for form in programme.forms for f in form.fields if (r := role(form, f)) is not None}


def line(form: Form, answers: dict[str, Any], at: date) -> list[Any]:
    """A form's line in the extract: [form id, kind, day, the kept answers]."""
    kept = {f.id for f in form.fields if role(form, f) is not None}
    return [form.id, form.kind.value, at.isoformat(), {k: v for k, v in answers.items() if k in kept}]


def opening(sex: str | None, birth: str | None) -> dict[str, Any]:
    """A new case's content: the year and month of birth only (a child's full date is not needed for age bands)."""
    return {"sex": sex, "birth": birth[:7] if birth else None, "forms": []}


def refresh(
    records: RecordService,
    conn: Connection,
    patient_id: str,
    programme: Programme,
    new_line: list[Any],
    opened: dict[str, Any] | None = None,
    *,
    to_come: int = 0,
) -> None:
    """Add a form's line to its case's row, in the transaction of the form's first record; ``opened``: the content
    of a new case; ``to_come``: the form's records still to be written after this one (counted in the row's
    versions, so the row matches once they are).

    A case with no row that is not new predates the extract, and a stale row (the patient's records written since
    it was sealed): both are left to ``rebuild``, since a partial row would miscount."""
    case = conn.execute(_ROW, {"patient_id": patient_id}).one()  # the case's number and its row, in one statement
    number = int(case.number)
    found = case if case.sealed is not None else None
    token = found.sealed if found is not None else None
    if token is None and opened is None:
        return
    now = records.version_counts(conn, [patient_id])[patient_id]  # this form's first record included
    if found is not None and found.versions != now - 1:
        return  # written elsewhere since it was sealed (a rectification): stale, for rebuild, never extended
    content = opened if token is None else records.open_derived(conn, patient_id, label(number), token)
    if content is None:  # the patient's keys were destroyed: nothing to extend
        return
    content["forms"].append(new_line)
    sealed = records.seal_derived(conn, patient_id, label(number), content)
    versions = now + to_come
    if token is None:
        conn.execute(
            insert(aac_extract).values(number=number, programme=programme.id, sealed=sealed, versions=versions)
        )
    else:
        conn.execute(
            update(aac_extract).where(aac_extract.c.number == number).values(sealed=sealed, versions=versions)
        )


# A case's number and its extract row (if any), built once, bound by patient id.
_ROW = (
    select(aac_case.c.number, aac_extract.c.sealed, aac_extract.c.versions)
    .select_from(aac_case.outerjoin(aac_extract, aac_extract.c.number == aac_case.c.number))
    .where(aac_case.c.patient_id == bindparam("patient_id"))
)


def rewrite(
    records: RecordService, conn: Connection, number: int, patient_id: str, programme_id: str, content: Any
) -> None:
    """A case's row rebuilt from its records (``rebuild``), in the caller's transaction, with the patient's count of
    record versions as it reads them."""
    sealed = records.seal_derived(conn, patient_id, label(number), content)
    values = {"sealed": sealed, "versions": records.version_counts(conn, [patient_id])[patient_id]}
    if conn.execute(select(aac_extract.c.number).where(aac_extract.c.number == number)).first() is None:
        conn.execute(insert(aac_extract).values(number=number, programme=programme_id, **values))
    else:
        conn.execute(update(aac_extract).where(aac_extract.c.number == number).values(**values))


@dataclass(frozen=True)
class Row:
    """A case of the extract, opened: its number, the version and establishment from the case index, its content."""

    number: int
    patient_id: str
    version: str
    establishment: str
    sex: str | None
    birth: str | None
    forms: list[tuple[str, FormKind, datetime, dict[str, Any]]]


@dataclass(frozen=True)
class Raw:
    """A case of the extract as sealed: its number, patient id, version, establishment and content (``sex``,
    ``birth``, ``forms``: lines [form id, kind, ISO day, kept answers])."""

    number: int
    patient_id: str
    version: str
    establishment: str
    content: dict[str, Any]


BATCH = 500  # cases opened together: their health keys read in one statement, their contents dropped after


def batches(
    records: RecordService, programme_id: str, size: int = BATCH
) -> Iterator[tuple[list[Raw], list[tuple[int, str]]]]:
    """The programme's cases in batches of ``size``: those the extract has, opened, and (number, patient id) of
    those it lacks (opened before it existed). An erased patient's row no longer opens: left out of both. Only one
    batch's contents are held at a time, so a report over many cases keeps its memory bounded. A row whose patient's
    records were written since it was sealed (a rectification) is stale: counted with the missing ones."""
    index = (
        select(aac_case.c.number, aac_case.c.patient_id, aac_case.c.version, aac_case.c.establishment)
        .where(aac_case.c.programme == programme_id)
        .order_by(aac_case.c.number)
    )
    with records.engine.connect() as conn:
        cases = conn.execute(index).all()
        for first in range(0, len(cases), size):
            chunk = cases[first : first + size]
            numbers = [int(c.number) for c in chunk]
            stored = conn.execute(
                select(aac_extract.c.number, aac_extract.c.sealed, aac_extract.c.versions).where(
                    aac_extract.c.number.in_(numbers)
                )
            ).all()
            now = records.version_counts(conn, [str(c.patient_id) for c in chunk])
            patients = {c.number: str(c.patient_id) for c in chunk}
            tokens = {s.number: s.sealed for s in stored if s.versions == now[patients[s.number]]}
            sealed = [c for c in chunk if c.number in tokens]
            opened = records.open_derived_many(
                conn, [(str(c.patient_id), label(int(c.number)), tokens[c.number]) for c in sealed]
            )
            found = [
                Raw(int(c.number), str(c.patient_id), str(c.version), str(c.establishment), content)
                for c, content in zip(sealed, opened, strict=True)
                if content is not None
            ]
            missing = [(int(c.number), str(c.patient_id)) for c in chunk if c.number not in tokens]
            yield found, missing


def rows(records: RecordService, programme_id: str) -> tuple[list[Row], list[tuple[int, str]]]:
    """The programme's cases as the extract has them, and (number, patient id) of the cases it lacks (opened before
    it existed). An erased patient's row no longer opens: it is left out of both."""
    found: list[Row] = []
    missing: list[tuple[int, str]] = []
    for raws, lacking in batches(records, programme_id):
        found.extend(_row(r) for r in raws)
        missing.extend(lacking)
    return found, missing


def _row(r: Raw) -> Row:
    content = r.content
    return Row(
        r.number,
        r.patient_id,
        r.version,
        r.establishment,
        content.get("sex"),
        content.get("birth"),
        list(_forms(content.get("forms", []))),
    )


KINDS = {k.value: k for k in FormKind}  # a lookup, not an Enum call per line (200,000 lines on 10,000 cases)


@functools.lru_cache(maxsize=4096)
def _midnight(day: str) -> datetime:
    at = date.fromisoformat(day)
    return datetime(at.year, at.month, at.day, tzinfo=UTC)


def _forms(lines: list[list[Any]]) -> Iterator[tuple[str, FormKind, datetime, dict[str, Any]]]:
    for form_id, kind, day, answers in lines:
        yield str(form_id), KINDS[kind], _midnight(day), dict(answers)
