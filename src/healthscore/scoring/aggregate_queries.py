"""The queries that read a scoring run's aggregates, set-based: one per data source.

Every query is bounded by ``as_of``, which is what makes as-of scoring and the backtest
leak-free. A business-record table is read with one GROUP BY (``aggregate_query``), a
roll-up with one query over whole days plus one over the raw rows of a day an as-of
moment cuts in two (``rolled_up_queries``; an activity roll-up per key, through
``activity_queries``); ``build_reads`` groups the wanted aggregates by the table that
answers them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, Select, and_, case, literal, literal_column, or_, select

from healthscore.scoring.activity_queries import Words, active_days, period_range
from healthscore.scoring.aggregate_sources import (
    ROLLED_UP,
    SOURCES,
    Part,
    RolledMeasure,
    RolledUpSql,
    seat_at,
)
from healthscore.scoring.metrics import Aggregate, Source
from healthscore.scoring.selection import Condition, Selection, restrict, selected
from healthscore.storage import models as m
from healthscore.storage.dialect import without_index
from healthscore.storage.rollups import midnight


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
    query = select(spec.account, *columns).where(ts < as_of)
    if None not in starts:
        query = query.where(ts >= min(s for s in starts if s is not None))
    grouped: Select[Any] = restrict(query, spec.account, customer_ids)
    return grouped.group_by(spec.account)


def _cut_days(bounds: Sequence[tuple[datetime | None, datetime]]) -> list[date]:
    """Days a window edge falls inside of (not on their midnight)."""
    edges = [edge for pair in bounds for edge in pair if edge is not None]
    return sorted({edge.date() for edge in edges if edge != midnight(edge.date())})


def _in_days(day: Any, start: datetime | None, end: datetime) -> Condition:
    """Whole days of ``[start, end)``; a cut day is excluded by the caller."""
    inside = day < end.date()
    return inside if start is None else and_(day >= start.date(), inside)


@dataclass(frozen=True)
class _Seats:
    """How a read applies the seat rule (``seat_at`` the window's end) to its seat-based
    measures: they join each key to its ``users`` row; when every measure is seat-based
    and all share one window end (the nightly rescore's usual case) the rule is part of
    the join, otherwise a CASE per measure."""

    measures: Sequence[RolledMeasure]
    ends: frozenset[datetime]

    @property
    def joined(self) -> bool:
        return any(measure.seats_only for measure in self.measures)

    @property
    def everyone(self) -> bool:
        """Some measure counts keys that are no seat: keys without a row stay."""
        return not all(measure.seats_only for measure in self.measures)

    def rule(self, measure: RolledMeasure, end: datetime) -> Condition | None:
        """The condition ``measure`` must add itself (``None``: the join applies it)."""
        by_case = self.everyone or len(self.ends) > 1
        return seat_at(end) if measure.seats_only and by_case else None

    def join(
        self, query: Select[Any], customer_id: Any, key: Any, customer_ids: Selection
    ) -> Select[Any]:
        if not self.joined:
            return query
        on = and_(m.User.customer_id == customer_id, m.User.user_id == key)
        # The accounts' own range of ``users`` too: PostgreSQL does not carry a range
        # across the join, and a merge join would otherwise read every seat before it.
        among = selected(m.User.customer_id, customer_ids)
        if among is not None:
            on = and_(on, among)
        if not self.everyone and len(self.ends) == 1:
            on = and_(on, seat_at(next(iter(self.ends))))
        return query.join(m.User, on, isouter=self.everyone)


def _keyed_query(
    spec: RolledUpSql,
    measures: Sequence[RolledMeasure],
    bounds: Sequence[tuple[datetime | None, datetime]],
    names: Sequence[str],
    where: Sequence[Condition],
    cut_days: Sequence[date],
    as_of: datetime,
    customer_ids: Selection,
    dialect: str,
) -> Select[Any]:
    """An activity roll-up read per key (``Words``), then per account."""
    assert spec.key is not None
    key = spec.columns[spec.key][1]
    # Every window is exactly the range the WHERE clause reads (the nightly rescore's
    # 30-day active users): each (account, key) group is then in the window, so a keyed
    # count needs no per-key value, only the groups (a plain Group node).
    whole = not cut_days and len(set(bounds)) == 1 and bounds[0][1] == as_of
    counts_only = all(measure.counts_keys for measure in measures)
    words = None if whole and counts_only else Words.for_windows(bounds, cut_days, not counts_only)
    columns = [] if words is None else words.columns(spec.rollup, dialect)
    per_key = restrict(
        select(spec.rollup.customer_id, key, *columns).where(*where),
        spec.rollup.customer_id,
        customer_ids,
    )
    per_key = per_key.group_by(spec.rollup.customer_id, key).subquery()
    seats = _Seats(measures, frozenset(end for _, end in bounds))
    values = []
    for measure, (start, end), name in zip(measures, bounds, names, strict=True):
        value = (
            literal_column("1", Integer)
            if words is None
            else measure.inner(words.part(per_key, start, end, cut_days, dialect))
        )
        rule = seats.rule(measure, end)
        values.append(measure.outer(value if rule is None else case((rule, value))).label(name))
    combined = select(per_key.c.customer_id, *values)
    combined = seats.join(combined, per_key.c.customer_id, per_key.c[spec.key], customer_ids)
    return combined.group_by(per_key.c.customer_id)


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
    Seat-based measures join the keys (users) to ``users`` once per key (``_Seats``).
    """
    bounds = [_bounds(aggregate, as_of) for aggregate in aggregates]
    cut_days = _cut_days(bounds)
    starts = [start for start, _ in bounds]
    earliest = None if None in starts else min(s for s in starts if s is not None)
    rollup = {name: value for name, (_, value) in spec.columns.items()}
    measures = [spec.measures[aggregate.measure] for aggregate in aggregates]
    names = [_column_name(aggregate) for aggregate in aggregates]

    def full_days(start: datetime | None, end: datetime) -> Condition:
        if spec.activity:
            return active_days(spec.rollup, start, end, cut_days)
        day = spec.rollup.day
        inside = _in_days(day, start, end)
        return and_(inside, day.not_in(cut_days)) if cut_days else inside

    if spec.activity:  # the range lets PostgreSQL filter periods inside the key's index
        periods = period_range(earliest, as_of, cut_days)
        where = [spec.rollup.period < periods.stop, full_days(earliest, as_of)]
        if earliest is not None:
            where.append(spec.rollup.period >= periods.start)
        query = _keyed_query(
            spec, measures, bounds, names, where, cut_days, as_of, customer_ids, dialect
        )
    else:
        daily = [
            measure.inner(Part(full_days(start, end), rollup)).label(name)
            for measure, (start, end), name in zip(measures, bounds, names, strict=True)
        ]
        rolled = select(spec.rollup.customer_id, *daily)
        rolled = rolled.where(_in_days(spec.rollup.day, earliest, as_of))
        rolled = restrict(rolled, spec.rollup.customer_id, customer_ids)
        query = rolled.group_by(spec.rollup.customer_id)
    if not cut_days:
        return [query]
    return [
        query,
        _cut_query(
            spec, measures, bounds, names, full_days, cut_days, as_of, customer_ids, dialect
        ),
    ]


def _cut_query(
    spec: RolledUpSql,
    measures: Sequence[RolledMeasure],
    bounds: Sequence[tuple[datetime | None, datetime]],
    names: Sequence[str],
    full_days: Callable[[datetime | None, datetime], Condition],
    cut_days: Sequence[date],
    as_of: datetime,
    customer_ids: Selection,
    dialect: str,
) -> Select[Any]:
    """The raw events of the cut days, each window's part of them."""
    rollup = {name: value for name, (_, value) in spec.columns.items()}
    raw = {name: value for name, (value, _) in spec.columns.items()}
    seats = _Seats(measures, frozenset(end for _, end in bounds))
    ts = spec.raw.ts
    columns = []
    for measure, (low, high), name in zip(measures, bounds, names, strict=True):
        cond = ts < high if low is None else and_(ts >= low, ts < high)
        rule = seats.rule(measure, high)
        if rule is not None:
            cond = and_(cond, rule)
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
        overlapping = [
            _within_day(ts, day)
            for day in cut_days
            if midnight(day) < high and (low is None or midnight(day + timedelta(days=1)) > low)
        ]
        columns.append(measure.cut(Part(cond, raw, cut_days=overlapping)).label(name))
    cut = select(spec.raw.customer_id, *columns).where(
        ts < as_of, or_(*[_within_day(ts, day) for day in cut_days])
    )
    if spec.key is not None:  # a login without a user is no active user
        cut = cut.where(raw[spec.key].is_not(None), raw[spec.key] != "")
        cut = seats.join(cut, spec.raw.customer_id, raw[spec.key], customer_ids)
    restricted: Select[Any] = restrict(cut, spec.raw.customer_id, customer_ids)
    # Grouping by ``+customer_id`` keeps SQLite on the ts index for these few days instead
    # of skip-scanning the customer index over every day.
    return restricted.group_by(without_index(spec.raw.customer_id, dialect))


def _within_day(ts: Any, day: date) -> Condition:
    return and_(ts >= midnight(day), ts < midnight(day + timedelta(days=1)))


def _reader(aggregate: Aggregate) -> Source | RolledUpSql:
    for spec in ROLLED_UP.get(aggregate.source, []):
        if aggregate.measure in spec.measures:
            return spec
    return aggregate.source


def reads_activity(aggregate: Aggregate) -> bool:
    """Whether ``aggregate`` is read from an activity roll-up, whose queries hold the
    as-of date's periods and day masks (``activity_queries``) rather than only moments
    and days a fixed distance before it."""
    reader = _reader(aggregate)
    return isinstance(reader, RolledUpSql) and reader.activity


@dataclass(frozen=True, eq=False)
class Read:
    """The aggregates one reader (a table or a roll-up) provides, its queries, and how
    the rows of a second query merge into the first's."""

    wanted: list[Aggregate]
    queries: list[Select[Any]]
    merges: list[Callable[[Any, Any], Any]]
    keyed: bool
    settings: tuple[tuple[str, str], ...] = ()
    """PostgreSQL planner settings while this read runs (``SEAT_JOIN_SETTINGS``)."""
    parameters: Mapping[str, Any] = field(default_factory=dict)
    """Values to execute the queries with (a kept plan's, ``read_plans``)."""


SEAT_JOIN_SETTINGS = (
    ("enable_hashjoin", "off"),
    ("enable_hashagg", "off"),
    ("enable_sort", "off"),
    ("max_parallel_workers_per_gather", "0"),
)
"""How PostgreSQL must join active users to their ``users`` rows: group the activity
rows and merge them with ``users`` in the two indexes' (customer_id, user_id) order, with
no hash and no sort. It multiplies the two columns' selectivities, so it expects a few
dozen matches where there are 430,000 (20,000 accounts), hashes the grouped side in
batches and sorts the result: twice the merge's CPU (measured 0.9 s against 0.46 s, the
read without seats 0.23 s); with parallel workers each recomputes the grouped side. From
about 100,000 accounts it also groups the activity rows by hashing, spilling to disk
with the default work_mem, and then sorts them for the merge: 6.9 s where the index
order takes 3.3 s (and 0.72 s at 20,000 accounts, so the time grows with the accounts)."""


def build_reads(
    aggregates: Iterable[Aggregate], as_of: datetime, customer_ids: Selection, dialect: str
) -> list[Read]:
    """The reads of ``aggregates``: one per table or roll-up (``read_plans.plan_reads``
    keeps them for the day)."""
    by_reader: dict[Source | RolledUpSql, list[Aggregate]] = defaultdict(list)
    for aggregate in sorted(set(aggregates), key=_column_name):
        by_reader[_reader(aggregate)].append(aggregate)
    reads = []
    for reader, wanted in by_reader.items():
        if isinstance(reader, RolledUpSql):
            queries = rolled_up_queries(reader, wanted, as_of, customer_ids, dialect)
            measures = [reader.measures[aggregate.measure] for aggregate in wanted]
            merges = [measure.merge for measure in measures]
            seats = any(measure.seats_only for measure in measures)
            settings = SEAT_JOIN_SETTINGS if seats else ()
            reads.append(Read(wanted, queries, merges, reader.key is not None, settings))
        else:
            queries = [aggregate_query(reader, wanted, as_of, customer_ids, dialect)]
            reads.append(Read(wanted, queries, [], False))
    return reads
