"""Compassionate-access programmes as data: one YAML protocol file per medicine, indication and PUT-SP version.

A programme file declares the ANSM decision (number, date granted, expiry, suspension or withdrawal), the forms of
the therapeutic-use protocol (PUT-SP) as lists of coded fields, the follow-up schedule, and the optional data
categories of §7.2 the protocol strictly needs, each with its written justification. It is validated by the
pydantic models below (unknown keys are errors) and then against the référentiel (``check_against``): a field
of free entry (§7.3, AAC-7), a category the text forbids (NIR, INS, complete genome) or an optional category
that is not declared and justified is refused at load, with the field named.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from santegarde import refusals
from santegarde.compassionate.codes import code_set
from santegarde.errors import WordedError
from santegarde.governance import vocabulary
from santegarde.governance.notices import ProgrammeFacts
from santegarde.referentials import validation
from santegarde.referentials.loader import location
from santegarde.referentials.model import Referential

PURPOSE = "access_initiation_follow_up"
# §7.2: "provided that they are strictly necessary with regard to the prescribed product and the pathology".
OPTIONAL_CATEGORIES = ("ethnic_origin", "genetic", "sex_life", "lifestyle")
RELATED_CATEGORIES = ("related_persons", "related_persons_health")
JUSTIFICATION_MIN = 40
FREE_ENTRY_TYPES = frozenset({"text", "string", "free_text", "textarea", "notepad", "comment", "memo", "note"})
FIELD_TYPES = ("choice", "number", "date", "boolean", "code")

Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]


Problem = dict[str, str]  # one problem of a programme file, in each language
TOP_LEVEL = {"fr": "la racine du fichier", "en": "(top level)"}


def problem(key: str, /, **facts: Any) -> Problem:
    """A problem of a programme file in each language (data/refusals.yaml, ``programme``)."""
    return refusals.sentences("programme", key, **facts)


class FormatProblem(WordedError, ValueError):
    """A shape the programme format refuses, raised inside a validator; pydantic carries it to ``ProgrammeError``
    with its place in the file."""

    def __init__(self, key: str, /, **facts: Any) -> None:
        super().__init__(problem(key, **facts))


class ProgrammeError(WordedError):
    """A programme file cannot be used; the sentence names the file, then each place and its fix, in French by
    default and in English as the option."""

    def __init__(self, path: str, problems: list[Problem]) -> None:
        self.path = path
        self.problems = problems
        header = problem("invalid_file", path=path)
        super().__init__(
            {lang: "\n".join([header[lang], *(f"  - {p[lang]}" for p in problems)]) for lang in refusals.LANGS}
        )


def _day(day: date) -> dict[str, str]:
    return {"fr": f"{day:%d/%m/%Y}", "en": day.isoformat()}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FormKind(StrEnum):
    """The forms of a PUT-SP, in the order of the workflow (§5.2)."""

    ACCESS_REQUEST = "access_request"
    DECISION = "decision"
    INITIATION = "initiation"
    FOLLOW_UP = "follow_up"
    STOP = "stop"
    ADVERSE_EFFECT = "adverse_effect"
    RELATED_PERSON = "related_person"


REQUIRED_KINDS = (FormKind.ACCESS_REQUEST, FormKind.DECISION, FormKind.INITIATION, FormKind.FOLLOW_UP, FormKind.STOP)


class Choice(Strict):
    code: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]{1,40}$")]
    label: str = Field(min_length=1, description="What the professional reads, in French")


class FormField(Strict):
    """One coded field: a choice from a value set, a bounded number with its unit, a date, a boolean or a code."""

    id: Identifier
    label: str = Field(min_length=1, description="The field's label, in French")
    type: Literal["choice", "number", "date", "boolean", "code"]
    category: Identifier = Field(description="The référentiel category the value belongs to (§7.2)")
    required: bool = True
    values: list[Choice] = Field(default_factory=list, description="choice: the value set")
    unit: str | None = Field(None, description="number: the UCUM unit, e.g. kg, cm, mg")
    min: float | None = None
    max: float | None = None
    integer: bool = False
    system: Literal["meddra", "atc", "icd10"] | None = Field(None, description="code: the bundled code system")
    codes: list[str] = Field(default_factory=list, description="code: the subset allowed (default: the whole set)")

    @model_validator(mode="before")
    @classmethod
    def _no_free_entry(cls, data: Any) -> Any:
        if isinstance(data, dict):
            kind = str(data.get("type", "")).strip().lower()
            if kind in FREE_ENTRY_TYPES or (kind and kind not in FIELD_TYPES):
                raise FormatProblem("free_entry", field=data.get("id", "?"), kind=data.get("type"))
        return data

    @model_validator(mode="after")
    def _shape(self) -> FormField:
        if self.type == "choice" and len(self.values) < 2:
            raise FormatProblem("choice_values", field=self.id)
        if self.type != "choice" and self.values:
            raise FormatProblem("not_choice", field=self.id)
        if self.type == "number":
            if not self.unit or self.min is None or self.max is None:
                raise FormatProblem("number_bounds", field=self.id)
            if self.min > self.max:
                raise FormatProblem("number_order", field=self.id, min=self.min, max=self.max)
        if self.type == "code":
            if self.system is None:
                raise FormatProblem("code_system", field=self.id)
            unknown = sorted(set(self.codes) - set(code_set(self.system)))
            if unknown:
                raise FormatProblem("unknown_codes", field=self.id, system=self.system, codes=", ".join(unknown))
        elif self.system is not None or self.codes:
            raise FormatProblem("not_code", field=self.id)
        return self

    def allowed_codes(self) -> dict[str, str]:
        """code → display a choice or code field accepts."""
        if self.type == "choice":
            return {v.code: v.label for v in self.values}
        if self.type == "code" and self.system is not None:
            whole = code_set(self.system)
            return {c: whole[c] for c in self.codes} if self.codes else dict(whole)
        return {}


class Form(Strict):
    id: Identifier
    kind: FormKind
    title: str = Field(min_length=1, description="The form's title, in French")
    fields: list[FormField] = Field(min_length=1)

    @field_validator("fields")
    @classmethod
    def _unique(cls, fields: list[FormField]) -> list[FormField]:
        seen: set[str] = set()
        for f in fields:
            if f.id in seen:
                raise FormatProblem("field_twice", field=f.id)
            seen.add(f.id)
        return fields

    def field(self, field_id: str) -> FormField | None:
        return next((f for f in self.fields if f.id == field_id), None)


class AnsmDecision(Strict):
    number: str = Field(min_length=1)
    granted: date
    expires: date
    suspended_or_withdrawn: date | None = Field(None, description="Date of the ANSM's suspension or withdrawal")

    @model_validator(mode="after")
    def _dates(self) -> AnsmDecision:
        if self.expires <= self.granted:
            raise FormatProblem("decision_dates", expires=_day(self.expires), granted=_day(self.granted))
        if self.suspended_or_withdrawn is not None and self.suspended_or_withdrawn < self.granted:
            raise FormatProblem("suspension_date")
        return self


class OptionalCategory(Strict):
    category: Literal["ethnic_origin", "genetic", "sex_life", "lifestyle"]
    justification: str = Field(
        min_length=JUSTIFICATION_MIN,
        description="Why this protocol strictly needs it, for this product and pathology (§7.2)",
    )


class Medicine(Strict):
    name: str = Field(min_length=1)
    atc: str

    @field_validator("atc")
    @classmethod
    def _known(cls, atc: str) -> str:
        if atc not in code_set("atc"):
            raise FormatProblem("unknown_atc", code=atc)
        return atc


class Indication(Strict):
    label: str = Field(min_length=1)
    icd10: str

    @field_validator("icd10")
    @classmethod
    def _known(cls, icd10: str) -> str:
        if icd10 not in code_set("icd10"):
            raise FormatProblem("unknown_icd10", code=icd10)
        return icd10


class FollowUp(Strict):
    interval_days: int = Field(ge=1, le=366, description="Days between two follow-up visits")
    tolerance_days: int = Field(0, ge=0, le=90, description="Days after which a due visit is overdue")


class Programme(Strict):
    """One PUT-SP version of one medicine in one indication."""

    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,62}$")]
    version: Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]+)*$")]
    title: str = Field(min_length=1)
    laboratory: str = Field(min_length=1)
    medicine: Medicine
    indication: Indication
    ansm_decision: AnsmDecision
    optional_categories: list[OptionalCategory] = Field(default_factory=list)
    paediatric_full_birth_date: bool = Field(
        False, description="The protocol asks for the complete date of birth of a child (§7.2)"
    )
    paediatric_age_limit: int = Field(18, ge=1, le=18)
    follow_up: FollowUp
    forms: list[Form]

    @model_validator(mode="after")
    def _forms(self) -> Programme:
        ids = [f.id for f in self.forms]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise FormatProblem("forms_twice", forms=", ".join(twice))
        kinds = [f.kind for f in self.forms]
        missing = [k.value for k in REQUIRED_KINDS if k not in kinds]
        if missing:
            raise FormatProblem("kind_missing", kinds=refusals.choices(missing))
        again = sorted({k.value for k in kinds if kinds.count(k) > 1})
        if again:
            raise FormatProblem("kind_twice", kinds=", ".join(again))
        declared = [c.category for c in self.optional_categories]
        if len(set(declared)) != len(declared):
            raise FormatProblem("optional_twice")
        return self

    @property
    def key(self) -> str:
        return f"{self.id}@{self.version}"

    def form(self, form_id: str) -> Form | None:
        return next((f for f in self.forms if f.id == form_id), None)

    def form_of(self, kind: FormKind) -> Form:
        return next(f for f in self.forms if f.kind == kind)

    def notice_facts(self) -> ProgrammeFacts:
        """What the information notices say of this programme (§10): medicine, indication, ANSM decision."""
        d = self.ansm_decision
        return ProgrammeFacts(self.medicine.name, self.indication.label, d.number, d.granted)

    def status(self, on: date) -> str:
        """'active', 'not_granted_yet', 'expired' or 'suspended' on that day (from the ANSM decision's dates)."""
        d = self.ansm_decision
        if d.suspended_or_withdrawn is not None and on >= d.suspended_or_withdrawn:
            return "suspended"
        if on < d.granted:
            return "not_granted_yet"
        if on > d.expires:
            return "expired"
        return "active"


def status_sentence(programme: Programme, on: date) -> dict[str, str] | None:
    """Why no form may be submitted under the programme on that day, in each language (data/refusals.yaml,
    ``aac``), or None when it is active."""
    state = programme.status(on)
    d = programme.ansm_decision
    when = {"suspended": d.suspended_or_withdrawn, "not_granted_yet": d.granted, "expired": d.expires}.get(state)
    if when is None:
        return None
    return refusals.sentences("aac", state, date={"fr": f"{when:%d/%m/%Y}", "en": when.isoformat()})


def _named(ref: Referential, kind: str, item_id: str) -> dict[str, str]:
    """An item of the référentiel by its name in each language (governance/data/vocabulary.*.yaml)."""
    return {lang: vocabulary.label(ref, kind, item_id, lang) for lang in refusals.LANGS}


def check_against(programme: Programme, ref: Referential) -> list[Problem]:
    """What the référentiel refuses in a programme: forbidden or unknown categories, undeclared optional ones."""
    problems: list[Problem] = []
    purpose = ref.purpose(PURPOSE)
    usable = set(purpose.categories) if purpose else set()
    declared = {c.category for c in programme.optional_categories}
    for fi, form in enumerate(programme.forms):
        for ii, f in enumerate(form.fields):
            where = problem("at_field", place=f"forms[{fi}].fields[{ii}]", form=form.id, field=f.id)
            category = ref.category(f.category)
            if category is None:
                problems.append(problem("unknown_category", where=where, category=f.category, referential=ref.id))
            elif category.forbidden:
                name = _named(ref, "category", category.id)
                facts = {"where": where, "referential": ref.id, "name": name, "section": category.section}
                problems.append(problem("forbidden_category", **facts))
            elif f.category not in usable or f.category == "professional_data":
                named = {"name": _named(ref, "category", category.id), "purpose": _named(ref, "purpose", PURPOSE)}
                problems.append(problem("not_patient_data", where=where, **named))
            elif f.category in OPTIONAL_CATEGORIES and f.category not in declared:
                name = _named(ref, "category", category.id)
                problems.append(problem("optional_undeclared", where=where, name=name, key="optional_categories"))
            elif (form.kind is FormKind.RELATED_PERSON) != (f.category in RELATED_CATEGORIES):
                related = {
                    lang: ", ".join(n[lang] for n in (_named(ref, "category", c) for c in RELATED_CATEGORIES))
                    for lang in refusals.LANGS
                }
                problems.append(problem("related_form", where=where, categories=related))
            elif f.category == "patient_indirect_identity":
                problems.append(problem("patient_code", where=where))
    unused = sorted(declared - {f.category for form in programme.forms for f in form.fields})
    for never_collected in unused:
        problems.append(problem("optional_unused", key="optional_categories", category=never_collected))
    return problems


def parse_programme(text: str, path: str, ref: Referential) -> Programme:
    """A validated programme from YAML text, checked against the référentiel; ``path`` names it in errors."""
    try:
        raw = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        why = getattr(exc, "problem", None) or type(exc).__name__
        found = problem("yaml_at", line=mark.line + 1, column=mark.column + 1, problem=why) if mark else None
        raise ProgrammeError(path, [found or problem("yaml", problem=why)]) from None
    if not isinstance(raw, dict):
        raise ProgrammeError(path, [problem("not_mapping")])
    try:
        programme = Programme.model_validate(raw)
    except ValidationError as exc:
        raise ProgrammeError(path, _validation_problems(exc)) from None
    problems = check_against(programme, ref)
    if problems:
        raise ProgrammeError(path, problems)
    return programme


def _validation_problems(error: ValidationError) -> list[Problem]:
    """pydantic's errors as problems of the programme format, each at its place in the file."""
    problems = []
    for err in error.errors():
        place = location(tuple(p for p in err["loc"] if not str(p).startswith("function-")))
        where = place or TOP_LEVEL
        if err["type"] == "extra_forbidden":
            problems.append(problem("extra_key", where=where))
        elif err["type"] == "missing":
            problems.append(problem("missing_key", where=where))
        else:
            found = (err.get("ctx") or {}).get("error")
            said = found.sentences if isinstance(found, FormatProblem) else validation.worded(dict(err))
            problems.append(problem("invalid", where=where, problem=said))
    return problems
