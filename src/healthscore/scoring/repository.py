"""All SQL the scoring engine needs, set-based: one aggregate query per data source.

Every query is bounded by ``ts < as_of``, which is what makes as-of scoring and the
backtest leak-free. Per-account work happens in Python on the results, never as one
query per account.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    and_,
    case,
    distinct,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Session as DbSession

from healthscore.scoring.engine import PreviousScore, ScoredBatch
from healthscore.scoring.metrics import Aggregate, Source
from healthscore.scoring.scorecard import Tier, Trend
from healthscore.storage import models as m
from healthscore.storage.dialect import upsert, without_index

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


def _distinct(column: Any) -> MeasureSql:
    return lambda cond, end: func.count(distinct(case((cond, column))))


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
    "sessions": SourceSql(
        m.Session,
        m.Session.ts,
        {
            "logins": _count(),
            "active_users": _distinct(m.Session.user_id),
            "last_age_days": lambda cond, end: func.max(case((cond, m.Session.ts))),
        },
    ),
    "feature_usage": SourceSql(
        m.FeatureUsage,
        m.FeatureUsage.ts,
        {
            "distinct_features": _distinct(m.FeatureUsage.feature),
            "feature_events": _count(),
        },
    ),
    "api_usage": SourceSql(
        m.ApiUsage,
        m.ApiUsage.ts,
        {"api_calls": _sum(m.ApiUsage.calls)},
    ),
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


def _bounds(aggregate: Aggregate, as_of: datetime) -> tuple[datetime | None, datetime]:
    end = as_of - timedelta(days=aggregate.offset_days)
    if aggregate.window_days is None:
        return None, end
    return end - timedelta(days=aggregate.window_days), end


def _column_name(aggregate: Aggregate) -> str:
    window = "all" if aggregate.window_days is None else aggregate.window_days
    return f"{aggregate.measure}_{window}_{aggregate.offset_days}"


def aggregate_query(
    source: Source,
    aggregates: Sequence[Aggregate],
    as_of: datetime,
    customer_ids: Selection = None,
    dialect: str = "postgresql",
) -> Select[Any]:
    """One GROUP BY over ``source`` computing every requested window with CASE filters."""
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


def load_aggregates(
    session: DbSession,
    aggregates: Iterable[Aggregate],
    *,
    as_of: datetime,
    customer_ids: Selection = None,
) -> dict[Aggregate, dict[str, float]]:
    """Every requested aggregate for every account, keyed aggregate → customer → value."""
    by_source: dict[Source, list[Aggregate]] = defaultdict(list)
    for aggregate in sorted(set(aggregates), key=_column_name):
        by_source[aggregate.source].append(aggregate)
    result: dict[Aggregate, dict[str, float]] = {}
    dialect = session.get_bind().dialect.name
    for source, wanted in by_source.items():
        columns: list[dict[str, float]] = [{} for _ in wanted]
        for row in session.execute(aggregate_query(source, wanted, as_of, customer_ids, dialect)):
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
