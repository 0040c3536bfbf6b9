"""A scoring run's read queries, built once and reused with new values.

Why: building them (``aggregate_queries.build_reads``: hundreds of window conditions,
CASE expressions and period masks) and making their cache keys costs more than the reads
themselves when a run scores a few accounts, as every request that refreshes one does
and as the worker does all day: one account's rescore took 126-134 ms on PostgreSQL
with the queries built each time, 53-62 ms with the day's plan (``bench.refresh``).
Within one day the queries differ only in values: the window edges that move with the
as-of moment (``as_of`` minus whole days) and the ids of the selected accounts.
Everything else (the days a window cuts, the activity periods, their bit masks,
midnights) depends on the date, on whether the moment is a midnight, and on which
aggregates are read.

So a plan is kept per (aggregates, date, midnight or not, dialect, kind of selection),
from the second time that key is read: its queries, with those values turned into named
parameters; a later run on the same day passes its own values when it executes them. A
query holding a datetime that is neither a midnight nor the as-of moment minus whole days
is not kept (built each time): its values could not be told apart.

At midnight (the nightly rescore, every day a backtest replays) the reads of tables and
daily roll-ups hold nothing but midnights and days a fixed distance before the as-of
moment: their plan is kept across days (``_ACROSS_DAYS``), every such value named by its
distance. A backtest's replay, which asks for each day once, then builds only its
activity reads (periods and masks are the date's) after its first two days. That plan is
kept only when the queries of two different days agree once their distances are named:
the same SQL and the same other values.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any, cast

from sqlalchemy import BindParameter, Select, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.visitors import ExternallyTraversible, replacement_traverse

from healthscore.scoring.aggregate_queries import Read, build_reads, reads_activity
from healthscore.scoring.metrics import Aggregate
from healthscore.scoring.selection import IdRange, Selection
from healthscore.storage.id_lists import IdList

PLANS_KEPT = 64
"""Plans kept per process: a day's worth of distinct reads (a scorecard's full rescore,
one account's refresh, products, shards) with room for a replay's recent days."""

SELECTED_IDS = "selected_ids"
_ACROSS_DAYS = "across days"
"""The date part of a key whose plan serves every midnight."""
_DIALECTS: dict[str, Dialect] = {
    "postgresql": postgresql.psycopg.dialect(),  # type: ignore[no-untyped-call]
    "sqlite": sqlite.dialect(),
}


@dataclass(frozen=True)
class _Plan:
    """Reads whose as-of values are named parameters: each moved window edge by its
    offset from the as-of moment, each day by its offset from the as-of date (plans kept
    across days), the selected ids by ``SELECTED_IDS``."""

    reads: list[Read]
    offsets: dict[str, timedelta]
    day_offsets: dict[str, timedelta] = field(default_factory=dict)

    def bind(self, as_of: datetime, customer_ids: Selection) -> list[Read]:
        values: dict[str, Any] = {name: as_of + offset for name, offset in self.offsets.items()}
        values.update((name, as_of.date() + offset) for name, offset in self.day_offsets.items())
        if _shape(customer_ids) == "ids":
            assert customer_ids is not None and not isinstance(customer_ids, IdRange)
            values[SELECTED_IDS] = list(customer_ids)
        return [replace(read, parameters=values) for read in self.reads]


@dataclass(frozen=True)
class _FirstDay:
    """A plan across days as its first day gave it: kept once another day agrees."""

    plan: _Plan
    day: date


_SEEN = "seen"
"""A key asked for once: its plan is kept from the second time (a backtest replays each
day once; keeping those would only cost the copying)."""
_NOT_KEPT = "not kept"
"""A key whose queries hold a value ``_parameterised`` cannot place: built every time."""

_plans: OrderedDict[Hashable, _Plan | _FirstDay | str] = OrderedDict()
_lock = threading.Lock()


def plan_reads(
    aggregates: Iterable[Aggregate], as_of: datetime, customer_ids: Selection, dialect: str
) -> list[Read]:
    """The reads of ``aggregates`` as of ``as_of`` (``build_reads``), from a kept plan
    when there is one: the same queries and, executed with their ``parameters``, the same
    rows."""
    wanted = frozenset(aggregates)
    if as_of.timetz() != time(0, tzinfo=as_of.tzinfo):
        return _planned(wanted, as_of, customer_ids, dialect, across_days=False)
    dated = frozenset(aggregate for aggregate in wanted if reads_activity(aggregate))
    reads = _planned(dated, as_of, customer_ids, dialect, across_days=False) if dated else []
    if wanted - dated:
        reads += _planned(wanted - dated, as_of, customer_ids, dialect, across_days=True)
    return reads


def _planned(
    wanted: frozenset[Aggregate],
    as_of: datetime,
    customer_ids: Selection,
    dialect: str,
    *,
    across_days: bool,
) -> list[Read]:
    midnight = as_of.timetz() == time(0, tzinfo=as_of.tzinfo)
    day: Hashable = _ACROSS_DAYS if across_days else as_of.date()
    key = (wanted, day, midnight, dialect, _shape(customer_ids))
    with _lock:
        plan = _plans.get(key)
        if plan is None:
            _plans[key] = _SEEN
        else:
            _plans.move_to_end(key)
        while len(_plans) > PLANS_KEPT:
            _plans.popitem(last=False)
    if isinstance(plan, _Plan):
        return plan.bind(as_of, customer_ids)
    if isinstance(plan, _FirstDay) and plan.day == as_of.date():
        return plan.plan.bind(as_of, customer_ids)  # its own day: a day's plan
    reads = build_reads(wanted, as_of, customer_ids, dialect)
    kept: _Plan | _FirstDay | None
    if across_days and (plan is None or isinstance(plan, _FirstDay)):
        kept = _parameterised(reads, as_of, across_days=True)
        if kept is not None and isinstance(plan, _FirstDay):
            kept = kept if _agree(plan.plan, kept, dialect) else None
        elif kept is not None:  # the first day's plan, until another day agrees
            kept = _FirstDay(kept, as_of.date())
    elif plan == _SEEN and not across_days:
        kept = _parameterised(reads, as_of)
    else:
        return reads
    with _lock:
        if key in _plans:
            _plans[key] = _NOT_KEPT if kept is None else kept
    return reads


def forget_plans() -> None:
    """Drop every kept plan (tests compare fresh and kept ones)."""
    with _lock:
        _plans.clear()


def _shape(customer_ids: Selection) -> Hashable:
    """What a selection changes in the queries' shape: nothing but its values for a list
    of ids (one parameter) or a shard's range (kept whole: shards are few and fixed)."""
    if customer_ids is None or isinstance(customer_ids, IdRange):
        return customer_ids
    return "ids" if customer_ids else "no ids"


def _parameterised(
    reads: list[Read], as_of: datetime, *, across_days: bool = False
) -> _Plan | None:
    """``reads`` with their as-of values named, or None when one is not understood.

    Within a day, the datetimes at the as-of moment's time of day; across days (from a
    midnight), every datetime (each must be a midnight) and every date."""
    offsets: dict[str, timedelta] = {}
    day_offsets: dict[str, timedelta] = {}
    moving = as_of.timetz() != time(0, tzinfo=as_of.tzinfo)
    understood = True

    def named(element: ExternallyTraversible, **_: Any) -> ExternallyTraversible | None:
        nonlocal understood
        if not isinstance(element, BindParameter):
            return None
        value = element.value
        if isinstance(element.type, IdList):
            return bindparam(SELECTED_IDS, value, type_=element.type)
        if across_days and isinstance(value, date) and not isinstance(value, datetime):
            name = f"day_{len(day_offsets)}"
            day_offsets[name] = value - as_of.date()
            return bindparam(name, value, type_=element.type)
        if not isinstance(value, datetime) or not (moving or across_days):
            return None  # a constant for the day
        if value.timetz() == time(0, tzinfo=value.tzinfo) and not across_days:
            return None  # a midnight: a cut day's edge
        if value.timetz() != as_of.timetz():
            understood = False
            return None
        name = f"edge_{len(offsets)}"
        offsets[name] = value - as_of
        return bindparam(name, value, type_=element.type)

    parameterised = [
        replace(read, queries=[_traverse(query, named) for query in read.queries]) for read in reads
    ]
    return _Plan(parameterised, offsets, day_offsets) if understood else None


def _agree(first: _Plan, second: _Plan, dialect: str) -> bool:
    """Whether two days' plans are one: the same distances, SQL and other values."""
    if first.offsets != second.offsets or first.day_offsets != second.day_offsets:
        return False
    shapes = [[len(read.queries) for read in plan.reads] for plan in (first, second)]
    if shapes[0] != shapes[1]:
        return False
    named = {*first.offsets, *first.day_offsets}
    for a, b in zip(first.reads, second.reads, strict=True):
        for one, other in zip(a.queries, b.queries, strict=True):
            compiled = [query.compile(dialect=_DIALECTS[dialect]) for query in (one, other)]
            values = [
                {name: value for name, value in c.params.items() if name not in named}
                for c in compiled
            ]
            if compiled[0].string != compiled[1].string or values[0] != values[1]:
                return False
    return True


def _traverse(
    query: Select[Any], named: Callable[..., ExternallyTraversible | None]
) -> Select[Any]:
    """A copy of ``query`` with the elements ``named`` returns in place of the old."""
    return cast(Select[Any], replacement_traverse(cast(ExternallyTraversible, query), {}, named))
