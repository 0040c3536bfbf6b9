"""The values inside Segment messages, read with Segment's leniency: text or a whole number
(read as its digits) where text is expected, an empty id as no id, customer ids and group
traits in free-form objects, product names; each with the JSON schema the OpenAPI
document publishes for it. The messages themselves are ``segment_messages``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema

from healthscore.ingest.records import PRODUCT_MAX, InvalidFact
from healthscore.jsontypes import ACCOUNT_ID as ACCOUNT_PATTERN
from healthscore.jsontypes import NOT_BLANK

ACCOUNT_ID = re.compile(ACCOUNT_PATTERN)
"""What a customer id may look like (the same rule as the REST API's ``customerId``)."""


def blank_to_none(value: Any) -> Any:
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


def account_trait(value: Any, key: str) -> None:
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
    """``blank_to_none`` and ``whole_number_text`` in one call: three ids a message, so
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


def lenient(properties: dict[str, Any], description: str) -> Any:
    """A free-form object (extra keys welcome) whose known keys have these schemas."""
    return WithJsonSchema(
        {
            "type": "object",
            "properties": properties,
            "additionalProperties": True,
            "description": description,
        }
    )
