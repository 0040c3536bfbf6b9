"""The signal aggregates a scoring run reads, set-based: one query per data source.

Product events are read through their daily roll-ups (raw rows only for a day an as-of
moment cuts in two), business records straight from their tables. Every query is bounded
by ``as_of``, which is what makes as-of scoring and the backtest leak-free. Per-account
work happens in Python on the results, never as one query per account. Which accounts
exist, previous scores and writing a run's results live in ``repository``.
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    and_,
    case,
    distinct,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session as DbSession

from healthscore.scoring.metrics import Aggregate, Column, Source, empty_value
from healthscore.storage import models as m
from healthscore.storage.dialect import (
    without_index,
)
from healthscore.storage.rollups import PERIOD, as_bigint, day_number, midnight, period_of

Condition = ColumnElement[bool]
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


Columns = dict[str, Any]
"""A roll-up's or a raw table's columns under the shared names of ``RolledUpSql.columns``."""


@dataclass(frozen=True)
class RolledMeasure:
    """How one measure is read: ``inner`` aggregates roll-up days for one account (or one
    account's key: a user, a feature) under a window condition, ``outer`` combines keys;
    ``cut`` aggregates the raw rows of cut days, and ``merge`` joins the two results."""

    inner: Callable[[Condition, Columns], ColumnElement[Any]]
    outer: Callable[[Any], ColumnElement[Any]]
    cut: Callable[[Condition, Columns], ColumnElement[Any]]
    merge: Callable[[Any, Any], Any]
    counts_keys: bool = False


def _total(column: str) -> RolledMeasure:
    def total(cond: Condition, c: Columns) -> ColumnElement[Any]:
        return func.coalesce(func.sum(case((cond, c[column]), else_=0)), 0)

    return RolledMeasure(total, func.sum, total, lambda a, b: a + b)


def _latest(column: str) -> RolledMeasure:
    def latest(cond: Condition, c: Columns) -> ColumnElement[Any]:
        return func.max(case((cond, c[column])))

    return RolledMeasure(latest, func.max, latest, max)


def _distinct_keys(key: str) -> RolledMeasure:
    """Keys (users, features) seen in the window. Roll-up days: 1 per key inside, counted
    per account (no DISTINCT needed). Cut days: keys the roll-up days did not already
    have, so adding the two counts never counts a key twice."""
    return RolledMeasure(
        lambda cond, c: func.max(case((cond, literal(1)))),
        func.count,
        lambda cond, c: func.count(distinct(case((cond, c[key])))),
        lambda a, b: a + b,
        counts_keys=True,
    )


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
    {"active_users": _distinct_keys("user_id")},
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
    {"api_calls": _total("calls")},
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


def _cut_days(bounds: Sequence[tuple[datetime | None, datetime]]) -> list[date]:
    """Days a window edge falls inside of (not on their midnight)."""
    edges = [edge for pair in bounds for edge in pair if edge is not None]
    return sorted({edge.date() for edge in edges if edge != midnight(edge.date())})


def _in_days(day: Any, start: datetime | None, end: datetime) -> Condition:
    """Whole days of ``[start, end)``; a cut day is excluded by the caller."""
    inside = day < end.date()
    return inside if start is None else and_(day >= start.date(), inside)


def _period_range(start: datetime | None, end: datetime, cut_days: Sequence[date]) -> range:
    """The activity periods holding the whole days of ``[start, end)``; with no start,
    from the earliest one a cut day or ``end`` falls in (older ones are wholly inside)."""
    top = period_of(end.date() - timedelta(days=1))
    if start is not None:
        return range(period_of(start.date()), top + 1)
    return range(min([top, *(period_of(day) for day in cut_days)]), top + 1)


def _active_days(
    rollup: Any, start: datetime | None, end: datetime, cut_days: Sequence[date]
) -> Condition:
    """Activity rows with a bit set for a whole day of ``[start, end)`` other than a cut
    day: per period, ``days`` AND the mask of the wanted days is not zero."""
    first = None if start is None else day_number(start.date())
    last = day_number(end.date()) - 1
    cut = {day_number(day) for day in cut_days}
    periods = _period_range(start, end, cut_days)
    conditions = [] if first is not None else [rollup.period < periods.start]
    for period in periods:
        low = period * PERIOD
        wanted = range(low if first is None else max(low, first), min(low + PERIOD, last + 1))
        mask = sum(1 << (number - low) for number in wanted if number not in cut)
        if mask:
            conditions.append(
                and_(rollup.period == period, rollup.days.bitwise_and(as_bigint(mask)) != 0)
            )
    return or_(*conditions) if conditions else false()


def rolled_up_queries(
    spec: RolledUpSql,
    aggregates: Sequence[Aggregate],
    as_of: datetime,
    customer_ids: Selection = None,
    dialect: str = "postgresql",
) -> list[Select[Any]]:
    """The roll-up query, plus a raw query when an edge cuts a day; ``merge`` combines them.

    Every window edge is ``as_of`` minus whole days, so either all edges are midnights
    (the nightly rescore, backtests: roll-ups alone) or each cuts one day in two, and that
    day is read from raw events instead of its roll-up. Each day comes from exactly one
    side; both queries stream their table's index, neither sorts the other's rows.
    """
    bounds = [_bounds(aggregate, as_of) for aggregate in aggregates]
    cut_days = _cut_days(bounds)
    starts = [start for start, _ in bounds]
    earliest = None if None in starts else min(s for s in starts if s is not None)
    rollup = {name: value for name, (_, value) in spec.columns.items()}
    raw = {name: value for name, (value, _) in spec.columns.items()}
    measures = [spec.measures[aggregate.measure] for aggregate in aggregates]
    names = [_column_name(aggregate) for aggregate in aggregates]

    def full_days(start: datetime | None, end: datetime) -> Condition:
        if spec.activity:
            return _active_days(spec.rollup, start, end, cut_days)
        day = spec.rollup.day
        inside = _in_days(day, start, end)
        return and_(inside, day.not_in(cut_days)) if cut_days else inside

    # Every window is exactly the range the WHERE clause reads (the nightly rescore's
    # 30-day active users): each (account, key) group is then in the window, so a keyed
    # count needs no per-group aggregate, only the groups (a plain Group node; the
    # per-row CASE + max took a fifth of the largest query).
    whole = not cut_days and len(set(bounds)) == 1 and bounds[0][1] == as_of
    inner = [
        (
            literal_column("1", Integer)
            if whole and measure.counts_keys
            else measure.inner(full_days(start, end), rollup)
        ).label(name)
        for measure, (start, end), name in zip(measures, bounds, names, strict=True)
    ]
    rolled = select(spec.rollup.customer_id, *inner)
    if spec.activity:  # the range lets PostgreSQL filter periods inside the key's index
        periods = _period_range(earliest, as_of, cut_days)
        rolled = rolled.where(spec.rollup.period < periods.stop, full_days(earliest, as_of))
        if earliest is not None:
            rolled = rolled.where(spec.rollup.period >= periods.start)
    else:
        rolled = rolled.where(_in_days(spec.rollup.day, earliest, as_of))
    rolled = restrict(rolled, spec.rollup.customer_id, customer_ids)
    if spec.key is None:
        queries = [rolled.group_by(spec.rollup.customer_id)]
    else:
        keyed = rolled.add_columns(rollup[spec.key]).group_by(
            spec.rollup.customer_id, rollup[spec.key]
        )
        per_key = keyed.subquery()
        queries = [
            select(
                per_key.c.customer_id,
                *[
                    measure.outer(per_key.c[name]).label(name)
                    for measure, name in zip(measures, names, strict=True)
                ],
            ).group_by(per_key.c.customer_id)
        ]
    if not cut_days:
        return queries

    ts = spec.raw.ts
    columns = []
    for measure, (low, high), name in zip(measures, bounds, names, strict=True):
        cond = ts < high if low is None else and_(ts >= low, ts < high)
        if measure.counts_keys:
            assert spec.key is not None
            seen_on_full_days = (
                select(literal(1))
                .where(
                    spec.rollup.customer_id == spec.raw.customer_id,
                    rollup[spec.key] == raw[spec.key],
                    full_days(low, high),
                )
                .exists()
            )
            cond = and_(cond, ~seen_on_full_days)
        columns.append(measure.cut(cond, raw).label(name))
    cut = select(spec.raw.customer_id, *columns).where(
        ts < as_of,
        or_(*[and_(ts >= midnight(d), ts < midnight(d + timedelta(days=1))) for d in cut_days]),
    )
    if spec.key is not None:  # a login without a user is no active user
        cut = cut.where(raw[spec.key].is_not(None), raw[spec.key] != "")
    cut = restrict(cut, spec.raw.customer_id, customer_ids)
    # Grouping by ``+customer_id`` keeps SQLite on the ts index for these few days instead
    # of skip-scanning the customer index over every day.
    return [*queries, cut.group_by(without_index(spec.raw.customer_id, dialect))]


def _reader(aggregate: Aggregate) -> Source | RolledUpSql:
    for spec in ROLLED_UP.get(aggregate.source, []):
        if aggregate.measure in spec.measures:
            return spec
    return aggregate.source


@dataclass(frozen=True, eq=False)
class _Read:
    """The aggregates one reader (a table or a roll-up) provides, its queries, and how
    the rows of a second query merge into the first's."""

    wanted: list[Aggregate]
    queries: list[Select[Any]]
    merges: list[Callable[[Any, Any], Any]]
    keyed: bool


def _plan_reads(
    aggregates: Iterable[Aggregate], as_of: datetime, customer_ids: Selection, dialect: str
) -> list[_Read]:
    by_reader: dict[Source | RolledUpSql, list[Aggregate]] = defaultdict(list)
    for aggregate in sorted(set(aggregates), key=_column_name):
        by_reader[_reader(aggregate)].append(aggregate)
    reads = []
    for reader, wanted in by_reader.items():
        if isinstance(reader, RolledUpSql):
            queries = rolled_up_queries(reader, wanted, as_of, customer_ids, dialect)
            merges = [reader.measures[aggregate.measure].merge for aggregate in wanted]
            reads.append(_Read(wanted, queries, merges, reader.key is not None))
        else:
            queries = [aggregate_query(reader, wanted, as_of, customer_ids, dialect)]
            reads.append(_Read(wanted, queries, [], False))
    return reads


def _run_read(
    connection: Connection, read: _Read, as_of: datetime
) -> dict[Aggregate, dict[str, float]]:
    values: list[dict[str, Any]] = [{} for _ in read.wanted]
    for query in read.queries:
        for row in connection.execute(query):
            customer_id = row[0]
            for i, column in enumerate(values):
                value = row[i + 1]
                if value is None:
                    continue
                known = column.get(customer_id)
                column[customer_id] = value if known is None else read.merges[i](known, value)
    return {
        aggregate: {cid: _number(value, as_of) for cid, value in column.items()}
        for aggregate, column in zip(read.wanted, values, strict=True)
    }


AggregateColumns = dict[Aggregate, Column]
"""Aggregates as arrays aligned with a list of accounts (``empty_value`` where no rows)."""


def _run_read_columns(
    connection: Connection, read: _Read, as_of: datetime, index: dict[str, int]
) -> AggregateColumns:
    """``_run_read`` straight into arrays: no dict per aggregate, no per-value ``float``
    in Python (numpy converts ints, Decimals and ``None`` → NaN in C). A measure of a
    timestamp, or a read whose second query merges into the first, goes through
    ``_run_read`` and is then laid out the same way."""
    n = len(index)
    if len(read.queries) != 1 or not read.wanted:
        merged = _run_read(connection, read, as_of)
        return {
            aggregate: np.fromiter(
                (merged[aggregate].get(cid, empty_value(aggregate)) for cid in index), float, n
            )
            for aggregate in read.wanted
        }
    rows = connection.execute(read.queries[0]).all()
    # Accounts not being scored (churned, outside the selection) land in slot n, dropped.
    slots = np.fromiter((index.get(row[0], n) for row in rows), np.intp, len(rows))
    result: AggregateColumns = {}
    for i, aggregate in enumerate(read.wanted):
        raw = [row[i + 1] for row in rows]
        if any(isinstance(value, datetime) for value in raw):
            raw = [None if value is None else _number(value, as_of) for value in raw]
        values = np.array(raw, dtype=float)
        present = ~np.isnan(values)
        column = np.full(n + 1, empty_value(aggregate))
        column[slots[present]] = values[present]
        result[aggregate] = column[:n]
    return result


def load_aggregate_columns(
    session: DbSession,
    aggregates: Iterable[Aggregate],
    *,
    as_of: datetime,
    accounts: Sequence[str],
    customer_ids: Selection = None,
    concurrent: bool = False,
) -> AggregateColumns:
    """``load_aggregates`` for the accounts being scored, as arrays in ``accounts`` order:
    what the engine takes, built without a dict per aggregate (the same values)."""
    index = {cid: i for i, cid in enumerate(accounts)}

    def run(connection: Connection, read: _Read) -> AggregateColumns:
        return _run_read_columns(connection, read, as_of, index)

    return _load(session, aggregates, as_of, customer_ids, concurrent, run)


CONCURRENT_READ_MIN_ACCOUNTS = 5000
"""From this many accounts, a PostgreSQL rescore reads on two connections at once."""


def load_aggregates(
    session: DbSession,
    aggregates: Iterable[Aggregate],
    *,
    as_of: datetime,
    customer_ids: Selection = None,
    concurrent: bool = False,
) -> dict[Aggregate, dict[str, float]]:
    """Every requested aggregate for every account, keyed aggregate → customer → value.

    ``concurrent`` (PostgreSQL) runs the queries on the session's connection and on a
    second one that shares its snapshot, so both cores work: one query runs on one core
    only, and the largest (distinct active users) is as long as all the others together.
    The result is the same: every query is unchanged and sees the same data.
    """

    def run(connection: Connection, read: _Read) -> dict[Aggregate, dict[str, float]]:
        return _run_read(connection, read, as_of)

    return _load(session, aggregates, as_of, customer_ids, concurrent, run)


T = TypeVar("T")


def _load(
    session: DbSession,
    aggregates: Iterable[Aggregate],
    as_of: datetime,
    customer_ids: Selection,
    concurrent: bool,
    run: Callable[[Connection, _Read], dict[Aggregate, T]],
) -> dict[Aggregate, T]:
    dialect = session.get_bind().dialect.name
    reads = _plan_reads(aggregates, as_of, customer_ids, dialect)
    connection = session.connection()
    if dialect == "postgresql":  # JIT-compiling these short scans costs more than it saves
        connection.exec_driver_sql("SET LOCAL jit = off")
    snapshot = _exported_snapshot(session) if concurrent and dialect == "postgresql" else None
    if snapshot is None:
        result: dict[Aggregate, T] = {}
        for read in reads:
            result.update(run(connection, read))
        return result
    return _read_concurrently(connection, snapshot, reads, run)


def _exported_snapshot(session: DbSession) -> str | None:
    """The session's snapshot, exported for a second connection; ``None`` when that
    connection would not see what this transaction sees: it has written something
    (uncommitted rows are invisible to others) or is inside a savepoint (PostgreSQL
    cannot export from a subtransaction)."""
    if session.in_nested_transaction():
        return None
    snapshot: str | None = (
        session.connection()
        .exec_driver_sql(
            "SELECT CASE WHEN pg_current_xact_id_if_assigned() IS NULL"
            " THEN pg_export_snapshot() END"
        )
        .scalar()
    )
    return snapshot


def _read_concurrently(
    connection: Connection,
    snapshot: str,
    reads: list[_Read],
    run: Callable[[Connection, _Read], dict[Aggregate, T]],
) -> dict[Aggregate, T]:
    """Both connections take reads from one queue, biggest (keyed roll-ups) first, so
    whichever is free takes the next. A helper that cannot start leaves the queue to the
    session's connection; an error while reading is raised here."""
    queue = deque(sorted(reads, key=lambda read: not read.keyed))
    results: list[dict[Aggregate, T]] = []
    failure: list[BaseException] = []

    def drain(conn: Connection) -> None:
        while True:
            try:
                read = queue.popleft()
            except IndexError:
                return
            results.append(run(conn, read))

    def helper() -> None:
        try:
            conn = connection.engine.connect().execution_options(isolation_level="REPEATABLE READ")
        except Exception:  # no second connection: the session reads everything
            return
        try:
            conn.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            conn.exec_driver_sql("SET LOCAL jit = off")
        except Exception:
            conn.close()
            return
        try:
            drain(conn)
        except BaseException as error:  # re-raised by the session's thread
            failure.append(error)
        finally:
            conn.rollback()
            conn.close()

    thread = threading.Thread(target=helper, name="healthscore-read", daemon=True)
    thread.start()
    try:
        drain(connection)
    except BaseException:
        queue.clear()  # the helper stops after its current read
        raise
    finally:
        thread.join()
    if failure:
        raise failure[0]
    result: dict[Aggregate, T] = {}
    for part in results:
        result.update(part)
    return result


def _number(value: Any, as_of: datetime) -> float:
    if isinstance(value, datetime):  # last login → its age in days
        return (as_of - value).total_seconds() / 86400
    return float(value)
