"""The REST API's facts, one per request: a product event, a payment, a support ticket,
an NPS answer, a change of MRR.

Each function checks the fact, records it inside the caller's transaction and marks its
account for near-real-time rescoring in the same transaction; the caller commits, then
asks the job queue for the rescore. A fact whose account is named in the body fails with
``InvalidFact`` (422 on ``customerId``); one whose account is in the URL path with
``UnknownAccountError`` (404).

A route records a fact inside ``transaction(session)``: when the fact is refused for an
unknown account or a timestamp in the future, its writes are rolled back and only the
data-quality counters (``ingest.anomalies``) are committed, then the refusal goes on to
the client.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from healthscore.accounts.service import UnknownAccountError, require_account
from healthscore.ingest import anomalies, mrr, records
from healthscore.ingest.records import (
    Event,
    FutureTimestamp,
    InvalidFact,
    UnknownAccount,
    check_not_future,
    claim_messages,
    record_events,
    require_customer,
)
from healthscore.storage.pending_rescores import mark_for_rescore

IDEMPOTENCY_SOURCE = "api"
"""``processed_messages.source`` for the API's ``Idempotency-Key`` headers."""


SOURCE: anomalies.Source = "api"


@contextmanager
def transaction(session: Session) -> Iterator[None]:
    """One API fact's transaction: committed when the block succeeds; rolled back when
    it raises, and then, for a refusal the data-quality view counts (an unknown account,
    a timestamp in the future), that refusal's counter alone is committed."""
    try:
        with session.begin():
            yield
    except (UnknownAccount, FutureTimestamp, UnknownAccountError) as refused:
        seen = anomalies.Anomalies()
        if isinstance(refused, UnknownAccountError):
            seen.unknown[refused.customer_id] += 1
        else:
            seen.note_refused([refused])
        anomalies.record_refusal(session, SOURCE, seen, now=datetime.now(UTC))
        raise


@dataclass(frozen=True)
class Recorded:
    """The fact's row id; ``new`` is False when it had been recorded before (a retry)."""

    id: int
    new: bool


def record_event(session: Session, event: Event, *, idempotency_key: str | None = None) -> bool:
    """Record one event; False (and nothing written) for a retried ``idempotency_key``.
    Its timestamp is checked here, not in the request schema, so that a client clock
    running ahead is counted (``transaction``)."""
    event = replace(event, ts=check_not_future("timestamp", event.ts))
    require_customer(session, event.customer_id)
    if idempotency_key and not claim_messages(session, IDEMPOTENCY_SOURCE, [idempotency_key]):
        return False
    record_events(session, [event])
    mark_for_rescore(session, {event.customer_id})
    return True


def record_payment(
    session: Session,
    *,
    customer_id: str,
    amount: Decimal,
    currency: str,
    status: str,
    ts: datetime | None = None,
    external_id: str | None = None,
) -> Recorded:
    """Record a charge attempt (now, unless ``ts``); a known ``external_id`` is a retry and
    answers the payment recorded first."""
    require_customer(session, customer_id)
    if external_id:
        existing = records.payment_with_external_id(session, external_id)
        if existing is not None:
            return Recorded(existing, new=False)
    payment_id = records.add_payment(
        session,
        {
            "customer_id": customer_id,
            "ts": ts or datetime.now(UTC),
            "amount": amount,
            "currency": currency.lower(),
            "status": status,
            "external_id": external_id,
        },
    )
    mark_for_rescore(session, {customer_id})
    return Recorded(payment_id, new=True)


def record_ticket(
    session: Session, *, customer_id: str, ticket_id: str, fields: dict[str, Any]
) -> None:
    """Create or update a support ticket (resolution and rating may come later)."""
    require_account(session, customer_id)
    row = {"customer_id": customer_id, "ticket_id": ticket_id, **fields}
    if row.get("resolved_at") and row["resolved_at"] < row["opened_at"]:
        raise InvalidFact("resolvedAt", "is before openedAt")
    records.upsert_ticket(session, row)
    mark_for_rescore(session, {customer_id})


def record_nps_response(
    session: Session,
    *,
    customer_id: str,
    score: int,
    comment: str = "",
    user_id: str | None = None,
    ts: datetime | None = None,
) -> int:
    """Record one survey answer (now, unless ``ts``); its id."""
    require_customer(session, customer_id)
    answer_id = records.add_nps_response(
        session,
        {
            "customer_id": customer_id,
            "user_id": user_id,
            "score": score,
            "comment": comment,
            "ts": ts or datetime.now(UTC),
        },
    )
    mark_for_rescore(session, {customer_id})
    return answer_id


def record_mrr_change(
    session: Session,
    *,
    customer_id: str,
    mrr_amount: Decimal,
    seats: int | None = None,
    at: datetime | None = None,
) -> int:
    """Record the account's total MRR from ``at`` on (now, unless given; ``ingest.mrr``);
    the row's id. The same account and moment again replaces that row (a retry, or a
    correction) and answers its id."""
    require_customer(session, customer_id)
    at = at or datetime.now(UTC)
    key = mrr.account_total_key(customer_id, at)
    row = {
        "customer_id": customer_id,
        "stream": mrr.ACCOUNT,
        "at": at,
        "mrr": mrr_amount,
        "seats": seats,
        "source": "api",
        "external_id": key,
    }
    mrr.record_changes(session, [row])
    mark_for_rescore(session, {customer_id})
    return mrr.change_id(session, key)
