"""Recording the status of a security measure (COM-SEC-1): who set it, when, on what evidence — and audited.

Statuses live where the conformity report and the DPIA read them, ``deviations.measures`` of
``santegarde.yaml``; ``record`` validates everything (the code against the référentiel's measures, the
status, the evidence, the author, the justification a status other than implemented needs) before it
writes the audit entry and rewrites the file atomically, in the trail's transaction: the change is in the
file only if its audit entry is committed with it. The status words are the CNIL's (implemented,
equivalent, not_necessary, not_implemented) and partial (partly implemented: it stays in the action plan);
done, planned and not_applicable are accepted as their everyday names. Refusals are worded in French
(English with ``lang="en"``).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from santegarde.audit.trail import AuditEvent, AuditTrail
from santegarde.clock import Clock, utc_now
from santegarde.config import OrganisationConfig, is_justified, load, save
from santegarde.config.model import MEASURE_STATES, MeasureState, MeasureStatus
from santegarde.errors import WordedError
from santegarde.governance import doctext
from santegarde.referentials import loader
from santegarde.referentials.model import Measure, Referential

# Everyday names for the statuses: a planned measure is not implemented yet (it stays in the action plan).
ALIASES: dict[str, MeasureState] = {
    "done": "implemented",
    "planned": "not_implemented",
    "not_applicable": "not_necessary",
}
STATUS_CHOICES = (*MEASURE_STATES, *ALIASES)
MIN_EVIDENCE = 5
AUDIT_OPERATION = "measure.status.{state}"  # one audit entry per change, naming the status recorded


class MeasureError(WordedError, ValueError):
    """A measure status cannot be recorded as asked."""


def said(key: str, lang: str, **facts: Any) -> str:
    """A sentence of ``santegarde measure`` in ``lang`` (documents_text.yaml, cli → measure)."""
    text: str = doctext.words(lang)["cli"]["measure"][key]
    return text.format(**facts)


def state_words(state: str, lang: str) -> str:
    """A status in words: "partiellement mise en œuvre"."""
    words: str = doctext.words(lang)["cli"]["measure"]["states"][state]
    return words


def _refused(key: str, **facts: Any) -> MeasureError:
    return MeasureError({lang: said(key, lang, **facts) for lang in doctext.LANGS})


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
    hints = {lang: said("did_you_mean", lang, codes=", ".join(close)) if close else "" for lang in doctext.LANGS}
    raise MeasureError(
        {lang: said("unknown", lang, code=code, rid=ref.id, hint=hints[lang], n=len(codes)) for lang in doctext.LANGS}
    )


def _state(status: str) -> MeasureState:
    word = status.strip().lower().replace("-", "_")
    if word in ALIASES:
        return ALIASES[word]
    for state in MEASURE_STATES:
        if word == state:
            return state  # type: ignore[return-value]  # one of the Literal's values, checked just above
    raise _refused("status", status=status, choices=", ".join(STATUS_CHOICES))


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
        raise _refused("evidence", code=measure.code, n=MIN_EVIDENCE)
    if not by.strip():
        raise _refused("by")
    if state != "implemented" and not is_justified(justification):
        raise MeasureError(
            {
                lang: said("justification", lang, status=state_words(state, lang), code=measure.code)
                for lang in doctext.LANGS
            }
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
    trail: AuditTrail,
    justification: str | None = None,
    clock: Clock = utc_now,
) -> MeasureStatus:
    """Record a measure's status in the configuration file and the audit trail; returns what was recorded.

    Everything is validated first; the audit entry (who, which measure, which status, under COM-SEC-1) is
    appended in a transaction that commits only once the file is rewritten (atomically), so that no change
    of status is ever left untraced and no entry traces a change that was not made.
    """
    config = load(path)
    ref = loader.get(config.referential)
    updated = statused(config, ref, code, status, evidence=evidence, by=by, justification=justification, clock=clock)
    entry = updated.deviations.measures[-1]
    event = AuditEvent(
        entry.set_by or by,
        "",
        AUDIT_OPERATION.format(state=entry.status),
        "SecurityMeasure",
        entry.code,
        "security",
        True,
        "COM-SEC-1",
        _measure(ref, entry.code).section,
        "success",
        "admin",
        ref.id,
    )
    with trail.transaction() as conn:
        trail.append(event, conn)
        save(updated, path)
    return entry


def rows(config: OrganisationConfig, ref: Referential, *, missing: bool = False) -> list[MeasureRow]:
    """Every measure of the référentiel with its recorded status; only those without one when ``missing``."""
    declared = {m.code: m for m in config.deviations.measures}
    found = [MeasureRow(m, declared.get(m.code)) for m in ref.measures]
    return [r for r in found if r.status is None] if missing else found
