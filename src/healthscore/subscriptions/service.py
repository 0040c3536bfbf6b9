"""Health-change webhooks: what a rescore changed, as events for every subscriber.

A rescore reads the accounts' previous scores first (only when a subscription exists, so
a deployment without one pays one tiny query), then after scoring compares: a tier that
differs is ``tier.changed``; a score that moved at least a subscription's
``min_score_change`` points is ``score.changed``. Each event is an outbox row in the
rescore's transaction, sent and retried like playbook webhooks and signed with the
subscription's own secret. An account's first score changes nothing (there is no before).
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from healthscore.errors import DomainError
from healthscore.playbooks.outbox import insert_deliveries
from healthscore.scoring.engine import HealthScore
from healthscore.scoring.selection import IdRange
from healthscore.storage import job_models as jm
from healthscore.subscriptions import repository
from healthscore.subscriptions.repository import Previous

KIND = "subscription"


class UnknownSubscription(DomainError):
    def __init__(self, subscription_id: int) -> None:
        super().__init__(f"no webhook subscription {subscription_id}", status=404)


@dataclass(frozen=True)
class Created:
    subscription: jm.WebhookSubscription
    secret: str
    """Shown once, at creation."""


def subscribe(
    session: Session, *, url: str, events: Sequence[str], min_score_change: int, description: str
) -> Created:
    secret = "whsec_" + secrets.token_urlsafe(32)
    row = repository.add(
        session,
        url=url,
        events=sorted(set(events)),
        min_score_change=min_score_change,
        description=description,
        secret=secret,
        now=datetime.now(UTC),
    )
    return Created(row, secret)


def subscriptions(session: Session) -> list[jm.WebhookSubscription]:
    return repository.listed(session)


def unsubscribe(session: Session, subscription_id: int) -> None:
    if not repository.remove(session, subscription_id):
        raise UnknownSubscription(subscription_id)


def before_rescore(
    session: Session, customer_ids: Collection[str] | None, id_range: IdRange | None
) -> dict[str, Previous] | None:
    """The scores a rescore is about to replace; None when nobody subscribes."""
    if not repository.any_subscription(session):
        return None
    return repository.previous_scores(session, customer_ids, id_range)


def queue_changes(
    session: Session,
    before: dict[str, Previous] | None,
    scores: Sequence[HealthScore],
    *,
    as_of: datetime,
) -> list[int]:
    """Outbox rows for every subscriber's events; ids of the rows created."""
    if not before:
        return []
    changed = [(s, before[s.customer_id]) for s in scores if s.customer_id in before]
    changed = [(s, p) for s, p in changed if s.score != p.score or s.tier.value != p.tier]
    if not changed:
        return []
    names = repository.names(session, [s.customer_id for s, _ in changed])
    rows = []
    for sub in repository.listed(session):
        for score, previous in changed:
            for event in _events(sub, score, previous):
                key = f"subscription:{sub.id}:{event}:{score.customer_id}:{as_of.isoformat()}"
                rows.append(
                    {
                        "idempotency_key": key,
                        "customer_id": score.customer_id,
                        "playbook": "",
                        # The secret travels with the row: a worker signs without
                        # another read, and events queued before an unsubscribe still go.
                        "action": {
                            "kind": KIND,
                            "subscription_id": sub.id,
                            "url": sub.url,
                            "secret": sub.secret,
                        },
                        "payload": _payload(event, score, previous, names, key, as_of),
                    }
                )
    return insert_deliveries(session, rows)


def _events(sub: jm.WebhookSubscription, score: HealthScore, previous: Previous) -> list[str]:
    events = []
    if "score.changed" in sub.events and abs(score.score - previous.score) >= sub.min_score_change:
        events.append("score.changed")
    if "tier.changed" in sub.events and score.tier.value != previous.tier:
        events.append("tier.changed")
    return events


def _payload(
    event: str,
    score: HealthScore,
    previous: Previous,
    names: dict[str, str],
    key: str,
    as_of: datetime,
) -> dict[str, Any]:
    return {
        "type": event,
        "customerId": score.customer_id,
        "customerName": names.get(score.customer_id, score.customer_id),
        "score": score.score,
        "previousScore": previous.score,
        "riskLevel": score.tier.value,
        "previousRiskLevel": previous.tier,
        "trend": score.trend.value,
        "asOf": as_of.isoformat(),
        "idempotencyKey": key,
    }
