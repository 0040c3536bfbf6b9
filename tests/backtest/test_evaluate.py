"""Backtest statistics on small hand-computed examples: no database, exact expected values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from healthscore.backtest.evaluate import (
    _rank_auc,
    _resampled_rows,
    auc_with_ci,
    churn_by_decile,
    churn_by_tier,
    evaluate,
    pr_auc,
    roc_auc,
    roc_points,
    signal_aucs,
    tier_cutoffs,
)
from healthscore.backtest.lead_time import DailyStates, summarise_lead_time
from healthscore.backtest.replay import NOT_SCORED
from healthscore.backtest.tune import (
    TuningError,
    fit_nonnegative_weights,
    round_weights,
    weighted_scores,
)

# Five accounts; churners (True) scored 10 and 30, retained accounts 20, 40 and 50.
CHURNED = [True, False, True, False, False]
SCORES = [10, 20, 30, 40, 50]


def test_auc_of_a_perfect_an_inverted_and_an_uninformative_score():
    assert roc_auc([True, True, False, False], [10, 20, 80, 90]).auc == 1.0
    assert roc_auc([True, True, False, False], [80, 90, 10, 20]).auc == 0.0
    assert roc_auc([True, False, True, False], [50, 50, 50, 50]).auc == 0.5


def test_auc_counts_pairs_where_the_churner_scored_lower_and_ties_as_half():
    # Churner 10 is below all three retained accounts, churner 30 below two of them: 5 of 6.
    assert roc_auc(CHURNED, SCORES).auc == pytest.approx(5 / 6)
    # A tie between a churner and a retained account counts half.
    assert roc_auc([True, False, False], [20, 20, 30]).auc == pytest.approx(0.75)


@pytest.mark.parametrize(
    ("churned", "reason"),
    [
        ([False, False, False], "no account churned"),
        ([True, True], "every account churned"),
        ([], "no accounts"),
    ],
)
def test_degenerate_labels_give_no_auc_and_say_why(churned, reason):
    scores = list(range(len(churned)))
    result = auc_with_ci(churned, scores, resamples=10)
    assert result.auc is None and reason in (result.reason or "")
    assert pr_auc(churned, scores) is None
    assert roc_points(churned, scores) == []


def test_bootstrap_interval_is_seeded_and_contains_the_estimate():
    rng = np.random.default_rng(1)
    churned = rng.random(300) < 0.2
    scores = np.where(churned, rng.normal(40, 15, 300), rng.normal(60, 15, 300))
    first = auc_with_ci(churned, scores, resamples=300, seed=4)
    again = auc_with_ci(churned, scores, resamples=300, seed=4)
    assert first == again
    assert first.auc is not None and first.ci_low is not None and first.ci_high is not None
    assert first.ci_low < first.auc < first.ci_high
    assert 0.15 > first.ci_high - first.ci_low > 0.02
    assert first.resamples == 300
    perfect = auc_with_ci([True, True, False, False], [1, 2, 3, 4], resamples=50)
    assert (perfect.ci_low, perfect.auc, perfect.ci_high) == (1.0, 1.0, 1.0)


def test_the_bootstrap_auc_is_roc_auc_score():
    rng = np.random.default_rng(3)
    for size in (2, 7, 60, 500):
        for ties in (True, False):
            churned = np.arange(size) % 3 == 0
            rng.shuffle(churned)
            risk = rng.integers(0, 5, size).astype(float) if ties else rng.normal(size=size)
            assert _rank_auc(churned, risk) == pytest.approx(roc_auc_score(churned, risk))


def test_cluster_bootstrap_resamples_whole_accounts():
    groups = np.array(["a", "a", "a", "b", "c", "c"])
    for rows in _resampled_rows(np.random.default_rng(0), len(groups), groups, 50):
        picked = groups[rows]
        for name, size in (("a", 3), ("b", 1), ("c", 2)):
            assert (picked == name).sum() % size == 0  # a group comes whole or not at all
    clustered = auc_with_ci(CHURNED * 4, SCORES * 4, groups=list(range(5)) * 4, resamples=100)
    assert clustered.auc == pytest.approx(5 / 6)
    assert clustered.resamples > 0


def test_pr_auc_is_average_precision_of_lowest_score_first():
    # Ranked 10 (churner), 20, 30 (churner): precision 1/1 at the first, 2/3 at the second.
    assert pr_auc(CHURNED, SCORES) == pytest.approx((1 + 2 / 3) / 2)
    assert pr_auc([True, False], [1, 2]) == 1.0


def test_roc_points_run_from_the_origin_to_the_top_right():
    points = roc_points(CHURNED, SCORES)
    assert points[0] == (0.0, 0.0) and points[-1] == (1.0, 1.0)
    assert all(0 <= x <= 1 and 0 <= y <= 1 for x, y in points)


TIERS = ["critical", "critical", "at_risk", "at_risk"] + ["healthy"] * 6
TIER_CHURNED = [True, True, True, False] + [False] * 6


def test_churn_rate_and_lift_by_tier():
    rows = {r.tier: r for r in churn_by_tier(TIER_CHURNED, TIERS)}
    assert [r.tier for r in churn_by_tier(TIER_CHURNED, TIERS)] == [
        "critical",
        "at_risk",
        "monitor",
        "healthy",
    ]
    # Overall 3 of 10 churned (30%).
    assert (rows["critical"].accounts, rows["critical"].churned) == (2, 2)
    assert rows["critical"].rate == 1.0 and rows["critical"].lift == pytest.approx(1 / 0.3)
    assert rows["at_risk"].rate == 0.5 and rows["at_risk"].lift == pytest.approx(0.5 / 0.3)
    assert rows["monitor"].accounts == 0 and rows["monitor"].rate is None
    assert rows["monitor"].lift is None
    assert rows["healthy"].rate == 0.0 and rows["healthy"].lift == 0.0


def test_precision_and_recall_of_each_tier_cut_off():
    cuts = {c.label: c for c in tier_cutoffs(TIER_CHURNED, TIERS)}
    assert list(cuts) == ["critical", "at_risk or worse", "monitor or worse"]
    assert (cuts["critical"].flagged, cuts["critical"].churned_flagged) == (2, 2)
    assert cuts["critical"].precision == 1.0
    assert cuts["critical"].recall == pytest.approx(2 / 3)
    assert cuts["at_risk or worse"].flagged_tiers == ("critical", "at_risk")
    assert cuts["at_risk or worse"].precision == 0.75
    assert cuts["at_risk or worse"].recall == 1.0
    assert cuts["monitor or worse"].flagged == 4  # nobody is in monitor


def test_tier_cut_offs_without_churners_have_no_recall():
    cuts = tier_cutoffs([False, False], ["critical", "healthy"])
    assert cuts[0].precision == 0.0 and cuts[0].recall is None
    assert tier_cutoffs([False], ["healthy"])[0].precision is None  # nobody flagged


def test_lift_by_decile_puts_the_lowest_scores_first():
    scores = list(range(20, 0, -1))  # 20 accounts, scores 20..1
    churned = [s <= 2 for s in scores]  # the two lowest scores churned
    deciles = churn_by_decile(churned, scores)
    assert [d.decile for d in deciles] == list(range(1, 11))
    assert all(d.accounts == 2 for d in deciles)
    first = deciles[0]
    assert (first.min_score, first.max_score, first.churned, first.rate) == (1, 2, 2, 1.0)
    assert first.lift == pytest.approx(10.0)  # 100% vs 10% overall
    assert all(d.rate == 0.0 and d.lift == 0.0 for d in deciles[1:])
    assert churn_by_decile([True, False, False], [1, 2, 3])[0].accounts == 1  # fewer than 10
    assert churn_by_decile([], []) == []


def test_signal_auc_uses_low_value_as_churn_and_reports_coverage():
    churned = [True, True, False, False]
    values = np.array(
        [
            # informative, inverted, constant
            [0.1, 0.9, 0.5],
            [0.2, 0.8, 0.5],
            [0.8, 0.2, 0.5],
            [0.9, 0.1, 0.5],
        ]
    )
    has_data = np.array([[True, True, False]] * 2 + [[True, False, False]] * 2)
    result = signal_aucs(churned, values, ["good", "backwards", "flat"], has_data)
    assert [(s.name, s.auc) for s in result] == [("good", 1.0), ("flat", 0.5), ("backwards", 0.0)]
    assert {s.name: s.coverage for s in result} == {"good": 1.0, "backwards": 0.5, "flat": 0.0}
    nothing = signal_aucs([False, False], values[:2], ["good", "backwards", "flat"])
    assert all(s.auc is None and s.reason for s in nothing)


def test_evaluate_bundles_every_statistic():
    result = evaluate(
        TIER_CHURNED,
        [5, 10, 35, 40, 80, 85, 90, 95, 70, 75],
        TIERS,
        np.zeros((10, 2)),
        ["a", "b"],
        resamples=20,
    )
    assert (result.accounts, result.churned, result.churn_rate) == (10, 3, 0.3)
    assert result.roc_auc.auc == 1.0 and result.pr_auc == 1.0
    assert len(result.by_decile) == 10 and len(result.tier_cutoffs) == 3
    assert [s.auc for s in result.signals] == [0.5, 0.5]


# --- the lead-time arithmetic ---------------------------------------------------------


DAY0 = datetime(2026, 3, 1, tzinfo=UTC)


def _states(alerts: list[str]) -> DailyStates:
    """One string per account, one character per day: ``A`` alert raised, ``o`` an alert
    raised earlier still standing, ``.`` quiet, `` `` gone."""
    days = [DAY0 + timedelta(days=k) for k in range(len(alerts[0]))]
    grid = np.array([list(row) for row in alerts])
    return DailyStates(
        days=days,
        customer_ids=[f"c{i}" for i in range(len(alerts))],
        scores=np.where(grid == " ", NOT_SCORED, 50).astype(np.int16),
        alerts=grid == "A",
        standing=(grid == "A") | (grid == "o"),
        source="replay",
    )


def test_lead_time_counts_days_from_the_first_alert_in_the_look_back_to_churn():
    states = _states(
        [
            "..AAAAA   ",  # c0: first alert on day 2, churns on day 7: 5 days ahead
            "A........ ",  # c1: alerted on day 0 only, churns day 9: outside a 5-day look-back
            "....      ",  # c2: never alerted, churns on day 4: a miss
            ".AA.......",  # c3: alerted days 1-2, never churns: a false alarm
            "..........",  # c4: quiet, stays
        ]
    )
    churned_at = {
        "c0": DAY0 + timedelta(days=7),
        "c1": DAY0 + timedelta(days=9),
        "c2": DAY0 + timedelta(days=4),
    }
    result = summarise_lead_time(
        states,
        churned_at,
        data_end=DAY0 + timedelta(days=30),
        horizon_days=10,
        lookback_days=5,
        early_days=5,
    )
    leads = {c.customer_id: c.lead_days for c in result.churners}
    assert leads == {"c2": None, "c0": 5, "c1": None}
    assert result.median_lead_days == 5.0
    assert result.share_alerted == pytest.approx(1 / 3)
    # Only c0 and c1 were watched for 5 days before churning; c0 was alerted 5 days ahead.
    assert result.churners_observed_early == 2 and result.share_early == 0.5
    # Alerted: c0 (churned 5 days after), c1 (9 days after its day-0 alert) and c3 (never).
    assert (result.alerted_accounts, result.alerted_then_churned) == (3, 2)
    assert result.precision == pytest.approx(2 / 3)
    assert result.base_rate == pytest.approx(3 / 5)


def test_a_case_open_when_the_look_back_starts_counts_from_its_first_day():
    states = _states(
        [
            "Aooooooo  ",  # c0: case opened day 0, still open; churns day 8
            "Aoo..Aoo  ",  # c1: opened day 0 and again day 5; churns day 8
            "A.........",  # c2: one case long before its churn on day 30 (not a hit)
        ]
    )
    churned_at = {
        "c0": DAY0 + timedelta(days=8),
        "c1": DAY0 + timedelta(days=8),
        "c2": DAY0 + timedelta(days=30),
    }
    result = summarise_lead_time(
        states,
        churned_at,
        data_end=DAY0 + timedelta(days=60),
        horizon_days=10,
        lookback_days=5,
        early_days=5,
    )
    leads = {c.customer_id: c.lead_days for c in result.churners}
    # The 5-day look-back starts on day 3: c0's case is open then (lead capped at 5 days),
    # c1's first case has closed, its second opens on day 5 (3 days ahead).
    assert leads == {"c0": 5, "c1": 3}
    assert result.alerts_raised == 4
    # Alerts are the raised ones: c2's only alert came 30 days before its churn.
    assert (result.alerted_accounts, result.alerted_then_churned) == (3, 2)


def test_precision_ignores_days_whose_horizon_is_not_observed_yet():
    states = _states(["AAAA", "...."])
    result = summarise_lead_time(
        states, {}, data_end=DAY0 + timedelta(days=1), horizon_days=10, early_days=5
    )
    assert result.precision is None and result.precision_days == 0
    assert result.notes and result.churners == [] and result.share_alerted is None


# --- tuning arithmetic -----------------------------------------------------------------


def test_non_negative_fit_keeps_informative_signals_and_zeroes_backwards_ones():
    rng = np.random.default_rng(0)
    n = 2000
    churned = rng.random(n) < 0.2
    informative = np.clip(np.where(churned, 0.3, 0.7) + rng.normal(0, 0.15, n), 0, 1)
    backwards = np.clip(np.where(churned, 0.7, 0.4) + rng.normal(0, 0.15, n), 0, 1)
    noise = rng.random(n)
    constant = np.full(n, 0.5)
    values = np.column_stack([informative, backwards, noise, constant])
    weights, coefficients = fit_nonnegative_weights(values, churned)
    assert weights.sum() == pytest.approx(1.0, abs=1e-9)
    assert (weights >= 0).all() and (coefficients >= 0).all()
    assert weights[0] > 0.8
    assert weights[1] == 0.0 and weights[3] == 0.0


def test_fit_refuses_data_without_churn_or_without_signal():
    with pytest.raises(TuningError, match="no account churned"):
        fit_nonnegative_weights(np.random.default_rng(0).random((10, 2)), np.zeros(10, bool))
    backwards = np.array([[0.9], [0.8], [0.1], [0.2]])
    with pytest.raises(TuningError, match="no signal"):
        fit_nonnegative_weights(backwards, np.array([True, True, False, False]))


def test_rounded_weights_still_sum_to_one():
    weights = round_weights(np.array([1, 1, 1], dtype=float) / 3)
    assert abs(weights.sum() - 1.0) < 1e-9
    assert weights.tolist() == pytest.approx([0.3334, 0.3333, 0.3333], abs=1e-9)


def test_weighted_scores_round_half_up_like_the_engine():
    values = np.array([[0.5, 1.0], [0.125, 0.0], [1.0, 1.0]])
    assert weighted_scores(values, np.array([0.5, 0.5])).tolist() == [75, 6, 100]
