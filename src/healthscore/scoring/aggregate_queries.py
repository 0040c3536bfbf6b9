"""The queries that read a scoring run's aggregates, set-based: one per data source.

Every query is bounded by ``as_of``, which is what makes as-of scoring and the backtest
leak-free. A business-record table is read with one GROUP BY (``aggregate_query``), a
roll-up with one query over whole days plus one over the raw rows of a day an as-of
moment cuts in two (``rolled_up_queries``); ``plan_reads`` groups the wanted aggregates
by the table that answers them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    and_,
    case,
    false,
    literal,
    literal_column,
    or_,
    select,
)

from healthscore.scoring.aggregate_sources import ROLLED_UP, SOURCES, Part, RolledUpSql, seat_at
from healthscore.scoring.metrics import Aggregate, Source
from healthscore.scoring.selection import Condition, Selection, restrict
from healthscore.storage import models as m
from healthscore.storage.dialect import without_index
from healthscore.storage.rollups import (
    ALL_DAYS,
    PERIOD,
    as_bigint,
    day_number,
    days_set_sql,
    midnight,
    period_of,
)


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


def _day_masks(
    start: datetime | None, end: datetime, cut_days: Sequence[date]
) -> tuple[int | None, list[tuple[int, int]]]:
    """The whole days of ``[start, end)`` other than a cut day, as activity bits: every
    period below the first value is wholly inside (``None``: none is), then (period, mask
    of the wanted days) for each period that has some."""
    first = None if start is None else day_number(start.date())
    last = day_number(end.date()) - 1
    cut = {day_number(day) for day in cut_days}
    periods = _period_range(start, end, cut_days)
    masks = []
    for period in periods:
        low = period * PERIOD
        wanted = range(low if first is None else max(low, first), min(low + PERIOD, last + 1))
        mask = sum(1 << (number - low) for number in wanted if number not in cut)
        if mask:
            masks.append((period, mask))
    return (periods.start if first is None else None), masks


def _active_days(
    rollup: Any, start: datetime | None, end: datetime, cut_days: Sequence[date]
) -> Condition:
    """Activity rows with a bit set for a whole day of ``[start, end)`` other than a cut
    day: per period, ``days`` AND the mask of the wanted days is not zero."""
    older, masks = _day_masks(start, end, cut_days)
    conditions = [] if older is None else [rollup.period < older]
    conditions += [
        and_(rollup.period == period, rollup.days.bitwise_and(as_bigint(mask)) != 0)
        for period, mask in masks
    ]
    return or_(*conditions) if conditions else false()


def _active_day_count(
    rollup: Any, start: datetime | None, end: datetime, cut_days: Sequence[date], dialect: str
) -> ColumnElement[Any]:
    """How many whole days of ``[start, end)`` other than a cut day an activity row has
    set: the popcount of its bits under its period's mask."""
    older, masks = _day_masks(start, end, cut_days)
    whens = [(rollup.period == p, days_set_sql(rollup.days, mask, dialect)) for p, mask in masks]
    if older is not None:
        whens.append((rollup.period < older, days_set_sql(rollup.days, ALL_DAYS, dialect)))
    return case(*whens, else_=0) if whens else literal(0, Integer)


def _seat_join(
    query: Select[Any], customer_id: Any, key: Any, ends: set[datetime], everyone: bool
) -> Select[Any]:
    """Join each key (user) to its ``users`` row. With one window end (the nightly
    rescore's usual case) the seat rule goes into the join itself; ``everyone`` keeps
    keys without a row (a read with measures that are not seat-based)."""
    on = and_(m.User.customer_id == customer_id, m.User.user_id == key)
    if len(ends) == 1 and not everyone:
        on = and_(on, seat_at(next(iter(ends))))
    return query.join(m.User, on, isouter=everyone)


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
    Seat-based measures join the keys (users) to ``users`` after grouping, once per key.
    """
    bounds = [_bounds(aggregate, as_of) for aggregate in aggregates]
    cut_days = _cut_days(bounds)
    starts = [start for start, _ in bounds]
    earliest = None if None in starts else min(s for s in starts if s is not None)
    rollup = {name: value for name, (_, value) in spec.columns.items()}
    raw = {name: value for name, (value, _) in spec.columns.items()}
    measures = [spec.measures[aggregate.measure] for aggregate in aggregates]
    names = [_column_name(aggregate) for aggregate in aggregates]
    seated = [measure.seats_only for measure in measures]
    everyone = not all(seated)  # some measure counts keys that are no seat
    ends = {end for _, end in bounds}
    by_case = any(seated) and (everyone or len(ends) > 1)  # else the join applies the rule

    def seats_only(measure: Any, end: datetime, value: Any) -> Any:
        return case((seat_at(end), value)) if by_case and measure.seats_only else value

    def full_days(start: datetime | None, end: datetime) -> Condition:
        if spec.activity:
            return _active_days(spec.rollup, start, end, cut_days)
        day = spec.rollup.day
        inside = _in_days(day, start, end)
        return and_(inside, day.not_in(cut_days)) if cut_days else inside

    def rolled_part(start: datetime | None, end: datetime) -> Part:
        if not spec.activity:
            return Part(full_days(start, end), rollup)
        count = _active_day_count(spec.rollup, start, end, cut_days, dialect)
        return Part(full_days(start, end), rollup, count)

    # Every window is exactly the range the WHERE clause reads (the nightly rescore's
    # 30-day active users): each (account, key) group is then in the window, so a keyed
    # count needs no per-group aggregate, only the groups (a plain Group node; the
    # per-row CASE + max took a fifth of the largest query).
    whole = not cut_days and len(set(bounds)) == 1 and bounds[0][1] == as_of
    inner = [
        (
            literal_column("1", Integer)
            if whole and measure.counts_keys
            else measure.inner(rolled_part(start, end))
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
        combined = select(
            per_key.c.customer_id,
            *[
                measure.outer(seats_only(measure, end, per_key.c[name])).label(name)
                for measure, (_, end), name in zip(measures, bounds, names, strict=True)
            ],
        )
        if any(seated):
            combined = _seat_join(
                combined, per_key.c.customer_id, per_key.c[spec.key], ends, everyone
            )
        queries = [combined.group_by(per_key.c.customer_id)]
    if not cut_days:
        return queries

    ts = spec.raw.ts
    columns = []
    for measure, (low, high), name in zip(measures, bounds, names, strict=True):
        cond = ts < high if low is None else and_(ts >= low, ts < high)
        if by_case and measure.seats_only:
            cond = and_(cond, seat_at(high))
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
        if any(seated):
            cut = _seat_join(cut, spec.raw.customer_id, raw[spec.key], ends, everyone)
    cut = restrict(cut, spec.raw.customer_id, customer_ids)
    # Grouping by ``+customer_id`` keeps SQLite on the ts index for these few days instead
    # of skip-scanning the customer index over every day.
    return [*queries, cut.group_by(without_index(spec.raw.customer_id, dialect))]


def _within_day(ts: Any, day: date) -> Condition:
    return and_(ts >= midnight(day), ts < midnight(day + timedelta(days=1)))


def _reader(aggregate: Aggregate) -> Source | RolledUpSql:
    for spec in ROLLED_UP.get(aggregate.source, []):
        if aggregate.measure in spec.measures:
            return spec
    return aggregate.source


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


SEAT_JOIN_SETTINGS = (("enable_hashjoin", "off"), ("max_parallel_workers_per_gather", "0"))
"""How PostgreSQL must join active users to their ``users`` rows: by merging the two
indexes' (customer_id, user_id) order. It multiplies the two columns' selectivities, so it
expects a few dozen matches where there are 430,000 (20,000 accounts), hashes the grouped
side in batches and sorts the result: twice the merge's CPU (measured 0.9 s against
0.46 s, the read without seats 0.23 s); with parallel workers each recomputes the
grouped side."""


def plan_reads(
    aggregates: Iterable[Aggregate], as_of: datetime, customer_ids: Selection, dialect: str
) -> list[Read]:
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
