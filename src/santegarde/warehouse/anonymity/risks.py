"""Re-identification risks of a row-level export with anonymeter: singling out, linkability, inference.

For ROW-LEVEL exports only (one row per person or event); aggregated indicators are protected by
``indicators`` instead. The attacks use the export as the attacker's data and the original rows as the
targets; ``original`` and ``export`` must have the same columns with comparable types (compare the
export with the source rows passed through the same generalisation, or with the raw rows when the
export keeps raw values). A ``control`` sample of original rows that are NOT in the export turns each
risk into the excess risk due to the export. Each risk has a confidence interval; the default of 200
attacks is a compromise for the gate, tests use fewer.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import polars as pl
from anonymeter.evaluators import InferenceEvaluator, LinkabilityEvaluator, SinglingOutEvaluator
from anonymeter.evaluators.singling_out_evaluator import (
    multivariate_singling_out_queries,
    univariate_singling_out_queries,
)
from anonymeter.stats.confidence import EvaluationResults

from santegarde.warehouse.anonymity._sql import AnonymityError

DEFAULT_ATTACKS = 200
MAX_ATTEMPTS = 100_000  # query-building attempts of the singling-out attack


@dataclass(frozen=True)
class Risk:
    """One risk estimate with its confidence interval and the attack and baseline success rates."""

    value: float
    ci_low: float
    ci_high: float
    confidence_level: float
    attack_rate: float
    baseline_rate: float
    control_rate: float | None
    n_attacks: int


@dataclass(frozen=True)
class RiskReport:
    """The three risks of the EU opinion on anonymisation for one export."""

    singling_out: Risk
    linkability: Risk
    inference: tuple[tuple[str, Risk], ...]

    @property
    def max_inference(self) -> Risk | None:
        """The highest inference risk over the secrets tested."""
        return max((risk for _, risk in self.inference), key=lambda r: r.value, default=None)


def assess_risks(
    original: pd.DataFrame,
    export: pd.DataFrame,
    *,
    control: pd.DataFrame | None = None,
    aux_cols: tuple[Sequence[str], Sequence[str]] | None = None,
    secrets: Sequence[str] | None = None,
    n_attacks: int = DEFAULT_ATTACKS,
    n_cols: int = 3,
    confidence_level: float = 0.95,
    seed: int | None = None,
) -> RiskReport:
    """Run the singling-out, linkability and inference attacks of anonymeter against a row-level export."""
    columns = _check_frames(original, export, control)
    if n_attacks < 1:
        raise AnonymityError("The number of attacks must be at least 1; raise n_attacks.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        singling = singling_out_risk(original, export, control, n_attacks, n_cols, confidence_level, seed)
        halves = aux_cols or (columns[: len(columns) // 2], columns[len(columns) // 2 :])
        linkability = linkability_risk(original, export, control, halves, n_attacks, confidence_level)
        inference = tuple(
            (secret, inference_risk(original, export, control, secret, n_attacks, confidence_level))
            for secret in (secrets if secrets is not None else columns)
        )
    return RiskReport(singling_out=singling, linkability=linkability, inference=inference)


def _check_frames(original: pd.DataFrame, export: pd.DataFrame, control: pd.DataFrame | None) -> list[str]:
    """Refuse frames that cannot be compared."""
    columns = [str(c) for c in original.columns]
    if len(columns) < 2:
        raise AnonymityError("The risk attacks need at least two columns; export more attributes or skip them.")
    if set(columns) != {str(c) for c in export.columns}:
        raise AnonymityError("The original and the export must have the same columns; project both alike.")
    if control is not None and set(columns) != {str(c) for c in control.columns}:
        raise AnonymityError("The control sample must have the same columns as the original; project it alike.")
    if original.empty or export.empty:
        raise AnonymityError("The original and the export must both have rows to measure risks.")
    return columns


def singling_out_risk(
    original: pd.DataFrame,
    export: pd.DataFrame,
    control: pd.DataFrame | None,
    n_attacks: int,
    n_cols: int,
    confidence_level: float,
    seed: int | None,
) -> Risk:
    """Multivariate singling-out risk (univariate when there are too few columns).

    anonymeter divides the successes by the number of attacks *requested* even when it could build fewer
    singling-out queries from the export (issue 15: "200 attacks" reported, 14 queries run), which understates the
    risk. So the queries are first built as the attack builds them (same generator, same seed) and counted; the
    attack is then run with that number, and the risk, its interval and :attr:`Risk.n_attacks` are those of the
    queries actually run.
    """
    cols = min(n_cols, len(original.columns))
    mode = "multivariate" if cols > 1 else "univariate"
    seed = seed if seed is not None else int(np.random.randint(0, 2**31 - 1))  # one seed for the count and the attack
    built = _singling_out_queries(export, mode, n_attacks, cols, seed)
    if built == 0:
        raise AnonymityError(
            "No singling-out query could be built from the export (no combination of values isolates one row): "
            "the attack cannot be measured; check that the export has several distinct rows."
        )
    evaluator = SinglingOutEvaluator(
        ori=original, syn=export, control=control, n_attacks=built, n_cols=cols, max_attempts=MAX_ATTEMPTS, seed=seed
    )
    try:
        evaluator.evaluate(mode=mode)
    except RuntimeError as error:
        raise AnonymityError(
            "The singling-out attack could not build enough queries from the export; lower n_attacks."
        ) from error
    return _risk(evaluator.results(confidence_level=confidence_level), confidence_level)


def _singling_out_queries(export: pd.DataFrame, mode: str, n_attacks: int, n_cols: int, seed: int) -> int:
    """How many singling-out queries anonymeter's generator builds from the export (at most ``n_attacks``)."""
    frame = pl.from_pandas(export).unique(maintain_order=True)
    rng = np.random.default_rng(seed)
    if mode == "univariate":
        queries = univariate_singling_out_queries(df=frame, n_queries=n_attacks, rng=rng)
    else:
        queries = multivariate_singling_out_queries(
            df=frame, n_queries=n_attacks, n_cols=n_cols, max_attempts=MAX_ATTEMPTS, rng=rng
        )
    return len(queries)


def linkability_risk(
    original: pd.DataFrame,
    export: pd.DataFrame,
    control: pd.DataFrame | None,
    aux_cols: tuple[Sequence[str], Sequence[str]],
    n_attacks: int,
    confidence_level: float,
) -> Risk:
    """Risk that the export links two halves of an original record (nearest neighbour)."""
    attacks = min(n_attacks, len(original), len(control) if control is not None else n_attacks)
    evaluator = LinkabilityEvaluator(
        ori=original, syn=export, control=control, aux_cols=(list(aux_cols[0]), list(aux_cols[1])), n_attacks=attacks
    )
    evaluator.evaluate(n_jobs=1)
    return _risk(evaluator.results(confidence_level=confidence_level), confidence_level)


def inference_risk(
    original: pd.DataFrame,
    export: pd.DataFrame,
    control: pd.DataFrame | None,
    secret: str,
    n_attacks: int,
    confidence_level: float,
) -> Risk:
    """Risk that the export lets an attacker knowing the other columns guess ``secret``."""
    aux = [str(c) for c in original.columns if str(c) != secret]
    evaluator = InferenceEvaluator(
        ori=original,
        syn=export,
        control=control,
        aux_cols=aux,
        secret=secret,
        regression=pd.api.types.is_float_dtype(original[secret]),
        n_attacks=n_attacks,
    )
    evaluator.evaluate(n_jobs=1)
    return _risk(evaluator.results(confidence_level=confidence_level), confidence_level)


def _risk(results: EvaluationResults, confidence_level: float) -> Risk:
    """Convert anonymeter's results."""
    risk = results.risk()
    return Risk(
        value=float(risk.value),
        ci_low=float(risk.ci[0]),
        ci_high=float(risk.ci[1]),
        confidence_level=confidence_level,
        attack_rate=float(results.attack_rate.value),
        baseline_rate=float(results.baseline_rate.value),
        control_rate=None if results.control_rate is None else float(results.control_rate.value),
        n_attacks=int(results.n_attacks_ori),
    )
