"""What a scoring run can aggregate, and from which table: the SQL of every measure.

Business records (seats, payments, tickets, NPS) are aggregated raw (``SOURCES``);
product events are read through their daily roll-ups (``ROLLED_UP``), so raw rows may
expire. ``aggregate_queries`` turns these declarations into queries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    and_,
    case,
    cast,
    distinct,
    func,
    literal,
    or_,
)

from healthscore.scoring.metrics import Source
from healthscore.scoring.selection import Condition
from healthscore.storage import csm_models
from healthscore.storage import models as m

MeasureSql = Callable[[Condition, datetime], ColumnElement[Any]]


def _count(extra: Callable[[], Condition] | None = None) -> MeasureSql:
    def build(cond: Condition, end: datetime) -> ColumnElement[Any]:
        return func.count(case((and_(cond, extra()) if extra else cond, literal(1))))

    return build


def _sum(column: Any, extra: Callable[[datetime], Condition] | None = None) -> MeasureSql:
    def build(cond: Condition, end: datetime) -> ColumnElement[Any]:
        return func.coalesce(
            func.sum(case((and_(cond, extra(end)) if extra else cond, column), else_=0)), 0
        )

    return build


def _rated(end: datetime) -> Condition:
    known_at = func.coalesce(m.SupportTicket.resolved_at, m.SupportTicket.opened_at)
    return and_(m.SupportTicket.rating.is_not(None), known_at < end)


def _sentiment_in_force(end: datetime) -> Condition:
    """A sentiment entry counts at ``end`` until it expires or a newer one replaces it."""
    entry = csm_models.CsmSentiment
    return and_(
        entry.valid_until > end, or_(entry.superseded_at.is_(None), entry.superseded_at > end)
    )


def seat_at(moment: datetime) -> Condition:
    """The ``users`` row is a seat at ``moment``: created before it, not removed by then.
    Seat-based measures count a user only while this holds (a login from a userId
    without such a row is kept, but counts in none of them)."""
    return and_(
        m.User.created_at < moment,
        or_(m.User.removed_at.is_(None), m.User.removed_at >= moment),
    )


@dataclass(frozen=True)
class SourceSql:
    """How to aggregate one raw table: its time column and each measure's SQL."""

    model: Any
    ts: Any
    measures: dict[str, MeasureSql]
    key: Any = None
    """The column naming the account (default: the table's ``customer_id``)."""

    @property
    def account(self) -> Any:
        return self.model.customer_id if self.key is None else self.key


def _mrr_in_force(end: datetime) -> Condition:
    """The MRR history row is its stream's MRR at ``end`` (``ingest.mrr``)."""
    return or_(m.MrrChange.until.is_(None), m.MrrChange.until >= end)


SOURCES: dict[Source, SourceSql] = {
    "users": SourceSql(
        m.User,
        m.User.created_at,
        {
            "new_users": _count(),
            "seats": lambda cond, end: func.count(case((and_(cond, seat_at(end)), literal(1)))),
        },
    ),
    "payments": SourceSql(
        m.Payment,
        m.Payment.ts,
        {
            "payments": _count(),
            "failed_payments": _count(lambda: m.Payment.status == "failed"),
        },
    ),
    "tickets": SourceSql(
        m.SupportTicket,
        m.SupportTicket.opened_at,
        {
            "tickets_opened": _count(),
            "high_severity_tickets": _count(
                lambda: m.SupportTicket.severity.in_(("high", "urgent"))
            ),
            "tickets_resolved": lambda cond, end: func.count(
                case((and_(cond, m.SupportTicket.resolved_at < end), literal(1)))
            ),
            "rated_tickets": lambda cond, end: func.count(
                case((and_(cond, _rated(end)), literal(1)))
            ),
            "rating_sum": _sum(m.SupportTicket.rating, _rated),
            "open_tickets": lambda cond, end: func.count(
                case(
                    (
                        and_(
                            cond,
                            or_(
                                m.SupportTicket.resolved_at.is_(None),
                                m.SupportTicket.resolved_at >= end,
                            ),
                        ),
                        literal(1),
                    )
                )
            ),
        },
    ),
    "nps": SourceSql(
        m.NpsResponse,
        m.NpsResponse.ts,
        {
            "nps_responses": _count(),
            "nps_score_sum": _sum(m.NpsResponse.score),
            "nps_promoters": _count(lambda: m.NpsResponse.score >= 9),
            "nps_detractors": _count(lambda: m.NpsResponse.score <= 6),
        },
    ),
    "sentiment": SourceSql(
        csm_models.CsmSentiment,
        csm_models.CsmSentiment.recorded_at,
        {
            "sentiment_entries": lambda cond, end: func.count(
                case((and_(cond, _sentiment_in_force(end)), literal(1)))
            ),
            "sentiment_sum": _sum(csm_models.CsmSentiment.value, _sentiment_in_force),
        },
    ),
    "mrr": SourceSql(
        m.MrrChange,
        m.MrrChange.at,
        # Point-in-time (``window_days=None``): the sum of the rows in force at the end.
        {"mrr": _sum(m.MrrChange.mrr, _mrr_in_force)},
    ),
    "customers": SourceSql(
        m.Customer,
        m.Customer.created_at,
        {"renews_at": lambda cond, end: func.max(case((cond, m.Customer.renews_at)))},
        key=m.Customer.id,
    ),
}
"""Business records, small enough to aggregate raw: seats, payments, tickets, NPS, what
CSMs record (sentiment), MRR history, and the account's own record (its renewal date)."""


Columns = dict[str, Any]
"""A roll-up's or a raw table's columns under the shared names of ``RolledUpSql.columns``."""


@dataclass(frozen=True)
class Part:
    """The rows of one query that one aggregate's window takes in."""

    cond: Condition
    """Daily roll-up: the row is a whole day of the window; activity roll-up: the key
    has a whole day of it; raw side: the event is inside the window (and, for a
    seat-based measure, its user a seat at the window's end)."""
    columns: Columns
    day_count: ColumnElement[Any] | None = None
    """Activity roll-up: on how many of the window's whole days the key was active."""
    cut_days: Sequence[Condition] = ()
    """Raw side: one condition per cut day that overlaps the window."""


@dataclass(frozen=True)
class RolledMeasure:
    """How one measure is read. ``inner``: on a daily roll-up an aggregate of one
    account's days; on an activity roll-up the value of one key (user, feature), which
    ``outer`` combines per account. ``cut`` aggregates the raw rows of cut days, and
    ``merge`` joins the two results. A ``seats_only`` measure counts a key (a user) only
    if it is a seat at the end of the window (``seat_at``)."""

    inner: Callable[[Part], ColumnElement[Any]]
    outer: Callable[[Any], ColumnElement[Any]]
    cut: Callable[[Part], ColumnElement[Any]]
    merge: Callable[[Any, Any], Any]
    counts_keys: bool = False
    seats_only: bool = False


def _total(column: str) -> RolledMeasure:
    def total(part: Part) -> ColumnElement[Any]:
        return func.coalesce(func.sum(case((part.cond, part.columns[column]), else_=0)), 0)

    return RolledMeasure(total, func.sum, total, lambda a, b: a + b)


def _latest(column: str) -> RolledMeasure:
    def latest(part: Part) -> ColumnElement[Any]:
        return func.max(case((part.cond, part.columns[column])))

    return RolledMeasure(latest, func.max, latest, max)


def _distinct_keys(key: str, *, seats_only: bool = False) -> RolledMeasure:
    """Keys (users, features) seen in the window. Roll-up days: 1 per key inside, counted
    per account (no DISTINCT needed). Cut days: keys the roll-up days did not already
    have, so adding the two counts never counts a key twice."""
    return RolledMeasure(
        lambda part: case((part.cond, literal(1))),
        func.count,
        lambda part: func.count(distinct(case((part.cond, part.columns[key])))),
        lambda a, b: a + b,
        counts_keys=True,
        seats_only=seats_only,
    )


def _days_with(column: str) -> RolledMeasure:
    """Days of the window on which ``column`` was positive (an API call was made): on
    roll-up days one row per account and day; on each cut day 1 if that day's part of the
    window has a positive row."""

    def rolled(part: Part) -> ColumnElement[Any]:
        return func.count(case((and_(part.cond, part.columns[column] > 0), literal(1))))

    def cut(part: Part) -> ColumnElement[Any]:
        days = [
            func.max(case((and_(part.cond, day, part.columns[column] > 0), 1), else_=0))
            for day in part.cut_days
        ]
        return sum(days[1:], days[0]) if days else literal(0, Integer)

    return RolledMeasure(rolled, func.sum, cut, lambda a, b: a + b)


def _key_days(key: str) -> RolledMeasure:
    """(key, day) pairs in the window: on roll-up days each key's days (a popcount of its
    window bits); on each cut day the distinct keys of that day's part of the window. A
    cut day is never a roll-up day of the same query, so no pair counts twice."""

    def cut(part: Part) -> ColumnElement[Any]:
        counts = [
            func.count(distinct(case((and_(part.cond, day), part.columns[key]))))
            for day in part.cut_days
        ]
        return sum(counts[1:], counts[0]) if counts else literal(0, Integer)

    def inner(part: Part) -> ColumnElement[Any]:
        assert part.day_count is not None, "day counts need an activity roll-up"
        return part.day_count

    return RolledMeasure(inner, _whole_sum, cut, lambda a, b: a + b, seats_only=True)


def _whole_sum(value: Any) -> ColumnElement[Any]:
    """The sum of per-key day counts as a BIGINT (it is at most 64 a key and period).
    PostgreSQL's ``sum`` of a BIGINT is a NUMERIC, which the driver loads as one Decimal
    per account and window (190,000 at 20,000 accounts) only for numpy to make floats of
    them: the cast halves the cost of loading those columns."""
    return cast(func.sum(value), BigInteger)


@dataclass(frozen=True, eq=False)
class RolledUpSql:
    """A raw event table read through its daily roll-up: whole days come from ``rollup``,
    the days an as-of moment cuts in two from ``raw``. ``columns`` names each value both
    sides provide (raw expression, roll-up expression); ``key`` names the column that
    keyed measures group by first (the roll-up's primary key is customer, key, then day
    or period)."""

    raw: Any
    rollup: Any
    columns: dict[str, tuple[Any, Any]]
    measures: dict[str, RolledMeasure]
    key: str | None = None
    activity: bool = False
    """``rollup`` holds a bit per day (``UserActivity``), not a row per day."""


DAILY_SESSIONS = RolledUpSql(
    m.Session,
    m.DailySessions,
    {
        "n": (literal(1, Integer), m.DailySessions.logins),
        "last_at": (m.Session.ts, m.DailySessions.last_at),
    },
    {"logins": _total("n"), "last_age_days": _latest("last_at")},
)
USER_ACTIVITY = RolledUpSql(
    m.Session,
    m.UserActivity,
    {"user_id": (m.Session.user_id, m.UserActivity.user_id)},
    {
        "active_users": _distinct_keys("user_id", seats_only=True),
        "active_seat_days": _key_days("user_id"),
    },
    key="user_id",
    activity=True,
)
DAILY_FEATURES = RolledUpSql(
    m.FeatureUsage,
    m.DailyFeatures,
    {"n": (literal(1, Integer), m.DailyFeatures.events)},
    {"feature_events": _total("n")},
)
FEATURE_ACTIVITY = RolledUpSql(
    m.FeatureUsage,
    m.FeatureActivity,
    {"feature": (m.FeatureUsage.feature, m.FeatureActivity.feature)},
    {"distinct_features": _distinct_keys("feature")},
    key="feature",
    activity=True,
)
DAILY_API_USAGE = RolledUpSql(
    m.ApiUsage,
    m.DailyApiUsage,
    {"calls": (m.ApiUsage.calls, m.DailyApiUsage.calls)},
    {"api_calls": _total("calls"), "api_days": _days_with("calls")},
)
ROLLED_UP: dict[Source, list[RolledUpSql]] = {
    "sessions": [DAILY_SESSIONS, USER_ACTIVITY],
    "feature_usage": [DAILY_FEATURES, FEATURE_ACTIVITY],
    "api_usage": [DAILY_API_USAGE],
}
"""Product events: read through daily roll-ups, so raw rows may expire."""


def measures_of(source: Source) -> set[str]:
    """Every measure ``source`` can aggregate."""
    if source in ROLLED_UP:
        return {name for spec in ROLLED_UP[source] for name in spec.measures}
    return set(SOURCES[source].measures)
