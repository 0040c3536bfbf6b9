"""Reads behind the account pages that ``scoring.reports`` does not already answer.

The score distribution, the daily series a sparkline draws, the segments to filter by, and
one account's recent tickets and payments: plain queries, so the dashboard holds no SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from healthscore.storage import models as m


def score_counts(session: Session) -> dict[int, int]:
    """``{score: accounts}`` over the latest scores (unscored accounts left out)."""
    h = m.HealthScore
    rows = session.execute(
        select(h.score, func.count()).where(h.score.is_not(None)).group_by(h.score)
    ).all()
    return {int(score): int(count) for score, count in rows if score is not None}


def customer_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(m.Customer)) or 0)


def scored_count(session: Session) -> int:
    """Accounts with a latest-score row (scored at least once)."""
    return int(session.scalar(select(func.count()).select_from(m.HealthScore)) or 0)


def segments(session: Session) -> list[str]:
    """Every non-empty segment, sorted."""
    c = m.Customer
    return [s for s in session.scalars(select(c.segment).distinct().order_by(c.segment)) if s]


def daily_scores(
    session: Session, customer_ids: Sequence[str], *, days: int
) -> dict[str, list[float | None]]:
    """The last ``days`` daily scores of each account, up to the newest day any of them
    has (``None`` where a day has no score), in one query; empty without history."""
    if not customer_ids:
        return {}
    h = m.HealthScoreHistory
    latest = session.scalar(select(func.max(h.day)).where(h.customer_id.in_(customer_ids)))
    if latest is None:
        return {}
    first = latest - timedelta(days=days - 1)
    series: dict[str, list[float | None]] = {cid: [None] * days for cid in customer_ids}
    rows = session.execute(
        select(h.customer_id, h.day, h.score).where(
            h.customer_id.in_(customer_ids), h.day >= first, h.day <= latest
        )
    )
    for customer_id, day, score in rows:
        series[customer_id][(day - first).days] = score
    return series


def customer(session: Session, customer_id: str) -> m.Customer | None:
    return session.get(m.Customer, customer_id)


@dataclass(frozen=True)
class RecentActivity:
    """An account's newest tickets and payments, with how many there are in all."""

    tickets: list[m.SupportTicket]
    tickets_total: int
    payments: list[m.Payment]
    payments_total: int


def recent_activity(session: Session, customer_id: str, *, limit: int = 10) -> RecentActivity:
    t, p = m.SupportTicket, m.Payment
    tickets = list(
        session.scalars(
            select(t).where(t.customer_id == customer_id).order_by(t.opened_at.desc()).limit(limit)
        )
    )
    tickets_total = session.scalar(select(func.count()).where(t.customer_id == customer_id))
    payments = list(
        session.scalars(
            select(p).where(p.customer_id == customer_id).order_by(p.ts.desc()).limit(limit)
        )
    )
    payments_total = session.scalar(select(func.count()).where(p.customer_id == customer_id))
    return RecentActivity(
        tickets=tickets,
        tickets_total=tickets_total or 0,
        payments=payments,
        payments_total=payments_total or 0,
    )
