"""Check an organisation's configuration against its référentiel, and apply it.

``check`` lists every missing or invalid controller choice and every deviation, each as a
sentence; a deviation without a written justification is an error (COM-REF-2).
``effective_referential`` returns the référentiel as this organisation applies it: choices
filled in and justified deviations applied. Policy decides from that.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from santegarde.config.model import ChoiceAnswer, OrganisationConfig
from santegarde.errors import SantegardeError
from santegarde.referentials.model import Art6Basis, ControllerChoice, Duration, Referential

Severity = Literal["error", "warning", "deviation"]

_PLACEHOLDERS = {"todo", "tbd", "n/a", "na", "none", "xxx", "...", "justification", "to do", "-"}
MIN_JUSTIFICATION = 20


@dataclass(frozen=True, slots=True)
class Finding:
    severity: Severity  # error: must be fixed; deviation: justified departure; warning: no effect
    kind: str
    subject: str
    message: str
    section: str | None = None
    justification: str | None = None
    # What the finding is about, for the sentence in each language (governance.doctext.finding words it):
    # ids and values as they are (durations as Duration), never a sentence.
    facts: dict[str, Any] = field(default_factory=dict)


def is_justified(text: str | None) -> bool:
    """A written justification: a real sentence, not empty and not a placeholder."""
    cleaned = (text or "").strip()
    return len(cleaned) >= MIN_JUSTIFICATION and cleaned.lower() not in _PLACEHOLDERS


def _deviation(
    kind: str, subject: str, what: str, justification: str, section: str | None, facts: dict[str, Any]
) -> Finding:
    facts = {"deviation": kind, "min": MIN_JUSTIFICATION, **facts}
    if is_justified(justification):
        return Finding("deviation", kind, subject, what, section, justification.strip(), facts)
    return Finding(
        "error",
        f"unjustified_{kind}",
        subject,
        f"{what}: this deviates from the référentiel and has no written justification; add a "
        f"'justification' of at least {MIN_JUSTIFICATION} characters explaining why, or remove the deviation",
        section,
        facts=facts,
    )


def _out_of_bounds(choice: ControllerChoice, value: Duration) -> tuple[str, dict[str, Any]] | None:
    """The text's own bounds on a duration the controller sets (e.g. traces kept between six months and one year):
    the sentence, and its facts."""
    if choice.minimum and value.total_days() < choice.minimum.total_days():
        shortest = choice.minimum.human()
        return (
            f"is {value.human()}, shorter than the {shortest} the text requires (section {choice.section})",
            {"problem": "too_short", "value": value, "bound": choice.minimum},
        )
    if choice.maximum and value.total_days() > choice.maximum.total_days():
        longest = choice.maximum.human()
        return (
            f"is {value.human()}, longer than the {longest} the text allows (section {choice.section})",
            {"problem": "too_long", "value": value, "bound": choice.maximum},
        )
    return None


def _check_choice(ref: Referential, choice_id: str, answer: ChoiceAnswer | None) -> list[Finding]:
    choice = ref.choice(choice_id)
    assert choice is not None
    if answer is None:
        return [
            Finding(
                "error",
                "missing_choice",
                choice_id,
                f"the controller choice '{choice_id}' is not filled: {choice.question} "
                f"(set choices.{choice_id}.value in the configuration, or --set {choice_id}=VALUE)",
                choice.section,
                facts={"choice": choice_id},
            )
        ]
    value = answer.value
    problem: str | None = None
    facts: dict[str, Any] = {"choice": choice_id}
    if choice.kind == "boolean" and not isinstance(value, bool):
        problem, facts["problem"] = "must be true or false", "boolean"
    elif choice.kind == "duration":
        try:
            Duration.model_validate(value)
        except ValidationError:
            problem, facts["problem"] = "must be an ISO 8601 duration such as P3Y or P6M", "duration_format"
        if problem is None:
            bounds = _out_of_bounds(choice, Duration.model_validate(value))
            if bounds is not None:
                problem, more = bounds
                facts |= more
        if problem is None and not is_justified(answer.justification):
            problem = "is a duration set by the controller, which must be justified: add a 'justification'"
            facts["problem"] = "unjustified_duration"
    elif choice.kind == "legal_basis":
        allowed = {b.art6.value for p in ref.purposes if p.legal_basis_choice == choice_id for b in p.legal_bases}
        if value not in allowed:
            problem = f"must be one of the legal bases the text admits: {', '.join(sorted(allowed))}"
            facts |= {"problem": "legal_basis", "allowed": ", ".join(sorted(allowed))}
    elif choice.kind == "choice" and value not in choice.options:
        problem = f"must be one of: {', '.join(choice.options)}"
        facts |= {"problem": "option", "options": ", ".join(choice.options)}
    elif choice.kind == "text" and not str(value).strip():
        problem, facts["problem"] = "must not be empty", "empty"
    if problem:
        return [
            Finding(
                "error",
                "invalid_choice",
                choice_id,
                f"the controller choice '{choice_id}' ({choice.question}) {problem}",
                choice.section,
                facts=facts,
            )
        ]
    return []


def _check_formalities(config: OrganisationConfig, ref: Referential) -> list[Finding]:
    """Each recorded formality covers purposes of the text that need one."""
    findings = []
    for formality in config.formalities:
        for purpose_id in formality.purposes:
            purpose = ref.purpose(purpose_id)
            if purpose is None or not purpose.requires_formality:
                needing = ", ".join(p.id for p in ref.purposes if p.requires_formality) or "none"
                findings.append(
                    Finding(
                        "error",
                        "formality_purpose",
                        formality.reference,
                        f"the formality '{formality.reference}' names '{purpose_id}', which is not a purpose of "
                        f"{ref.id} that needs a formality (those that do: {needing})",
                        facts={"reference": formality.reference, "purpose": purpose_id, "needing": needing},
                    )
                )
        if formality.expires is not None and formality.expires < formality.granted:
            findings.append(
                Finding(
                    "error",
                    "formality_dates",
                    formality.reference,
                    f"the formality '{formality.reference}' expires before it was granted",
                    facts={"reference": formality.reference},
                )
            )
    return findings


def check(config: OrganisationConfig, ref: Referential) -> list[Finding]:
    """Every problem and deviation of the configuration, in a stable order."""
    findings: list[Finding] = []
    if config.referential != ref.id:
        findings.append(
            Finding(
                "error",
                "wrong_referential",
                config.referential,
                f"the configuration names '{config.referential}' but is checked against '{ref.id}'",
                facts={"named": config.referential, "rid": ref.id},
            )
        )
    if ref.organisation_profile != config.profile:
        findings.append(
            Finding(
                "error",
                "wrong_profile",
                config.profile,
                f"'{ref.id}' is for {ref.organisation_profile}s, not for a {config.profile}",
                facts={"rid": ref.id, "profile": config.profile, "for": str(ref.organisation_profile)},
            )
        )
    for choice in ref.choices:
        findings += _check_choice(ref, choice.id, config.choices.get(choice.id))
    for choice_id in config.choices:
        if ref.choice(choice_id) is None:
            findings.append(
                Finding(
                    "error",
                    "unknown_choice",
                    choice_id,
                    f"'{choice_id}' is not a controller choice of {ref.id}; known: "
                    + ", ".join(c.id for c in ref.choices),
                    facts={"choice_id": choice_id, "rid": ref.id, "known": ", ".join(c.id for c in ref.choices)},
                )
            )
    findings += _check_formalities(config, ref)
    dev = config.deviations
    completed = {lb.purpose for lb in dev.legal_basis}
    for p in ref.purposes:
        if not (p.legal_bases or p.out_of_scope or p.forbidden or p.requires_formality or p.id in completed):
            findings.append(
                Finding(
                    "warning",
                    "no_legal_basis",
                    p.id,
                    f"the référentiel states no legal basis for '{p.id}' ({p.name}); the persons must be told one "
                    "(GDPR art. 13.1 c), so notices are refused until you record it under deviations.legal_basis "
                    "with its justification",
                    p.section,
                    facts={"purpose": p.id},
                )
            )
    for r in dev.retention:
        rule = ref.retention_rule(r.rule)
        if rule is None:
            findings.append(
                Finding(
                    "error",
                    "unknown_rule",
                    r.rule,
                    f"'{r.rule}' is not a retention rule of {ref.id}",
                    facts={"rule": r.rule, "rid": ref.id},
                )
            )
            continue
        changes = []
        changed: dict[str, Any] = {"rule": r.rule}
        if r.active is not None and r.active != rule.active.duration:
            before = rule.active.duration.human() if rule.active.duration else "the text's event"
            changes.append(f"active {r.active.human()} instead of {before}")
            changed["active"] = (r.active, rule.active.duration)
        if r.archive is not None and r.archive != (rule.archive.duration if rule.archive else None):
            before = rule.archive.duration.human() if rule.archive and rule.archive.duration else "none"
            changes.append(f"archive {r.archive.human()} instead of {before}")
            changed["archive"] = (r.archive, rule.archive.duration if rule.archive else None)
        if not changes:
            findings.append(
                Finding(
                    "warning",
                    "no_effect",
                    r.rule,
                    f"the retention deviation for '{r.rule}' changes nothing",
                    facts={"rule": r.rule, "no_effect": "retention"},
                )
            )
            continue
        findings.append(
            _deviation(
                "retention",
                r.rule,
                f"retention '{rule.name}': {', '.join(changes)}",
                r.justification,
                rule.section,
                changed,
            )
        )
    for lb in dev.legal_basis:
        purpose = ref.purpose(lb.purpose)
        if purpose is None:
            findings.append(
                Finding(
                    "error",
                    "unknown_purpose",
                    lb.purpose,
                    f"'{lb.purpose}' is not a purpose of {ref.id}",
                    facts={"purpose_id": lb.purpose, "rid": ref.id},
                )
            )
            continue
        if any(b.art6 == lb.art6 and b.art9 == lb.art9 for b in purpose.legal_bases):
            findings.append(
                Finding(
                    "warning",
                    "no_effect",
                    lb.purpose,
                    f"'{lb.art6}' is already an admissible legal basis for '{lb.purpose}'; "
                    "use the controller choice instead of a deviation",
                    facts={"purpose": lb.purpose, "basis": str(lb.art6), "no_effect": "legal_basis"},
                )
            )
            continue
        findings.append(
            _deviation(
                "legal_basis",
                lb.purpose,
                f"legal basis of '{purpose.name}': {lb.art6} instead of "
                + " or ".join(b.art6.value for b in purpose.legal_bases)
                if purpose.legal_bases
                else f"legal basis of '{purpose.name}', which the référentiel leaves to the controller: {lb.art6}"
                + (f" and art. {lb.art9.value}" if lb.art9 else ""),
                lb.justification,
                purpose.section,
                {
                    "purpose": lb.purpose,
                    "basis": str(lb.art6),
                    "art9": lb.art9.value if lb.art9 else "",
                    "before": " / ".join(b.art6.value for b in purpose.legal_bases),
                },
            )
        )
    for extra in dev.extra_data:
        unknown = [p for p in extra.purposes if ref.purpose(p) is None] + [
            a for a in extra.profiles if ref.accessor(a) is None
        ]
        if ref.category(extra.id) is not None:
            findings.append(
                Finding(
                    "error",
                    "duplicate_category",
                    extra.id,
                    f"'{extra.id}' is already a category of {ref.id}; extra data needs a new id",
                    facts={"id": extra.id, "rid": ref.id},
                )
            )
        elif unknown:
            findings.append(
                Finding(
                    "error",
                    "unknown_reference",
                    extra.id,
                    f"extra data '{extra.id}' names unknown purposes or profiles: {', '.join(unknown)}",
                    facts={"id": extra.id, "unknown": ", ".join(unknown)},
                )
            )
        else:
            findings.append(
                _deviation(
                    "extra_data",
                    extra.id,
                    f"extra data '{extra.name}' ({extra.kind}) for {', '.join(extra.purposes)}",
                    extra.justification,
                    "5",
                    {"name": extra.name, "kind": extra.kind, "purposes": list(extra.purposes)},
                )
            )
    for m in dev.measures:
        measure = ref.measure(m.code)
        if measure is None:
            findings.append(
                Finding(
                    "error",
                    "unknown_measure",
                    m.code,
                    f"'{m.code}' is not a security measure of {ref.id}",
                    facts={"code": m.code, "rid": ref.id},
                )
            )
        elif m.status != "implemented":
            findings.append(
                _deviation(
                    "measure",
                    m.code,
                    f"measure {m.code} ({measure.title}) is {m.status.replace('_', ' ')}",
                    m.justification,
                    measure.section,
                    {"code": m.code, "status": m.status},
                )
            )
    return findings


def errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == "error"]


class ConfigurationRefused(SantegardeError, ValueError):
    """The configuration cannot be used: it lists every error as a sentence."""

    def __init__(self, findings: list[Finding]) -> None:
        self.findings = findings
        super().__init__("The configuration is refused:\n" + "\n".join(f"  - {f.message}" for f in findings))


def effective_referential(config: OrganisationConfig, ref: Referential) -> Referential:
    """The référentiel as this organisation applies it. Refuses a configuration with errors."""
    problems = errors(check(config, ref))
    if problems:
        raise ConfigurationRefused(problems)
    data: dict[str, Any] = ref.model_dump(mode="json")
    purposes = {p["id"]: p for p in data["purposes"]}
    for p in purposes.values():
        choice = p.get("legal_basis_choice")
        if choice and choice in config.choices:
            p["legal_bases"] = [b for b in p["legal_bases"] if b["art6"] == config.choices[choice].value]
    for rule in data["retention"]:
        choice = rule.get("controller_choice")
        if choice and choice in config.choices and ref.choice(choice) and ref.choice(choice).kind == "duration":  # type: ignore[union-attr]
            rule["active"]["duration"] = str(config.choices[choice].value)
        start = rule.get("start_choice")
        if start and start in config.choices:
            rule["active"]["start_event"] = str(config.choices[start].value)
    rules = {r["id"]: r for r in data["retention"]}
    for r in config.deviations.retention:
        if r.active is not None:
            rules[r.rule]["active"]["duration"] = str(r.active)
        if r.archive is not None and rules[r.rule]["archive"] is not None:
            rules[r.rule]["archive"]["duration"] = str(r.archive)
    for lb in config.deviations.legal_basis:
        purposes[lb.purpose]["legal_bases"] = [
            {
                "art6": lb.art6.value,
                "art9": lb.art9.value if lb.art9 else None,
                "note": f"deviation: {lb.justification.strip()}",
            }
        ]
    for extra in config.deviations.extra_data:
        data["categories"].append(
            {
                "id": extra.id,
                "name": extra.name,
                "kind": extra.kind.value,
                "sensitivity": extra.sensitivity.value,
                "section": "5",
                "condition": f"deviation: {extra.justification.strip()}",
            }
        )
        for pid in extra.purposes:
            purposes[pid]["categories"].append(extra.id)
        for accessor in data["accessors"]:
            if accessor["id"] in extra.profiles:
                accessor["access"].append(
                    {
                        "categories": [extra.id],
                        "operations": ["read", "write"],
                        "purposes": extra.purposes,
                        "granularity": "identifying",
                    }
                )
    return Referential.model_validate(data)


def basis_choice(config: OrganisationConfig, ref: Referential, purpose_id: str) -> Art6Basis | None:
    """The legal basis the organisation chose for a purpose, when the text leaves it open."""
    purpose = ref.purpose(purpose_id)
    if purpose is None or purpose.legal_basis_choice is None:
        return None
    answer = config.choices.get(purpose.legal_basis_choice)
    return Art6Basis(str(answer.value)) if answer else None


def chosen_bases(config: OrganisationConfig, ref: Referential) -> dict[str, Art6Basis]:
    """Every legal basis the organisation chose (choices) or recorded (deviations.legal_basis), by purpose."""
    bases = {lb.purpose: lb.art6 for lb in config.deviations.legal_basis}
    for purpose in ref.purposes:
        chosen = basis_choice(config, ref, purpose.id)
        if chosen is not None:
            bases[purpose.id] = chosen
    return bases
