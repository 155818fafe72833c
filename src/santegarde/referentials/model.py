"""Typed model of a référentiel file.

A référentiel is the CNIL's framework for one kind of health-data processing. santegarde ships
each one as a YAML file in ``referentials/data/`` and every other package decides from it.
Every item cites the section of the deliberation it comes from (``section``); where the text
leaves a choice to the controller, the item says so with ``controller_choice`` and the
organisation's configuration must fill it (see ``santegarde.config``).
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_ID = r"^[a-z][a-z0-9_]*$"
Identifier = Annotated[str, Field(pattern=_ID)]
FhirElement = Annotated[str, Field(pattern=r"^[A-Z][A-Za-z]+\.[a-z][A-Za-z]*$", description="e.g. Encounter.period")]
Section = Annotated[str, Field(min_length=1, description="Section of the deliberation cited, e.g. '5' or '13.3'")]

_DURATION = re.compile(r"^P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<days>\d+)D)?$")


class Strict(BaseModel):
    """Base of every référentiel item: unknown keys are errors, items are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Duration(Strict):
    """A calendar duration, written in YAML as ISO 8601 (``P5Y``, ``P3M``, ``P1Y6M``, ``P30D``)."""

    years: int = 0
    months: int = 0
    days: int = 0

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, value: object) -> object:
        if isinstance(value, str):
            match = _DURATION.match(value)
            if not match or value == "P":
                raise ValueError(f"'{value}' is not an ISO 8601 duration such as P5Y, P3M or P1Y6M")
            return {k: int(v) for k, v in match.groupdict().items() if v}
        return value

    def __str__(self) -> str:
        text = "P" + "".join(f"{n}{u}" for n, u in ((self.years, "Y"), (self.months, "M"), (self.days, "D")) if n)
        return text if text != "P" else "P0D"

    def human(self) -> str:
        parts = []
        for n, unit in ((self.years, "year"), (self.months, "month"), (self.days, "day")):
            if n:
                parts.append(f"{n} {unit}{'s' if n > 1 else ''}")
        return ", ".join(parts) or "0 days"

    def total_days(self) -> float:
        """Approximate length in days, used only to compare durations (never to compute dates)."""
        return self.years * 365.25 + self.months * 30.44 + self.days


class Status(StrEnum):
    FINAL = "final"
    DRAFT = "draft"


class OrganisationProfile(StrEnum):
    PRACTICE = "practice"
    PHARMACY = "pharmacy"
    COMPASSIONATE = "compassionate"
    WAREHOUSE = "warehouse"


class Art6Basis(StrEnum):
    """Lawfulness under GDPR article 6.1."""

    CONSENT = "consent"  # 6.1 a
    CONTRACT = "contract"  # 6.1 b
    LEGAL_OBLIGATION = "legal_obligation"  # 6.1 c
    VITAL_INTEREST = "vital_interest"  # 6.1 d
    PUBLIC_INTEREST = "public_interest"  # 6.1 e
    LEGITIMATE_INTEREST = "legitimate_interest"  # 6.1 f


ART6_ARTICLE = {
    Art6Basis.CONSENT: "6.1.a",
    Art6Basis.CONTRACT: "6.1.b",
    Art6Basis.LEGAL_OBLIGATION: "6.1.c",
    Art6Basis.VITAL_INTEREST: "6.1.d",
    Art6Basis.PUBLIC_INTEREST: "6.1.e",
    Art6Basis.LEGITIMATE_INTEREST: "6.1.f",
}


class Art9Condition(StrEnum):
    """Exception of GDPR article 9.2 that lifts the ban on processing health data."""

    EXPLICIT_CONSENT = "9.2.a"
    VITAL_INTEREST = "9.2.c"
    SUBSTANTIAL_PUBLIC_INTEREST = "9.2.g"
    HEALTH_CARE = "9.2.h"
    PUBLIC_HEALTH = "9.2.i"
    RESEARCH = "9.2.j"


class CategoryKind(StrEnum):
    """Shared vocabulary of data-category kinds: every référentiel maps its categories onto it."""

    IDENTITY = "identity"
    CONTACT = "contact"
    NIR = "nir"
    INS = "ins"
    ADMINISTRATIVE = "administrative"
    FAMILY = "family"
    PROFESSIONAL = "professional"  # professional situation of the patient, or a professional's data
    FINANCIAL = "financial"
    APPOINTMENT = "appointment"
    HEALTH = "health"
    GENETIC = "genetic"
    ETHNIC_ORIGIN = "ethnic_origin"
    SEX_LIFE = "sex_life"
    LIFESTYLE = "lifestyle"
    LOCATION = "location"
    IMAGING = "imaging"
    FREE_TEXT = "free_text"
    TRACES = "traces"


class Sensitivity(StrEnum):
    """How carefully a category must be handled, from least to most."""

    ORDINARY = "ordinary"  # identity, contact, administrative
    HIGHLY_PERSONAL = "highly_personal"  # NIR/INS and other data the CNIL treats as highly personal
    SPECIAL = "special"  # GDPR art. 9 categories: health, genetic, ethnic origin, sex life


class Operation(StrEnum):
    READ = "read"
    WRITE = "write"
    EXPORT = "export"
    TRANSMIT = "transmit"
    ARCHIVE = "archive"
    DELETE = "delete"


class Granularity(StrEnum):
    """How identifying the data an accessor sees is (AAC-SEC-HAB-1, EDS-SEC-HAB-2)."""

    IDENTIFYING = "identifying"
    PSEUDONYMISED = "pseudonymised"
    AGGREGATED = "aggregated"


class SeparateKey(StrEnum):
    """A key the text reserves to some profiles, beyond the keys every granted access uses."""

    GENETIC_LOCATION = "genetic_location"  # EDS-SEC-LOG-6: the key of genetic and location tracking data


# The category kinds whose data each reserved key decrypts (an accessor holding the key must reach one of them).
SEPARATE_KEY_KINDS: dict[SeparateKey, frozenset[CategoryKind]] = {
    SeparateKey.GENETIC_LOCATION: frozenset({CategoryKind.GENETIC, CategoryKind.LOCATION}),
}


class Right(StrEnum):
    INFORMATION = "information"
    ACCESS = "access"
    RECTIFICATION = "rectification"
    ERASURE = "erasure"
    RESTRICTION = "restriction"
    OBJECTION = "objection"
    PORTABILITY = "portability"


class EndAction(StrEnum):
    DELETE = "delete"
    ANONYMISE = "anonymise"
    DELETE_OR_ANONYMISE = "delete_or_anonymise"


class MeasureAudience(StrEnum):
    """Who a security measure is addressed to in the text."""

    CONTROLLER = "controller"
    PROFESSIONAL = "professional"
    SOFTWARE_PROVIDER = "software_provider"
    PROCESSOR = "processor"


class LegalBasis(Strict):
    """One admissible legal basis of a purpose: the art. 6 basis and, for health data, the art. 9 condition."""

    art6: Art6Basis
    art9: Art9Condition | None = None
    note: str | None = None


class ControllerChoice(Strict):
    """A point the text leaves to the controller; the organisation's configuration must answer it."""

    id: Identifier
    question: str
    kind: Literal["duration", "legal_basis", "text", "boolean", "choice"]
    options: list[str] = Field(default_factory=list)
    minimum: Duration | None = Field(None, description="For a duration: the shortest period the text allows")
    maximum: Duration | None = Field(None, description="For a duration: the longest period the text allows")
    section: Section

    @model_validator(mode="after")
    def _bounds_only_for_durations(self) -> ControllerChoice:
        if (self.minimum or self.maximum) and self.kind != "duration":
            raise ValueError(f"choice '{self.id}': minimum and maximum apply to a duration choice only")
        if self.minimum and self.maximum and self.minimum.total_days() > self.maximum.total_days():
            raise ValueError(f"choice '{self.id}': its minimum is longer than its maximum")
        return self


class Purpose(Strict):
    id: Identifier
    name: str
    description: str | None = None
    legal_bases: list[LegalBasis] = Field(
        default_factory=list, description="Admissible bases; more than one means the controller picks one"
    )
    legal_basis_choice: Identifier | None = Field(
        None, description="Id of the controller choice that selects among legal_bases, if the text leaves it open"
    )
    categories: list[Identifier] = Field(default_factory=list, description="Category ids this purpose may use")
    forbidden: bool = Field(False, description="The text forbids this purpose (listed so the product can refuse it)")
    out_of_scope: bool = Field(False, description="The text excludes this processing from its scope")
    requires_formality: bool = Field(
        False, description="Needs a recorded formality (research methodology declaration or authorisation)"
    )
    output: Granularity | None = Field(None, description="Most identifying output this purpose may give")
    reuse: bool = Field(
        False,
        description="A further use of data collected for care (studies, research, a warehouse): a person's objection "
        "to it keeps them out of every feed and export",
    )
    section: Section


class Category(Strict):
    id: Identifier
    name: str
    kind: CategoryKind
    sensitivity: Sensitivity
    examples: list[str] = Field(default_factory=list)
    requires_consent: bool = False
    condition: str | None = Field(None, description="Condition the text puts on collecting this category")
    forbidden: bool = Field(False, description="The text forbids storing this category")
    section: Section


class Access(Strict):
    """What an accessor may do: operations on categories, for some purposes, at some granularity."""

    categories: list[Identifier]
    operations: list[Operation]
    purposes: list[Identifier] = Field(default_factory=list, description="Empty means any purpose of the text")
    granularity: Granularity = Granularity.IDENTIFYING
    condition: str | None = None
    elements: list[FhirElement] = Field(
        default_factory=list,
        description=(
            "The FHIR elements (Resource.element) this access is limited to, where the text restricts a profile to "
            "what its missions strictly need; empty means the whole category"
        ),
    )


class Accessor(Strict):
    """A profile of person acting under the controller's authority (who may see what)."""

    id: Identifier
    name: str
    description: str | None = None
    access: list[Access] = Field(default_factory=list)
    time_limited: bool = Field(False, description="Grants to this profile must carry an end date")
    health_data: bool = Field(True, description="False when the text says this profile never reads health data")
    care_relationship: bool = Field(
        False, description="Reaching a patient's record needs a care relationship with that patient (or break-glass)"
    )
    motivated: bool = Field(
        False, description="Each access is ad hoc and needs its written reason (e.g. the audit service, aac §8.2)"
    )
    max_grant_days: int | None = Field(
        None, ge=1, le=366, description="The longest a grant to this profile may run (an ad hoc access is short)"
    )
    keys: list[SeparateKey] = Field(
        default_factory=list,
        description="Reserved keys this profile may mobilise (e.g. genetic_location, EDS-SEC-LOG-6); empty for most",
    )
    section: Section


class Recipient(Strict):
    """An organisation or person outside the controller that may receive data."""

    id: Identifier
    name: str
    categories: list[Identifier] = Field(default_factory=list)
    purposes: list[Identifier] = Field(default_factory=list)
    condition: str | None = None
    processor: bool = Field(False, description="Acts as a processor (art. 28)")
    section: Section


class TransferMechanism(StrEnum):
    """The grounds of Chapter V GDPR a transfer outside the European Union may rest on."""

    ADEQUACY = "adequacy"  # art. 45: adequacy decision
    SAFEGUARDS = "safeguards"  # art. 46.2: standard contractual clauses, binding corporate rules, code, certification
    DEROGATIONS = "derogations"  # art. 49: specific situations, of strict interpretation


class Transfer(Strict):
    """A transfer outside the European Union the text allows (remote access from outside counts as one)."""

    id: Identifier
    name: str
    recipients: list[Identifier] = Field(description="Recipient ids the data may go to outside the EU")
    categories: list[Identifier] = Field(default_factory=list, description="Category ids that may be transferred")
    conditions: list[str] = Field(default_factory=list, description="Conditions the text sets, in its words")
    mechanisms: list[TransferMechanism] = Field(min_length=1, description="Admissible grounds, in the text's order")
    section: Section


class Phase(Strict):
    duration: Duration | None = Field(
        None, description="None when the duration is set by the controller or by an event"
    )
    start_event: str = Field(description="Event from which the phase runs, e.g. last_intervention")
    until_event: str | None = Field(None, description="Event that ends the phase when not a fixed duration")
    max_duration: Duration | None = None
    min_duration: Duration | None = None


class RetentionRule(Strict):
    id: Identifier
    name: str
    applies_to: list[Identifier] = Field(description="Purpose or category ids, or record kinds, the rule covers")
    active: Phase
    archive: Phase | None = None
    end_action: EndAction
    controller_choice: Identifier | None = Field(None, description="Choice id when the controller sets the duration")
    start_choice: Identifier | None = Field(
        None,
        description=(
            "Choice id when the controller also sets the event the active phase runs from (its options are event "
            "ids); the phase's start_event is then 'set_by_controller' until the configuration answers"
        ),
    )
    note: str | None = None
    section: Section


class RightRule(Strict):
    right: Right
    applies: bool
    purposes: list[Identifier] = Field(default_factory=list, description="Empty means every purpose")
    reason: str | None = Field(None, description="Why the right does not apply, or its conditions")
    beyond_gdpr: bool = Field(
        False,
        description=(
            "The text grants the right even where the GDPR would not (e.g. erasure in a warehouse based on a "
            "public-interest task); otherwise a rule that applies leaves the GDPR's conditions standing"
        ),
    )
    section: Section

    @model_validator(mode="after")
    def _reason_when_excluded(self) -> RightRule:
        if not self.applies and not self.reason:
            raise ValueError(f"right '{self.right}' is excluded but no reason is given; add 'reason'")
        if self.beyond_gdpr and not self.applies:
            raise ValueError(f"right '{self.right}' is excluded: 'beyond_gdpr' only qualifies a right the text grants")
        return self


class Measure(Strict):
    code: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9ÉÈ]*(?:[-.][A-Z0-9ÉÈ]+)*$")]
    title: str
    text: str
    area: str = Field(description="Theme of the measure, e.g. authentication, logging, backup")
    audience: MeasureAudience = MeasureAudience.CONTROLLER
    mandatory: bool = Field(True, description="False for measures the text only recommends")
    section: Section


class Threshold(Strict):
    """A measurable condition, e.g. annual turnover above 2,600,000 € excluding tax."""

    fact: Identifier = Field(description="Name of the organisation fact compared, e.g. annual_turnover_eur")
    op: Literal[">", ">=", "<", "<=", "==", "is_true"]
    value: float | bool | None = None
    description: str


class Trigger(Strict):
    """When a DPIA or a DPO is required: always, never, or when every one of the conditions holds."""

    required: Literal["always", "never", "conditional"]
    conditions: list[Threshold] = Field(default_factory=list)
    note: str | None = None
    section: Section

    @model_validator(mode="after")
    def _conditions_match(self) -> Trigger:
        if (self.required == "conditional") != bool(self.conditions):
            raise ValueError("'conditions' must be given exactly when 'required' is 'conditional'")
        return self


class SectionTitle(Strict):
    number: Section
    title: str


class Referential(Strict):
    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*$")]
    title: str
    deliberation: str = Field(description="Deliberation number(s), e.g. 2022-067 or 2021-118 (corrected by 2021-123)")
    adopted: date
    version: str
    status: Status
    language: Literal["en", "fr"]
    organisation_profile: OrganisationProfile
    source: str = Field(description="Seed file the data was taken from")
    supersedes: str | None = None
    sections: list[SectionTitle]
    purposes: list[Purpose]
    categories: list[Category]
    accessors: list[Accessor]
    recipients: list[Recipient] = Field(default_factory=list)
    transfers: list[Transfer] = Field(default_factory=list, description="Transfers outside the EU the text allows")
    retention: list[RetentionRule]
    rights: list[RightRule]
    measures: list[Measure]
    dpia: Trigger
    dpo: Trigger
    choices: list[ControllerChoice] = Field(default_factory=list)

    @field_validator("purposes", "categories", "accessors", "recipients", "transfers", "retention", "choices")
    @classmethod
    def _unique_ids(cls, items: list[BaseModel]) -> list[BaseModel]:
        seen: set[str] = set()
        for item in items:
            ident = item.id  # type: ignore[attr-defined]
            if ident in seen:
                raise ValueError(f"id '{ident}' is used twice; ids must be unique")
            seen.add(ident)
        return items

    @model_validator(mode="after")
    def _references_resolve(self) -> Referential:
        """Every id an item refers to must exist in the same file, and every cited section too."""
        cats = {c.id for c in self.categories}
        kind_of = {c.id: c.kind for c in self.categories}
        purposes = {p.id for p in self.purposes}
        choices = {c.id for c in self.choices}
        sections = {s.number for s in self.sections}
        problems: list[str] = []

        def need(ids: list[str] | tuple[str, ...], known: set[str], where: str, what: str) -> None:
            for ident in ids:
                if ident not in known:
                    problems.append(f"{where}: unknown {what} '{ident}'")

        def cite(section: str, where: str) -> None:
            number = section.split(" ")[0]
            parents = {".".join(number.split(".")[: n + 1]) for n in range(number.count(".") + 1)}
            if not parents & sections:
                problems.append(f"{where}: section '{section}' is not listed under 'sections' (nor its parent)")

        for i, p in enumerate(self.purposes):
            need(p.categories, cats, f"purposes[{i}] ({p.id})", "category")
            if p.legal_basis_choice:
                need([p.legal_basis_choice], choices, f"purposes[{i}] ({p.id})", "choice")
            cite(p.section, f"purposes[{i}] ({p.id})")
        for i, c in enumerate(self.categories):
            cite(c.section, f"categories[{i}] ({c.id})")
        for i, a in enumerate(self.accessors):
            for j, acc in enumerate(a.access):
                need(acc.categories, cats, f"accessors[{i}] ({a.id}).access[{j}]", "category")
                need(acc.purposes, purposes, f"accessors[{i}] ({a.id}).access[{j}]", "purpose")
            reached = {kind_of[c] for acc in a.access for c in acc.categories if c in kind_of}
            for key in a.keys:
                if not reached & SEPARATE_KEY_KINDS[key]:
                    kinds = " or ".join(sorted(SEPARATE_KEY_KINDS[key]))
                    problems.append(
                        f"accessors[{i}] ({a.id}): holds the '{key}' key but reaches no {kinds} category; give it "
                        "such an access or remove the key"
                    )
            if len(set(a.keys)) != len(a.keys):
                problems.append(f"accessors[{i}] ({a.id}): a key is listed twice under 'keys'")
            cite(a.section, f"accessors[{i}] ({a.id})")
        for i, r in enumerate(self.recipients):
            need(r.categories, cats, f"recipients[{i}] ({r.id})", "category")
            need(r.purposes, purposes, f"recipients[{i}] ({r.id})", "purpose")
            cite(r.section, f"recipients[{i}] ({r.id})")
        recipient_ids = {r.id for r in self.recipients}
        for i, t in enumerate(self.transfers):
            need(t.recipients, recipient_ids, f"transfers[{i}] ({t.id})", "recipient")
            need(t.categories, cats, f"transfers[{i}] ({t.id})", "category")
            cite(t.section, f"transfers[{i}] ({t.id})")
        for i, rule in enumerate(self.retention):
            if rule.controller_choice:
                need([rule.controller_choice], choices, f"retention[{i}] ({rule.id})", "choice")
            if rule.start_choice:
                need([rule.start_choice], choices, f"retention[{i}] ({rule.id})", "choice")
            cite(rule.section, f"retention[{i}] ({rule.id})")
        for i, right in enumerate(self.rights):
            need(right.purposes, purposes, f"rights[{i}] ({right.right})", "purpose")
            cite(right.section, f"rights[{i}] ({right.right})")
        codes: set[str] = set()
        for i, m in enumerate(self.measures):
            if m.code in codes:
                problems.append(f"measures[{i}]: code '{m.code}' is used twice")
            codes.add(m.code)
            cite(m.section, f"measures[{i}] ({m.code})")
        for i, choice in enumerate(self.choices):
            cite(choice.section, f"choices[{i}] ({choice.id})")
        cite(self.dpia.section, "dpia")
        cite(self.dpo.section, "dpo")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # -- look-ups used by policy and the CLI -------------------------------------------------

    def purpose(self, purpose_id: str) -> Purpose | None:
        return next((p for p in self.purposes if p.id == purpose_id), None)

    def category(self, category_id: str) -> Category | None:
        return next((c for c in self.categories if c.id == category_id), None)

    def accessor(self, accessor_id: str) -> Accessor | None:
        return next((a for a in self.accessors if a.id == accessor_id), None)

    def key_holders(self, key: SeparateKey) -> tuple[str, ...]:
        """The profiles that may mobilise a reserved key (EDS-SEC-LOG-6), in the file's order."""
        return tuple(a.id for a in self.accessors if key in a.keys)

    def events(self) -> list[str]:
        """Every event a retention period runs from or until, with the events a controller may choose, in order."""
        found: list[str] = []
        for rule in self.retention:
            for phase in (rule.active, rule.archive):
                if phase is not None:
                    found += [e for e in (phase.start_event, phase.until_event) if e]
            choice = self.choice(rule.start_choice) if rule.start_choice else None
            found += choice.options if choice else []
        return list(dict.fromkeys(found))

    def retention_rule(self, rule_id: str) -> RetentionRule | None:
        return next((r for r in self.retention if r.id == rule_id), None)

    def measure(self, code: str) -> Measure | None:
        return next((m for m in self.measures if m.code == code), None)

    def choice(self, choice_id: str) -> ControllerChoice | None:
        return next((c for c in self.choices if c.id == choice_id), None)

    def section_title(self, number: str) -> str | None:
        return next((s.title for s in self.sections if s.number == number), None)
