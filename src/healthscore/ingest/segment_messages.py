"""Segment's HTTP Tracking API messages as they arrive, checked for shape only.

camelCase like Segment, unknown fields allowed; what each message means for health
scoring is ``segment_facts``, applying it is ``segment``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

from healthscore.ingest.records import InvalidFact

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
    write_key: str | None = Field(
        None,
        description="An ingest key, as Segment's writeKey: instead of the Authorization "
        "header (it wins over the header when both are sent).",
    )


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
    """``previousId`` becomes ``userId``: its events and seats are merged into the new
    id's (``accounts.aliases``, ``docs/identity.md``)."""

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
    write_key: str | None = Field(
        None,
        description="An ingest key, as Segment's writeKey: instead of the Authorization "
        "header (it wins over the header when both are sent).",
    )


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
