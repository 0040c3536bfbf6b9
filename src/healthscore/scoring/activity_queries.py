"""Windows over an activity roll-up (a bit per day, a row per key and 64-day period).

Which rows hold a whole day of a window is a mask per period (``day_masks``). The roll-up
query keeps, per key (user, feature), its bits of each period the read reaches: one
*word* per period (``Words``); every aggregate is then computed once per key from those
few words: whether the key has a day of its window (``word & mask != 0``) and on how many
(a popcount of ``word & mask``). Per row the query does one CASE per period, whatever
the number of windows (weekly windows are ten of them), and the per-window work is done
per key rather than per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, case, false, func, literal, or_

from healthscore.scoring.aggregate_sources import Part
from healthscore.scoring.selection import Condition
from healthscore.storage.rollups import (
    ALL_DAYS,
    PERIOD,
    as_bigint,
    day_number,
    days_set_sql,
    period_of,
)


def period_range(start: datetime | None, end: datetime, cut_days: Sequence[date]) -> range:
    """The activity periods holding the whole days of ``[start, end)``; with no start,
    from the earliest one a cut day or ``end`` falls in (older ones are wholly inside)."""
    top = period_of(end.date() - timedelta(days=1))
    if start is not None:
        return range(period_of(start.date()), top + 1)
    return range(min([top, *(period_of(day) for day in cut_days)]), top + 1)


def day_masks(
    start: datetime | None, end: datetime, cut_days: Sequence[date]
) -> tuple[int | None, list[tuple[int, int]]]:
    """The whole days of ``[start, end)`` other than a cut day, as activity bits: every
    period below the first value is wholly inside (``None``: none is), then (period, mask
    of the wanted days) for each period that has some."""
    first = None if start is None else day_number(start.date())
    last = day_number(end.date()) - 1
    cut = {day_number(day) for day in cut_days}
    periods = period_range(start, end, cut_days)
    masks = []
    for period in periods:
        low = period * PERIOD
        wanted = range(low if first is None else max(low, first), min(low + PERIOD, last + 1))
        mask = sum(1 << (number - low) for number in wanted if number not in cut)
        if mask:
            masks.append((period, mask))
    return (periods.start if first is None else None), masks


def active_days(
    rollup: Any, start: datetime | None, end: datetime, cut_days: Sequence[date]
) -> Condition:
    """Activity rows with a bit set for a whole day of ``[start, end)`` other than a cut
    day: per period, ``days`` AND the mask of the wanted days is not zero."""
    older, masks = day_masks(start, end, cut_days)
    conditions = [] if older is None else [rollup.period < older]
    conditions += [
        and_(rollup.period == period, rollup.days.bitwise_and(as_bigint(mask)) != 0)
        for period, mask in masks
    ]
    return or_(*conditions) if conditions else false()


@dataclass(frozen=True)
class Words:
    """A key's bits of periods ``first`` to ``last`` (a column each), and, for windows
    without a start, a summary of the older periods (wholly inside such windows)."""

    first: int
    last: int
    older: bool
    older_days: bool

    @classmethod
    def for_windows(
        cls,
        bounds: Sequence[tuple[datetime | None, datetime]],
        cut_days: Sequence[date],
        day_counts: bool,
    ) -> Words:
        ranges = [period_range(start, end, cut_days) for start, end in bounds]
        unbounded = any(start is None for start, _ in bounds)
        first = min(r.start for r in ranges)
        return cls(first, max(r.stop for r in ranges) - 1, unbounded, unbounded and day_counts)

    def columns(self, rollup: Any, dialect: str) -> list[ColumnElement[Any]]:
        """The per-key columns: an aggregate over the key's rows (one per period)."""
        columns: list[ColumnElement[Any]] = [
            func.coalesce(func.max(case((rollup.period == period, rollup.days))), 0).label(
                f"w{period - self.first}"
            )
            for period in range(self.first, self.last + 1)
        ]
        older = rollup.period < self.first
        if self.older:
            columns.append(func.coalesce(func.max(case((older, 1))), 0).label("older"))
        if self.older_days:
            count = days_set_sql(rollup.days, ALL_DAYS, dialect)
            columns.append(func.coalesce(func.sum(case((older, count))), 0).label("older_days"))
        return columns

    def part(
        self,
        per_key: Any,
        start: datetime | None,
        end: datetime,
        cut_days: Sequence[date],
        dialect: str,
    ) -> Part:
        """One window, per key: whether the key has one of its whole days, and how many."""
        older, masks = day_masks(start, end, cut_days)
        bits = dict(masks)
        if older is not None:  # periods between are wholly inside too (no cut day in them)
            bits.update(dict.fromkeys(range(self.first, older), ALL_DAYS))
        words = [(per_key.c[f"w{period - self.first}"], mask) for period, mask in bits.items()]
        active = [word.bitwise_and(as_bigint(mask)) != 0 for word, mask in words]
        counts = [days_set_sql(word, mask, dialect) for word, mask in words]
        if start is None:
            active.append(per_key.c.older == 1)
            if self.older_days:
                counts.append(per_key.c.older_days)
        count = sum(counts[1:], counts[0]) if counts else literal(0, Integer)
        return Part(or_(*active) if active else false(), {}, count)
