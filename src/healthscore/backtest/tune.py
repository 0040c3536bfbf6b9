"""Fit a scorecard's weights to the customer's own churn history, validated out of time.

Method (also in docs/backtest.md): on the *training* cut-offs only, each account snapshot
gives the normalised value of every signal (0-1, exactly what the score multiplies by its
weight) and a label (churned within the horizon). A logistic regression predicts churn
from each signal's *shortfall* ``1 - value`` (how far the signal is from full marks), so a
positive coefficient means "a weaker signal, more churn" — the direction the score
assumes. Weights must stay non-negative for the score to stay explainable, so the fit is
an active-set approximation of a non-negative logistic regression: fit, drop the signal
with the most negative coefficient (weight 0), refit, until every coefficient is ≥ 0.
The coefficients are then scaled to sum to 1: since ``score = 100 x Σ weight x value``,
ranking accounts by the tuned score is ranking them by the fitted churn risk.

Signals, windows, normalisations and segments are kept; weights change (a segment's own
weight override is dropped so weights still sum to 1 everywhere), and so do the tier
cut-offs when the ones proposed on the tuned score (``tiers.propose_tiers``) keep churn
falling from critical to healthy on validation. Tune also fits score → churn-probability
calibrations of both scorecards (``tune_calibrations``). Everything is judged on
*validation* cut-offs that come after training, never on the data it was fitted to.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from healthscore.backtest.dataset import Pooled, Snapshot, build_snapshots, data_span, pool
from healthscore.backtest.defaults import Method
from healthscore.backtest.evaluate import AucResult, auc_with_ci, degenerate_reason, pr_auc
from healthscore.backtest.service import jsonable
from healthscore.backtest.tiers import TierComparison, compare_tiers
from healthscore.backtest.tune_calibrations import CalibrationAttempt, calibrate_scorecards
from healthscore.scoring.engine import effective_weights, skipped_signals
from healthscore.scoring.scorecard import Scorecard, Tiers
from healthscore.timeutc import utc

WEIGHT_DECIMALS = 4
REGULARISATION_C = 1.0
TUNED_SUFFIX = "-tuned"
METHOD = (
    "Non-negative logistic regression (scikit-learn, L2, C=1, balanced classes) of churn "
    "within the horizon on each signal's shortfall (1 - normalised value), pooled over the "
    "training cut-offs; signals with a negative coefficient are dropped one at a time and the "
    "model refitted; coefficients are scaled to sum to 1."
)

Progress = Callable[[str], None]


class TuningError(ValueError):
    """The training data cannot support a fit (no churn, or no signal carries information)."""


@dataclass(frozen=True)
class SignalWeight:
    name: str
    group: str
    default: float
    tuned: float
    coefficient: float


@dataclass(frozen=True)
class ValidationScores:
    """Per validation snapshot row: the label and both scores (for charts)."""

    churned: NDArray[np.bool_]
    default: NDArray[np.int64]
    tuned: NDArray[np.int64]


@dataclass
class TuningResult:
    """Default vs tuned, side by side, and the tuned scorecard itself."""

    base: Scorecard
    tuned: Scorecard
    horizon_days: int
    train_cutoffs: list[datetime]
    validate_cutoffs: list[datetime]
    train_accounts: int
    train_churned: int
    validate_accounts: int
    validate_churned: int
    train_default: AucResult
    train_tuned: AucResult
    validate_default: AucResult
    validate_tuned: AucResult
    validate_pr_default: float | None
    validate_pr_tuned: float | None
    weights: list[SignalWeight]
    validation: ValidationScores
    tiers: TierComparison
    calibrations: list[CalibrationAttempt]
    method: str = METHOD
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        """The JSON-friendly part (no arrays, no scorecard objects)."""
        data: dict[str, Any] = jsonable(
            {
                "base": self.base.identity,
                "tuned": self.tuned.identity,
                "horizon_days": self.horizon_days,
                "train_cutoffs": self.train_cutoffs,
                "validate_cutoffs": self.validate_cutoffs,
                "train": {
                    "accounts": self.train_accounts,
                    "churned": self.train_churned,
                    "auc_default": self.train_default,
                    "auc_tuned": self.train_tuned,
                },
                "validate": {
                    "accounts": self.validate_accounts,
                    "churned": self.validate_churned,
                    "auc_default": self.validate_default,
                    "auc_tuned": self.validate_tuned,
                    "pr_auc_default": self.validate_pr_default,
                    "pr_auc_tuned": self.validate_pr_tuned,
                },
                "weights": self.weights,
                "tiers": self.tiers,
                "calibrations": self.calibrations,
                "method": self.method,
                "warnings": self.warnings,
                "seconds": self.seconds,
            }
        )
        return data


def fit_nonnegative_weights(
    values: NDArray[np.float64], churned: NDArray[np.bool_], *, c: float = REGULARISATION_C
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Weights (summing to 1) and raw non-negative coefficients, one per signal column."""
    labels = np.asarray(churned, dtype=bool)
    reason = degenerate_reason(labels)
    if reason:
        raise TuningError(f"cannot tune: {reason} in the training cut-offs")
    shortfall = 1.0 - np.asarray(values, dtype=np.float64)
    active = [j for j in range(shortfall.shape[1]) if np.ptp(shortfall[:, j]) > 0]
    coefficients = np.zeros(shortfall.shape[1])
    from sklearn.linear_model import LogisticRegression  # ~0.5 s to import: fitting only

    while active:
        model = LogisticRegression(C=c, class_weight="balanced", max_iter=5000)
        model.fit(shortfall[:, active], labels)
        fitted = np.asarray(model.coef_[0], dtype=np.float64)
        worst = int(np.argmin(fitted))
        if fitted[worst] >= 0:
            coefficients[active] = fitted
            break
        del active[worst]  # this signal points the wrong way on this data: weight 0, refit
    total = coefficients.sum()
    if total <= 0:
        raise TuningError("cannot tune: no signal separates churners from retained accounts")
    return round_weights(coefficients / total), coefficients


def round_weights(weights: NDArray[np.float64]) -> NDArray[np.float64]:
    """Weights rounded for a readable YAML, still summing to 1 (remainder to the largest)."""
    rounded = np.round(np.clip(weights, 0, None), WEIGHT_DECIMALS)
    rounded[int(np.argmax(rounded))] += 1.0 - rounded.sum()
    result: NDArray[np.float64] = np.round(rounded, WEIGHT_DECIMALS + 6)
    return result


def _tuned(
    values: NDArray[np.float64],
    scores: NDArray[np.int64],
    own_signals: NDArray[np.bool_],
    weights: NDArray[np.float64],
    skipped: NDArray[np.bool_] | None = None,
) -> NDArray[np.int64]:
    """Scores with the tuned weights; rows judged on a stage's own signals keep theirs."""
    tuned: NDArray[np.int64] = np.where(
        own_signals, scores, weighted_scores(values, weights, skipped)
    )
    return tuned


def weighted_scores(
    values: NDArray[np.float64],
    weights: NDArray[np.float64],
    skipped: NDArray[np.bool_] | None = None,
) -> NDArray[np.int64]:
    """Scores from normalised values exactly as the engine computes them (same rounding):
    an account that ``skipped`` a signal (``when_missing: skip``, no data) is scored on the
    others, their weights scaled up to sum to 1."""
    total = np.zeros(values.shape[0])
    for j, weight in enumerate(weights.tolist()):
        total += values[:, j] * weight
    if skipped is not None and skipped.any():
        scaled = (values * effective_weights(weights, skipped)).sum(axis=1)
        total = np.where(skipped.any(axis=1), scaled, total)
    scores: NDArray[np.int64] = np.clip(np.floor(total * 100 + 0.5), 0, 100).astype(np.int64)
    return scores


def tuned_scorecard(
    base: Scorecard, weights: Sequence[float], description: str, *, tiers: Tiers | None = None
) -> Scorecard:
    """``base`` with new weights (and tiers, if given), version + 1 and a ``-tuned`` name;
    everything else kept. Segment weight overrides go (weights must sum to 1 everywhere),
    and so do segment tier overrides when tiers are given (they are fitted on everyone)."""
    data = base.model_dump(mode="json", exclude_none=True)
    for signal, weight in zip(data["signals"], weights, strict=True):
        signal["weight"] = float(weight)
    for segment in data.get("segments", {}).values():
        for override in segment.get("signals", {}).values():
            override.pop("weight", None)
        if tiers is not None:
            segment.pop("tiers", None)
    if tiers is not None:
        data["tiers"] = tiers.model_dump(mode="json")
    data["version"] = base.version + 1
    data["name"] = base.name if base.name.endswith(TUNED_SUFFIX) else base.name + TUNED_SUFFIX
    data["description"] = description
    return Scorecard.model_validate(data)


def scorecard_yaml(card: Scorecard, *, header: str = "") -> str:
    """The scorecard as YAML that ``load_scorecard`` reads back to an equal scorecard."""
    comments = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    body = yaml.safe_dump(
        card.model_dump(mode="json", exclude_none=True),
        sort_keys=False,
        allow_unicode=True,
        width=100,
    )
    return comments + body


def write_scorecard(card: Scorecard, path: Path, *, header: str = "") -> None:
    path.write_text(scorecard_yaml(card, header=header), encoding="utf-8")


def _span(cutoffs: Sequence[datetime]) -> str:
    return f"{min(cutoffs):%Y-%m-%d}..{max(cutoffs):%Y-%m-%d}"


def _auc_text(result: AucResult) -> str:
    return "n/a" if result.auc is None else f"{result.auc:.3f}"


def tune(
    session: Session,
    base: Scorecard,
    *,
    train_cutoffs: Sequence[datetime],
    validate_cutoffs: Sequence[datetime],
    horizon_days: int = 30,
    resamples: int = 1000,
    seed: int = 0,
    calibration_method: Method = "sigmoid",
    progress: Progress | None = None,
) -> TuningResult:
    """Fit weights on ``train_cutoffs`` and propose tier cut-offs and calibrations; compare
    default and tuned on ``validate_cutoffs``."""
    clock = time.perf_counter()
    train_at = sorted(utc(c) for c in train_cutoffs)
    validate_at = sorted(utc(c) for c in validate_cutoffs)
    if not train_at or not validate_at:
        raise TuningError("tuning needs at least one training and one validation cut-off")
    warnings = []
    if train_at[-1] + timedelta(days=horizon_days) > validate_at[0]:
        warnings.append(
            f"the last training cut-off's {horizon_days}-day horizon reaches into validation "
            f"(starts {validate_at[0]:%Y-%m-%d}): training labels see churn that validation "
            "also counts; end training at least one horizon before validation"
        )
    train_snaps = build_snapshots(
        session, base, train_at, horizon_days=horizon_days, progress=progress
    )
    validate_snaps = build_snapshots(
        session, base, validate_at, horizon_days=horizon_days, progress=progress
    )
    if not all(s.labels_complete for s in validate_snaps):
        warnings.append("some validation horizons end after the newest data: churn undercounted")
    train, validate = pool(train_snaps), pool(validate_snaps)

    def skips(has_data: NDArray[np.bool_]) -> NDArray[np.bool_]:
        return skipped_signals(base.signals, has_data)

    if progress:
        progress("fitting weights")
    # Accounts a lifecycle stage judges on signals of its own (onboarding) keep their
    # scores: tuning fits, and changes, only the base signals' weights.
    base_rows = ~train.own_signals
    weights, coefficients = fit_nonnegative_weights(
        train.values[base_rows], train.churned[base_rows]
    )
    if any(o.weight is not None for s in base.segments.values() for o in s.signals.values()):
        warnings.append(
            "segment weight overrides were dropped: tuned weights apply to all segments"
        )

    def auc(rows: Pooled, scores: NDArray[np.int64]) -> AucResult:
        return auc_with_ci(
            rows.churned, scores, groups=rows.customer_ids, resamples=resamples, seed=seed
        )

    train_tuned_scores = _tuned(
        train.values, train.scores, train.own_signals, weights, skips(train.has_data)
    )
    validate_tuned_scores = _tuned(
        validate.values, validate.scores, validate.own_signals, weights, skips(validate.has_data)
    )
    validate_default, validate_tuned = (
        auc(validate, validate.scores),
        auc(validate, validate_tuned_scores),
    )
    tiers = compare_tiers(
        base.tiers,
        train_scores=train_tuned_scores,
        train_churned=train.churned,
        train_groups=train.customer_ids,
        validate_churned=validate.churned,
        validate_current_tiers=validate.tiers,
        validate_scores=validate_tuned_scores,
    )
    warnings.extend(_tier_warnings(base, tiers))
    description = (
        f"{base.identity} with weights fitted by `healthscore tune` on {len(train_at)} "
        f"cut-off(s) {_span(train_at)} (horizon {horizon_days} days). Validation on "
        f"{len(validate_at)} cut-off(s) {_span(validate_at)}: ROC AUC "
        f"{_auc_text(validate_default)} (default) -> {_auc_text(validate_tuned)} (tuned)."
        + (
            " Tier cut-offs fitted on the same training cut-offs."
            if tiers.adopted
            else " Tier cut-offs kept."
        )
    )
    tuned = tuned_scorecard(
        base,
        weights.tolist(),
        description,
        tiers=tiers.proposal.tiers if tiers.adopted else None,
    )
    if progress:
        progress("fitting calibrations")

    def tuned_scores(snapshot: Snapshot) -> NDArray[np.int64]:
        return _tuned(
            snapshot.values,
            snapshot.scores,
            snapshot.judged_on_own_signals,
            weights,
            skips(snapshot.has_data),
        )

    calibrations = calibrate_scorecards(
        session,
        [(base, lambda snapshot: snapshot.scores), (tuned, tuned_scores)],
        train=train_snaps,
        validate=validate_snaps,
        span=data_span(session),
        method=calibration_method,
        seed=seed,
    )
    return TuningResult(
        base=base,
        tuned=tuned,
        horizon_days=horizon_days,
        train_cutoffs=train_at,
        validate_cutoffs=validate_at,
        train_accounts=len(train),
        train_churned=int(train.churned.sum()),
        validate_accounts=len(validate),
        validate_churned=int(validate.churned.sum()),
        train_default=auc(train, train.scores),
        train_tuned=auc(train, train_tuned_scores),
        validate_default=validate_default,
        validate_tuned=validate_tuned,
        validate_pr_default=pr_auc(validate.churned, validate.scores),
        validate_pr_tuned=pr_auc(validate.churned, validate_tuned_scores),
        weights=[
            SignalWeight(s.name, s.group.value, s.weight, float(w), float(c))
            for s, w, c in zip(base.signals, weights, coefficients, strict=True)
        ],
        validation=ValidationScores(validate.churned, validate.scores, validate_tuned_scores),
        tiers=tiers,
        calibrations=calibrations,
        warnings=warnings,
        seconds=time.perf_counter() - clock,
    )


def _tier_warnings(base: Scorecard, tiers: TierComparison) -> list[str]:
    proposal = tiers.proposal
    if proposal.tiers is None:
        return [f"tier cut-offs kept: {proposal.reason}"]
    if not tiers.adopted:
        order = tiers.proposed_order.text if tiers.proposed_order else "not judged"
        return [f"proposed tier cut-offs not adopted: on validation, {order}"]
    if any(segment.tiers is not None for segment in base.segments.values()):
        return ["segment tier overrides were dropped: the proposed tiers apply to all segments"]
    return []
