"""Turning verified Stripe webhook events into payments, MRR history and churn dates.

The HTTP layer (``api/routes/stripe.py``) verifies the signature; ``receive`` then
de-duplicates on the event id and maps one event's ``data.object`` to rows, inside the
caller's transaction, and says what it did. It never raises for events it cannot use: Stripe
retries every non-2xx answer for up to three days, so an event we will *never* be able to
apply (a type we do not track, a Stripe customer no account maps to) must still be
acknowledged, or it would be re-sent, and fail, for days. Such events come back as
``Outcome(applied=False, detail=<why>)`` and the endpoint answers 200 with that reason.

Accounts are found by ``customers.stripe_customer_id``; failing that, by the object's
``metadata.healthscore_customer_id`` (set it on the Stripe customer's subscriptions,
invoices or charges), and the mapping is then recorded on the account so later events of
that Stripe customer resolve directly.

Double counting: an invoice paid by card produces both ``invoice.paid`` and
``charge.succeeded`` (and on failure ``invoice.payment_failed`` and ``charge.failed``).
The invoice event is the one recorded; a charge that carries an ``invoice`` id is skipped.
Stand-alone charges (one-off payments, no invoice) are recorded from the charge events.
Stripe API versions from 2025-03-31 no longer put ``invoice`` on charges: on those, send
the endpoint either the ``invoice.*`` or the ``charge.*`` events, not both.

Idempotency beyond the event id: every payment carries a unique ``external_id``
(``stripe:<charge id>``, ``stripe:<invoice id>`` for the paid invoice and
``stripe:<invoice id>:attempt-<n>`` for each failed collection attempt), inserted with
``ON CONFLICT DO NOTHING``, so even a re-sent copy under a new event id is not counted
twice; ``churned_at`` is only set when still empty.

Subscriptions (``customer.subscription.created/updated/deleted``) become the account's
MRR history, one stream per subscription (``stripe_subscriptions``, ``ingest.mrr``); a
deleted subscription churns the account unless another of its subscriptions still pays.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from healthscore.accounts.repository import customer_with_stripe_id, get_customer
from healthscore.ingest.records import claim_messages, release_message
from healthscore.ingest.stripe_amounts import to_major_units
from healthscore.ingest.stripe_subscriptions import apply_subscription, other_paying_subscriptions
from healthscore.storage import models as m
from healthscore.storage.dialect import insert_new_keys
from healthscore.storage.pending_rescores import mark_for_rescore

SOURCE = "stripe"
"""``processed_messages.source`` for Stripe event ids."""

METADATA_KEY = "healthscore_customer_id"
"""Metadata key on a Stripe object naming the healthscore account it belongs to."""


@dataclass(frozen=True)
class Outcome:
    """What an event did: ``applied`` is False when it was acknowledged but changed nothing."""

    applied: bool
    detail: str
    customer_id: str | None = None


Event = Mapping[str, Any]
Handler = Callable[[Session, m.Customer, Event, Mapping[str, Any]], Outcome]


def receive(session: Session, event: Event) -> Outcome:
    """Apply a verified event once (its ``id`` is claimed) and mark its account for
    rescoring; the caller commits. An event that changed nothing keeps no trace, so
    re-sending it from Stripe's dashboard after fixing the cause (say, mapping the
    customer) applies it."""
    event_id = str(event["id"])
    if not claim_messages(session, SOURCE, [event_id]):
        return Outcome(False, f"{event_id} was already processed")
    outcome = apply_event(session, event)
    if outcome.applied and outcome.customer_id:
        mark_for_rescore(session, {outcome.customer_id})
    if not outcome.applied:
        release_message(session, SOURCE, event_id)
    return outcome


def apply_event(session: Session, event: Event) -> Outcome:
    """Apply one verified Stripe event to the database (the caller commits)."""
    event_type = str(event.get("type", ""))
    handler = HANDLERS.get(event_type)
    if handler is None:
        return Outcome(False, f"event type {event_type!r} is not used; ignored")
    obj = _mapping(_mapping(event.get("data")).get("object"))
    if event_type.startswith("charge.") and _stripe_id(obj.get("invoice")):
        return Outcome(
            False,
            f"charge for invoice {_stripe_id(obj.get('invoice'))}; the invoice event counts it",
        )
    customer, reason = resolve_customer(session, obj)
    if customer is None:
        return Outcome(False, reason)
    return handler(session, customer, event, obj)


def resolve_customer(session: Session, obj: Mapping[str, Any]) -> tuple[m.Customer | None, str]:
    """The account an object belongs to, or ``None`` and why not.

    A metadata match records the Stripe customer id on the account, unless the account is
    already mapped to another Stripe customer (the mapping is then left alone: the
    metadata names the account explicitly, so the event still applies to it).
    """
    stripe_id = _stripe_id(obj.get("customer"))
    if stripe_id:
        customer = customer_with_stripe_id(session, stripe_id)
        if customer is not None:
            return customer, ""
    account_id = _mapping(obj.get("metadata")).get(METADATA_KEY)
    if isinstance(account_id, str) and account_id:
        customer = get_customer(session, account_id)
        if customer is None:
            return None, f"metadata.{METADATA_KEY} names unknown account {account_id!r}; ignored"
        if stripe_id and customer.stripe_customer_id is None:
            customer.stripe_customer_id = stripe_id
            session.flush()
        return customer, ""
    if not stripe_id:
        return None, "the event's object names no Stripe customer; ignored"
    return None, f"no account is mapped to Stripe customer {stripe_id!r}; ignored"


def _invoice_paid(session: Session, customer: m.Customer, event: Event, obj: Event) -> Outcome:
    transitions = _mapping(obj.get("status_transitions"))
    return _record_payment(
        session,
        customer,
        obj,
        amount_field="amount_paid",
        status="succeeded",
        external_id=f"stripe:{obj.get('id')}",
        ts=_timestamp(transitions.get("paid_at"), event.get("created")),
    )


def _invoice_failed(session: Session, customer: m.Customer, event: Event, obj: Event) -> Outcome:
    # Every collection attempt on an invoice fails under the same invoice id; each one is a
    # failed payment attempt for scoring, told apart by Stripe's attempt counter.
    attempt = obj.get("attempt_count") or event.get("id")
    return _record_payment(
        session,
        customer,
        obj,
        amount_field="amount_due",
        status="failed",
        external_id=f"stripe:{obj.get('id')}:attempt-{attempt}",
        ts=_timestamp(event.get("created")),
    )


def _charge(status: str) -> Handler:
    def handle(session: Session, customer: m.Customer, event: Event, obj: Event) -> Outcome:
        return _record_payment(
            session,
            customer,
            obj,
            amount_field="amount",
            status=status,
            external_id=f"stripe:{obj.get('id')}",
            ts=_timestamp(obj.get("created"), event.get("created")),
        )

    return handle


def _subscription(*, deleted: bool) -> Handler:
    """``customer.subscription.created`` / ``updated`` / ``deleted``: the subscription's
    MRR from the event's time on (0 once deleted) and its renewal date
    (``stripe_subscriptions``); a deletion also churns the account, unless another of its
    subscriptions still brings in revenue (first churn date wins)."""

    def handle(session: Session, customer: m.Customer, event: Event, obj: Event) -> Outcome:
        stream = obj.get("id")
        if not isinstance(stream, str) or not stream:
            return Outcome(False, "the subscription has no id; ignored", customer.id)
        if deleted:
            at = _timestamp(obj.get("ended_at"), obj.get("canceled_at"), event.get("created"))
        else:
            at = _timestamp(event.get("created"))
        changes = apply_subscription(
            session, customer, obj, event_id=str(event["id"]), at=at, deleted=deleted
        )
        if deleted:
            changes += _churn(session, customer, stream, at, noted=bool(changes))
        if not changes:
            if deleted and customer.churned_at is not None:
                churned = customer.churned_at.isoformat()
                return Outcome(False, f"{customer.id} already churned at {churned}", customer.id)
            return Outcome(False, f"{stream}: nothing changed", customer.id)
        return Outcome(True, f"{customer.id}: {'; '.join(changes)}", customer.id)

    return handle


def _churn(
    session: Session, customer: m.Customer, stream: str, at: datetime, *, noted: bool
) -> list[str]:
    """The account churned when its (last paying) subscription ended; ``noted``: say why
    it did not when other changes are reported."""
    if customer.churned_at is not None:
        return []
    paying = other_paying_subscriptions(session, customer.id, stream)
    if paying:
        return [f"not churned: {', '.join(paying)} still paying"] if noted else []
    customer.churned_at = at
    session.flush()
    return [f"churned at {at.isoformat()}"]


def _record_payment(
    session: Session,
    customer: m.Customer,
    obj: Event,
    *,
    amount_field: str,
    status: str,
    external_id: str,
    ts: datetime,
) -> Outcome:
    currency = str(obj.get("currency") or "usd").lower()[:3]
    minor = Decimal(str(obj.get(amount_field) or 0))
    if minor <= 0:
        # $0 invoices (trials, 100% coupons) are not a charge attempt; counting them
        # would inflate the payment success rate.
        return Outcome(False, f"{external_id}: zero amount; nothing charged", customer.id)
    row = {
        "customer_id": customer.id,
        "ts": ts,
        "amount": to_major_units(minor, currency),
        "currency": currency,
        "status": status,
        "external_id": external_id,
    }
    inserted = insert_new_keys(
        session,
        m.Payment.__table__,  # type: ignore[arg-type]
        [row],
        key=["external_id"],
    )
    if not inserted:
        return Outcome(False, f"{external_id} was already recorded", customer.id)
    return Outcome(True, f"{status} payment {external_id} recorded for {customer.id}", customer.id)


def _timestamp(*candidates: object) -> datetime:
    """The first Unix timestamp present; now if none (Stripe always sends ``created``)."""
    for value in candidates:
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return datetime.fromtimestamp(value, UTC)
    return datetime.now(UTC)


def _stripe_id(value: object) -> str | None:
    """An id field that may be a plain id or an expanded object."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, Mapping):
        found = value.get("id")
        return found if isinstance(found, str) and found else None
    return None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


HANDLERS: dict[str, Handler] = {
    "invoice.paid": _invoice_paid,
    "invoice.payment_failed": _invoice_failed,
    "charge.succeeded": _charge("succeeded"),
    "charge.failed": _charge("failed"),
    "customer.subscription.created": _subscription(deleted=False),
    "customer.subscription.updated": _subscription(deleted=False),
    "customer.subscription.deleted": _subscription(deleted=True),
}
"""The event types this service uses; every other type is acknowledged and ignored."""
