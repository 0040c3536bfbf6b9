"""The measurements a scorecard signal can be built from.

A *metric* (``logins``, ``payment_success_rate``…) is a formula over *aggregates*: counts,
sums and maxima per account over a time window, which ``aggregates`` computes for every
account at once. Keeping the formulas here, as pure functions, is what lets the engine be
tested without a database and lets the backtest replay any moment in time.

Formulas work on numpy arrays (one element per account) so 100,000 accounts are scored in
one pass; ``NaN`` means "no data" (e.g. a success rate with no payments). Each formula
imports numpy itself: a scorecard is validated against this catalogue, and a command that
only reads one (``healthscore show``) should not wait for numpy to load.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NamedTuple, TypeAlias

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

Column: TypeAlias = "NDArray[np.float64]"
"""One value per account of the batch being scored."""

Source = Literal[
    "sessions",
    "feature_usage",
    "api_usage",
    "users",
    "payments",
    "tickets",
    "nps",
    "sentiment",
    "mrr",
    "customers",
]


class Aggregate(NamedTuple):
    """One per-account number over ``[as_of - offset - window, as_of - offset)``.

    ``window_days=None`` means "everything before ``as_of - offset``".
    """

    source: Source
    measure: str
    window_days: int | None
    offset_days: int = 0


Lookup = Callable[[Aggregate], Column]
"""Returns an aggregate for every account of the batch (``empty_value`` where no rows)."""

NO_LOGIN = -1.0
"""``last_age_days`` of an account with no login in the window."""


NO_RENEWAL = float("inf")
"""``renews_at`` (an age in days) of an account without a renewal date: as if infinitely
long ago, so it is never upcoming (no data)."""


def empty_value(aggregate: Aggregate) -> float:
    """What an aggregate is for an account without a single matching row."""
    if aggregate.measure == "renews_at":
        return NO_RENEWAL
    return NO_LOGIN if aggregate.measure == "last_age_days" else 0.0


@dataclass(frozen=True)
class Metric:
    """A named formula: which aggregates it needs and how to combine them.

    ``additive`` metrics are counts that can be divided by seats or compared with an
    earlier window of the same account (per-seat and vs-baseline normalisation).
    """

    name: str
    description: str
    unit: str
    additive: bool
    needs: Callable[[int, int], list[Aggregate]]
    """``needs(window_days, offset_days)``: the aggregates ``compute`` will look up."""
    compute: Callable[[Lookup, int, int], Column]
    """``compute(lookup, window_days, offset_days)``; ``NaN`` means "no data"."""
    window_step: int = 1
    """``window_days`` must be a multiple of this (weekly metrics: 7)."""
    min_window: int = 1
    """The shortest ``window_days`` the formula is defined for."""


def _count(source: Source, measure: str, description: str, unit: str) -> Metric:
    def needs(window: int, offset: int) -> list[Aggregate]:
        return [Aggregate(source, measure, window, offset)]

    def compute(get: Lookup, window: int, offset: int) -> Column:
        return get(Aggregate(source, measure, window, offset))

    return Metric(measure, description, unit, True, needs, compute)


def _ratio(
    name: str,
    description: str,
    unit: str,
    numerator: Callable[[int, int], list[Aggregate]],
    denominator: Callable[[int, int], Aggregate],
    formula: Callable[[list[Column], Column], Column],
) -> Metric:
    """A metric that is undefined (``NaN``) where its denominator is zero."""

    def compute(get: Lookup, window: int, offset: int) -> Column:
        import numpy as np

        total = get(denominator(window, offset))
        defined = total > 0
        safe_total = np.where(defined, total, 1.0)
        value = formula([get(a) for a in numerator(window, offset)], safe_total)
        return np.where(defined, value, np.nan)

    def needs(window: int, offset: int) -> list[Aggregate]:
        return [*numerator(window, offset), denominator(window, offset)]

    return Metric(name, description, unit, False, needs, compute)


def _days_since_last_login() -> Metric:
    def compute(get: Lookup, window: int, offset: int) -> Column:
        import numpy as np

        # ``aggregates`` reports the age in days of the newest login inside the window.
        age = get(Aggregate("sessions", "last_age_days", window, offset))
        return np.where(age == NO_LOGIN, np.nan, age)

    return Metric(
        "days_since_last_login",
        "Days since the most recent login inside the window (no login: no data)",
        "days",
        False,
        lambda w, o: [Aggregate("sessions", "last_age_days", w, o)],
        compute,
    )


def _agg(source: Source, measure: str) -> Callable[[int, int], Aggregate]:
    return lambda w, o: Aggregate(source, measure, w, o)


def _aggs(source: Source, *measures: str) -> Callable[[int, int], list[Aggregate]]:
    return lambda w, o: [Aggregate(source, m, w, o) for m in measures]


def _point_in_time(source: Source, measure: str, description: str, unit: str) -> Metric:
    """A count at the moment of scoring, whatever the window (seats, open tickets)."""

    def compute(get: Lookup, window: int, offset: int) -> Column:
        return get(Aggregate(source, measure, None, offset))

    return Metric(
        measure,
        description,
        unit,
        False,
        lambda w, o: [Aggregate(source, measure, None, o)],
        compute,
    )


def _current_sentiment() -> Metric:
    """The CSM sentiment in force at the moment (1 red … 5 green): the newest entry,
    only until it expires (``valid_until``) or a newer one replaces it. Stale or none:
    no data."""

    def needs(window: int, offset: int) -> list[Aggregate]:
        return [
            Aggregate("sentiment", "sentiment_sum", None, offset),
            Aggregate("sentiment", "sentiment_entries", None, offset),
        ]

    def compute(get: Lookup, window: int, offset: int) -> Column:
        import numpy as np

        total, entries = (get(a) for a in needs(window, offset))
        return np.where(entries > 0, total / np.where(entries > 0, entries, 1.0), np.nan)

    return Metric(
        "csm_sentiment",
        "The CSM's sentiment in force (1 red, 3 yellow, 5 green); none or expired: no data",
        "rating",
        False,
        needs,
        compute,
    )


def _relative_change(name: str, description: str, level: Callable[[int], Aggregate]) -> Metric:
    """How much a level at the moment differs from the level ``window`` days earlier,
    relative to the earlier one: -0.25 is a quarter less, 0.5 half as much again.
    ``level(offset)`` is the level's point-in-time aggregate. No data where there is
    nothing to compare with: a level of 0 (or none) ``window`` days ago (a new account, a
    trial that converted)."""

    def needs(window: int, offset: int) -> list[Aggregate]:
        return [level(offset), level(offset + window)]

    def compute(get: Lookup, window: int, offset: int) -> Column:
        import numpy as np

        now, earlier = (get(a) for a in needs(window, offset))
        known = earlier > 0
        return np.where(known, (now - earlier) / np.where(known, earlier, 1.0), np.nan)

    return Metric(name, description, "ratio", False, needs, compute)


YEAR_DAYS = 365.2425


def _days_to_renewal() -> Metric:
    """Days from the moment to the account's next renewal (``customers.renews_at``): the
    date a CRM shows today, rolled back by whole years to the renewal that was next at the
    moment (annual contracts; ``lifecycle.next_renewal`` does the same by the calendar,
    this within a day of it). A renewal date before the moment, or none: no data."""

    def needs(window: int, offset: int) -> list[Aggregate]:
        return [Aggregate("customers", "renews_at", None, offset)]

    def compute(get: Lookup, window: int, offset: int) -> Column:
        import numpy as np

        # ``aggregates`` reads a date as its age in days at ``as_of``: negative ahead of it.
        ahead = offset - get(Aggregate("customers", "renews_at", None, offset))
        upcoming = np.nan_to_num(ahead, nan=-1.0, neginf=-1.0) >= 0
        return np.where(upcoming, np.mod(np.where(upcoming, ahead, 0.0), YEAR_DAYS), np.nan)

    return Metric(
        "days_to_renewal",
        "Days until the next contract renewal (customers.renews_at); none known: no data",
        "days",
        False,
        needs,
        compute,
    )


WEEK = 7


WEEKLY_LEVEL_FLOOR = 8.0
"""The least weekly level a weekly change is measured against: below it, a handful of
events would make a steep slope out of noise."""
RECENT_WEEKS = 2
WEEKLY_EVIDENCE = 8.0
"""Activity over the window below which a weekly change is pulled towards a decline."""
WEEKLY_DECLINE = 0.1
"""How far (per week) no activity at all pulls a weekly change down."""


def _weekly_change(base: Metric, description: str) -> Metric:
    """How fast a count is falling over the window's weeks, relative to its level: the
    least-squares slope of the weekly totals divided by their mean (floored at
    ``WEEKLY_LEVEL_FLOOR``). -0.1 is "falling 10% a week". A decline counts only while it
    lasts: it counts fully while the last two weeks are at half the earlier weeks' level or
    less (half the floor, for a small account), not at all once they are back to it (an
    account back to normal after a dip is not "declining"). Little activity
    over the whole window is itself a sign: below ``WEEKLY_EVIDENCE`` the change is pulled
    towards ``-WEEKLY_DECLINE`` (all the way with none at all), one event at a time, so the
    first event after a long silence cannot swing the score. A sustained slope, unlike one
    comparison of two windows, shows an account thinning out while there is time to act."""

    def weekly(window: int, offset: int) -> list[tuple[int, int]]:
        return [(WEEK, offset + WEEK * k) for k in range(window // WEEK)]  # newest first

    def needs(window: int, offset: int) -> list[Aggregate]:
        return [a for w, o in weekly(window, offset) for a in base.needs(w, o)]

    def compute(get: Lookup, window: int, offset: int) -> Column:
        import numpy as np

        counts = np.column_stack([base.compute(get, w, o) for w, o in weekly(window, offset)])
        time = -np.arange(counts.shape[1], dtype=np.float64)
        centred = time - time.mean()
        level = counts.mean(axis=1)
        slope = (counts - level[:, None]) @ centred / (centred @ centred)
        change = slope / np.maximum(level, WEEKLY_LEVEL_FLOOR)
        # Still down? Fully when the last weeks are half the earlier level or less, not
        # at all once they are back to it, in proportion between (no cliff at the edge).
        recent = counts[:, :RECENT_WEEKS].mean(axis=1)
        earlier = counts[:, RECENT_WEEKS:].mean(axis=1)
        half = np.maximum(0.5 * earlier, 0.5 * WEEKLY_LEVEL_FLOOR)
        still_down = np.clip((earlier - recent) / half, 0.0, 1.0)
        change = np.where(change < 0, change * still_down, change)
        evidence = np.clip(counts.sum(axis=1) / WEEKLY_EVIDENCE, 0.0, 1.0)
        result: Column = change - (1.0 - evidence) * WEEKLY_DECLINE
        return result

    return Metric(
        f"{base.name}_weekly_change",
        description,
        "per week",
        False,
        needs,
        compute,
        window_step=WEEK,
        min_window=(RECENT_WEEKS + 2) * WEEK,
    )


def _sum(name: str, description: str, unit: str, *parts: tuple[Source, str]) -> Metric:
    """A count that adds up counts of several sources (in the same unit)."""

    def needs(window: int, offset: int) -> list[Aggregate]:
        return [Aggregate(source, measure, window, offset) for source, measure in parts]

    def compute(get: Lookup, window: int, offset: int) -> Column:
        import numpy as np

        total: Column = np.sum([get(a) for a in needs(window, offset)], axis=0)
        return total

    return Metric(name, description, unit, True, needs, compute)


ACTIVITY_DAYS = _sum(
    "activity_days",
    "Seat-days (each seat's days with a login) plus the days the account called the API",
    "days",
    ("sessions", "active_seat_days"),
    ("api_usage", "api_days"),
)
"""An account's activity in one unit, whichever way it uses the product: people logging
in, or an integration calling the API."""

METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        _count("sessions", "logins", "Logins (sessions started) in the window", "logins"),
        _count(
            "sessions",
            "active_users",
            "Distinct seats who logged in (users on the account at the window's end)",
            "users",
        ),
        _count(
            "sessions",
            "active_seat_days",
            "Seat-days: for each seat (at the window's end), the days it logged in, summed",
            "seat-days",
        ),
        _days_since_last_login(),
        _count("feature_usage", "distinct_features", "Distinct features used", "features"),
        _count("feature_usage", "feature_events", "Feature-use events", "events"),
        _count("api_usage", "api_calls", "API calls", "calls"),
        _count("users", "new_users", "Users (seats) added in the window", "users"),
        _point_in_time("users", "seats", "Seats (users) on the account at the time", "seats"),
        _count("payments", "payments", "Payment attempts", "payments"),
        _count("payments", "failed_payments", "Failed payment attempts", "payments"),
        _ratio(
            "payment_success_rate",
            "1 - failed / all payment attempts (no payments: no data)",
            "ratio",
            _aggs("payments", "failed_payments"),
            _agg("payments", "payments"),
            lambda num, total: 1 - num[0] / total,
        ),
        _count("tickets", "tickets_opened", "Support tickets opened", "tickets"),
        _count(
            "tickets",
            "high_severity_tickets",
            "Tickets opened with severity high or urgent",
            "tickets",
        ),
        _point_in_time(
            "tickets", "open_tickets", "Tickets still open at the time (any age)", "tickets"
        ),
        _ratio(
            "ticket_resolution_rate",
            "Share of the window's tickets resolved by the time of scoring",
            "ratio",
            _aggs("tickets", "tickets_resolved"),
            _agg("tickets", "tickets_opened"),
            lambda num, total: num[0] / total,
        ),
        _ratio(
            "ticket_rating",
            "Average satisfaction rating (1-5) of the window's rated tickets",
            "rating",
            _aggs("tickets", "rating_sum"),
            _agg("tickets", "rated_tickets"),
            lambda num, total: num[0] / total,
        ),
        _ratio(
            "nps_average",
            "Average NPS answer (0-10)",
            "points",
            _aggs("nps", "nps_score_sum"),
            _agg("nps", "nps_responses"),
            lambda num, total: num[0] / total,
        ),
        _ratio(
            "nps_net",
            "Net Promoter Score: % promoters (9-10) - % detractors (0-6), -100..100",
            "nps",
            _aggs("nps", "nps_promoters", "nps_detractors"),
            _agg("nps", "nps_responses"),
            lambda num, total: 100.0 * (num[0] - num[1]) / total,
        ),
        _count("nps", "nps_detractors", "NPS detractor answers (0-6)", "answers"),
        _count("api_usage", "api_days", "Days with at least one API call", "days"),
        _current_sentiment(),
        _relative_change(
            "mrr_change",
            "Relative change of MRR over the window: MRR now vs MRR then (-0.25 = a quarter "
            "less); no MRR history then: no data",
            lambda o: Aggregate("mrr", "mrr", None, o),
        ),
        _relative_change(
            "seat_change",
            "Relative change of seats over the window: seats now vs seats then (-0.2 = a fifth "
            "fewer); no seats then: no data",
            lambda o: Aggregate("users", "seats", None, o),
        ),
        _days_to_renewal(),
        ACTIVITY_DAYS,
        _weekly_change(
            ACTIVITY_DAYS,
            "Weekly change of activity-days over the window, relative to their level",
        ),
    ]
}
