"""The SQL of webhook subscriptions: the subscriptions themselves and the scores a rescore
is about to replace."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from healthscore.scoring.selection import IdRange
from healthscore.storage import job_models as jm
from healthscore.storage import models as m


@dataclass(frozen=True)
class Previous:
    """An account's latest score before this run."""

    score: int
    tier: str


def add(
    session: Session,
    *,
    url: str,
    events: list[str],
    min_score_change: int,
    description: str,
    secret: str,
    now: datetime,
) -> jm.WebhookSubscription:
    row = jm.WebhookSubscription(
        url=url,
        events=events,
        min_score_change=min_score_change,
        description=description,
        secret=secret,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def listed(session: Session) -> list[jm.WebhookSubscription]:
    return list(session.scalars(select(jm.WebhookSubscription).order_by(jm.WebhookSubscription.id)))


def remove(session: Session, subscription_id: int) -> bool:
    """Delete one; False when there was none with that id."""
    result = session.execute(
        delete(jm.WebhookSubscription).where(jm.WebhookSubscription.id == subscription_id)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def any_subscription(session: Session) -> bool:
    return bool(session.scalar(select(exists().where(jm.WebhookSubscription.id.is_not(None)))))


def previous_scores(
    session: Session, customer_ids: Collection[str] | None, id_range: IdRange | None
) -> dict[str, Previous]:
    """The latest stored score of the accounts a run will score (all without a filter)."""
    h = m.HealthScore
    query = select(h.customer_id, h.score, h.tier)
    if customer_ids is not None:
        query = query.where(h.customer_id.in_(list(customer_ids)))
    if id_range is not None:
        query = query.where(h.customer_id >= id_range.first, h.customer_id <= id_range.last)
    return {
        cid: Previous(score, tier)
        for cid, score, tier in session.execute(query)
        if score is not None
    }


def names(session: Session, customer_ids: Collection[str]) -> dict[str, str]:
    c = m.Customer
    rows = session.execute(select(c.id, c.name).where(c.id.in_(list(customer_ids))))
    return {customer_id: name for customer_id, name in rows}
