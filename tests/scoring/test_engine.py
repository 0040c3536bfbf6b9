"""The pure engine, by hand: raw → normalised value → points → score, tier, trend, drivers."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from healthscore.scoring.engine import PreviousScore, raw_value, round_half_up, score_account
from healthscore.scoring.metrics import Aggregate
from healthscore.scoring.scorecard_loading import parse_scorecard

AS_OF = datetime(2026, 6, 1, tzinfo=UTC)
CARD = parse_scorecard("""
version: 3
name: hand
signals:
  - {name: logins, group: engagement, metric: logins, window_days: 30,
     normalise: {kind: target, target: 20}, weight: 0.4}
  - {name: active_share, group: engagement, metric: active_users, window_days: 30,
     basis: per_seat, normalise: {kind: target, target: 0.5}, weight: 0.2, missing: 0}
  - {name: login_trend, group: engagement, metric: logins, window_days: 14, basis: vs_baseline,
     baseline_days: 56, normalise: {kind: ramp, low: 0.5, high: 1.0}, weight: 0.1, missing: 0}
  - {name: pay, group: payments, metric: payment_success_rate, window_days: 90,
     normalise: {kind: target, target: 1}, weight: 0.2, missing: 1}
  - {name: tickets, group: support, metric: tickets_opened, window_days: 30,
     normalise: {kind: inverse, cap: 4}, weight: 0.1}
tiers: {healthy: 70, monitor: 50, at_risk: 30}
trend: {window_days: 7, threshold: 5}
""")


def lookup(values: dict[tuple[str, str, int | None, int], float]):
    return lambda a: values.get((a.source, a.measure, a.window_days, a.offset_days), 0.0)


BUSY = {
    ("sessions", "logins", 30, 0): 15,  # 15/20 = 0.75 → 30 points
    ("sessions", "active_users", 30, 0): 4,  # 4 of 10 seats = 0.4 / 0.5 = 0.8 → 16 points
    ("users", "seats", None, 0): 10,
    ("sessions", "logins", 14, 0): 7,  # 0.5/day vs 28/56 = 0.5/day → ratio 1 → 10 points
    ("sessions", "logins", 56, 14): 28,
    ("payments", "payments", 90, 0): 4,  # 1 - 1/4 = 0.75 → 15 points
    ("payments", "failed_payments", 90, 0): 1,
    ("tickets", "tickets_opened", 30, 0): 1,  # 1 - 1/4 = 0.75 → 7.5 points
}


def test_each_signal_turns_raw_data_into_points_and_the_score_is_their_sum():
    score = score_account(CARD, customer_id="a", as_of=AS_OF, get=lookup(BUSY))
    by_name = {s.name: s for s in score.signals}
    assert by_name["logins"].raw == 15 and by_name["logins"].value == pytest.approx(0.75)
    assert by_name["active_share"].raw == pytest.approx(0.4)
    assert by_name["active_share"].value == pytest.approx(0.8)
    assert by_name["login_trend"].raw == pytest.approx(1.0)
    assert by_name["pay"].raw == pytest.approx(0.75)
    assert by_name["tickets"].value == pytest.approx(0.75)
    assert [round(s.contribution, 2) for s in score.signals] == [30.0, 16.0, 10.0, 15.0, 7.5]
    assert score.score == 79  # 78.5 rounds half up
    assert score.components == {"engagement": 80.0, "payments": 75.0, "support": 75.0}
    assert score.tier.value == "healthy" and score.trend.value == "stable"
    assert score.scorecard == "hand@v3"


def test_missing_data_takes_each_signals_missing_value():
    score = score_account(CARD, customer_id="a", as_of=AS_OF, get=lookup({}))
    by_name = {s.name: s for s in score.signals}
    assert by_name["active_share"].missing and by_name["active_share"].value == 0  # no seats
    assert by_name["pay"].missing and by_name["pay"].value == 1  # no payments
    assert by_name["login_trend"].missing  # no activity now or in the baseline
    assert not by_name["logins"].missing and by_name["logins"].value == 0
    assert score.score == 30  # payments 20 + no tickets 10


def test_vs_baseline_compares_daily_rates_and_new_activity_without_baseline_counts_as_one():
    trend = next(s for s in CARD.signals if s.name == "login_trend")
    halved = lookup({("sessions", "logins", 14, 0): 7, ("sessions", "logins", 56, 14): 56})
    assert raw_value(trend, halved) == pytest.approx(0.5)
    fresh = lookup({("sessions", "logins", 14, 0): 3})
    assert raw_value(trend, fresh) == 1.0


@pytest.mark.parametrize(
    ("score", "tier"),
    [
        (70, "healthy"),
        (69, "monitor"),
        (50, "monitor"),
        (49, "at_risk"),
        (30, "at_risk"),
        (29, "critical"),
        (0, "critical"),
    ],
)
def test_tier_lower_bounds_are_inclusive(score, tier):
    assert CARD.tiers.classify(score).value == tier


@pytest.mark.parametrize(
    ("now", "before", "trend"),
    [
        (80, 74, "improving"),
        (80, 75, "stable"),
        (80, 85, "stable"),
        (80, 86, "declining"),
        (80, None, "stable"),
    ],
)
def test_a_trend_needs_a_move_beyond_the_threshold(now, before, trend):
    assert CARD.trend.classify(now, before).value == trend


def test_drivers_of_change_are_the_biggest_moves_in_points_since_the_reference_score():
    previous = PreviousScore(
        day=date(2026, 5, 25),
        score=95,
        contributions={
            "logins": 40.0,
            "active_share": 20.0,
            "login_trend": 10.0,
            "pay": 15.2,
            "tickets": 7.5,
        },
    )
    score = score_account(CARD, customer_id="a", as_of=AS_OF, get=lookup(BUSY), previous=previous)
    assert score.previous_score == 95 and score.trend.value == "declining"
    assert [(d.signal, d.delta) for d in score.drivers] == [
        ("logins", -10.0),
        ("active_share", -4.0),
    ]


def test_round_half_up_matches_javascript_math_round():
    assert [round_half_up(x) for x in (0.5, 1.5, 2.5, -0.5, 78.5, 78.49)] == [1, 2, 3, 0, 79, 78]


def test_every_scorecard_variant_reads_only_known_aggregates():
    from healthscore.scoring.aggregate_sources import measures_of
    from healthscore.scoring.requirements import required_aggregates
    from healthscore.scoring.scorecard_loading import load_scorecard

    for name in ("default", "seed000"):
        for aggregate in required_aggregates(load_scorecard(name)):
            assert isinstance(aggregate, Aggregate)
            assert aggregate.measure in measures_of(aggregate.source)
