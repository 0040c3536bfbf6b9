"""NPS answers and their summary: average, Net Promoter Score, per period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from healthscore.storage import models as m

Period = Literal["week", "month"]


def category(score: int) -> Literal["promoter", "passive", "detractor"]:
    """Promoters answer 9-10, passives 7-8, detractors 0-6 (the standard NPS buckets)."""
    if score >= 9:
        return "promoter"
    if score >= 7:
        return "passive"
    return "detractor"


@dataclass(frozen=True)
class NpsFilter:
    customer_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    segment: str | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        n = m.NpsResponse
        conditions: list[ColumnElement[bool]] = []
        if self.customer_id:
            conditions.append(n.customer_id == self.customer_id)
        if self.since:
            conditions.append(n.ts >= self.since)
        if self.until:
            conditions.append(n.ts < self.until)
        if self.segment:
            conditions.append(
                n.customer_id.in_(select(m.Customer.id).where(m.Customer.segment == self.segment))
            )
        return conditions


def list_responses(
    session: Session, f: NpsFilter, *, offset: int = 0, limit: int = 50
) -> tuple[list[m.NpsResponse], int]:
    n = m.NpsResponse
    where = f.conditions()
    rows = session.scalars(
        select(n).where(*where).order_by(n.ts.desc(), n.id.desc()).offset(offset).limit(limit)
    )
    total = session.scalar(select(func.count()).select_from(n).where(*where)) or 0
    return list(rows), int(total)


@dataclass(frozen=True)
class NpsStats:
    responses: int
    average: float | None
    nps: float | None
    promoters: int
    passives: int
    detractors: int


@dataclass(frozen=True)
class NpsPeriodStats(NpsStats):
    period_start: date


def _stats(scores: list[int]) -> NpsStats:
    total = len(scores)
    promoters = sum(s >= 9 for s in scores)
    detractors = sum(s <= 6 for s in scores)
    return NpsStats(
        responses=total,
        average=round(sum(scores) / total, 2) if total else None,
        nps=round(100 * (promoters - detractors) / total, 1) if total else None,
        promoters=promoters,
        passives=total - promoters - detractors,
        detractors=detractors,
    )


def period_start(day: date, period: Period) -> date:
    if period == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def summary(
    session: Session, f: NpsFilter, *, period: Period = "month"
) -> tuple[NpsStats, list[NpsPeriodStats]]:
    """Overall figures and one row per calendar week or month, oldest first.

    Scores are small integers, so this reads (day, score) pairs and buckets them here:
    the same code on SQLite and PostgreSQL, without dialect-specific date truncation.
    """
    n = m.NpsResponse
    buckets: dict[date, list[int]] = {}
    everything: list[int] = []
    for ts, score in session.execute(select(n.ts, n.score).where(*f.conditions())):
        everything.append(score)
        buckets.setdefault(period_start(ts.date(), period), []).append(score)
    periods = [
        NpsPeriodStats(period_start=start, **vars(_stats(scores)))
        for start, scores in sorted(buckets.items())
    ]
    return _stats(everything), periods
