"""Segment's HTTP Tracking API messages as they arrive, checked for shape only.

camelCase like Segment. Lenient where Segment is, and the OpenAPI document says so:
unknown fields are allowed anywhere (SDKs send a lot of context), ids and names may be
whole numbers (read as their digits), an empty id is no id. Timestamps are RFC 3339
strings, as every SDK sends them. What each message means for health scoring is ``segment_facts``,
applying it is ``segment``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    WithJsonSchema,
)
from pydantic.alias_generators import to_camel

from healthscore.ingest.records import PRODUCT_MAX, InvalidFact
from healthscore.jsontypes import ACCOUNT_ID as ACCOUNT_PATTERN
from healthscore.jsontypes import NOT_BLANK, Instant

ACCOUNT_ID = re.compile(ACCOUNT_PATTERN)
"""What a customer id may look like (the same rule as the REST API's ``customerId``)."""


def _blank_to_none(value: Any) -> Any:
    """SDKs send ``""`` for an absent id; treat it as absent, not as a user named ''."""
    return None if value == "" else value


SAFE_INTEGER = 2**53 - 1
"""The largest whole number every JSON parser reads exactly (JavaScript's too)."""


def whole_number_text(value: Any) -> Any:
    """Segment's leniency: a whole number where text is expected reads as its digits
    (``12`` and ``12.0`` as ``"12"``), up to ±(2^53 - 1); a fraction is refused."""
    if value.__class__ is str:  # nearly always: five ids per message on the ingest path
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if isinstance(value, float) and not value.is_integer():
        raise ValueError("must be text or a whole number")
    if abs(value) > SAFE_INTEGER:
        raise ValueError(f"a whole number here is at most {SAFE_INTEGER} (or send text)")
    return str(int(value))


def _text_of(value: Any, field_name: str) -> str:
    """``value`` (text or a whole number, checked by the caller) as text."""
    try:
        return str(whole_number_text(value))
    except ValueError as error:
        raise InvalidFact(field_name, str(error)) from None


WHOLE = BeforeValidator(whole_number_text)


def text_schema(
    max_length: int, *, min_length: int = 0, pattern: str | None = None, nullable: bool = False
) -> dict[str, Any]:
    """A Segment text field: a string, or a whole number of at most ``max_length`` digits."""
    text: dict[str, Any] = {"type": "string", "maxLength": max_length}
    if min_length:
        text["minLength"] = min_length
    if pattern:
        text["pattern"] = pattern
    number = {"type": "integer", "minimum": -SAFE_INTEGER, "maximum": SAFE_INTEGER}
    return {"anyOf": [text, number, *([{"type": "null"}] if nullable else [])]}


def account_ref(value: Any, field_name: str) -> str | None:
    """A customer id taken from free-form traits/properties, checked like ``groupId``: text
    or a number (read as its text); None for none (null or empty)."""
    if value is None or value == "":
        return None
    if value.__class__ is str and value in _CHECKED_ACCOUNTS:  # found valid before
        return value
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidFact(field_name, "must be a customer id (text or a whole number)")
    text = _text_of(value, field_name)
    if not ACCOUNT_ID.fullmatch(text):
        raise InvalidFact(field_name, "must be 1-64 characters without whitespace, '/', '?' or '#'")
    if value.__class__ is str:
        if len(_CHECKED_ACCOUNTS) >= CHECKED_ACCOUNTS_MAX:
            _CHECKED_ACCOUNTS.clear()
        _CHECKED_ACCOUNTS.add(text)
    return text


CHECKED_ACCOUNTS_MAX = 100_000
_CHECKED_ACCOUNTS: set[str] = set()
"""Customer ids (as text) that ``account_ref`` found well-formed: every event of a batch
names its account, mostly the same few, and the pattern need not run again for them."""


MRR_MAX = Decimal("999999999999.99")
MRR_TEXT = re.compile(r"[0-9]{1,12}(\.[0-9]+)?")
"""A group trait ``mrr`` given as text (as the OpenAPI document declares it)."""


def account_fields(traits: Json, where: str) -> Json:
    """Customer columns set by group traits: ``name``, ``plan``, ``segment``, ``mrr``. Text
    is checked as sent (at most ``limit`` characters, a name not blank), stored trimmed."""
    values: Json = {}
    for name, limit in (("name", 255), ("plan", 64), ("segment", 64)):
        value = traits.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise InvalidFact(f"{where}traits.{name}", "must be text")
        text = _text_of(value, f"{where}traits.{name}")
        if len(text) > limit or (name == "name" and not re.search(NOT_BLANK, text)):
            raise InvalidFact(f"{where}traits.{name}", f"must be 1-{limit} characters")
        values[name] = text.strip()
    if traits.get("mrr") is not None:
        mrr = traits["mrr"]
        try:
            if isinstance(mrr, bool) or not isinstance(mrr, str | int | float):
                raise InvalidOperation
            if isinstance(mrr, str) and not MRR_TEXT.fullmatch(mrr):
                raise InvalidOperation
            amount = Decimal(str(mrr))
            if not amount.is_finite() or amount < 0 or amount >= Decimal(10) ** 12:
                raise InvalidOperation
            amount = min(amount.quantize(Decimal("0.01")), MRR_MAX)  # rounded to cents
        except InvalidOperation:
            raise InvalidFact(f"{where}traits.mrr", "must be an amount, 0 or more") from None
        values["mrr"] = amount
    return values


def product_text(value: Any, field_name: str) -> None:
    """``properties.product`` as the document declares it: text of at most 64 characters
    (empty: none; not only whitespace) or a number; which events read it: ``segment_facts``."""
    if value is None or value == "":
        return
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidFact(field_name, "must be a product name (text or a whole number)")
    text = _text_of(value, field_name)
    if len(text) > PRODUCT_MAX or not re.search(NOT_BLANK, text):
        raise InvalidFact(field_name, f"must be a product name (text, 1-{PRODUCT_MAX} characters)")


def known_keys(**rules: Callable[[Any, str], object]) -> AfterValidator:
    """Check the keys of a free-form object that the document declares (others pass as
    they are); an ``InvalidFact`` names the key, relative to the object."""

    def check(value: Json) -> Json:
        for key, rule in rules.items():
            if key in value:
                rule(value[key], key)
        return value

    return AfterValidator(check)


def _account_trait(value: Any, key: str) -> None:
    try:
        account_fields({key: value}, "")
    except InvalidFact as problem:
        raise InvalidFact(key, problem.message) from None


ACCOUNT_REFS = known_keys(groupId=account_ref)


ID = text_schema(255, min_length=1)
"""An id that is there: not null, not empty."""
ACCOUNT_REF = {
    "anyOf": [
        *text_schema(64, pattern=ACCOUNT_PATTERN)["anyOf"],
        {"type": "string", "maxLength": 0},
        {"type": "null"},
    ],
    "description": "a customer id (1-64 characters, no whitespace, control characters, "
    "'/', '?' or '#'; a whole number reads as its digits); empty or null: none",
}


def _id_text(value: Any) -> Any:
    """``_blank_to_none`` and ``whole_number_text`` in one call: three ids a message, so
    one Python call each instead of two on the ingest path."""
    if value.__class__ is str:
        return None if value == "" else value
    return whole_number_text(value)


Id = Annotated[
    Annotated[str, Field(max_length=255)] | None,
    BeforeValidator(_id_text),
    WithJsonSchema(text_schema(255, nullable=True)),
]
AccountId = Annotated[
    str,
    WHOLE,
    Field(pattern=ACCOUNT_PATTERN),
    WithJsonSchema(text_schema(64, pattern=ACCOUNT_PATTERN)),
]
# Length limits before ``WHOLE``: on ``str`` itself, checked by pydantic-core; after it, they
# were checked in Python, three calls a message.
Name = Annotated[str, Field(max_length=255), WHOLE, WithJsonSchema(text_schema(255))]
Json = dict[str, Any]
WRITE_KEY = (
    "An ingest key, as Segment's writeKey: instead of the Authorization header (it wins "
    "over the header when both are sent)."
)


def _lenient(properties: dict[str, Any], description: str) -> Any:
    """A free-form object (extra keys welcome) whose known keys have these schemas."""
    return WithJsonSchema(
        {
            "type": "object",
            "properties": properties,
            "additionalProperties": True,
            "description": description,
        }
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
        AccountId | None, BeforeValidator(_blank_to_none), WithJsonSchema(ACCOUNT_REF)
    ] = None
    traits: Annotated[
        Json, ACCOUNT_REFS, _lenient({"groupId": ACCOUNT_REF}, "the user's traits")
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
        _lenient(
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
        Json, ACCOUNT_REFS, _lenient({"groupId": ACCOUNT_REF}, "the user's traits")
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
            name=_account_trait,
            plan=_account_trait,
            segment=_account_trait,
            mrr=_account_trait,
            parent_id=account_ref,
            parentId=account_ref,
        ),
        _lenient(ACCOUNT_TRAITS, "the account's traits"),
    ] = Field(default_factory=dict)


class PageMessage(SegmentMessage):
    """A page view, kept as a ``page_viewed`` engagement event of the account named like a
    track's."""

    model_config = ConfigDict(json_schema_extra=_user_or_anonymous)

    type: Literal["page"] = "page"
    name: Name | None = None
    category: Name | None = None
    properties: Annotated[
        Json, ACCOUNT_REFS, _lenient({"groupId": ACCOUNT_REF}, "the page's properties")
    ] = Field(default_factory=dict)


class ScreenMessage(SegmentMessage):
    """A screen view, kept as a ``screen_viewed`` engagement event."""

    model_config = ConfigDict(json_schema_extra=_user_or_anonymous)

    type: Literal["screen"] = "screen"
    name: Name | None = None
    category: Name | None = None
    properties: Annotated[
        Json, ACCOUNT_REFS, _lenient({"groupId": ACCOUNT_REF}, "the screen's properties")
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
