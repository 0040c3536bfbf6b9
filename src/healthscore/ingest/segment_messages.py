"""Segment's HTTP Tracking API messages as they arrive, checked for shape only.

camelCase like Segment. Lenient where Segment is, and the OpenAPI document says so:
unknown fields are allowed anywhere (SDKs send a lot of context), ids and names may be
whole numbers (read as their digits), an empty id is no id (the values' rules are
``segment_fields``). Timestamps are RFC 3339 strings, as every SDK sends them. What each
message means for health scoring is ``segment_facts``, applying it is ``segment``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    WithJsonSchema,
)
from pydantic.alias_generators import to_camel

from healthscore.ingest.records import PRODUCT_MAX, InvalidFact
from healthscore.ingest.segment_fields import (
    ACCOUNT_REF,
    ACCOUNT_REFS,
    ID,
    WHOLE,
    AccountId,
    Id,
    Json,
    Name,
    account_ref,
    account_trait,
    blank_to_none,
    known_keys,
    lenient,
    product_text,
    text_schema,
)
from healthscore.jsontypes import NOT_BLANK, Instant

WRITE_KEY = (
    "An ingest key, as Segment's writeKey: instead of the Authorization header (it wins "
    "over the header when both are sent)."
)


class _Model(BaseModel):
    """camelCase like Segment; unknown fields allowed (SDKs send a lot of context)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="allow",
    )


class Context(_Model):
    """Segment's context; ``groupId`` names the account of a track, page or screen (B2B
    sources), ``traits.groupId`` too. Any other context is welcome and kept aside."""

    group_id: Annotated[
        AccountId | None, BeforeValidator(blank_to_none), WithJsonSchema(ACCOUNT_REF)
    ] = None
    traits: Annotated[
        Json, ACCOUNT_REFS, lenient({"groupId": ACCOUNT_REF}, "the user's traits")
    ] = Field(default_factory=dict)
    page: Json = Field(default_factory=dict)


class SegmentMessage(_Model):
    message_id: Annotated[
        Id,
        Field(
            description="de-duplicates: a message id seen before is acknowledged again, "
            "not applied again"
        ),
    ] = None
    user_id: Id = None
    anonymous_id: Id = None
    timestamp: Annotated[
        Instant | None,
        Field(
            description="when it happened (default: when received), corrected for the "
            "client's clock by sentAt as Segment does; the result may not be in the future "
            "(5 minutes of skew allowed) nor before 1970 (400)"
        ),
    ] = None
    original_timestamp: Annotated[
        Instant | None, Field(description="read when timestamp is absent")
    ] = None
    sent_at: Annotated[
        Instant | None, Field(description="when the client sent it, by its own clock")
    ] = None
    context: Context = Field(default_factory=Context)
    integrations: Json = Field(default_factory=dict)
    write_key: Annotated[str | None, Strict(), Field(description=WRITE_KEY)] = None


def _user_or_anonymous(schema: dict[str, Any]) -> None:
    """userId or anonymousId, not empty: "not both missing, null or empty"."""
    blank = {"enum": [None, ""]}
    schema["not"] = {"properties": {"userId": blank, "anonymousId": blank}}
    schema.setdefault("description", "")
    schema["description"] += (
        " Needs userId or anonymousId (not empty). Unknown fields are welcome, as Segment "
        "SDKs send them."
    )


PRODUCT = {
    "anyOf": [
        *text_schema(PRODUCT_MAX, pattern=f"^$|{NOT_BLANK}")["anyOf"],
        {"type": "null"},
    ],
    "description": "the product a login, feature use or API call is about (docs/products.md)",
}


class TrackMessage(SegmentMessage):
    """A product event; its name maps to a scoring signal through the scorecard's
    ``events``; its account is ``context.groupId`` (or ``properties.groupId``), else the
    user's account (400 if none)."""

    model_config = ConfigDict(json_schema_extra=_user_or_anonymous)

    type: Literal["track"] = "track"
    event: Annotated[
        str,
        Field(min_length=1, max_length=255),
        WHOLE,
        WithJsonSchema(text_schema(255, min_length=1)),
    ]
    properties: Annotated[
        Json,
        known_keys(groupId=account_ref, product=product_text),
        lenient(
            {"groupId": ACCOUNT_REF, "product": PRODUCT},
            "the event's properties; a feature use names its feature, an API call its "
            "number of calls, as the scorecard's events section says",
        ),
    ] = Field(default_factory=dict)


class IdentifyMessage(SegmentMessage):
    """User traits, merged into the user's seats; ``traits.groupId`` (or
    ``context.groupId``) naming an existing account also makes the user a seat of it."""

    model_config = ConfigDict(json_schema_extra=_user_or_anonymous)

    type: Literal["identify"] = "identify"
    traits: Annotated[
        Json, ACCOUNT_REFS, lenient({"groupId": ACCOUNT_REF}, "the user's traits")
    ] = Field(default_factory=dict)


ACCOUNT_TRAITS = {
    "name": text_schema(255, pattern=NOT_BLANK, nullable=True),
    "plan": text_schema(64, nullable=True),
    "segment": text_schema(64, nullable=True),
    "mrr": {
        "anyOf": [
            {"type": "number", "minimum": 0, "exclusiveMaximum": 1e12},
            {"type": "string", "pattern": "^[0-9]{1,12}(\\.[0-9]+)?$"},
            {"type": "null"},
        ],
        "description": "monthly recurring revenue (rounded to cents)",
    },
    "parent_id": ACCOUNT_REF,
    "parentId": ACCOUNT_REF,
}


class GroupMessage(SegmentMessage):
    """Links the user to the account (created if new) and sets the account's ``name``,
    ``plan``, ``segment``, ``mrr`` and parent (``parentId``: an existing account, no
    cycle) from its traits; other traits are merged into the account's."""

    model_config = ConfigDict(json_schema_extra=_user_or_anonymous)

    type: Literal["group"] = "group"
    group_id: AccountId
    traits: Annotated[
        Json,
        known_keys(
            name=account_trait,
            plan=account_trait,
            segment=account_trait,
            mrr=account_trait,
            parent_id=account_ref,
            parentId=account_ref,
        ),
        lenient(ACCOUNT_TRAITS, "the account's traits"),
    ] = Field(default_factory=dict)


class PageMessage(SegmentMessage):
    """A page view, kept as a ``page_viewed`` engagement event of the account named like a
    track's."""

    model_config = ConfigDict(json_schema_extra=_user_or_anonymous)

    type: Literal["page"] = "page"
    name: Name | None = None
    category: Name | None = None
    properties: Annotated[
        Json, ACCOUNT_REFS, lenient({"groupId": ACCOUNT_REF}, "the page's properties")
    ] = Field(default_factory=dict)


class ScreenMessage(SegmentMessage):
    """A screen view, kept as a ``screen_viewed`` engagement event."""

    model_config = ConfigDict(json_schema_extra=_user_or_anonymous)

    type: Literal["screen"] = "screen"
    name: Name | None = None
    category: Name | None = None
    properties: Annotated[
        Json, ACCOUNT_REFS, lenient({"groupId": ACCOUNT_REF}, "the screen's properties")
    ] = Field(default_factory=dict)


def _both_ids(schema: dict[str, Any]) -> None:
    schema["required"] = ["userId", "previousId"]
    schema["properties"]["userId"] = ID
    schema["properties"]["previousId"] = ID


class AliasMessage(SegmentMessage):
    """``previousId`` becomes ``userId``: its events and seats are merged into the new
    id's (``accounts.aliases``, ``docs/identity.md``). Both are needed, not empty."""

    model_config = ConfigDict(json_schema_extra=_both_ids)

    type: Literal["alias"] = "alias"
    previous_id: Id = None


Message = Annotated[
    TrackMessage | IdentifyMessage | GroupMessage | PageMessage | ScreenMessage | AliasMessage,
    Field(discriminator="type"),
]


class Batch(_Model):
    """``POST /v1/batch``: ``{"batch": [...], "sentAt": ..., "context": ...}``; unknown
    fields are welcome."""

    batch: list[Message]
    sent_at: Annotated[
        Instant | None,
        Field(
            description="when the client sent the batch, by its own clock (a message's "
            "own sentAt wins)"
        ),
    ] = None
    write_key: Annotated[str | None, Strict(), Field(description=WRITE_KEY)] = None


class Rejected(Exception):
    """One or more messages cannot be accepted; nothing of the request may be written."""

    def __init__(self, problems: list[InvalidFact]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


EVENT_MESSAGES = (TrackMessage, PageMessage, ScreenMessage)


def events_only(messages: Sequence[SegmentMessage]) -> bool:
    """True when no message changes accounts or users (no ``group``/``identify``/``alias``),
    so the request can be checked against the database as it is and journaled."""
    return all(isinstance(message, EVENT_MESSAGES) for message in messages)
