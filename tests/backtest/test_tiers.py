"""Tier cut-offs from history: proposed where the score separates churners, refused where
the data is too thin or the score says nothing; and a plain verdict on the order."""

from __future__ import annotations

import numpy as np
import pytest

from healthscore.backtest.evaluate import TierRate
from healthscore.backtest.tiers import (
    CRITICAL_LIFT,
    MIN_TIER_ACCOUNTS,
    compare_tiers,
    propose_tiers,
    rates_under,
    tier_order,
)
from healthscore.scoring.scorecard import Tiers


def informative_base(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores 0-100 where churn falls with the score (logistic), about 15% churn."""
    rng = np.random.default_rng(seed)
    scores = np.clip(rng.normal(65, 18, n), 0, 100).astype(np.int64)
    churned = rng.random(n) < 1 / (1 + np.exp(1.2 + 0.06 * (scores - 50)))
    return scores, churned


def test_proposed_tiers_have_falling_churn_and_sensible_shares():
    scores, churned = informative_base(6000, seed=1)
    proposal = propose_tiers(scores, churned)
    assert proposal.reason is None and proposal.tiers is not None
    tiers = proposal.tiers
    assert 0 < tiers.at_risk < tiers.monitor < tiers.healthy <= 100
    rates = {r.tier: r for r in proposal.train_rates}
    order = ["critical", "at_risk", "monitor", "healthy"]
    churn = [rates[t].rate for t in order]
    assert churn == sorted(churn, reverse=True) and len(set(churn)) == 4
    shares = {t: rates[t].accounts / len(scores) for t in order}
    assert 0.01 <= shares["critical"] <= 0.10 and shares["healthy"] >= 0.40
    assert rates["critical"].lift is not None and rates["critical"].lift >= CRITICAL_LIFT
    assert all(rates[t].accounts >= MIN_TIER_ACCOUNTS for t in order)
    assert tier_order(proposal.train_rates).monotone is True

    # Judged on a later sample of the same base, churn still falls tier by tier.
    later_scores, later_churned = informative_base(6000, seed=2)
    assert tier_order(rates_under(later_scores, later_churned, tiers)).monotone is True


def test_no_tiers_are_proposed_from_too_few_churners():
    scores, churned = informative_base(6000, seed=3)
    few = churned & (np.cumsum(churned) <= 20)
    proposal = propose_tiers(scores, few)
    assert proposal.tiers is None
    assert "only 20 churned account(s)" in (proposal.reason or "")


def test_churners_are_counted_as_accounts_not_snapshots():
    scores, churned = informative_base(6000, seed=4)
    # Every row belongs to one of ten accounts: plenty of churned rows, ten accounts at most.
    groups = np.arange(len(scores)) % 10
    proposal = propose_tiers(scores, churned, groups=groups)
    assert proposal.tiers is None and "only 10 churned account(s)" in (proposal.reason or "")


def test_no_tiers_are_proposed_when_the_score_says_nothing_about_churn():
    rng = np.random.default_rng(5)
    scores = rng.integers(0, 101, 6000)
    proposal = propose_tiers(scores, rng.random(6000) < 0.15)
    assert proposal.tiers is None and "does not separate churners" in (proposal.reason or "")


def _rate(tier: str, accounts: int, churned: int) -> TierRate:
    return TierRate(tier, accounts, churned, churned / accounts if accounts else None, None)


def test_the_tier_order_is_said_plainly():
    falling = [_rate("critical", 10, 5), _rate("at_risk", 10, 2), _rate("healthy", 10, 0)]
    monotone = tier_order([*falling, _rate("monitor", 0, 0)])
    assert monotone.monotone is True
    assert monotone.text.startswith("monotone: churn falls from critical (50.0%)")
    assert "monitor: no accounts" in monotone.text
    inverted = tier_order(
        [_rate("critical", 10, 1), _rate("at_risk", 10, 3), _rate("healthy", 10, 0)]
    )
    assert inverted.monotone is False
    assert inverted.text == "not monotone: at_risk churns more than critical (30.0% vs 10.0%)"
    assert tier_order([_rate("healthy", 10, 1)]).monotone is None


def test_a_proposal_is_adopted_only_if_validation_agrees():
    scores, churned = informative_base(6000, seed=6)
    later_scores, later_churned = informative_base(6000, seed=7)
    current = Tiers()
    args = {
        "train_scores": scores,
        "train_churned": churned,
        "train_groups": np.arange(len(scores)),
        "validate_current_tiers": [current.classify(s).value for s in later_scores.tolist()],
        "validate_scores": later_scores,
    }
    agreed = compare_tiers(current, validate_churned=later_churned, **args)
    assert agreed.adopted and agreed.proposed_order is not None
    # Validation where healthy accounts churn most: the proposal stands but is not adopted.
    backwards = later_scores > np.percentile(later_scores, 70)
    refused = compare_tiers(current, validate_churned=backwards, **args)
    assert refused.proposal.tiers == agreed.proposal.tiers
    assert not refused.adopted
    assert refused.proposed_order is not None and refused.proposed_order.monotone is False
    assert refused.current_order.monotone is False


@pytest.mark.parametrize("n", [0, 50])
def test_tiny_inputs_are_refused_not_crashed(n):
    scores, churned = informative_base(max(n, 1), seed=8)
    proposal = propose_tiers(scores[:n], churned[:n])
    assert proposal.tiers is None and proposal.reason
