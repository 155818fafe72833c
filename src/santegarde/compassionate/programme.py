"""Compassionate-access programmes as data: one YAML protocol file per medicine, indication and PUT-SP version.

A programme file declares the ANSM decision (number, date granted, expiry, suspension or withdrawal), the forms of
the therapeutic-use protocol (PUT-SP) as lists of coded fields, the follow-up schedule, and the optional data
categories of §7.2 the protocol strictly needs, each with its written justification. It is validated by the
pydantic models below (unknown keys are errors) and then against the référentiel (``check_against``): a field
of free entry (§7.3, AAC-7), a category the text forbids (NIR, INS, complete genome) or an optional category
that is not declared and justified is refused at load, with the field named.
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from santegarde.compassionate.codes import code_set
from santegarde.errors import SantegardeError
from santegarde.governance import refusals
from santegarde.referentials.loader import format_validation_error
from santegarde.referentials.model import Referential

PURPOSE = "access_initiation_follow_up"
# §7.2: "provided that they are strictly necessary with regard to the prescribed product and the pathology".
OPTIONAL_CATEGORIES = ("ethnic_origin", "genetic", "sex_life", "lifestyle")
RELATED_CATEGORIES = ("related_persons", "related_persons_health")
JUSTIFICATION_MIN = 40
FREE_ENTRY_TYPES = frozenset({"text", "string", "free_text", "textarea", "notepad", "comment", "memo", "note"})
FIELD_TYPES = ("choice", "number", "date", "boolean", "code")

Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]


class ProgrammeError(SantegardeError):
    """A programme file cannot be used; the message names the file, the place and the fix."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        listing = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{path} is not a valid compassionate-access programme file:\n{listing}")


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
                raise ValueError(
                    f"the field '{data.get('id', '?')}' is of type '{data.get('type')}': aac-2022-106 forbids free-"
                    "entry areas in collection forms (§7.3, AAC-7); make it a choice from a value set, a number "
                    "with its unit and bounds, a date, a boolean or a MedDRA/ATC/ICD-10 code"
                )
        return data

    @model_validator(mode="after")
    def _shape(self) -> FormField:
        if self.type == "choice" and len(self.values) < 2:
            raise ValueError(f"the choice field '{self.id}' needs a value set of at least two values (values)")
        if self.type != "choice" and self.values:
            raise ValueError(f"the field '{self.id}' is not a choice: remove its values")
        if self.type == "number":
            if not self.unit or self.min is None or self.max is None:
                raise ValueError(f"the number field '{self.id}' needs its unit, min and max")
            if self.min > self.max:
                raise ValueError(f"the number field '{self.id}' has min {self.min} above max {self.max}")
        if self.type == "code":
            if self.system is None:
                raise ValueError(f"the code field '{self.id}' needs its system: meddra, atc or icd10")
            unknown = sorted(set(self.codes) - set(code_set(self.system)))
            if unknown:
                raise ValueError(
                    f"the code field '{self.id}' lists codes absent from the bundled {self.system} set: "
                    + ", ".join(unknown)
                )
        elif self.system is not None or self.codes:
            raise ValueError(f"the field '{self.id}' is not a code: remove its system and codes")
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
                raise ValueError(f"the field id '{f.id}' appears twice in the form")
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
            raise ValueError(f"the decision expires ({self.expires}) on or before it is granted ({self.granted})")
        if self.suspended_or_withdrawn is not None and self.suspended_or_withdrawn < self.granted:
            raise ValueError("the suspension or withdrawal is dated before the decision was granted")
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
            raise ValueError(f"the ATC code '{atc}' is not in the bundled ATC set")
        return atc


class Indication(Strict):
    label: str = Field(min_length=1)
    icd10: str

    @field_validator("icd10")
    @classmethod
    def _known(cls, icd10: str) -> str:
        if icd10 not in code_set("icd10"):
            raise ValueError(f"the ICD-10 code '{icd10}' is not in the bundled ICD-10 set")
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
            raise ValueError(f"form ids appear twice: {', '.join(twice)}")
        kinds = [f.kind for f in self.forms]
        missing = [k.value for k in REQUIRED_KINDS if k not in kinds]
        if missing:
            raise ValueError(f"the protocol has no form of kind: {', '.join(missing)}; every PUT-SP needs one")
        again = sorted({k.value for k in kinds if kinds.count(k) > 1})
        if again:
            raise ValueError(f"one form per kind: several forms of kind {', '.join(again)}")
        declared = [c.category for c in self.optional_categories]
        if len(set(declared)) != len(declared):
            raise ValueError("an optional category is declared twice")
        return self

    @property
    def key(self) -> str:
        return f"{self.id}@{self.version}"

    def form(self, form_id: str) -> Form | None:
        return next((f for f in self.forms if f.id == form_id), None)

    def form_of(self, kind: FormKind) -> Form:
        return next(f for f in self.forms if f.kind == kind)

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
    """Why no form may be submitted under the programme on that day, in each language (governance/data/refusals.yaml,
    ``aac``), or None when it is active."""
    state = programme.status(on)
    d = programme.ansm_decision
    when = {"suspended": d.suspended_or_withdrawn, "not_granted_yet": d.granted, "expired": d.expires}.get(state)
    if when is None:
        return None
    return refusals.sentences("aac", state, date={"fr": f"{when:%d/%m/%Y}", "en": when.isoformat()})


def check_against(programme: Programme, ref: Referential) -> list[str]:
    """What the référentiel refuses in a programme: forbidden or unknown categories, undeclared optional ones."""
    problems: list[str] = []
    purpose = ref.purpose(PURPOSE)
    usable = set(purpose.categories) if purpose else set()
    declared = {c.category for c in programme.optional_categories}
    for fi, form in enumerate(programme.forms):
        for ii, f in enumerate(form.fields):
            where = f"at forms[{fi}].fields[{ii}] (form '{form.id}', field '{f.id}')"
            category = ref.category(f.category)
            if category is None:
                problems.append(f"{where}: '{f.category}' is not a data category of {ref.id}")
            elif category.forbidden:
                problems.append(
                    f"{where}: {ref.id} forbids collecting '{category.name}' (§{category.section}); remove the field"
                )
            elif f.category not in usable or f.category == "professional_data":
                problems.append(f"{where}: '{f.category}' is not patient data collected for {PURPOSE} (§5.2)")
            elif f.category in OPTIONAL_CATEGORIES and f.category not in declared:
                problems.append(
                    f"{where}: '{category.name}' may be collected only when strictly necessary (§7.2); declare it "
                    "under optional_categories with the written justification, or remove the field"
                )
            elif (form.kind is FormKind.RELATED_PERSON) != (f.category in RELATED_CATEGORIES):
                problems.append(
                    f"{where}: data on related persons ({', '.join(RELATED_CATEGORIES)}) belong in the related-person "
                    "form only, and that form holds nothing else (§7.2 b)"
                )
            elif f.category == "patient_indirect_identity":
                problems.append(
                    f"{where}: the patient's code is built by the platform from the initials (§7.2); remove the field"
                )
    unused = sorted(declared - {f.category for form in programme.forms for f in form.fields})
    for name in unused:
        problems.append(f"at optional_categories: '{name}' is declared but no field collects it; remove it")
    return problems


def parse_programme(text: str, path: str, ref: Referential) -> Programme:
    """A validated programme from YAML text, checked against the référentiel; ``path`` names it in errors."""
    try:
        raw = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown place"
        raise ProgrammeError(path, [f"at {where}: the YAML cannot be read ({getattr(exc, 'problem', exc)})"]) from None
    if not isinstance(raw, dict):
        raise ProgrammeError(path, ["at (top level): expected a mapping of keys such as id, version, forms"])
    try:
        programme = Programme.model_validate(raw)
    except ValidationError as exc:
        problems = [
            re.sub(r"^at [^:]*: this key is not part of the référentiel format", _extra, p)
            for p in format_validation_error(exc)
        ]
        raise ProgrammeError(path, problems) from None
    problems = check_against(programme, ref)
    if problems:
        raise ProgrammeError(path, problems)
    return programme


def _extra(match: re.Match[str]) -> str:
    return match.group(0).replace("the référentiel format", "the programme format")
