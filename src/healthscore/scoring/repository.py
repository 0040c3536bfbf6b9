"""All SQL the scoring engine needs, set-based: one aggregate query per data source.

Product events are read through their daily roll-ups (raw rows only for a day an as-of
moment cuts in two), business records straight from their tables. Every query is bounded
by ``as_of``, which is what makes as-of scoring and the backtest leak-free. Per-account
work happens in Python on the results, never as one query per account.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import (
    ColumnElement,
    Date,
    Integer,
    Select,
    Table,
    and_,
    case,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session as DbSession

from healthscore.scoring.engine import PreviousScore, ScoredBatch
from healthscore.scoring.metrics import Aggregate, Source
from healthscore.scoring.scorecard import Tier, Trend
from healthscore.storage import models as m
from healthscore.storage.dialect import upsert, without_index
from healthscore.storage.types import UTCDateTime

Condition = ColumnElement[bool]
HISTORY: Table = m.HealthScoreHistory.__table__  # type: ignore[assignment]
LATEST: Table = m.HealthScore.__table__  # type: ignore[assignment]
MeasureSql = Callable[[Condition, datetime], ColumnElement[Any]]


@dataclass(frozen=True, slots=True)
class IdRange:
    """Accounts whose id sorts between ``first`` and ``last`` (inclusive): one shard."""

    first: str
    last: str


Selection = Collection[str] | IdRange | None
"""Which accounts a query covers: all (None), a list of ids, or an id range."""


def restrict(query: Any, column: Any, selection: Selection) -> Any:
    if selection is None:
        return query
    if isinstance(selection, IdRange):
        return query.where(column >= selection.first, column <= selection.last)
    return query.where(column.in_(list(selection)))


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


@dataclass(frozen=True)
class SourceSql:
    """How to aggregate one raw table: its time column and each measure's SQL."""

    model: Any
    ts: Any
    measures: dict[str, MeasureSql]


SOURCES: dict[Source, SourceSql] = {
    "users": SourceSql(
        m.User,
        m.User.created_at,
        {
            "new_users": _count(),
            "seats": lambda cond, end: func.count(
                case(
                    (
                        and_(cond, or_(m.User.removed_at.is_(None), m.User.removed_at >= end)),
                        literal(1),
                    )
                )
            ),
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
}
"""Business records, small enough to aggregate raw: seats, payments, tickets, NPS."""


@dataclass(frozen=True)
class RolledMeasure:
    """A measure over the unified (roll-up + raw) rows: ``inner`` aggregates one account
    (or one account's key: a user, a feature) under a window condition; for keyed
    roll-ups ``outer`` then combines the keys, so distinct counts need no DISTINCT."""

    inner: Callable[[Condition, Any], ColumnElement[Any]]
    outer: Callable[[Any], ColumnElement[Any]]


def _total(column: str) -> RolledMeasure:
    return RolledMeasure(
        lambda cond, u: func.coalesce(func.sum(case((cond, u.c[column]), else_=0)), 0),
        func.sum,
    )


def _latest(column: str) -> RolledMeasure:
    return RolledMeasure(lambda cond, u: func.max(case((cond, u.c[column]))), func.max)


DISTINCT_KEYS = RolledMeasure(lambda cond, u: func.max(case((cond, literal(1)))), func.count)
"""Keys (users, features) seen in the window: 1 per key inside, counted per account."""


@dataclass(frozen=True, eq=False)
class RolledUpSql:
    """A raw event table read through its daily roll-up: whole days come from ``rollup``,
    the days an as-of moment cuts in two from ``raw``. ``columns`` names each value both
    sides provide (raw expression, roll-up expression); ``key`` names the column that
    keyed measures group by first (the roll-up's primary key is customer, key, day)."""

    raw: Any
    rollup: Any
    columns: dict[str, tuple[Any, Any]]
    measures: dict[str, RolledMeasure]
    key: str | None = None


DAILY_SESSIONS = RolledUpSql(
    m.Session,
    m.DailySessions,
    {
        "n": (literal(1, Integer), m.DailySessions.logins),
        "last_at": (m.Session.ts, m.DailySessions.last_at),
    },
    {"logins": _total("n"), "last_age_days": _latest("last_at")},
)
DAILY_ACTIVE_USERS = RolledUpSql(
    m.Session,
    m.DailyActiveUsers,
    {"user_id": (m.Session.user_id, m.DailyActiveUsers.user_id)},
    {"active_users": DISTINCT_KEYS},
    key="user_id",
)
DAILY_FEATURES = RolledUpSql(
    m.FeatureUsage,
    m.DailyFeatures,
    {
        "n": (literal(1, Integer), m.DailyFeatures.events),
        "feature": (m.FeatureUsage.feature, m.DailyFeatures.feature),
    },
    {"distinct_features": DISTINCT_KEYS, "feature_events": _total("n")},
    key="feature",
)
DAILY_API_USAGE = RolledUpSql(
    m.ApiUsage,
    m.DailyApiUsage,
    {"calls": (m.ApiUsage.calls, m.DailyApiUsage.calls)},
    {"api_calls": _total("calls")},
)
ROLLED_UP: dict[Source, list[RolledUpSql]] = {
    "sessions": [DAILY_SESSIONS, DAILY_ACTIVE_USERS],
    "feature_usage": [DAILY_FEATURES],
    "api_usage": [DAILY_API_USAGE],
}
"""Product events: read through daily roll-ups, so raw rows may expire."""


def measures_of(source: Source) -> set[str]:
    """Every measure ``source`` can aggregate."""
    if source in ROLLED_UP:
        return {name for spec in ROLLED_UP[source] for name in spec.measures}
    return set(SOURCES[source].measures)


def _bounds(aggregate: Aggregate, as_of: datetime) -> tuple[datetime | None, datetime]:
    end = as_of - timedelta(days=aggregate.offset_days)
    if aggregate.window_days is None:
        return None, end
    return end - timedelta(days=aggregate.window_days), end


def _column_name(aggregate: Aggregate) -> str:
    window = "all" if aggregate.window_days is None else aggregate.window_days
    return f"{aggregate.measure}_{window}_{aggregate.offset_days}"


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def aggregate_query(
    source: Source,
    aggregates: Sequence[Aggregate],
    as_of: datetime,
    customer_ids: Selection = None,
    dialect: str = "postgresql",
) -> Select[Any]:
    """One GROUP BY over a business-record table, every window as a CASE filter."""
    spec = SOURCES[source]
    columns = []
    starts: list[datetime | None] = []
    for aggregate in aggregates:
        start, end = _bounds(aggregate, as_of)
        starts.append(start)
        cond = spec.ts < end if start is None else and_(spec.ts >= start, spec.ts < end)
        columns.append(spec.measures[aggregate.measure](cond, end).label(_column_name(aggregate)))
    # The outer time filter must not steer SQLite away from the covering index.
    ts = without_index(spec.ts, dialect)
    query = select(spec.model.customer_id, *columns).where(ts < as_of)
    if None not in starts:
        query = query.where(ts >= min(s for s in starts if s is not None))
    grouped: Select[Any] = restrict(query, spec.model.customer_id, customer_ids)
    return grouped.group_by(spec.model.customer_id)


def rolled_up_query(
    spec: RolledUpSql,
    aggregates: Sequence[Aggregate],
    as_of: datetime,
    customer_ids: Selection = None,
) -> Select[Any]:
    """One GROUP BY over roll-up days plus the raw rows of the days a window edge cuts.

    Every window edge is ``as_of`` minus whole days, so either all edges are midnights
    (the nightly rescore, backtests: roll-ups alone) or each cuts one day in two, and that
    day is read raw instead of rolled up. Each day comes from exactly one side, so sums,
    maxima and distinct counts over the union are exact.
    """
    bounds = [_bounds(aggregate, as_of) for aggregate in aggregates]
    cut_days = sorted(
        {
            edge.date()
            for pair in bounds
            for edge in pair
            if edge is not None and edge != _midnight(edge.date())
        }
    )
    starts = [start for start, _ in bounds]
    earliest = None if None in starts else min(s for s in starts if s is not None)
    raw, rollup = spec.raw, spec.rollup
    rolled = select(
        rollup.customer_id.label("customer_id"),
        cast(null(), UTCDateTime()).label("ts"),
        rollup.day.label("day"),
        *[value.label(name) for name, (_, value) in spec.columns.items()],
    ).where(rollup.day < as_of.date())
    if earliest is not None:
        rolled = rolled.where(rollup.day >= earliest.date())
    rolled = restrict(rolled, rollup.customer_id, customer_ids)
    if cut_days:
        rolled = rolled.where(rollup.day.not_in(cut_days))
        cut = select(
            raw.customer_id.label("customer_id"),
            raw.ts.label("ts"),
            cast(null(), Date()).label("day"),
            *[value.label(name) for name, (value, _) in spec.columns.items()],
        ).where(
            raw.ts < as_of,
            or_(
                *[
                    and_(raw.ts >= _midnight(day), raw.ts < _midnight(day + timedelta(days=1)))
                    for day in cut_days
                ]
            ),
        )
        if earliest is not None:
            cut = cut.where(raw.ts >= earliest)
        if spec.key is not None:  # a login without a user is no active user
            raw_key = spec.columns[spec.key][0]
            cut = cut.where(raw_key.is_not(None), raw_key != "")
        unified = union_all(restrict(cut, raw.customer_id, customer_ids), rolled).subquery()
    else:
        unified = rolled.subquery()
    columns = []
    for aggregate, (start, end) in zip(aggregates, bounds, strict=True):
        in_days = unified.c.day < end.date()
        in_raw = unified.c.ts < end
        if start is not None:
            in_days = and_(unified.c.day >= start.date(), in_days)
            in_raw = and_(unified.c.ts >= start, in_raw)
        cond = or_(in_raw, in_days) if cut_days else in_days
        measure = spec.measures[aggregate.measure]
        columns.append(measure.inner(cond, unified).label(_column_name(aggregate)))
    if spec.key is None:
        return select(unified.c.customer_id, *columns).group_by(unified.c.customer_id)
    key = unified.c[spec.key]
    per_key = select(unified.c.customer_id, key, *columns).group_by(unified.c.customer_id, key)
    keyed = per_key.subquery()
    return select(
        keyed.c.customer_id,
        *[
            spec.measures[aggregate.measure].outer(keyed.c[name]).label(name)
            for aggregate in aggregates
            for name in [_column_name(aggregate)]
        ],
    ).group_by(keyed.c.customer_id)


def _reader(aggregate: Aggregate) -> Source | RolledUpSql:
    for spec in ROLLED_UP.get(aggregate.source, []):
        if aggregate.measure in spec.measures:
            return spec
    return aggregate.source


def load_aggregates(
    session: DbSession,
    aggregates: Iterable[Aggregate],
    *,
    as_of: datetime,
    customer_ids: Selection = None,
) -> dict[Aggregate, dict[str, float]]:
    """Every requested aggregate for every account, keyed aggregate → customer → value."""
    by_reader: dict[Source | RolledUpSql, list[Aggregate]] = defaultdict(list)
    for aggregate in sorted(set(aggregates), key=_column_name):
        by_reader[_reader(aggregate)].append(aggregate)
    result: dict[Aggregate, dict[str, float]] = {}
    dialect = session.get_bind().dialect.name
    for reader, wanted in by_reader.items():
        query = (
            rolled_up_query(reader, wanted, as_of, customer_ids)
            if isinstance(reader, RolledUpSql)
            else aggregate_query(reader, wanted, as_of, customer_ids, dialect)
        )
        columns: list[dict[str, float]] = [{} for _ in wanted]
        for row in session.execute(query):
            customer_id = row[0]
            for i in range(len(wanted)):
                value = row[i + 1]
                if value is None:
                    continue
                if isinstance(value, datetime):  # last login → its age in days
                    columns[i][customer_id] = (as_of - value).total_seconds() / 86400
                else:
                    columns[i][customer_id] = float(value)
        result.update(zip(wanted, columns, strict=True))
    return result


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    segment: str


def _active_at(as_of: datetime) -> Condition:
    return and_(
        m.Customer.created_at < as_of,
        or_(m.Customer.churned_at.is_(None), m.Customer.churned_at > as_of),
    )


def active_accounts(
    session: DbSession, *, as_of: datetime, customer_ids: Selection = None
) -> list[Account]:
    """Accounts that existed and had not churned at ``as_of``."""
    query = select(m.Customer.id, m.Customer.segment).where(_active_at(as_of))
    query = restrict(query, m.Customer.id, customer_ids)
    return [
        Account(id_, segment) for id_, segment in session.execute(query.order_by(m.Customer.id))
    ]


def churned_accounts(
    session: DbSession, *, as_of: datetime, customer_ids: Selection = None
) -> list[str]:
    query = select(m.Customer.id).where(m.Customer.churned_at <= as_of)
    query = restrict(query, m.Customer.id, customer_ids)
    return list(session.scalars(query))


def previous_scores(
    session: DbSession,
    *,
    earliest: date,
    latest: date,
    customer_ids: Selection = None,
) -> dict[str, PreviousScore]:
    """Per account, its newest history row with ``earliest <= day <= latest``."""
    h = m.HealthScoreHistory
    newest = select(h.customer_id, func.max(h.day).label("day")).where(
        h.day >= earliest, h.day <= latest
    )
    newest = restrict(newest, h.customer_id, customer_ids)
    sub = newest.group_by(h.customer_id).subquery()
    query = select(h.customer_id, h.day, h.score, h.contributions).join(
        sub, and_(h.customer_id == sub.c.customer_id, h.day == sub.c.day)
    )
    return {
        cid: PreviousScore(day, score, contributions)
        for cid, day, score, contributions in session.execute(query)
    }


def save_scores(session: DbSession, batch: ScoredBatch, *, calculated_at: datetime) -> None:
    """Write history (one row per account per day) and the latest score, set-based."""
    names = batch.signal_names
    weights = {s.name: s.weight for s in batch.scorecard.signals}
    day = batch.as_of.date()
    identity = batch.scorecard.identity
    contributions = batch.contributions().tolist()
    raws = [[None if r != r else r for r in row] for row in batch.raw.tolist()]  # NaN → None
    values = np.round(batch.values, 6).tolist()
    history = []
    latest = []
    for i, customer_id in enumerate(batch.customer_ids):
        score = int(batch.scores[i])
        tier = batch.tiers[i].value
        trend = batch.trends[i].value
        history.append(
            {
                "customer_id": customer_id,
                "day": day,
                "as_of": batch.as_of,
                "score": score,
                "tier": tier,
                "trend": trend,
                "components": batch.components[i],
                "contributions": dict(zip(names, contributions[i], strict=True)),
                "scorecard": identity,
            }
        )
        latest.append(
            {
                "customer_id": customer_id,
                "as_of": batch.as_of,
                "score": score,
                "tier": tier,
                "trend": trend,
                "previous_score": batch.previous_scores[i],
                "components": batch.components[i],
                # Columnar per row: far cheaper to build and encode than a list per signal.
                "signals": {
                    "raw": dict(zip(names, raws[i], strict=True)),
                    "value": dict(zip(names, values[i], strict=True)),
                    "weight": weights,
                },
                "drivers": {d.signal: d.delta for d in batch.drivers[i]},
                "scorecard": identity,
                "calculated_at": calculated_at,
            }
        )
    upsert(session, HISTORY, history, key=["customer_id", "day"])
    _save_latest(session, latest)


def save_churned(
    session: DbSession,
    customer_ids: Sequence[str],
    *,
    as_of: datetime,
    calculated_at: datetime,
    scorecard: str,
) -> None:
    """Churned accounts are not scored; their latest row says so."""
    _save_latest(
        session,
        [
            {
                "customer_id": cid,
                "as_of": as_of,
                "score": None,
                "tier": Tier.churned.value,
                "trend": Trend.stable.value,
                "previous_score": None,
                "components": {},
                "signals": {},
                "drivers": {},
                "scorecard": scorecard,
                "calculated_at": calculated_at,
            }
            for cid in customer_ids
        ],
    )


def _save_latest(session: DbSession, rows: Sequence[dict[str, Any]]) -> None:
    upsert(
        session,
        LATEST,
        rows,
        key=["customer_id"],
        unless_newer="as_of",
    )
