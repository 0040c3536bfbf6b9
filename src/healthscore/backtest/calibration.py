"""From a score to a probability of churn: fitted on training cut-offs, judged out of time.

Method (docs/backtest.md): on the training cut-offs, each account snapshot gives its score
and whether it churned within the horizon (30 or 90 days). The default mapping is
**sigmoid (Platt) scaling**: a logistic regression of churn on the score, two parameters,
so it needs few churners, is smooth and strictly monotone (every point of score changes the
probability a little, never in steps) and extrapolates sensibly to scores the training
period rarely saw. **Isotonic** regression (any non-increasing step function) is available
too; it bends to any shape but needs far more churners than a churn base usually has, and
overfits with few (flat steps, probabilities of exactly 0).

On the validation cut-offs the mapping is judged by its reliability curve
(``sklearn.calibration.calibration_curve``, 10 quantile bins) and its Brier score next to
the Brier score of always predicting the validation period's own churn rate. The
calibration is **validated** only if all of these hold:

* at least ``MIN_VALIDATION_CHURNERS`` distinct accounts churned in validation;
* a lower score means a higher probability (the fitted mapping falls with the score);
* its Brier score beats the base rate's, and the Brier skill (``1 - Brier / base-rate
  Brier``) stays above 0 at the 5th percentile of a bootstrap that resamples whole
  accounts: an improvement within noise does not count.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from healthscore.backtest.calibration_results import (
    SCORE_COUNT,
    Judgement,
    ReliabilityBin,
    ScoreMapping,
)
from healthscore.backtest.defaults import Method

MIN_VALIDATION_CHURNERS = 30
"""Distinct churned accounts validation needs: with fewer, a 10-bin reliability curve has a
few churners per bin and the Brier comparison hangs on a handful of accounts."""
RELIABILITY_BINS = 10
BOOTSTRAP_RESAMPLES = 1000
SKILL_QUANTILE = 5.0
"""Percentile of the bootstrapped Brier skill that must stay above 0 (one-sided 95%)."""
SCORES = np.arange(SCORE_COUNT)


def fit_mapping(scores: ArrayLike, churned: ArrayLike, method: Method = "sigmoid") -> ScoreMapping:
    """Fit churn probability as a function of the score (needs both outcomes present)."""
    from sklearn.isotonic import IsotonicRegression  # loaded for fitting only
    from sklearn.linear_model import LogisticRegression

    x = np.asarray(scores, dtype=np.float64)
    y = np.asarray(churned, dtype=bool)
    if y.all() or not y.any():
        raise ValueError("a calibration needs churned and retained accounts")
    if method == "sigmoid":
        # Score in hundreds keeps the solver well-conditioned; C large: no shrinkage of
        # two parameters fitted on thousands of snapshots.
        model = LogisticRegression(C=1e6, max_iter=1000).fit((x / 100).reshape(-1, 1), y)
        slope = float(model.coef_[0][0]) / 100
        intercept = float(model.intercept_[0])
        table = 1 / (1 + np.exp(-(intercept + slope * SCORES)))
        parameters = {"intercept": intercept, "slope_per_point": slope}
    else:
        iso = IsotonicRegression(increasing=False, y_min=0.0, y_max=1.0, out_of_bounds="clip")
        table = iso.fit(x, y.astype(np.float64)).predict(SCORES.astype(np.float64))
        parameters = {"steps": float(len(np.unique(table)))}
    return ScoreMapping(method, [round(float(p), 6) for p in table], parameters)


def reliability(churned: ArrayLike, predicted: ArrayLike) -> list[ReliabilityBin]:
    """``calibration_curve`` (quantile bins) with the number of snapshots in each bin."""
    from sklearn.calibration import calibration_curve

    y = np.asarray(churned, dtype=bool)
    p = np.asarray(predicted, dtype=np.float64)
    if len(y) == 0:
        return []
    observed, mean_predicted = calibration_curve(y, p, n_bins=RELIABILITY_BINS, strategy="quantile")
    # The same bins calibration_curve uses, for their sizes (it returns only the means).
    edges = np.percentile(p, np.linspace(0, 100, RELIABILITY_BINS + 1))
    sizes = np.bincount(np.searchsorted(edges[1:-1], p), minlength=RELIABILITY_BINS)
    sizes = sizes[sizes > 0]
    return [
        ReliabilityBin(float(mp), float(ob), int(n))
        for mp, ob, n in zip(mean_predicted, observed, sizes, strict=True)
    ]


def brier(churned: ArrayLike, predicted: ArrayLike) -> float:
    y = np.asarray(churned, dtype=np.float64)
    return float(np.mean((np.asarray(predicted, dtype=np.float64) - y) ** 2))


def _skill_low(
    errors: NDArray[np.float64],
    labels: NDArray[np.bool_],
    groups: ArrayLike,
    resamples: int,
    seed: int,
) -> float | None:
    """5th percentile of the Brier skill over a bootstrap of whole accounts."""
    _, group_of = np.unique(np.asarray(groups), return_inverse=True)
    size = int(group_of.max()) + 1
    # Per account: squared errors, snapshots and churned snapshots (float: BLAS products).
    totals = np.vstack(
        [
            np.bincount(group_of, weights=errors, minlength=size),
            np.bincount(group_of, minlength=size).astype(np.float64),
            np.bincount(group_of, weights=labels.astype(np.float64), minlength=size),
        ]
    )
    rng = np.random.default_rng(seed)
    skills = []
    for _ in range(resamples):
        picked = np.bincount(rng.integers(0, size, size), minlength=size).astype(np.float64)
        squared, n, churned = totals @ picked
        rate = churned / n
        base = rate * (1 - rate)
        if base > 0:
            skills.append(1 - squared / n / base)
    return float(np.percentile(skills, SKILL_QUANTILE)) if skills else None


def judge(
    mapping: ScoreMapping,
    churned: ArrayLike,
    scores: ArrayLike,
    groups: ArrayLike,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> Judgement:
    """Reliability and Brier of ``mapping`` on validation snapshots; validated or why not."""
    y = np.asarray(churned, dtype=bool)
    owners = np.asarray(groups)
    predicted = mapping.apply(scores)
    churned_accounts = len(np.unique(owners[y])) if y.any() else 0
    if len(y) == 0:
        return Judgement(0, 0, 0, None, None, None, None, None, [], False, "no validation data")
    rate = float(y.mean())
    base_brier = rate * (1 - rate)
    score_brier = brier(y, predicted)
    skill = 1 - score_brier / base_brier if base_brier > 0 else None
    errors = (predicted - y) ** 2
    skill_low = _skill_low(errors, y, owners, resamples, seed) if base_brier > 0 else None
    probabilities = mapping.probabilities
    reason = None
    if churned_accounts < MIN_VALIDATION_CHURNERS:
        reason = (
            f"only {churned_accounts} churned account(s) in validation; at least "
            f"{MIN_VALIDATION_CHURNERS} are needed"
        )
    elif not probabilities[0] > probabilities[100]:
        reason = "the fitted probability does not fall as the score rises"
    elif skill is None or score_brier >= base_brier:
        reason = "its Brier score does not beat always predicting the base rate"
    elif skill_low is None or skill_low <= 0:
        reason = "its gain over the base rate is within noise (bootstrap of whole accounts)"
    return Judgement(
        rows=len(y),
        churned=int(y.sum()),
        churned_accounts=churned_accounts,
        base_rate=rate,
        brier=score_brier,
        brier_base_rate=base_brier,
        skill=skill,
        skill_low=skill_low,
        reliability=reliability(y, predicted),
        validated=reason is None,
        reason=reason,
    )
