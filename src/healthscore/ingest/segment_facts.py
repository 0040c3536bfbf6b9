"""What each Segment message means for health scoring, checked without the database.

A ``track``/``page``/``screen`` message becomes a ``Fact`` (a product event waiting for
its account), a ``group`` or an ``identify`` naming a ``groupId`` a ``Link`` (a user joins
an account), an ``identify`` with traits a ``Traits`` step, an ``alias`` an ``Alias`` (one
user id merged into another). Track event names become
scoring facts through the scorecard's ``events`` mapping; ``plan_all`` checks every
message of a request and rejects it naming every message at fault.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from healthscore.ingest.records import (
    TYPED_EVENTS,
    Event,
    InvalidFact,
    UnknownAccount,
    check_not_future,
    product_name,
)
from healthscore.ingest.segment_fields import Json, account_fields, account_ref
from healthscore.ingest.segment_messages import (
    AliasMessage,
    GroupMessage,
    IdentifyMessage,
    PageMessage,
    Rejected,
    ScreenMessage,
    SegmentMessage,
    TrackMessage,
)
from healthscore.scoring.event_mapping import EventMapping
from healthscore.timeutc import utc


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
        ts = utc(original)
        sent = message.sent_at or batch_sent_at
        if sent is not None:
            ts = received_at - (utc(sent) - ts)
    except (OverflowError, ValueError):  # e.g. year 1 with a negative offset
        raise InvalidFact(f"{where}timestamp", "is out of range") from None
    return check_not_future(f"{where}timestamp", ts, now=received_at)


def named_account(message: SegmentMessage, extra: Json, where: str) -> tuple[str | None, str]:
    """``(account, field it came from)`` a message names itself, in order of precedence.

    ``context.groupId`` first (Segment's B2B convention), then ``groupId`` in the message's
    own properties/traits (``extra``), then in ``context.traits``.
    """
    own = "traits.groupId" if isinstance(message, IdentifyMessage) else "properties.groupId"
    candidates = (
        (message.context.group_id, "context.groupId"),
        (extra.get("groupId"), own),
        (message.context.traits.get("groupId"), "context.traits.groupId"),
    )
    for value, key in candidates:
        if value is None or value == "":  # none here (what account_ref would say)
            continue
        account = account_ref(value, where + key)
        if account:
            return account, where + key
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


PARENT_TRAITS = ("parent_id", "parentId")
"""Group traits naming the account's parent (``docs/hierarchy.md``); the first present wins."""


def parent_trait(traits: Json, where: str) -> tuple[str, str | None] | None:
    """``(field, parent id)`` a group call's traits set (None: clear the parent), or None
    when they say nothing about the parent."""
    for name in PARENT_TRAITS:
        if name in traits:
            field_name = f"{where}traits.{name}"
            return field_name, account_ref(traits[name], field_name)
    return None


@dataclass
class Link:
    """A user joins an account (``group``, or ``identify`` naming a ``groupId``)."""

    customer_id: str
    user_id: str | None
    ts: datetime
    field_name: str
    account: Json | None = None  # group: column values and traits to merge; None: identify
    traits: Json = field(default_factory=dict)
    parent: tuple[str, str | None] | None = None
    """group: ``(field, parent id or None)`` when its traits set the parent."""


@dataclass
class Fact:
    """A product event waiting for its account."""

    named_account: str | None
    user_id: str | None
    event_type: str
    ts: datetime
    properties: Json | None
    field_name: str
    product: str | None = None


@dataclass
class Traits:
    """``identify``: user traits to merge into every seat of that user."""

    user_id: str
    traits: Json


@dataclass
class Alias:
    """``alias``: ``previous_id``'s events and seats become ``user_id``'s."""

    previous_id: str
    user_id: str


Step = Link | Fact | Traits | Alias | None


def plan_message(
    message: SegmentMessage,
    mapping: EventMapping,
    *,
    received_at: datetime,
    batch_sent_at: datetime | None = None,
    where: str = "",
) -> list[Step]:
    """What one message will do, checked without touching the database."""
    if isinstance(message, AliasMessage):
        return [alias_step(message, received_at, batch_sent_at, where)]
    if not (message.user_id or message.anonymous_id):
        raise InvalidFact(f"{where}userId", "userId or anonymousId is required")
    ts = event_time(message, received_at=received_at, batch_sent_at=batch_sent_at, where=where)
    user = message.user_id
    if isinstance(message, TrackMessage):
        event_type, props = track_fact(message, mapping, where)
        named, source = named_account(message, message.properties, where)
        product = (
            product_name(
                message.properties.get(mapping.product_property),
                f"{where}properties.{mapping.product_property}",
            )
            if event_type in TYPED_EVENTS
            else None
        )
        return [Fact(named, user, event_type, ts, props, source, product)]
    if isinstance(message, PageMessage | ScreenMessage):
        kind = "page_viewed" if isinstance(message, PageMessage) else "screen_viewed"
        named, source = named_account(message, message.properties, where)
        return [Fact(named, user, kind, ts, view_properties(message), source)]
    if isinstance(message, GroupMessage):
        account = account_fields(message.traits, where)
        parent = parent_trait(message.traits, where)
        source = f"{where}groupId"
        return [Link(message.group_id, user, ts, source, account, message.traits, parent)]
    if isinstance(message, IdentifyMessage):
        steps: list[Step] = []
        named, source = named_account(message, message.traits, where)
        if named and user:
            steps.append(Link(named, user, ts, source))
        if user and message.traits:
            steps.append(Traits(user, message.traits))
        return steps
    return []


def alias_step(
    message: AliasMessage, received_at: datetime, batch_sent_at: datetime | None, where: str
) -> Alias:
    """An ``alias`` needs both ids (Segment's spec); its timestamp is checked like any."""
    if not message.user_id:
        raise InvalidFact(f"{where}userId", "userId is required: the id previousId becomes")
    if not message.previous_id:
        raise InvalidFact(f"{where}previousId", "previousId is required: the id to merge")
    event_time(message, received_at=received_at, batch_sent_at=batch_sent_at, where=where)
    return Alias(message.previous_id, message.user_id)


def plan_all(
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


def fact_event(
    step: Fact, accounts: set[str], users: dict[str, str], problems: list[InvalidFact]
) -> Event | None:
    """The event a fact becomes once its account is known; else a problem is noted
    (an ``UnknownAccount``: the key it named, or ``""`` when it named none)."""
    if step.named_account:
        customer_id: str | None = step.named_account
        if customer_id not in accounts:
            problems.append(
                UnknownAccount(
                    step.field_name,
                    f"unknown account {customer_id!r} (send a group call first)",
                    account_key=step.named_account,
                )
            )
            return None
    else:
        customer_id = users.get(step.user_id) if step.user_id else None
        if customer_id is None:
            who = f"user {step.user_id!r}" if step.user_id else "an anonymous user"
            problems.append(
                UnknownAccount(
                    step.field_name,
                    f"no account: none given and {who} belongs to no account "
                    "(send a group call first, or set context.groupId)",
                    account_key="",
                )
            )
            return None
    return Event(customer_id, step.event_type, step.ts, step.user_id, step.properties, step.product)


def sent_at_skews(
    messages: Sequence[SegmentMessage], *, received_at: datetime, batch_sent_at: datetime | None
) -> list[timedelta]:
    """How far each message's ``sentAt`` (its own, else the batch's) is from the time it
    was received: the client's clock error plus the time in flight. Messages without
    ``sentAt``, or with one out of range, have none."""
    skews: list[timedelta] = []
    for message in messages:
        sent = message.sent_at or batch_sent_at
        if sent is None:
            continue
        try:
            skews.append(utc(sent) - received_at)
        except (OverflowError, ValueError):
            continue
    return skews
