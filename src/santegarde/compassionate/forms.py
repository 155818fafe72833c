"""A submission checked field by field against its form (§7.3, AAC-7), then turned into FHIR answers.

Each value must be what its field declares: a code of the field's value set, a number within its bounds (an
integer where asked), an ISO date not in the future, true or false, a code of the bundled MedDRA/ATC/ICD-10 set.
The first problem found refuses the whole submission with a sentence naming the field and what is allowed;
nothing is stored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any

from santegarde.compassionate.codes import SYSTEM_URLS
from santegarde.compassionate.programme import Form, FormField
from santegarde.errors import SantegardeError

UCUM = "http://unitsofmeasure.org"
SHOWN_CHOICES = 12


class SubmissionRefused(SantegardeError, ValueError):
    """A submission that does not fit its form; the message names the field and what is allowed."""

    def __init__(self, message: str, rule: str = "AAC-7", field: str | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.rule = rule
        self.field = field  # the field's id (``patient.<key>`` for the patient's part of an access request)
        self.reason = reason  # what is wrong, as a word a page words in its language (required, bounds, future…)


@dataclass(frozen=True)
class Answer:
    field: FormField
    value: Any  # the checked value: a code, a float/int, a date, a bool

    def fhir(self) -> dict[str, Any]:
        f = self.field
        if f.type == "choice":
            url = f"https://santegarde.fr/aac/CodeSystem/{f.id}"
            return {"valueCoding": {"system": url, "code": self.value, "display": f.allowed_codes()[self.value]}}
        if f.type == "code":
            assert f.system is not None
            coding = {"system": SYSTEM_URLS[f.system], "code": self.value, "display": f.allowed_codes()[self.value]}
            return {"valueCoding": coding}
        if f.type == "number":
            return {"valueQuantity": {"value": self.value, "unit": f.unit, "system": UCUM, "code": f.unit}}
        if f.type == "date":
            return {"valueDate": self.value.isoformat()}
        return {"valueBoolean": self.value}


def _allowed(f: FormField) -> str:
    items = list(f.allowed_codes().items())
    shown = ", ".join(f"{code} ({label})" for code, label in items[:SHOWN_CHOICES])
    more = f" and {len(items) - SHOWN_CHOICES} more" if len(items) > SHOWN_CHOICES else ""
    return shown + more


def _check(f: FormField, value: Any, today: date) -> Any:
    name = f"the field '{f.id}' ({f.label})"
    if f.type in ("choice", "code"):
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # a numeric code (MedDRA) read from JSON or the command line
        if not isinstance(value, str) or value not in f.allowed_codes():
            shown = f"'{value}'" if isinstance(value, str) and len(value) <= 20 else "the value given"
            system = f" of the bundled {f.system} set" if f.type == "code" else ""
            raise SubmissionRefused(
                f"For {name}, {shown} is not allowed; give one of the codes{system}: {_allowed(f)}.",
                field=f.id,
                reason="choice",
            )
        return value
    if f.type == "number":
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise SubmissionRefused(
                f"For {name}, give a number in {f.unit}, between {f.min:g} and {f.max:g}.", field=f.id, reason="number"
            )
        if f.integer and value != int(value):
            raise SubmissionRefused(
                f"For {name}, give a whole number in {f.unit}, between {f.min:g} and {f.max:g}.",
                field=f.id,
                reason="integer",
            )
        assert f.min is not None and f.max is not None
        if not f.min <= value <= f.max:
            raise SubmissionRefused(
                f"For {name}, {value:g} {f.unit} is out of bounds: give a value between {f.min:g} and {f.max:g} "
                f"{f.unit}.",
                field=f.id,
                reason="bounds",
            )
        return int(value) if f.integer else float(value)
    if f.type == "date":
        try:
            when = date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
        except ValueError:
            when = None
        if when is None:
            raise SubmissionRefused(f"For {name}, give a date as YYYY-MM-DD.", field=f.id, reason="date")
        if when > today:
            raise SubmissionRefused(
                f"For {name}, the date is in the future; give the date it happened.", field=f.id, reason="future"
            )
        return when
    if not isinstance(value, bool):
        raise SubmissionRefused(f"For {name}, answer true or false.", field=f.id, reason="boolean")
    return value


def check_answers(form: Form, answers: dict[str, Any], today: date) -> list[Answer]:
    """The answers checked against the form, in the form's order; refused at the first problem."""
    checked, problems = _checked(form, answers, today)
    if problems:
        raise next(iter(problems.values()))
    return checked


def field_problems(form: Form, answers: dict[str, Any], today: date) -> dict[str, SubmissionRefused]:
    """Every field's problem at once, by field id in the form's order (a page shows each next to its field)."""
    return _checked(form, answers, today)[1]


def _checked(form: Form, answers: dict[str, Any], today: date) -> tuple[list[Answer], dict[str, SubmissionRefused]]:
    if not isinstance(answers, dict):
        raise SubmissionRefused("The answers must be a mapping of field id to value.")
    unknown = sorted(str(k) for k in answers if form.field(str(k)) is None)
    if unknown:
        raise SubmissionRefused(
            f"The form '{form.id}' ({form.title}) has no field {', '.join(repr(u[:40]) for u in unknown)}; its "
            f"fields are: {', '.join(f.id for f in form.fields)}. There is no free entry (§7.3)."
        )
    checked = []
    problems: dict[str, SubmissionRefused] = {}
    for f in form.fields:
        value = answers.get(f.id)
        if value is None:
            if f.required:
                problems[f.id] = SubmissionRefused(
                    f"The field '{f.id}' ({f.label}) of the form '{form.id}' is required.",
                    field=f.id,
                    reason="required",
                )
            continue
        try:
            checked.append(Answer(f, _check(f, value, today)))
        except SubmissionRefused as exc:
            problems[f.id] = exc
    return checked, problems
