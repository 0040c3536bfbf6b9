"""The SQL of per-product scores: each product's aggregates read from the raw events,
grouped by (account, product), and the ``product_scores`` rows written and read.

The daily roll-ups are per account, so product signals read raw sessions, feature uses
and API calls (retention keeps them: ``requirements.raw_event_lookback_days``). Like every
scoring read, each query is bounded by ``as_of``: a product's score at a moment depends
only on its events before it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    case,
    cast,
    delete,
    distinct,
    func,
    literal,
    select,
    union,
)
from sqlalchemy.orm import Session

from healthscore.scoring.aggregate_sources import seat_at
from healthscore.scoring.metrics import Aggregate, Column, Source, empty_value
from healthscore.scoring.product_metrics import PRODUCT_MEASURES
from healthscore.scoring.selection import Condition, Selection, restrict
from healthscore.storage import models as m
from healthscore.storage.dialect import upsert

MeasureSql = Callable[[Condition, datetime], ColumnElement[Any]]


def _day(ts: Any) -> ColumnElement[Any]:
    """The UTC calendar day of a timestamp, as both databases' ``date()`` gives it."""
    return func.date(ts)


def _count() -> MeasureSql:
    return lambda cond, end: func.count(case((cond, literal(1))))


def _distinct(value: Callable[[], Any], *, seats: bool = False) -> MeasureSql:
    """Distinct values in the window; ``seats``: only of users who are seats at its end."""

    def build(cond: Condition, end: datetime) -> ColumnElement[Any]:
        where = and_(cond, seat_at(end)) if seats else cond
        return func.count(distinct(case((where, value()))))

    return build


def _seat_day() -> ColumnElement[Any]:
    """A (user, day) pair as one value: ``user:YYYY-MM-DD``."""
    return m.Session.user_id + literal(":") + cast(_day(m.Session.ts), String)


MEASURES: dict[Source, dict[str, MeasureSql]] = {
    "sessions": {
        "logins": _count(),
        "active_users": _distinct(lambda: m.Session.user_id, seats=True),
        "active_seat_days": _distinct(_seat_day, seats=True),
        "last_age_days": lambda cond, end: func.max(case((cond, m.Session.ts))),
    },
    "feature_usage": {
        "feature_events": _count(),
        "distinct_features": _distinct(lambda: m.FeatureUsage.feature),
    },
    "api_usage": {
        "api_calls": lambda cond, end: func.coalesce(
            func.sum(case((cond, m.ApiUsage.calls), else_=0)), 0
        ),
        "api_days": lambda cond, end: func.count(
            distinct(case((and_(cond, m.ApiUsage.calls > 0), _day(m.ApiUsage.ts))))
        ),
    },
}
SEAT_MEASURES = frozenset({"active_users", "active_seat_days"})
TABLES: dict[Source, Any] = {
    "sessions": m.Session,
    "feature_usage": m.FeatureUsage,
    "api_usage": m.ApiUsage,
}
assert {s: frozenset(v) for s, v in MEASURES.items()} == PRODUCT_MEASURES


def _bounds(aggregate: Aggregate, as_of: datetime) -> tuple[datetime | None, datetime]:
    end = as_of - timedelta(days=aggregate.offset_days)
    if aggregate.window_days is None:
        return None, end
    return end - timedelta(days=aggregate.window_days), end


def source_query(
    source: Source, aggregates: Sequence[Aggregate], as_of: datetime, customer_ids: Selection
) -> Select[Any]:
    """One GROUP BY (account, product) over a raw event table, each aggregate's window
    a CASE filter; events without a product are not read."""
    model = TABLES[source]
    columns = []
    starts = []
    for aggregate in aggregates:
        start, end = _bounds(aggregate, as_of)
        starts.append(start)
        cond = model.ts < end if start is None else and_(model.ts >= start, model.ts < end)
        columns.append(MEASURES[source][aggregate.measure](cond, end))
    query = select(model.customer_id, model.product, *columns).where(
        model.product.is_not(None), model.ts < as_of
    )
    if None not in starts:
        query = query.where(model.ts >= min(s for s in starts if s is not None))
    if any(aggregate.measure in SEAT_MEASURES for aggregate in aggregates):
        query = query.outerjoin(
            m.User,
            and_(m.User.customer_id == model.customer_id, m.User.user_id == model.user_id),
        )
    restricted: Select[Any] = restrict(query, model.customer_id, customer_ids)
    return restricted.group_by(model.customer_id, model.product)


def active_days_query(window_days: int, as_of: datetime, customer_ids: Selection) -> Select[Any]:
    """Per (account, product): the days of the window with any login, feature use or API
    call (a reported day of zero calls is no activity) for that product."""
    start = as_of - timedelta(days=window_days)
    days = []
    for model in TABLES.values():
        query = select(model.customer_id, model.product, _day(model.ts).label("day")).where(
            model.product.is_not(None), model.ts >= start, model.ts < as_of
        )
        if model is m.ApiUsage:
            query = query.where(m.ApiUsage.calls > 0)
        days.append(restrict(query, model.customer_id, customer_ids))
    seen = union(*days).subquery()
    return select(seen.c.customer_id, seen.c.product, func.count()).group_by(
        seen.c.customer_id, seen.c.product
    )


@dataclass(frozen=True)
class ProductColumns:
    """Every (account, product) pair with events in what was read, and per pair each
    aggregate (``empty_value`` where none) and its active days in the share window."""

    pairs: list[tuple[str, str]]
    columns: dict[Aggregate, Column]
    active_days: Column


def load_product_columns(
    session: Session,
    aggregates: Iterable[Aggregate],
    *,
    as_of: datetime,
    share_days: int,
    accounts: Collection[str],
    customer_ids: Selection = None,
) -> ProductColumns:
    """The per-product aggregates of ``accounts`` (the accounts being scored) at
    ``as_of``: one query per raw table read, one for the activity shares."""
    by_source: dict[Source, list[Aggregate]] = {}
    for aggregate in sorted(set(aggregates)):
        by_source.setdefault(aggregate.source, []).append(aggregate)
    values: dict[tuple[str, str], dict[Aggregate, float]] = {}
    connection = session.connection()
    for source, wanted in by_source.items():
        for customer_id, product, *row in connection.execute(
            source_query(source, wanted, as_of, customer_ids)
        ):
            if customer_id in accounts:
                found = values.setdefault((customer_id, product), {})
                for aggregate, value in zip(wanted, row, strict=True):
                    if value is not None:
                        found[aggregate] = _number(value, as_of)
    active: dict[tuple[str, str], int] = {}
    for customer_id, product, days in connection.execute(
        active_days_query(share_days, as_of, customer_ids)
    ):
        if customer_id in accounts:
            active[(customer_id, product)] = int(days)
            values.setdefault((customer_id, product), {})
    pairs = sorted(values)
    columns = {
        aggregate: np.array(
            [values[pair].get(aggregate, empty_value(aggregate)) for pair in pairs], dtype=float
        )
        for aggregate in set(aggregates)
    }
    days = np.array([active.get(pair, 0) for pair in pairs], dtype=float)
    return ProductColumns(pairs, columns, days)


def _number(value: Any, as_of: datetime) -> float:
    if isinstance(value, datetime):  # last login → its age in days
        return (as_of - value).total_seconds() / 86400
    return float(value)


def save_product_scores(
    session: Session,
    rows: Sequence[dict[str, Any]],
    *,
    as_of: datetime,
    customer_ids: Selection,
) -> None:
    """Replace the product scores of the run's accounts (``customer_ids``: all of them,
    a list or a shard) with ``rows``. An account with rows of a later ``as_of`` (a
    backfill of an earlier day) keeps them, as its latest score does.

    Upserted, not inserted: two rescores of one account at once (a refresh while the
    worker rescores it) each delete what was committed before them, so the second one's
    rows meet the first one's once it commits; the later ``as_of`` wins, as in
    ``health_scores``."""
    table = m.ProductScore
    newer = set(
        session.scalars(
            restrict(
                select(table.customer_id).where(table.as_of > as_of).distinct(),
                table.customer_id,
                customer_ids,
            )
        )
    )
    stale = restrict(delete(table).where(table.as_of <= as_of), table.customer_id, customer_ids)
    session.execute(stale.execution_options(synchronize_session=False))
    upsert(
        session,
        table.__table__,  # type: ignore[arg-type]
        [row for row in rows if row["customer_id"] not in newer],
        key=["customer_id", "product"],
        unless_newer="as_of",
    )


def combination(session: Session, customer_id: str) -> dict[str, Any] | None:
    """How the account's latest score combined its products (``signals.adjusted``)."""
    signals = session.scalar(
        select(m.HealthScore.signals).where(m.HealthScore.customer_id == customer_id)
    )
    found: dict[str, Any] | None = (signals or {}).get("adjusted", {}).get("products")
    return found


def latest_product_scores(session: Session, customer_id: str) -> list[m.ProductScore]:
    """An account's latest product scores, the most used product first."""
    return list(
        session.scalars(
            select(m.ProductScore)
            .where(m.ProductScore.customer_id == customer_id)
            .order_by(m.ProductScore.share.desc(), m.ProductScore.product)
        )
    )
