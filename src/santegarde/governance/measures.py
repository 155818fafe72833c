"""Recording the status of a security measure (COM-SEC-1): who set it, when, on what evidence.

Statuses live where the conformity report and the DPIA read them, ``deviations.measures`` of
``santegarde.yaml``; ``record`` validates everything (the code against the référentiel's measures, the
status, the evidence, the author, the justification a non-implemented status needs) before it rewrites
the file atomically. The status words are the CNIL's (implemented, equivalent, not_necessary,
not_implemented); done, planned, partial and not_applicable are accepted as their everyday names.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from santegarde.clock import Clock, utc_now
from santegarde.config import OrganisationConfig, is_justified, load, save
from santegarde.config.model import MEASURE_STATES, MeasureState, MeasureStatus
from santegarde.errors import SantegardeError
from santegarde.referentials import loader
from santegarde.referentials.model import Measure, Referential

# Everyday names for the CNIL's statuses: a partial measure is not implemented yet (it stays in the action plan).
ALIASES: dict[str, MeasureState] = {
    "done": "implemented",
    "planned": "not_implemented",
    "partial": "not_implemented",
    "not_applicable": "not_necessary",
}
STATUS_CHOICES = (*MEASURE_STATES, *ALIASES)
MIN_EVIDENCE = 5


class MeasureError(SantegardeError, ValueError):
    """A measure status cannot be recorded as asked."""


@dataclass(frozen=True, slots=True)
class MeasureRow:
    """One measure of the référentiel and the status recorded for it, if any."""

    measure: Measure
    status: MeasureStatus | None


def _measure(ref: Referential, code: str) -> Measure:
    found = ref.measure(code.strip()) or ref.measure(code.strip().upper())
    if found is not None:
        return found
    codes = [m.code for m in ref.measures]
    close = difflib.get_close_matches(code.strip().upper(), codes, n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise MeasureError(
        f"'{code}' is not a security measure of {ref.id}.{hint} 'santegarde measure list' shows the "
        f"{len(codes)} measures of the référentiel."
    )


def _state(status: str) -> MeasureState:
    word = status.strip().lower().replace("-", "_")
    if word in ALIASES:
        return ALIASES[word]
    for state in MEASURE_STATES:
        if word == state:
            return state  # type: ignore[return-value]  # one of the Literal's values, checked just above
    raise MeasureError(f"'{status}' is not a measure status; choose one of: {', '.join(STATUS_CHOICES)}.")


def statused(
    config: OrganisationConfig,
    ref: Referential,
    code: str,
    status: str,
    *,
    evidence: str,
    by: str,
    justification: str | None = None,
    clock: Clock = utc_now,
) -> OrganisationConfig:
    """The configuration with this measure's status recorded (replacing any earlier one); validated, not written."""
    measure = _measure(ref, code)
    state = _state(status)
    if len(evidence.strip()) < MIN_EVIDENCE:
        raise MeasureError(
            f"Say what shows the status of {measure.code} with --evidence (a document, a procedure, a place), in at "
            f"least {MIN_EVIDENCE} characters."
        )
    if not by.strip():
        raise MeasureError("Say who records the status with --by NAME.")
    if state != "implemented" and not is_justified(justification):
        raise MeasureError(
            f"A measure that is {state.replace('_', ' ')} needs a written justification of at least 20 characters "
            f'(why, and what is done instead or when it will be): add --justification "…" for {measure.code}.'
        )
    entry = MeasureStatus(
        code=measure.code,
        status=state,
        justification=(justification or "").strip(),
        evidence=evidence.strip(),
        set_by=by.strip(),
        set_at=clock().replace(microsecond=0),
    )
    kept = [m for m in config.deviations.measures if m.code != measure.code]
    deviations = config.deviations.model_copy(update={"measures": [*kept, entry]})
    return config.model_copy(update={"deviations": deviations})


def record(
    path: Path,
    code: str,
    status: str,
    *,
    evidence: str,
    by: str,
    justification: str | None = None,
    clock: Clock = utc_now,
) -> MeasureStatus:
    """Record a measure's status in the configuration file (atomically); returns what was recorded."""
    config = load(path)
    ref = loader.get(config.referential)
    updated = statused(config, ref, code, status, evidence=evidence, by=by, justification=justification, clock=clock)
    save(updated, path)
    return updated.deviations.measures[-1]


def rows(config: OrganisationConfig, ref: Referential, *, missing: bool = False) -> list[MeasureRow]:
    """Every measure of the référentiel with its recorded status; only those without one when ``missing``."""
    declared = {m.code: m for m in config.deviations.measures}
    found = [MeasureRow(m, declared.get(m.code)) for m in ref.measures]
    return [r for r in found if r.status is None] if missing else found
