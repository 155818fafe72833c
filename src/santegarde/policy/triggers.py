"""Whether a DPIA and a DPO are required, computed from the référentiel and the organisation's facts."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from santegarde.errors import SantegardeError
from santegarde.referentials.model import Referential, Threshold, Trigger

Fact = float | int | bool

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
}


@dataclass(frozen=True, slots=True)
class TriggerDecision:
    what: str  # "DPIA" or "DPO"
    required: bool
    referential: str
    section: str
    reason: str
    missing_facts: tuple[str, ...] = ()

    def __str__(self) -> str:
        verdict = "required" if self.required else "not required"
        return f"{self.what} {verdict} ({self.referential} §{self.section}): {self.reason}"


def _holds(cond: Threshold, value: Fact) -> bool:
    if cond.op == "is_true":
        return bool(value)
    assert cond.value is not None and not isinstance(cond.value, bool), "numeric thresholds only"
    return _OPS[cond.op](float(value), float(cond.value))


def _decide(what: str, ref: Referential, trigger: Trigger, facts: Mapping[str, Fact]) -> TriggerDecision:
    note = f" ({trigger.note})" if trigger.note else ""
    if trigger.required == "always":
        return TriggerDecision(what, True, ref.id, trigger.section, f"{ref.id} always requires a {what}{note}")
    if trigger.required == "never":
        return TriggerDecision(what, False, ref.id, trigger.section, f"{ref.id} does not require a {what}{note}")
    missing = tuple(c.fact for c in trigger.conditions if c.fact not in facts)
    if missing:
        # Fail closed: without the facts, assume the obligation and say what to declare.
        return TriggerDecision(
            what,
            True,
            ref.id,
            trigger.section,
            f"a {what} is required unless the organisation declares {', '.join(missing)} and they show otherwise",
            missing,
        )
    failing = [c for c in trigger.conditions if not _holds(c, facts[c.fact])]
    described = "; ".join(c.description for c in trigger.conditions)
    if failing:
        return TriggerDecision(
            what,
            False,
            ref.id,
            trigger.section,
            f"not every condition holds ({described}): " + "; ".join(f"{c.fact} is {facts[c.fact]}" for c in failing),
        )
    return TriggerDecision(what, True, ref.id, trigger.section, f"every condition holds: {described}{note}")


def dpia_required(ref: Referential, facts: Mapping[str, Fact]) -> TriggerDecision:
    return _decide("DPIA", ref, ref.dpia, facts)


def dpo_required(ref: Referential, facts: Mapping[str, Fact]) -> TriggerDecision:
    return _decide("DPO", ref, ref.dpo, facts)


def trigger_facts(ref: Referential) -> dict[str, Threshold]:
    """Every fact the DPIA and DPO triggers of the référentiel name, with the first condition on it (its kind)."""
    found: dict[str, Threshold] = {}
    for trigger in (ref.dpia, ref.dpo):
        for cond in trigger.conditions:
            found.setdefault(cond.fact, cond)
    return found


def parse_fact(ref: Referential, name: str, value: str | bool) -> Fact:
    """A fact from the command line or a prompt, typed as its trigger needs: true/false, or a number."""
    known = trigger_facts(ref)
    cond = known.get(name)
    if cond is None:
        listed = ", ".join(sorted(known)) or "none: its DPIA and DPO obligations do not depend on facts"
        raise SantegardeError(f"'{name}' is not a fact the triggers of {ref.id} use; the facts it uses: {listed}.")
    if cond.op == "is_true":
        if isinstance(value, bool):
            return value
        raise SantegardeError(f"The fact '{name}' ({cond.description}) must be true or false, not '{value}'.")
    try:
        number = float(str(value).replace("_", "").replace(" ", ""))
    except ValueError:
        raise SantegardeError(f"The fact '{name}' ({cond.description}) must be a number, not '{value}'.") from None
    if isinstance(value, bool) or number < 0:
        raise SantegardeError(f"The fact '{name}' ({cond.description}) must be a positive number, not '{value}'.")
    return int(number) if number.is_integer() else number
