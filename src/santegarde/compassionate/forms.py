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

from santegarde import refusals
from santegarde.compassionate.codes import SYSTEM_URLS
from santegarde.compassionate.programme import Form, FormField
from santegarde.errors import WordedError

UCUM = "http://unitsofmeasure.org"
SHOWN_CHOICES = 12


class SubmissionRefused(WordedError, ValueError):
    """A submission that does not fit its form; the message names the field and what is allowed.

    Worded in French and English from the catalogue (``data/refusals.yaml``, ``aac``); ``on`` is the
    field's id (``patient.<key>`` for the patient's part of an access request) and ``reason`` what is wrong, as a word
    a page words in its language (required, bounds, future…).
    """

    def __init__(
        self, key: str, /, rule: str = "AAC-7", *, on: str | None = None, reason: str = "", **facts: Any
    ) -> None:
        super().__init__(refusals.sentences("aac", key, **facts))
        self.key = key
        self.rule = rule
        self.field = on
        self.reason = reason


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


def _allowed(f: FormField) -> dict[str, str]:
    items = list(f.allowed_codes().items())
    shown = ", ".join(f"{code} ({label})" for code, label in items[:SHOWN_CHOICES])
    more = len(items) - SHOWN_CHOICES
    if more <= 0:
        return {"fr": shown, "en": shown}
    return {"fr": f"{shown} et {more} autres", "en": f"{shown} and {more} more"}


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _check(f: FormField, value: Any, today: date) -> Any:
    name: dict[str, Any] = {"field": f.id, "label": f.label}
    bounds: dict[str, Any] = {"unit": f.unit, "min": _number(f.min), "max": _number(f.max)}
    if f.type in ("choice", "code"):
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # a numeric code (MedDRA) read from JSON or the command line
        if not isinstance(value, str) or value not in f.allowed_codes():
            given = isinstance(value, str) and len(value) <= 20
            shown = {
                "fr": f"« {value} »" if given else "la valeur donnée",
                "en": f"'{value}'" if given else "the value given",
            }
            system = (
                {"fr": f" de l'ensemble {f.system} fourni", "en": f" of the bundled {f.system} set"}
                if f.type == "code"
                else ""
            )
            raise SubmissionRefused(
                "not_allowed_value", on=f.id, reason="choice", shown=shown, system=system, allowed=_allowed(f), **name
            )
        return value
    if f.type == "number":
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise SubmissionRefused("not_a_number", on=f.id, reason="number", **name, **bounds)
        if f.integer and value != int(value):
            raise SubmissionRefused("not_whole", on=f.id, reason="integer", **name, **bounds)
        assert f.min is not None and f.max is not None
        if not f.min <= value <= f.max:
            raise SubmissionRefused("out_of_bounds", on=f.id, reason="bounds", value=f"{value:g}", **name, **bounds)
        return int(value) if f.integer else float(value)
    if f.type == "date":
        try:
            when = date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
        except ValueError:
            when = None
        if when is None:
            raise SubmissionRefused("not_a_date", on=f.id, reason="date", **name)
        if when > today:
            raise SubmissionRefused("date_future", on=f.id, reason="future", **name)
        return when
    if not isinstance(value, bool):
        raise SubmissionRefused("not_boolean", on=f.id, reason="boolean", **name)
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
        raise SubmissionRefused("answers_not_mapping")
    unknown = sorted(str(k) for k in answers if form.field(str(k)) is None)
    if unknown:
        listed = ", ".join(repr(u[:40]) for u in unknown)
        fields = ", ".join(f.id for f in form.fields)
        raise SubmissionRefused("unknown_fields", form=form.id, title=form.title, unknown=listed, fields=fields)
    checked = []
    problems: dict[str, SubmissionRefused] = {}
    for f in form.fields:
        value = answers.get(f.id)
        if value is None:
            if f.required:
                problems[f.id] = SubmissionRefused(
                    "required_field", on=f.id, reason="required", field=f.id, label=f.label, form=form.id
                )
            continue
        try:
            checked.append(Answer(f, _check(f, value, today)))
        except SubmissionRefused as exc:
            problems[f.id] = exc
    return checked, problems
