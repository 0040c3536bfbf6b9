"""Segment's HTTP Tracking API: its messages, and what each one means for health scoring.

Segment is user-centric; health scores are per account. The bridge is the ``group`` call
(user → account, plus account traits). A ``track``/``page``/``screen`` message belongs to
the account named in ``context.groupId`` (Segment's B2B convention), else
``properties.groupId`` or ``context.traits.groupId``, else the account the user was linked
to by an earlier ``group`` call. Track event names become scoring facts through the
scorecard's ``events`` mapping (``login``, ``feature_used``, ``api_call``); any other name is
kept as an engagement event named by its slug.

A request is all or nothing: every message is checked before anything is written, and one
bad message rejects the request (the caller's transaction rolls back). Messages are
deduplicated by ``messageId``, so a client's retry of an acknowledged batch is a no-op.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel
from sqlalchemy import select
from sqlalchemy.orm import Session

from healthscore.ingest.records import (
    TYPED_EVENTS,
    Event,
    InvalidFact,
    check_not_future,
    first_copies,
    known_customers,
    record_events,
    upsert_customer,
    upsert_user,
)
from healthscore.scoring.scorecard import EventMapping
from healthscore.storage import models as m

SOURCE = "segment"
"""``processed_messages.source`` for Segment message ids."""

ACCOUNT_ID = re.compile(r"^[^\s/?#]{1,64}$")
"""What a customer id may look like (the same rule as the REST API's ``customerId``)."""


def _blank_to_none(value: Any) -> Any:
    """SDKs send ``""`` for an absent id; treat it as absent, not as a user named ''."""
    return None if value == "" else value


Id = Annotated[Annotated[str, Field(max_length=255)] | None, BeforeValidator(_blank_to_none)]
AccountId = Annotated[str, Field(pattern=ACCOUNT_ID.pattern)]
Json = dict[str, Any]


class _Model(BaseModel):
    """camelCase like Segment; unknown fields allowed (SDKs send a lot of context)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="allow",
        coerce_numbers_to_str=True,
    )


class Context(_Model):
    group_id: Annotated[AccountId | None, BeforeValidator(_blank_to_none)] = None
    traits: Json = Field(default_factory=dict)
    page: Json = Field(default_factory=dict)


class SegmentMessage(_Model):
    message_id: Id = None
    user_id: Id = None
    anonymous_id: Id = None
    timestamp: datetime | None = None
    original_timestamp: datetime | None = None
    sent_at: datetime | None = None
    context: Context = Field(default_factory=Context)
    integrations: Json = Field(default_factory=dict)


class TrackMessage(SegmentMessage):
    type: Literal["track"] = "track"
    event: Annotated[str, Field(min_length=1, max_length=255)]
    properties: Json = Field(default_factory=dict)


class IdentifyMessage(SegmentMessage):
    type: Literal["identify"] = "identify"
    traits: Json = Field(default_factory=dict)


class GroupMessage(SegmentMessage):
    type: Literal["group"] = "group"
    group_id: AccountId
    traits: Json = Field(default_factory=dict)


class PageMessage(SegmentMessage):
    type: Literal["page"] = "page"
    name: Annotated[str, Field(max_length=255)] | None = None
    category: Annotated[str, Field(max_length=255)] | None = None
    properties: Json = Field(default_factory=dict)


class ScreenMessage(SegmentMessage):
    type: Literal["screen"] = "screen"
    name: Annotated[str, Field(max_length=255)] | None = None
    category: Annotated[str, Field(max_length=255)] | None = None
    properties: Json = Field(default_factory=dict)


class AliasMessage(SegmentMessage):
    """Accepted for compatibility and acknowledged; identity merges are not modelled."""

    type: Literal["alias"] = "alias"
    previous_id: Id = None


Message = Annotated[
    TrackMessage | IdentifyMessage | GroupMessage | PageMessage | ScreenMessage | AliasMessage,
    Field(discriminator="type"),
]


class Batch(_Model):
    """``POST /v1/batch``: ``{"batch": [...], "sentAt": ..., "context": ...}``."""

    batch: list[Message]
    sent_at: datetime | None = None


# --- checking ------------------------------------------------------------------------


class Rejected(Exception):
    """One or more messages cannot be accepted; nothing of the request may be written."""

    def __init__(self, problems: list[InvalidFact]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def event_time(
    message: SegmentMessage, *, received_at: datetime, batch_sent_at: datetime | None, where: str
) -> datetime:
    """When it happened, corrected for the client's clock as Segment does.

    ``timestamp = receivedAt - (sentAt - timestamp)``: a device whose clock is an hour
    ahead also stamps ``sentAt`` an hour ahead, and the difference cancels out. Without
    ``sentAt`` the timestamp is taken as is; without a timestamp, it is the receive time.
    A result beyond the allowed clock skew in the future is rejected.
    """
    original = message.timestamp or message.original_timestamp
    if original is None:
        return received_at
    try:
        ts = _utc(original)
        sent = message.sent_at or batch_sent_at
        if sent is not None:
            ts = received_at - (_utc(sent) - ts)
    except (OverflowError, ValueError):  # e.g. year 1 with a negative offset
        raise InvalidFact(f"{where}timestamp", "is out of range") from None
    return check_not_future(f"{where}timestamp", ts, now=received_at)


def account_ref(value: Any, field_name: str) -> str | None:
    """A customer id taken from free-form traits/properties, checked like ``groupId``."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidFact(field_name, "must be a customer id (text or a number)")
    text = str(value)
    if not ACCOUNT_ID.fullmatch(text):
        raise InvalidFact(field_name, "must be 1-64 characters without spaces, '/', '?' or '#'")
    return text


def named_account(message: SegmentMessage, extra: Json, where: str) -> tuple[str | None, str]:
    """``(account, field it came from)`` a message names itself, in order of precedence.

    ``context.groupId`` first (Segment's B2B convention), then ``groupId`` in the message's
    own properties/traits (``extra``), then in ``context.traits``.
    """
    own = "traits" if isinstance(message, IdentifyMessage) else "properties"
    candidates = (
        (message.context.group_id, f"{where}context.groupId"),
        (extra.get("groupId"), f"{where}{own}.groupId"),
        (message.context.traits.get("groupId"), f"{where}context.traits.groupId"),
    )
    for value, field_name in candidates:
        account = account_ref(value, field_name)
        if account:
            return account, field_name
    return None, f"{where}context.groupId"


def track_fact(
    message: TrackMessage, mapping: EventMapping, where: str = ""
) -> tuple[str, Json | None]:
    """``(event_type, properties)`` of a track event, per the scorecard's mapping."""
    props = message.properties
    kind = mapping.event_type(message.event)
    if kind == "login":
        return "login", None
    if kind == "feature_used":
        feature = props.get(mapping.feature_property)
        if isinstance(feature, int | float) and not isinstance(feature, bool):
            feature = str(feature)
        if not isinstance(feature, str) or not feature.strip() or len(feature.strip()) > 255:
            raise InvalidFact(
                f"{where}properties.{mapping.feature_property}",
                f"{message.event!r} needs the feature's name (text, up to 255 characters)",
            )
        return "feature_used", {"feature": feature.strip()}
    if kind == "api_call":
        calls = props.get(mapping.calls_property, 1)
        if isinstance(calls, float) and calls.is_integer():
            calls = int(calls)
        if isinstance(calls, bool) or not isinstance(calls, int) or not 0 <= calls <= 10**9:
            raise InvalidFact(
                f"{where}properties.{mapping.calls_property}",
                "must be a whole number of calls, 0 or more",
            )
        return "api_call", {"calls": calls}
    slug = mapping.slug(message.event) or "unnamed_event"
    if slug in TYPED_EVENTS:
        # Not in the mapping, so it must not feed a signal through the back door.
        slug = f"{slug}_event"
    return slug, props


def view_properties(message: PageMessage | ScreenMessage) -> Json:
    """A page/screen view's properties, with its name and the URL (from context if need be)."""
    props: Json = dict(message.properties)
    if message.name is not None:
        props["name"] = message.name
    if message.category is not None:
        props["category"] = message.category
    url = message.context.page.get("url")
    if "url" not in props and isinstance(url, str):
        props["url"] = url
    return props


def account_fields(traits: Json, where: str) -> Json:
    """Customer columns set by group traits: ``name``, ``plan``, ``segment``, ``mrr``."""
    values: Json = {}
    for name, limit in (("name", 255), ("plan", 64), ("segment", 64)):
        value = traits.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise InvalidFact(f"{where}traits.{name}", "must be text")
        text = str(value).strip()
        if len(text) > limit or (name == "name" and not text):
            raise InvalidFact(f"{where}traits.{name}", f"must be 1-{limit} characters")
        values[name] = text
    if traits.get("mrr") is not None:
        mrr = traits["mrr"]
        try:
            if isinstance(mrr, bool) or not isinstance(mrr, str | int | float):
                raise InvalidOperation
            amount = Decimal(str(mrr))
            if not amount.is_finite() or amount < 0 or amount >= Decimal(10) ** 12:
                raise InvalidOperation
        except InvalidOperation:
            raise InvalidFact(f"{where}traits.mrr", "must be an amount, 0 or more") from None
        values["mrr"] = amount.quantize(Decimal("0.01"))
    return values


# --- planning and applying -------------------------------------------------------------


@dataclass
class _Link:
    """A user joins an account (``group``, or ``identify`` naming a ``groupId``)."""

    customer_id: str
    user_id: str | None
    ts: datetime
    field_name: str
    account: Json | None = None  # group: column values and traits to merge; None: identify
    traits: Json = field(default_factory=dict)


@dataclass
class _Fact:
    """A product event waiting for its account."""

    named_account: str | None
    user_id: str | None
    event_type: str
    ts: datetime
    properties: Json | None
    field_name: str


@dataclass
class _Traits:
    """``identify``: user traits to merge into every seat of that user."""

    user_id: str
    traits: Json


@dataclass
class Outcome:
    """What a request did: messages applied, retries skipped, facts recorded."""

    applied: int = 0
    duplicates: int = 0
    events: int = 0
    customers: set[str] = field(default_factory=set)
    """Accounts whose data changed: rescored soon after the commit."""


Step = _Link | _Fact | _Traits | None


def plan_message(
    message: SegmentMessage,
    mapping: EventMapping,
    *,
    received_at: datetime,
    batch_sent_at: datetime | None = None,
    where: str = "",
) -> list[Step]:
    """What one message will do, checked without touching the database."""
    if not (message.user_id or message.anonymous_id):
        raise InvalidFact(f"{where}userId", "userId or anonymousId is required")
    ts = event_time(message, received_at=received_at, batch_sent_at=batch_sent_at, where=where)
    user = message.user_id
    if isinstance(message, TrackMessage):
        event_type, props = track_fact(message, mapping, where)
        named, source = named_account(message, message.properties, where)
        return [_Fact(named, user, event_type, ts, props, source)]
    if isinstance(message, PageMessage | ScreenMessage):
        kind = "page_viewed" if isinstance(message, PageMessage) else "screen_viewed"
        named, source = named_account(message, message.properties, where)
        return [_Fact(named, user, kind, ts, view_properties(message), source)]
    if isinstance(message, GroupMessage):
        account = account_fields(message.traits, where)
        source = f"{where}groupId"
        return [_Link(message.group_id, user, ts, source, account, message.traits)]
    if isinstance(message, IdentifyMessage):
        steps: list[Step] = []
        named, source = named_account(message, message.traits, where)
        if named and user:
            steps.append(_Link(named, user, ts, source))
        if user and message.traits:
            steps.append(_Traits(user, message.traits))
        return steps
    return []  # alias: acknowledged, nothing to record


def _current_accounts(session: Session, user_ids: set[str]) -> dict[str, str]:
    """user → the account they joined most recently (seats not removed)."""
    if not user_ids:
        return {}
    rows = session.execute(
        select(m.User.user_id, m.User.customer_id)
        .where(m.User.user_id.in_(user_ids), m.User.removed_at.is_(None))
        .order_by(m.User.created_at, m.User.id)
    )
    return {user_id: customer_id for user_id, customer_id in rows}


def _link_user(session: Session, link: _Link) -> None:
    """Seat the user on the account; a ``group`` newer than a removal re-activates it."""
    if link.user_id is None:
        return
    seat = session.scalars(
        select(m.User).where(m.User.customer_id == link.customer_id, m.User.user_id == link.user_id)
    ).first()
    if seat is None:
        upsert_user(session, customer_id=link.customer_id, user_id=link.user_id, created_at=link.ts)
    elif seat.removed_at is not None and seat.removed_at <= link.ts:
        seat.removed_at = None


def _apply_group(session: Session, link: _Link) -> None:
    existing = session.get(m.Customer, link.customer_id)
    merged = {**((existing.traits or {}) if existing else {}), **link.traits}
    upsert_customer(session, {"id": link.customer_id, **(link.account or {}), "traits": merged})


def _merge_user_traits(session: Session, step: _Traits) -> None:
    for seat in session.scalars(select(m.User).where(m.User.user_id == step.user_id)):
        seat.traits = {**(seat.traits or {}), **step.traits}
    session.flush()


def _plan_all(
    messages: Sequence[SegmentMessage],
    mapping: EventMapping,
    *,
    received_at: datetime,
    batch_sent_at: datetime | None,
    prefix: str | None,
) -> list[list[Step]]:
    """Every message's plan, or ``Rejected`` naming every message at fault."""
    problems: list[InvalidFact] = []
    plans: list[list[Step]] = []
    for i, message in enumerate(messages):
        where = f"{prefix}.{i}." if prefix else ""
        try:
            plans.append(
                plan_message(
                    message,
                    mapping,
                    received_at=received_at,
                    batch_sent_at=batch_sent_at,
                    where=where,
                )
            )
        except InvalidFact as problem:
            problems.append(problem)
            plans.append([])
    if problems:
        raise Rejected(problems)
    return plans


def _fact_event(
    step: _Fact, accounts: set[str], users: dict[str, str], problems: list[InvalidFact]
) -> Event | None:
    """The event a fact becomes once its account is known; else a problem is noted."""
    if step.named_account:
        customer_id: str | None = step.named_account
        if customer_id not in accounts:
            problems.append(
                InvalidFact(
                    step.field_name,
                    f"unknown account {customer_id!r} (send a group call first)",
                )
            )
            return None
    else:
        customer_id = users.get(step.user_id) if step.user_id else None
        if customer_id is None:
            who = f"user {step.user_id!r}" if step.user_id else "an anonymous user"
            problems.append(
                InvalidFact(
                    step.field_name,
                    f"no account: none given and {who} belongs to no account "
                    "(send a group call first, or set context.groupId)",
                )
            )
            return None
    return Event(customer_id, step.event_type, step.ts, step.user_id, step.properties)


class KnownAccounts:
    """Accounts seen to exist within the last ``ttl`` seconds, so that journaled ingest
    does not look every account up on every request.

    Only existence is remembered, never absence: an account created a moment ago is looked
    up at once. An account erased less than ``ttl`` ago may still be taken for existing;
    its events are then acknowledged and dropped when the journal is applied (erasure
    wins). Applied-mode ingest does not use it.
    """

    def __init__(self, ttl: float = 30.0) -> None:
        self.ttl = ttl
        self._until: dict[str, float] = {}

    def existing(self, session: Session, ids: set[str]) -> set[str]:
        now = time.monotonic()
        seen = {i for i in ids if self._until.get(i, 0.0) > now}
        found = known_customers(session, ids - seen)
        until = now + self.ttl
        for customer_id in found:
            self._until[customer_id] = until
        return seen | found


def _lookups(
    session: Session, steps: Sequence[Step], known: KnownAccounts | None = None
) -> tuple[set[str], dict[str, str]]:
    """Accounts the steps name that exist, and the account of each user they rely on."""
    named = {s.customer_id for s in steps if isinstance(s, _Link) and s.account is None}
    named |= {s.named_account for s in steps if isinstance(s, _Fact) and s.named_account}
    users = {s.user_id for s in steps if isinstance(s, _Fact) and not s.named_account and s.user_id}
    accounts = known.existing(session, named) if known else known_customers(session, named)
    return accounts, _current_accounts(session, users)


EVENT_MESSAGES = (TrackMessage, PageMessage, ScreenMessage, AliasMessage)


def events_only(messages: Sequence[SegmentMessage]) -> bool:
    """True when no message changes accounts or users (no ``group``/``identify``), so the
    request can be checked against the database as it is and journaled."""
    return all(isinstance(message, EVENT_MESSAGES) for message in messages)


def resolve_events(
    session: Session,
    messages: Sequence[SegmentMessage],
    mapping: EventMapping,
    *,
    received_at: datetime | None = None,
    batch_sent_at: datetime | None = None,
    prefix: str | None = "batch",
    known: KnownAccounts | None = None,
) -> list[tuple[str | None, Event]]:
    """An events-only request checked in full without writing anything: each event with
    its ``messageId``, in message order, or ``Rejected`` for exactly what ``ingest`` would
    reject. Retries are not recognised here; the journal's applier skips them."""
    now = received_at or datetime.now(UTC)
    plans = _plan_all(
        messages, mapping, received_at=now, batch_sent_at=batch_sent_at, prefix=prefix
    )
    steps = [step for plan in plans for step in plan]
    accounts, users = _lookups(session, steps, known)
    problems: list[InvalidFact] = []
    resolved: list[tuple[str | None, Event]] = []
    for message, plan in zip(messages, plans, strict=True):
        for step in plan:
            if not isinstance(step, _Fact):
                raise TypeError(f"{type(message).__name__} is not an event message")
            event = _fact_event(step, accounts, users, problems)
            if event is not None:
                resolved.append((message.message_id, event))
    if problems:
        raise Rejected(problems)
    return resolved


def ingest(
    session: Session,
    messages: Sequence[SegmentMessage],
    mapping: EventMapping,
    *,
    received_at: datetime | None = None,
    batch_sent_at: datetime | None = None,
    prefix: str | None = "batch",
) -> Outcome:
    """Check and apply messages inside the caller's transaction; raises ``Rejected``.

    ``prefix`` names the list in error fields (``batch.3.context.groupId``); ``None`` is
    for a single call, whose fields are named from its top level.
    """
    now = received_at or datetime.now(UTC)
    plans = _plan_all(
        messages, mapping, received_at=now, batch_sent_at=batch_sent_at, prefix=prefix
    )

    outcome = Outcome()
    firsts = first_copies(session, SOURCE, [message.message_id for message in messages])
    steps: list[Step] = []
    for plan, first in zip(plans, firsts, strict=True):
        if not first:
            outcome.duplicates += 1
            continue
        outcome.applied += 1
        steps.extend(plan)

    accounts, users = _lookups(session, steps)
    problems: list[InvalidFact] = []
    events: list[Event] = []
    for step in steps:  # in message order: a group call counts for what follows it
        if isinstance(step, _Link):
            if step.account is not None:
                accounts.add(step.customer_id)
            elif step.customer_id not in accounts:
                problems.append(
                    InvalidFact(step.field_name, f"unknown account {step.customer_id!r}")
                )
                continue
            if step.user_id:
                users[step.user_id] = step.customer_id
        elif isinstance(step, _Fact):
            event = _fact_event(step, accounts, users, problems)
            if event is not None:
                events.append(event)
    if problems:
        raise Rejected(problems)

    for step in steps:
        if isinstance(step, _Link):
            if step.account is not None:
                _apply_group(session, step)
            _link_user(session, step)
        elif isinstance(step, _Traits):
            _merge_user_traits(session, step)
    outcome.events = record_events(session, events)
    outcome.customers = {e.customer_id for e in events} | {
        s.customer_id for s in steps if isinstance(s, _Link)
    }
    return outcome
