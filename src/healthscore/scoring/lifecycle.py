"""Lifecycle stages: an account is judged on what it could have done by now.

A ten-day-old account has no 28-day baseline and no habits yet; a mature account in its
renewal window is about to decide. The stage is computed from the account's age and
renewal date at the moment of scoring, so a backtest replays it exactly as it was.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from healthscore.scoring.labels import Stage
from healthscore.scoring.scorecard import Lifecycle
from healthscore.timeutc import utc

DAY_SECONDS = 86_400.0


def age_days(created_at: datetime, as_of: datetime) -> float:
    """Days from the account's creation to ``as_of`` (0 for a clock that runs behind)."""
    return max(0.0, (utc(as_of) - utc(created_at)).total_seconds() / DAY_SECONDS)


def stage_of(
    lifecycle: Lifecycle,
    *,
    segment: str | None,
    age: float,
    renews_at: datetime | None,
    as_of: datetime,
) -> Stage:
    """Onboarding first (a young account is not judged as a renewing one), then the
    renewal window, then adopting or mature by age."""
    if age < lifecycle.onboarding_days_for(segment):
        return Stage.onboarding
    if renews_at is not None:
        until = next_renewal(renews_at, as_of) - utc(as_of)
        if timedelta(0) <= until <= timedelta(days=lifecycle.renewal_window_days):
            return Stage.renewal
    if age < lifecycle.mature_after_days:
        return Stage.adopting
    return Stage.mature


def next_renewal(renews_at: datetime, as_of: datetime) -> datetime:
    """The renewal that was next at ``as_of``. ``renews_at`` holds one date, the renewal a
    CRM shows today; contracts renew yearly, so at an earlier moment the next renewal was
    the anniversary of that date that came first after it. (A backtest must not learn from
    today's date whether a past renewal went through: a churned account keeps the date it
    left, a renewed one already shows next year's.)"""
    renews_at, as_of = utc(renews_at), utc(as_of)
    while True:
        earlier = _years_before(renews_at, 1)
        if earlier < as_of:
            return renews_at
        renews_at = earlier


def _years_before(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year - years, day=28)


def coverage(ages: NDArray[np.float64], lookback_days: int) -> NDArray[np.float64]:
    """How much of a signal's look-back the account has lived through (0-1)."""
    if lookback_days <= 0:
        return np.ones_like(ages)
    return np.clip(ages / lookback_days, 0.0, 1.0)
