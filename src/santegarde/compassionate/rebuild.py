"""``santegarde aac extract rebuild``: the reports' extract built from the records, for an existing programme.

Cases opened before the extract existed have no row in it (the summary report reads them through the record path,
slowly); a rebuild reads each case once through the path — under the summary-reports purpose, by a profile the
text allows to produce the reports, every record read traced — and writes its row. A form submitted meanwhile is
not lost: the row is written under the case's workflow row lock, and only if the number of the patient's
submissions still equals the number of forms read; otherwise the case is read again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from santegarde import refusals
from santegarde.compassionate import extract
from santegarde.compassionate.report import PURPOSE, allowed
from santegarde.compassionate.service import CaseState, CompassionateService
from santegarde.compassionate.tables import aac_workflow
from santegarde.errors import WordedError
from santegarde.store.service import NotFound, Request

ATTEMPTS = 5


class RebuildInterrupted(WordedError):
    """A case kept changing while it was read: run the rebuild again (catalogue ``rebuild``, French by default)."""


@dataclass(frozen=True)
class Rebuilt:
    cases: int  # rows written
    skipped: int  # cases already in the extract (with ``only_missing``) or whose records were erased


def rebuild(service: CompassionateService, req: Request, programme_id: str, *, only_missing: bool = False) -> Rebuilt:
    """Rebuild the extract's rows of a programme's cases (only those it lacks, with ``only_missing``)."""
    req = Request(req.token, PURPOSE, source=req.source)
    ctx, decision = allowed(service, req, programme_id)
    service.registry.get(programme_id)  # an unknown programme: its sentence
    targets = extract.rows(service.records, programme_id)[1] if only_missing else service.cases(programme_id)
    written = 0
    for number, patient_id in targets:
        written += _one(service, req, programme_id, number, patient_id)
    service.trace_programme(
        ctx, req, "aac.extract.rebuild", programme_id, purpose=PURPOSE, rule=decision.rule, section=decision.section
    )
    return Rebuilt(written, len(service.cases(programme_id)) - written)


def _one(service: CompassionateService, req: Request, programme_id: str, number: int, patient_id: str) -> int:
    for _ in range(ATTEMPTS):
        try:
            case = service.state(req, patient_id)
        except NotFound:
            return 0  # the patient's records were erased: nothing to extract
        content = _content(service, case)
        with service.engine.begin() as conn:
            conn.execute(
                select(aac_workflow.c.patient_id).where(aac_workflow.c.patient_id == patient_id).with_for_update()
            ).first()
            # one record per submission: "<submission>-0" (its other parts are "-1", "-2"…)
            submissions = service.records.current_count(conn, patient_id, "QuestionnaireResponse", "-0")
            if submissions == len(case.forms):
                extract.rewrite(service.records, conn, number, patient_id, programme_id, content)
                return 1
    raise RebuildInterrupted(refusals.sentences("rebuild", "interrupted", number=number, programme=programme_id))


def _content(service: CompassionateService, case: CaseState) -> dict[str, Any]:
    programme = service.registry.get(case.programme, case.version)
    content = extract.opening(case.sex, case.birth)
    for f in case.forms:
        form = programme.form(f.form)
        if form is not None:
            content["forms"].append(extract.line(form, f.answers, f.authored.date()))
    return content
