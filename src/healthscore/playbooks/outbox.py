"""The delivery outbox: a case's messages queued with the case's change, sent by workers.

A case sends its playbook's webhook, Slack and Redis messages when it opens, escalates
and resolves — never while a condition merely persists. Why an outbox: the decision to
act is committed atomically with the scores and the case; sending happens after the
commit, as often as needed until it succeeds. A worker *claims* a delivery with one
conditional UPDATE before sending, so two workers never send the same delivery at the
same time, and a claim that is never finished (worker killed mid-send) expires and the
delivery is picked up again: at least once, never lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import Session

from healthscore.playbooks.rules import OutreachAction, Playbook
from healthscore.storage import job_models as jm
from healthscore.storage.dialect import insert_new_keys
from healthscore.storage.leases import claim_with_lease, lease_expired

MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class Notice:
    """One message about a case (opened, escalated, resolved) for its playbook's actions."""

    playbook: Playbook
    customer_id: str
    key: str
    """The message's idempotency key; each action's delivery adds ``:<action index>``."""
    payload: dict[str, Any]


@dataclass(frozen=True)
class CaseFacts:
    """What a message says about the case and the account."""

    case_id: int
    customer_id: str
    name: str
    playbook: str
    severity: str
    state: str
    score: int | None
    tier: str | None
    trend: str | None
    reason: str
    resolution: str | None = None


def case_payload(
    event: str, facts: CaseFacts, *, key: str, as_of: datetime, reopened: bool = False
) -> dict[str, Any]:
    """What receivers get: seed 000's alert fields, the case and what happened to it
    (``event``: ``opened``, ``escalated`` or ``resolved``; an ``opened`` case that is a
    resolved one opening again says ``reopened: true``)."""
    payload: dict[str, Any] = {
        "type": "health_alert",
        "event": event,
        "caseId": facts.case_id,
        "customerId": facts.customer_id,
        "customerName": facts.name,
        "score": facts.score,
        "riskLevel": facts.tier,
        "trend": facts.trend,
        "playbook": facts.playbook,
        "reason": facts.reason,
        "severity": facts.severity,
        "state": facts.state,
        "asOf": as_of.isoformat(),
        "idempotencyKey": key,
    }
    if facts.resolution:
        payload["resolution"] = facts.resolution
    if reopened:
        payload["reopened"] = True
    return payload


def notice(
    playbook: Playbook,
    event: str,
    facts: CaseFacts,
    *,
    key: str,
    as_of: datetime,
    reopened: bool = False,
) -> Notice:
    payload = case_payload(event, facts, key=key, as_of=as_of, reopened=reopened)
    return Notice(playbook, facts.customer_id, key, payload)


def queue_deliveries(session: Session, notices: list[Notice]) -> list[int]:
    """Outbox rows for every non-outreach action; returns ids of rows this call created."""
    return insert_deliveries(
        session,
        [
            {
                "idempotency_key": f"{n.key}:{index}",
                "customer_id": n.customer_id,
                "playbook": n.playbook.name,
                "action": action.model_dump(),
                "payload": n.payload,
            }
            for n in notices
            for index, action in enumerate(n.playbook.actions)
            if not isinstance(action, OutreachAction)
        ],
    )


def insert_deliveries(session: Session, messages: list[dict[str, Any]]) -> list[int]:
    """Queue messages (``idempotency_key``, ``customer_id``, ``playbook``, ``action``,
    ``payload``) as pending outbox rows, each unless its key is already there; ids of the
    rows inserted. A row's ``kind`` is its action's."""
    if not messages:
        return []
    now = datetime.now(UTC)
    rows = [
        {
            **message,
            "kind": message["action"]["kind"],
            "status": "pending",
            "attempts": 0,
            "last_error": "",
            "created_at": now,
        }
        for message in messages
    ]
    inserted = insert_new_keys(
        session,
        jm.Delivery.__table__,  # type: ignore[arg-type]
        rows,
        key=["idempotency_key"],
    )
    keys = [key for (key,) in inserted]
    if not keys:
        return []
    return list(
        session.scalars(select(jm.Delivery.id).where(jm.Delivery.idempotency_key.in_(keys)))
    )


def _ready(now: datetime) -> ColumnElement[bool]:
    """Pending and not backing off, or claimed by a worker whose claim expired."""
    d = jm.Delivery
    return or_(
        (d.status == "pending") & (d.claimed_until.is_(None) | (d.claimed_until <= now)),
        lease_expired(d, "sending", now),
    )


def claim(session: Session, delivery_id: int, *, claim_seconds: int = 60) -> jm.Delivery | None:
    """Take a pending (or abandoned) delivery for sending; None if someone else has it."""
    now = datetime.now(UTC)
    d = jm.Delivery
    if not claim_with_lease(
        session,
        d,
        d.id == delivery_id,
        _ready(now),
        status="sending",
        now=now,
        lease_seconds=claim_seconds,
    ):
        return None
    return session.get(jm.Delivery, delivery_id, populate_existing=True)


def mark_delivered(session: Session, delivery_id: int) -> None:
    session.execute(
        update(jm.Delivery)
        .where(jm.Delivery.id == delivery_id)
        .values(status="delivered", delivered_at=datetime.now(UTC), claimed_until=None)
    )
    session.commit()


def mark_skipped(session: Session, delivery_id: int, reason: str) -> None:
    """Final: the action cannot run in this deployment (recorded, never retried)."""
    session.execute(
        update(jm.Delivery)
        .where(jm.Delivery.id == delivery_id)
        .values(status="skipped", last_error=reason[:2000], claimed_until=None)
    )
    session.commit()


def backoff(attempts: int, first: float = 2.0) -> timedelta:
    """Exponential after ``attempts`` failures: ``first``, twice that, four times… (2 s,
    4 s, 8 s by default), capped at 10 minutes."""
    return timedelta(seconds=min(600.0, first * 2 ** max(0, attempts - 1)))


def mark_failed(
    session: Session, delivery: jm.Delivery, error: str, *, first_retry: float = 2.0
) -> bool:
    """Record a failed attempt. Returns True if it will be retried (after ``backoff``)."""
    final = delivery.attempts >= MAX_ATTEMPTS
    session.execute(
        update(jm.Delivery)
        .where(jm.Delivery.id == delivery.id)
        .values(
            status="failed" if final else "pending",
            last_error=error[:2000],
            # While pending, claimed_until doubles as "not before": the backoff.
            claimed_until=None
            if final
            else datetime.now(UTC) + backoff(delivery.attempts, first_retry),
        )
    )
    session.commit()
    return not final


def due(session: Session, *, limit: int = 500) -> list[int]:
    """Deliveries that should be (re)sent now: pending, or claimed by a worker that died."""
    now = datetime.now(UTC)
    d = jm.Delivery
    return list(session.scalars(select(d.id).where(_ready(now)).order_by(d.id).limit(limit)))
