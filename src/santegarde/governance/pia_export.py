"""The DPIA in the JSON the CNIL's open-source PIA tool imports (COM-DPIA-1).

The reference is the tool's own importer (``pia.service.ts`` ``importData``, kept in
``shared/data/pia-tool/importer``): answers are looked up by the numeric id of their question
(``pia_architecture.json``), so ``reference_to`` is an integer; every measure carries an ``id`` that
the importer re-maps, and each measure has its own evaluation ``3.1.<measure id>``; comments are
anchored by ``reference_to`` (a question id); the risk sections 3.2–3.4 have their lists (impacts,
threats, sources, measures: questions x21–x24) and their gauges (severity x25, likelihood x26, 1 to 4);
the DPO's and the persons' opinions are null until someone gives them.

Input: the DPIA built by ``dpia.build`` (any language); the text is the DPIA's own.
"""

from __future__ import annotations

import html
from typing import Any

QUESTIONS = frozenset(
    {111, 112, 113, 121, 122, 123}
    | {210 + i for i in range(1, 6)}
    | {220 + i for i in range(1, 8)}
    | {300 + 10 * s + q for s in range(2, 5) for q in range(1, 7)}
)
# Where a deviation from the référentiel is commented on: the question it touches.
DEVIATION_QUESTION = {"retention": 215, "legal_basis": 212, "extra_data": 213}
DEFAULT_COMMENT_QUESTION = 113


def _html(lines: list[str]) -> str:
    return "".join(f"<p>{html.escape(line)}</p>" for line in lines)


def answer(
    question: int, lines: list[str], at: str, items: list[str] | None = None, gauge: int | None = None
) -> dict[str, Any]:
    """One answer of the PIA tool: HTML text, a gauge (1–4) or a list of tags."""
    if question not in QUESTIONS:
        raise ValueError(f"{question} is not a question of the PIA tool")
    return {
        "reference_to": question,
        "data": {"text": _html(lines) if lines else None, "gauge": gauge, "list": items or []},
        "created_at": at,
        "updated_at": at,
    }


def measure_title(m: dict[str, Any]) -> str:
    """The title of a measure in the tool, also used as a tag in the lists of questions x24."""
    return f"{m['code']} {m['label']}"


def _risk_answers(d: dict[str, Any], at: str) -> list[dict[str, Any]]:
    by_code = {m["code"]: m for m in d["measures"]}
    out = []
    for risk in d["risks"]:
        base = 300 + 10 * int(risk["pia_section"].split(".")[1])  # 3.2 → 320
        existing = [by_code[c] for c in risk["measure_codes"]]
        out += [
            answer(base + 1, [], at, list(risk["impacts"])),
            answer(base + 2, [], at, list(risk["threats"])),
            answer(base + 3, [], at, list(risk["sources"])),
            answer(base + 4, [], at, [measure_title(m) for m in existing]),
            answer(base + 5, [risk["severity"]["text"]], at, gauge=risk["severity"]["level"]),
            answer(base + 6, [risk["likelihood"]["text"]], at, gauge=risk["likelihood"]["level"]),
        ]
    return out


def to_pia(d: dict[str, Any], name: str, answers: list[dict[str, Any]]) -> dict[str, Any]:
    """The DPIA as the PIA tool's import file: pia, answers, measures, evaluations, comments.

    ``answers`` are those of sections 1 and 2 (context, principles); the risks' are built here from
    ``d["risks"]``. Each measure of ``d["measures"]`` carries its ``status_line`` (a sentence) and
    whether it is ``in_action_plan``; each deviation its ``comment``.
    """
    at = d["generated_at"]
    org = d["organisation"]
    dpo = org.get("dpo")
    measures = []
    evaluations = []
    for number, m in enumerate(d["measures"], 1):
        measures.append(
            {
                "id": number,
                "title": measure_title(m),
                "content": _html([m["description"], m["status_line"]]),
                "placeholder": "measures.default_placeholder",
                "created_at": at,
                "updated_at": at,
            }
        )
        evaluations.append(
            {
                "reference_to": f"3.1.{number}",
                "status": 0,
                "action_plan_comment": _html([m["status_line"]]) if m["in_action_plan"] else "",
                "evaluation_comment": "",
                "evaluation_date": None,
                "gauges": {"x": 0, "y": 0},
                "estimated_implementation_date": None,
                "person_in_charge": "",
                "global_status": 0,
                "created_at": at,
                "updated_at": at,
            }
        )
    comments = [
        {
            "reference_to": DEVIATION_QUESTION.get(x["kind"], DEFAULT_COMMENT_QUESTION),
            "description": x["comment"],
            "for_measure": False,
            "created_at": at,
            "updated_at": at,
        }
        for x in d["deviations"]
        if x["kind"] != "measure"  # a measure's deviation is in the measure's own content
    ]
    return {
        "pia": {
            "name": name,
            "category": "",
            "author_name": org["controller"]["name"],
            "evaluator_name": "",
            "validator_name": "",
            "dpo_status": None,
            "dpo_opinion": "",
            "dpos_names": dpo["name"] if dpo else "",
            "concerned_people_opinion": "",
            "concerned_people_status": None,
            "concerned_people_searched_opinion": None,
            "concerned_people_searched_content": "",
            "people_names": "",
            "rejection_reason": "",
            "applied_adjustments": "",
            "status": 0,
            "is_example": False,
            "is_archive": False,
            "progress": 0,
            "structure_id": None,
            "created_at": at,
            "updated_at": at,
        },
        "answers": answers + _risk_answers(d, at),
        "measures": measures,
        "evaluations": evaluations,
        "comments": comments,
    }
