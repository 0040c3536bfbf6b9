"""A Stripe subscription as MRR: what ``customer.subscription.*`` events record.

``ingest.stripe_events`` verifies, de-duplicates and routes the event; this module reads
the subscription object (``data.object``, a snapshot as of the event) and records, in
the caller's transaction:

* the subscription's MRR from the event's time on, as a change of its stream (the
  subscription id) in the MRR history (``ingest.mrr``), unless it is what the stream
  already had then (an update of metadata or a new billing period adds no row);
* ``customers.renews_at`` = the end of the current period, for a subscription billed
  yearly (or longer) and only from its newest event.

MRR = the sum over the subscription's items of unit price x quantity, brought to a month
by the price's ``recurring.interval`` and ``interval_count`` (a year is 12 months, a week
52/12 of a month, a day 365/12), from the currency's smallest unit to its major unit
(``stripe_amounts``). List prices: discounts, tax and credits are left out.
An item without a per-unit amount (metered usage, tiered prices) adds nothing.

Only a subscription that bills counts: ``active``, ``past_due`` and ``unpaid`` (failing
payments are the payment signals' business, not lost revenue yet). ``trialing`` counts 0:
a trial is not revenue until it converts (its first paid period is then an expansion from
0); so do ``incomplete``, ``incomplete_expired``, ``paused`` and ``canceled``, and every
``customer.subscription.deleted``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sqlalchemy.orm import Session

from healthscore.ingest import mrr
from healthscore.ingest.stripe_amounts import to_major_units
from healthscore.storage import models as m

COUNTED = frozenset({"active", "past_due", "unpaid"})
"""Statuses in which a subscription brings in its MRR; in any other it counts 0."""
ENDED = frozenset({"canceled", "incomplete_expired"})
"""Statuses of a subscription that is over: it has no seats left either."""

MONTHS_PER_INTERVAL = {
    "day": Decimal(12) / Decimal(365),
    "week": Decimal(12) / Decimal(52),
    "month": Decimal(1),
    "year": Decimal(12),
}
CENT = Decimal("0.01")


@dataclass(frozen=True)
class SubscriptionState:
    """What a subscription object says about revenue."""

    mrr: Decimal
    seats: int | None
    """The quantities of its per-unit (licensed) items, summed: usually the seats."""
    renews_at: datetime | None
    """The end of the current period of its yearly items, while it bills."""


def subscription_state(obj: Mapping[str, Any], *, deleted: bool = False) -> SubscriptionState:
    """The MRR, seats and renewal an event's subscription snapshot stands for."""
    counts = not deleted and str(obj.get("status") or "") in COUNTED
    total = Decimal(0)
    seats: int | None = None
    renewal: datetime | None = None
    for item in _items(obj):
        price = _mapping(item.get("price")) or _mapping(item.get("plan"))
        recurring = _mapping(price.get("recurring")) or price  # a legacy plan is flat
        quantity = _whole(item.get("quantity"))
        licensed = str(recurring.get("usage_type") or "licensed") == "licensed"
        if licensed and quantity is not None:
            seats = (seats or 0) + quantity
        amount = _unit_amount(price)
        interval = str(recurring.get("interval") or "")
        count = _whole(recurring.get("interval_count") or 1)
        if amount is None or not licensed or interval not in MONTHS_PER_INTERVAL or not count:
            continue
        months = MONTHS_PER_INTERVAL[interval] * count
        units = 1 if quantity is None else quantity
        currency = str(price.get("currency") or obj.get("currency") or "usd").lower()[:3]
        total += to_major_units(amount * units, currency) / months
        if interval == "year" and counts:
            end = _moment(item.get("current_period_end"), obj.get("current_period_end"))
            renewal = end if renewal is None or (end and end < renewal) else renewal
    mrr_value = total.quantize(CENT, rounding=ROUND_HALF_UP) if counts else Decimal(0)
    if deleted or str(obj.get("status") or "") in ENDED:
        seats = 0 if seats is not None else None
    return SubscriptionState(mrr_value, seats, renewal)


def apply_subscription(
    session: Session,
    customer: m.Customer,
    obj: Mapping[str, Any],
    *,
    event_id: str,
    at: datetime,
    deleted: bool = False,
) -> list[str]:
    """Record what the subscription snapshot changes for ``customer`` from ``at`` on;
    what changed, in words (nothing: an empty list)."""
    stream = str(obj["id"])
    state = subscription_state(obj, deleted=deleted)
    changes: list[str] = []
    mrr.lock_accounts(session, [customer.id])  # what is in force, read by one writer at a time
    found = mrr.in_force_after(session, customer.id, at, stream=stream)
    before = found[0] if found else None
    if before is None or (Decimal(before.mrr), before.seats) != (state.mrr, state.seats):
        mrr.record_changes(
            session,
            [
                {
                    "customer_id": customer.id,
                    "stream": stream,
                    "at": at,
                    "mrr": state.mrr,
                    "seats": state.seats,
                    "source": "stripe",
                    "external_id": f"stripe:{event_id}",
                }
            ],
        )
        changes.append(f"{stream} MRR {state.mrr} from {at.isoformat()}")
    newest = mrr.latest_change(session, customer.id, stream)
    renews_at = state.renews_at
    if renews_at and (newest is None or newest <= at) and customer.renews_at != renews_at:
        customer.renews_at = renews_at
        session.flush()
        changes.append(f"renews at {renews_at.isoformat()}")
    return changes


def other_paying_subscriptions(session: Session, customer_id: str, stream: str) -> list[str]:
    """The account's other Stripe subscriptions whose newest MRR is above 0."""
    return [
        row.stream
        for row in mrr.newest(session, customer_id)
        if row.stream not in (stream, mrr.ACCOUNT) and row.mrr > 0
    ]


def _items(obj: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    data = _mapping(obj.get("items")).get("data")
    if isinstance(data, list):
        return [item for item in data if isinstance(item, Mapping)]
    return []


def _unit_amount(price: Mapping[str, Any]) -> Decimal | None:
    """The price per unit in the smallest currency unit (a legacy plan: ``amount``)."""
    for key in ("unit_amount_decimal", "unit_amount", "amount"):
        value = price.get(key)
        if value is None or isinstance(value, bool):
            continue
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            continue
        if amount.is_finite() and amount >= 0:
            return amount
    return None


def _whole(value: object) -> int | None:
    """A count Stripe sent (0 or more), or ``None``."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _moment(*candidates: object) -> datetime | None:
    for value in candidates:
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return datetime.fromtimestamp(value, UTC)
    return None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
