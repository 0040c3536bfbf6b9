"""Recording single facts as they arrive (HTTP API, Segment, Stripe).

Each function validates what the database cannot (the account exists, an event carries
what its type needs) and writes inside the caller's transaction, so a request that fails
half-way writes nothing. Product events are routed to the typed tables that scoring reads
(``login`` → sessions, ``feature_used`` → feature usage, ``api_call`` → API usage); any
other event type is kept as an engagement event.

Accounts and seats are written by ``accounts``; ``known_customers``, ``upsert_customer``
and ``upsert_user`` are re-exported here only for ``ingest/segment.py``, which still
imports them from this module.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from healthscore.accounts.repository import get_customer
from healthscore.accounts.repository import known_customers as known_customers
from healthscore.accounts.repository import upsert_customer as upsert_customer
from healthscore.accounts.repository import upsert_user as upsert_user
from healthscore.errors import Invalid, Problem
from healthscore.jsontypes import NOT_BLANK
from healthscore.storage import job_models as jm
from healthscore.storage import models as m
from healthscore.storage.dialect import insert_many, insert_new_keys, upsert
from healthscore.storage.rollups import add_to_rollups
from healthscore.timeutc import utc

FUTURE_SKEW = timedelta(minutes=5)
"""How far ahead of the server's clock a client timestamp may be (clock drift)."""

TYPED_EVENTS = {"login", "feature_used", "api_call"}

PRODUCT_MAX = 64
"""The longest product name (``docs/products.md``)."""


class InvalidFact(Invalid, ValueError):
    """A fact that cannot be recorded (422); ``field`` names the input at fault. Also a
    ``ValueError``, so that in a pydantic validator (``api.schemas``) it is a field error."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", problems=[Problem(field=field, message=message)])
        self.field = field
        self.message = message


class UnknownAccount(InvalidFact):
    """A fact for an account that does not exist (``account_key``, as sent), or for none
    (``""``: no account named and the user belongs to none). Counted at ingest for the
    data-quality view (``ingest.anomalies``) before the request is refused."""

    def __init__(self, field: str, message: str, *, account_key: str) -> None:
        super().__init__(field, message)
        self.account_key = account_key


class FutureTimestamp(InvalidFact):
    """A timestamp further ahead of the server's clock than ``FUTURE_SKEW``; ``ahead`` is
    by how much (counted at ingest as a client clock gone wrong)."""

    def __init__(self, field: str, *, ahead: timedelta) -> None:
        super().__init__(field, "is in the future")
        self.ahead = ahead


EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
"""No SaaS fact predates this; earlier timestamps are typos or garbage."""


def check_not_future(field: str, ts: datetime, *, now: datetime | None = None) -> datetime:
    """A timestamp in UTC between 1970 and a few minutes from now, or ``InvalidFact``."""
    try:
        ts = utc(ts)
    except (OverflowError, ValueError):
        raise InvalidFact(field, "is out of range") from None
    if ts < EARLIEST:
        raise InvalidFact(field, "is before 1970")
    now = now or datetime.now(UTC)
    if ts > now + FUTURE_SKEW:
        raise FutureTimestamp(field, ahead=ts - now)
    return ts


def require_customer(session: Session, customer_id: str, field: str = "customerId") -> None:
    """A fact must name a known account: ``InvalidFact`` (422) naming ``field`` if not."""
    if get_customer(session, customer_id) is None:
        raise UnknownAccount(field, f"unknown customer {customer_id!r}", account_key=customer_id)


def product_name(value: Any, field: str) -> str | None:
    """The product an event names (text or a number, 1-64 characters once trimmed), or
    None when it names none; ``InvalidFact`` naming ``field`` otherwise."""
    if value is None or value == "":
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 12.0 is product "12", as in the OpenAPI document
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > PRODUCT_MAX:
        raise InvalidFact(field, f"must be a product name (text, 1-{PRODUCT_MAX} characters)")
    return value.strip()


@dataclass(slots=True)
class Event:
    """A product event about an account, whatever channel it came through. ``product``:
    which of the account's products it is about (logins, feature uses and API calls are
    stored with it; other events keep their properties as sent).

    Not frozen, though treated as a value (``dataclasses.replace`` makes a changed copy):
    a frozen dataclass sets each field through ``object.__setattr__``, 1.0 µs an event
    against 0.23 µs, paid twice per event on the ingest hot path (checked by the API,
    decoded from the journal by the worker)."""

    customer_id: str
    event_type: str
    ts: datetime
    user_id: str | None = None
    properties: dict[str, Any] | None = None
    product: str | None = None


def event_rows(event: Event) -> tuple[type[m.Base], dict[str, Any]]:
    """The table and row an event is stored as; raises ``InvalidFact`` if incomplete."""
    props = event.properties or {}
    base: dict[str, Any] = {"customer_id": event.customer_id, "ts": event.ts}
    if event.event_type in TYPED_EVENTS:
        base["product"] = event.product
    if event.event_type == "login":
        return m.Session, {**base, "user_id": event.user_id}
    if event.event_type == "feature_used":
        feature = props.get("feature")
        if not isinstance(feature, str) or not re.search(NOT_BLANK, feature) or len(feature) > 255:
            raise InvalidFact("metadata.feature", "feature_used needs the feature's name")
        return m.FeatureUsage, {**base, "user_id": event.user_id, "feature": feature.strip()}
    if event.event_type == "api_call":
        calls = props.get("calls", 1)
        if isinstance(calls, float) and calls.is_integer():
            calls = int(calls)  # JSON's 2.0 is the integer 2
        if isinstance(calls, bool) or not isinstance(calls, int) or not 0 <= calls <= 10**9:
            raise InvalidFact("metadata.calls", "must be a whole number of calls, 0 or more")
        return m.ApiUsage, {**base, "calls": calls}
    if event.product is not None and "product" not in props:
        props = {**props, "product": event.product}
    return m.EngagementEvent, {
        **base,
        "user_id": event.user_id,
        "event_type": event.event_type,
        "properties": props,
    }


def record_events(session: Session, events: list[Event]) -> int:
    """Insert events (customers must exist; the caller checks), grouped per table."""
    by_table: dict[type[m.Base], list[dict[str, Any]]] = {}
    for event in events:
        model, row = event_rows(event)
        by_table.setdefault(model, []).append(row)
    # Tables in one order whatever the events' order: concurrent appliers then lock
    # roll-up rows table by table in the same order and cannot deadlock each other.
    for model, rows in sorted(by_table.items(), key=lambda item: item[0].__tablename__):
        insert_many(session, model.__table__, rows)  # type: ignore[arg-type]
        add_to_rollups(session, model, rows)
    return len(events)


def claim_messages(session: Session, source: str, message_ids: list[str]) -> set[str]:
    """Record message ids; returns those seen for the first time (the rest are retries)."""
    now = datetime.now(UTC)
    table = jm.ProcessedMessage.__table__
    inserted = insert_new_keys(
        session,
        table,  # type: ignore[arg-type]
        [
            {"source": source, "message_id": mid, "received_at": now}
            for mid in dict.fromkeys(message_ids)
        ],
        key=["source", "message_id"],
    )
    return {message_id for _, message_id in inserted}


def first_copies(session: Session, source: str, message_ids: Sequence[str | None]) -> list[bool]:
    """For each message in order, whether to apply it: True without a message id or for
    the first copy of an id never seen before (claimed now); False for a retry, whether
    the id was claimed earlier or appears earlier in ``message_ids``."""
    ids = [mid for mid in message_ids if mid is not None]
    fresh = claim_messages(session, source, ids) if ids else set()
    firsts = []
    for mid in message_ids:
        first = mid is None or mid in fresh
        if mid is not None:
            fresh.discard(mid)  # a later copy of the same message is a retry
        firsts.append(first)
    return firsts


def release_message(session: Session, source: str, message_id: str) -> None:
    """Forget a claimed message id, so that a copy sent again is applied."""
    session.execute(
        delete(jm.ProcessedMessage).where(
            jm.ProcessedMessage.source == source, jm.ProcessedMessage.message_id == message_id
        )
    )


def payment_with_external_id(session: Session, external_id: str) -> int | None:
    """The id of the payment recorded under the sender's ``external_id``, if any."""
    return session.scalar(select(m.Payment.id).where(m.Payment.external_id == external_id))


def add_payment(session: Session, row: dict[str, Any]) -> int:
    payment = m.Payment(**row)
    session.add(payment)
    session.flush()
    return payment.id


def add_nps_response(session: Session, row: dict[str, Any]) -> int:
    answer = m.NpsResponse(**row)
    session.add(answer)
    session.flush()
    return answer.id


def upsert_ticket(session: Session, row: dict[str, Any]) -> None:
    upsert(
        session,
        m.SupportTicket.__table__,  # type: ignore[arg-type]
        [row],
        key=["customer_id", "ticket_id"],
    )
