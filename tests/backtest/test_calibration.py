"""Score → churn probability: recovered where the truth is known, and validated only
where it beats the base rate by more than chance."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.calibration import calibration_curve

from healthscore.backtest.calibration import (
    MIN_VALIDATION_CHURNERS,
    ScoreMapping,
    brier,
    fit_mapping,
    judge,
    reliability,
)


def truth(scores: np.ndarray) -> np.ndarray:
    """The known probability of churn at each score: 62% at 0, 8% at 60, 1% at 100."""
    return 1 / (1 + np.exp(-(0.5 - 0.05 * scores)))


def book(n: int, seed: int, *, noise: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    scores = np.clip(rng.normal(60, 20, n), 0, 100).astype(np.int64)
    p = np.full(n, 0.12) if noise else truth(scores)
    return scores, rng.random(n) < p


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_a_known_probability_is_recovered_and_validated(method):
    scores, churned = book(20_000, seed=1)
    mapping = fit_mapping(scores, churned, method)
    # Isotonic steps are noisier, worst where few accounts score (the extremes).
    grid = np.arange(0, 101, 10) if method == "sigmoid" else np.arange(20, 91, 10)
    tolerance = 0.03 if method == "sigmoid" else 0.06
    assert np.abs(mapping.apply(grid) - truth(grid)).max() < tolerance
    assert mapping.probabilities[0] > mapping.probabilities[50] > mapping.probabilities[100]

    later_scores, later_churned = book(20_000, seed=2)
    verdict = judge(mapping, later_churned, later_scores, np.arange(len(later_scores)))
    assert verdict.validated and verdict.reason is None
    assert verdict.brier is not None and verdict.brier_base_rate is not None
    assert verdict.brier < verdict.brier_base_rate
    assert verdict.skill_low is not None and verdict.skill_low > 0
    # Reliability: every bin's observed churn is near what was predicted.
    assert len(verdict.reliability) >= 8
    for b in verdict.reliability:
        assert abs(b.observed - b.predicted) < 0.05
    assert sum(b.accounts for b in verdict.reliability) == len(later_scores)


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
@pytest.mark.parametrize("seed", [3, 4, 5])
def test_a_calibration_of_noise_is_not_validated(method, seed):
    scores, churned = book(8000, seed=seed, noise=True)
    mapping = fit_mapping(scores, churned, method)
    later_scores, later_churned = book(8000, seed=seed + 100, noise=True)
    verdict = judge(mapping, later_churned, later_scores, np.arange(len(later_scores)))
    assert not verdict.validated and verdict.reason


def test_too_few_churners_in_validation_are_not_enough():
    scores, churned = book(20_000, seed=6)
    mapping = fit_mapping(scores, churned)
    later_scores, later_churned = book(20_000, seed=7)
    kept = later_churned & (np.cumsum(later_churned) < MIN_VALIDATION_CHURNERS)
    verdict = judge(mapping, kept, later_scores, np.arange(len(later_scores)))
    assert not verdict.validated
    assert f"only {MIN_VALIDATION_CHURNERS - 1} churned account(s)" in (verdict.reason or "")
    # Many churned rows of few accounts are still few churners.
    groups = np.arange(len(later_scores)) % 20
    verdict = judge(mapping, later_churned, later_scores, groups)
    assert not verdict.validated and "only 20 churned account(s)" in (verdict.reason or "")


def test_a_score_that_points_the_wrong_way_is_not_validated():
    scores, churned = book(20_000, seed=8)
    backwards = fit_mapping(100 - scores, churned)  # fitted on the mirrored score
    verdict = judge(backwards, churned, scores, np.arange(len(scores)))
    assert not verdict.validated
    assert verdict.reason == "the fitted probability does not fall as the score rises"


def test_reliability_bins_are_calibration_curves_with_their_sizes():
    scores, churned = book(5000, seed=9)
    predicted = truth(scores)
    bins = reliability(churned, predicted)
    observed, mean_predicted = calibration_curve(churned, predicted, n_bins=10, strategy="quantile")
    assert [b.observed for b in bins] == pytest.approx(observed.tolist())
    assert [b.predicted for b in bins] == pytest.approx(mean_predicted.tolist())
    assert sum(b.accounts for b in bins) == 5000
    assert brier([True, False], [1.0, 0.5]) == pytest.approx(0.125)


def test_a_mapping_survives_its_json_and_refuses_garbage():
    mapping = fit_mapping(*book(3000, seed=10))
    again = ScoreMapping.from_json(mapping.to_json())
    assert again == mapping and again.probability(150) == mapping.probabilities[100]
    with pytest.raises(ValueError):
        ScoreMapping.from_json({"method": "magic", "probabilities": [0.1] * 101})
    with pytest.raises(ValueError):
        fit_mapping([10, 20], [False, False])
