"""Commercial signals on plain numbers: MRR and seat changes over a window, days to the
next renewal, and the default scorecard's ``commercial`` component."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from healthscore.scoring.engine import score_account
from healthscore.scoring.lifecycle import next_renewal
from healthscore.scoring.metrics import METRICS, Aggregate, empty_value
from healthscore.scoring.scorecard_loading import load_scorecard

NAN = np.nan


def lookup(values: dict[Aggregate, list[float]]):
    return lambda aggregate: np.array(values[aggregate], dtype=float)


def mrr(offset: int) -> Aggregate:
    return Aggregate("mrr", "mrr", None, offset)


def test_mrr_change_compares_the_mrr_in_force_now_with_the_mrr_a_window_ago():
    metric = METRICS["mrr_change"]
    assert metric.needs(90, 0) == [mrr(0), mrr(90)]
    get = lookup({mrr(0): [100, 75, 130, 40, 0, 0], mrr(90): [100, 100, 100, 0, 0, 80]})
    change = metric.compute(get, 90, 0)
    # steady, 25% contraction, 30% expansion, new revenue (nothing to compare), none, lost
    np.testing.assert_allclose(change, [0.0, -0.25, 0.3, NAN, NAN, -1.0])


def test_mrr_change_of_an_earlier_moment_reads_both_levels_that_much_earlier():
    assert METRICS["mrr_change"].needs(30, 7) == [mrr(7), mrr(37)]


def test_seat_change_compares_seats_now_with_seats_a_window_ago():
    metric = METRICS["seat_change"]
    now, then = Aggregate("users", "seats", None, 0), Aggregate("users", "seats", None, 90)
    assert metric.needs(90, 0) == [now, then]
    change = metric.compute(lookup({now: [8, 10, 12, 3], then: [10, 10, 8, 0]}), 90, 0)
    np.testing.assert_allclose(change, [-0.2, 0.0, 0.5, NAN])


def renews(offset: int = 0) -> Aggregate:
    return Aggregate("customers", "renews_at", None, offset)


def test_days_to_renewal_rolls_a_later_renewal_back_to_the_one_due_next():
    # ``aggregates`` gives a date as its age in days at as_of: -30 is 30 days ahead.
    ages = [-30.0, -400.0, 10.0, float("inf"), -0.0]
    days = METRICS["days_to_renewal"].compute(lookup({renews(): ages}), 30, 0)
    # 30 days; 400 days is next year's date, so 400 - 365.2425 now; past or unknown: no data.
    np.testing.assert_allclose(days, [30.0, 400 - 365.2425, NAN, NAN, 0.0])
    # Seven days earlier, the same dates are seven days further away.
    earlier = METRICS["days_to_renewal"].compute(lookup({renews(7): ages}), 30, 7)
    np.testing.assert_allclose(earlier, [37.0, 407 - 365.2425, NAN, NAN, 7.0])


def test_days_to_renewal_agrees_with_the_lifecycle_stages_calendar_within_a_day():
    as_of = datetime(2026, 6, 1, tzinfo=UTC)
    dates = [as_of + timedelta(days=d, hours=5) for d in (1, 45, 89, 200, 364, 500, 1100)]
    ages = [(as_of - d).total_seconds() / 86_400 for d in dates]
    days = METRICS["days_to_renewal"].compute(lookup({renews(): ages}), 30, 0)
    calendar = [(next_renewal(d, as_of) - as_of).total_seconds() / 86_400 for d in dates]
    np.testing.assert_allclose(days, calendar, atol=1.0)


def test_an_account_without_a_renewal_date_has_no_value_not_a_renewal_today():
    no_date = empty_value(renews())
    assert np.isnan(METRICS["days_to_renewal"].compute(lambda a: np.array([no_date]), 30, 0)[0])
    assert empty_value(mrr(0)) == 0.0  # no MRR history sums to 0: no data, by the formula


# --- the default scorecard's commercial component ---------------------------------------

AS_OF = datetime(2026, 6, 1, tzinfo=UTC)
DEFAULT = load_scorecard("default")


def commercial(values: dict[Aggregate, float]):
    """Every aggregate 0 (renewal: none known) unless given."""
    return lambda a: values.get(a, empty_value(a))


def test_the_default_scorecard_weighs_contraction_and_renewal_in_a_commercial_component():
    shrinking = {
        mrr(0): 700.0,  # a 30% contraction: 0
        mrr(90): 1000.0,
        Aggregate("users", "seats", None, 0): 17,  # 15% fewer seats: 0.5
        Aggregate("users", "seats", None, 90): 20,
        renews(): -45.0,  # renews in 45 days: 0.5
    }
    score = score_account(DEFAULT, customer_id="a", as_of=AS_OF, get=commercial(shrinking))
    by_name = {s.name: s for s in score.signals}
    assert by_name["mrr_contraction"].raw == pytest.approx(-0.3)
    assert by_name["mrr_contraction"].value == pytest.approx(0.0)
    assert by_name["seat_contraction"].value == pytest.approx(0.5)
    assert by_name["renewal_proximity"].raw == pytest.approx(45.0)
    # (0.04 x 0 + 0.03 x 0.5 + 0.03 x 0.5) / 0.10
    assert score.components["commercial"] == pytest.approx(30.0)

    growing = {**shrinking, mrr(0): 1300.0, Aggregate("users", "seats", None, 0): 25}
    better = score_account(DEFAULT, customer_id="a", as_of=AS_OF, get=commercial(growing))
    assert better.components["commercial"] == pytest.approx(85.0)  # (0.04 + 0.03 + 0.015) / 0.1
    assert better.score > score.score


def test_without_commercial_data_the_signals_are_skipped_not_counted_as_bad_or_good():
    """No MRR history, no seats 90 days ago, no renewal date: the account is scored on the
    other signals alone, as with the default scorecard before it had a commercial group."""
    score = score_account(DEFAULT, customer_id="a", as_of=AS_OF, get=commercial({}))
    assert "commercial" not in score.components
    by_name = {s.name: s for s in score.signals}
    assert all(by_name[n].missing for n in ("mrr_contraction", "renewal_proximity"))
    others = {**DEFAULT.model_dump(), "signals": DEFAULT.model_dump()["signals"][:-3]}
    weight = sum(s["weight"] for s in others["signals"])
    expected = sum(by_name[s["name"]].value * s["weight"] for s in others["signals"]) / weight
    assert score.score == round(expected * 100)
