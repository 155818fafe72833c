"""A Python re-implementation of what the CNIL PIA tool does when it imports a file (test helper).

Read from the tool's own services (``shared/data/pia-tool/importer``: ``pia.service.ts`` ``importData``,
``importAnswers``, ``importMeasures``, ``importEvaluations``, ``importComments``) and its question ids
(``pia_architecture.json``). What the tool then *shows* is also modelled, because that is where a wrong
file fails silently: a question looks its answer up by its numeric id (IndexedDB compares keys by type,
so "111" is not 111); measures are given new ids through ``oldIdToNewId[measure.id]`` (a measure without
an ``id`` is filed under the key ``undefined``), and an evaluation ``3.1.<old id>`` follows its measure;
comments are read by ``reference_to``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from conftest import SHARED

PIA_TOOL = SHARED / "data" / "pia-tool"


def architecture() -> dict[int, str]:
    """Every question id of the tool and its answer type (text, list, gauge)."""
    data = json.loads((PIA_TOOL / "pia_architecture.json").read_text(encoding="utf-8"))
    return {
        q["id"]: q["answer_type"]
        for section in data["sections"]
        for item in section.get("items", [])
        for q in item.get("questions", [])
    }


@dataclass
class Imported:
    """A PIA as the tool holds it after the import, and what went wrong on the way."""

    pia: dict[str, Any]
    answers: dict[Any, dict[str, Any]] = field(default_factory=dict)  # key: reference_to as stored
    measures: dict[int, dict[str, Any]] = field(default_factory=dict)  # new id → measure
    evaluations: dict[str, dict[str, Any]] = field(default_factory=dict)  # reference_to → evaluation
    comments: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def answer(self, question: int) -> dict[str, Any] | None:
        """What the tool shows for a question: the answer stored under the numeric id, nothing otherwise."""
        return self.answers.get(question)

    def measure_evaluation(self, new_id: int) -> dict[str, Any] | None:
        return self.evaluations.get(f"3.1.{new_id}")


def _js_key(value: Any) -> str:
    """The property name a JavaScript array indexed with ``value`` uses (``arr[undefined]`` → "undefined")."""
    return "undefined" if value is None else str(value)


def import_pia(data: Any, first_id: int = 1000) -> Imported:
    """Import ``data`` as ``importData(data, 'IMPORT', false)`` does, then check what each screen would show."""
    if not isinstance(data, dict) or not data.get("pia"):
        raise ValueError("wrong pia file")
    questions = architecture()
    pia = data["pia"]
    imported = Imported(pia=pia)
    status = pia.get("status")
    try:
        int(status)
    except (TypeError, ValueError):
        imported.problems.append(f"pia.status {status!r} is not an integer: the tool resets it to 0")
    for key in ("dpo_status", "concerned_people_status"):
        if pia.get(key) not in (None, 0, 1):
            imported.problems.append(f"pia.{key} must be null, 0 or 1, not {pia.get(key)!r}")
    # importAnswers
    for i, answer in enumerate(data["answers"]):
        ref = answer.get("reference_to")
        if ref in imported.answers:
            imported.problems.append(f"answers[{i}]: a second answer to question {ref!r} hides the first")
        imported.answers[ref] = answer
        if not (isinstance(ref, int) and not isinstance(ref, bool) and ref in questions):
            imported.problems.append(f"answers[{i}].reference_to {ref!r} is no question id: the answer is invisible")
            continue
        kind, content = questions[ref], answer.get("data") or {}
        if kind == "gauge" and content.get("gauge") not in (None, 1, 2, 3, 4):
            imported.problems.append(f"answer {ref}: gauge {content.get('gauge')!r} is not on the scale 1–4")
        if kind == "list" and not isinstance(content.get("list"), list):
            imported.problems.append(f"answer {ref}: a list question needs data.list")
    # importMeasures: new ids, oldIdToNewId
    old_to_new: dict[str, int] = {}
    for n, measure in enumerate(data["measures"]):
        new_id = first_id + n
        imported.measures[new_id] = measure
        key = _js_key(measure.get("id"))
        if key in old_to_new:
            imported.problems.append(f"measure {measure.get('title')!r}: its id {key} is already used")
        old_to_new[key] = new_id
    # importEvaluations (reference_to must be a string: the code calls startsWith on it)
    for i, evaluation in enumerate(data["evaluations"]):
        ref = evaluation.get("reference_to")
        if not isinstance(ref, str):
            imported.problems.append(f"evaluations[{i}].reference_to {ref!r} is not a string: the import crashes")
            continue
        if ref.startswith("3.1") and data["measures"]:
            parts = ref.split(".")
            key = _js_key(parts[2] if len(parts) > 2 else None)
            if key in old_to_new:
                ref = f"3.1.{old_to_new[key]}"
        if ref in imported.evaluations:
            imported.problems.append(f"evaluations[{i}] lands on {ref}, already evaluated: one overwrites the other")
        imported.evaluations[ref] = evaluation
        gauges = evaluation.get("gauges")
        if not (isinstance(gauges, dict) and {"x", "y"} <= gauges.keys()):
            imported.problems.append(f"evaluations[{i}].gauges must be {{x, y}}")
    # importComments
    for i, comment in enumerate(data["comments"]):
        ref = comment.get("reference_to")
        if comment.get("for_measure"):
            if ref not in old_to_new.values():
                imported.problems.append(f"comments[{i}] is for measure {ref!r}, which does not exist after import")
        elif not (isinstance(ref, int) and ref in questions):
            imported.problems.append(f"comments[{i}].reference_to {ref!r} is no question id: the comment is lost")
        imported.comments.append(comment)
    # what the screens show
    for new_id, measure in imported.measures.items():
        if imported.measure_evaluation(new_id) is None:
            imported.problems.append(f"measure {measure.get('title')!r} has no evaluation 3.1.{new_id}")
    stray = [r for r in imported.evaluations if r.startswith("3.1") and r.count(".") != 2]
    imported.problems += [f"evaluation {r} belongs to no measure" for r in stray]
    return imported
