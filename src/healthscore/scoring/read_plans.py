"""A scoring run's read queries, built once per day and reused with new values.

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
from the second time that key is read (a backtest reads each day once: copying its
queries would be wasted): its queries, with those values turned into named parameters;
a later run on the same day passes its own values when it executes them. A query
holding a datetime that is neither a midnight nor the as-of moment minus whole days is
not kept (built each time): its values could not be told apart.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from typing import Any, cast

from sqlalchemy import BindParameter, Select, bindparam
from sqlalchemy.sql.visitors import ExternallyTraversible, replacement_traverse

from healthscore.scoring.aggregate_queries import Read, build_reads
from healthscore.scoring.metrics import Aggregate
from healthscore.scoring.selection import IdRange, Selection
from healthscore.storage.id_lists import IdList

PLANS_KEPT = 64
"""Plans kept per process: a day's worth of distinct reads (a scorecard's full rescore,
one account's refresh, products, shards) with room for a replay's recent days."""

SELECTED_IDS = "selected_ids"


@dataclass(frozen=True)
class _Plan:
    """Reads whose as-of values are named parameters: each moved window edge by its
    offset from the as-of moment, the selected ids by ``SELECTED_IDS``."""

    reads: list[Read]
    offsets: dict[str, timedelta]

    def bind(self, as_of: datetime, customer_ids: Selection) -> list[Read]:
        values: dict[str, Any] = {name: as_of + offset for name, offset in self.offsets.items()}
        if _shape(customer_ids) == "ids":
            assert customer_ids is not None and not isinstance(customer_ids, IdRange)
            values[SELECTED_IDS] = list(customer_ids)
        return [replace(read, parameters=values) for read in self.reads]


_SEEN = "seen"
"""A key asked for once: its plan is kept from the second time (a backtest replays each
day once; keeping those would only cost the copying)."""
_NOT_KEPT = "not kept"
"""A key whose queries hold a value ``_parameterised`` cannot place: built every time."""

_plans: OrderedDict[Hashable, _Plan | str] = OrderedDict()
_lock = threading.Lock()


def plan_reads(
    aggregates: Iterable[Aggregate], as_of: datetime, customer_ids: Selection, dialect: str
) -> list[Read]:
    """The reads of ``aggregates`` as of ``as_of`` (``build_reads``), from this day's plan
    when there is one: the same queries and, executed with their ``parameters``, the same
    rows."""
    wanted = frozenset(aggregates)
    midnight = as_of.timetz() == time(0, tzinfo=as_of.tzinfo)
    key = (wanted, as_of.date(), midnight, dialect, _shape(customer_ids))
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
    reads = build_reads(wanted, as_of, customer_ids, dialect)
    if plan == _SEEN:
        kept = _parameterised(reads, as_of)
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


def _parameterised(reads: list[Read], as_of: datetime) -> _Plan | None:
    """``reads`` with their as-of values named, or None when one is not understood."""
    offsets: dict[str, timedelta] = {}
    moving = as_of.timetz() != time(0, tzinfo=as_of.tzinfo)
    understood = True

    def named(element: ExternallyTraversible, **_: Any) -> ExternallyTraversible | None:
        nonlocal understood
        if not isinstance(element, BindParameter):
            return None
        value = element.value
        if isinstance(element.type, IdList):
            return bindparam(SELECTED_IDS, value, type_=element.type)
        if not isinstance(value, datetime) or not moving:
            return None  # a constant for the day
        if value.timetz() == time(0, tzinfo=value.tzinfo):
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
    return _Plan(parameterised, offsets) if understood else None


def _traverse(
    query: Select[Any], named: Callable[..., ExternallyTraversible | None]
) -> Select[Any]:
    """A copy of ``query`` with the elements ``named`` returns in place of the old."""
    return cast(Select[Any], replacement_traverse(cast(ExternallyTraversible, query), {}, named))
