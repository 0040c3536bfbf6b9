"""Field types for JSON input, read the way the OpenAPI document declares them.

pydantic's lax mode reads ``0``, ``0.5`` or ``"1700000000"`` as a Unix time where a
date-time is expected, and ``"1e3"`` as an amount: a request the document calls invalid
would be accepted. These types take only what the document says:

* ``Instant``: an RFC 3339 date-time string (``2026-11-30T09:00:00Z``; ``T`` or a space
  between date and time, any fraction of a second, a leap second read as its last
  microsecond). Without an offset it is UTC (what the database stores, and what clients
  sent before offsets were required). Years 0000-9999 parse; an instant outside Python's
  range is the earliest or latest one (a filter from year 0 is a filter from the start).
* ``Day``: an RFC 3339 full-date (``2026-11-30``).
* ``Amount``, ``NonNegativeAmount``: a money amount with at most 2 decimals and 12 digits before the
  point, as a JSON number or a decimal string (``"4200.00"``); no exponents, no NaN.
* ``WHOLE_NUMBER`` (a body), ``URL_INT``, ``URL_BOOL`` (a URL): what JSON Schema calls an
  integer or a boolean, nothing else.
* ``ACCOUNT_ID``: a customer id: 1-64 characters, none of them whitespace, a control
  character, ``/``, ``?`` or ``#``. Written with explicit code points, so that Python and
  the ECMA-262 regular expressions of JSON Schema agree on every character.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WithJsonSchema

_INSTANT = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))?"
)
_DAY = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
INSTANT_EXAMPLE = "2026-11-30T09:00:00Z"
EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)

NO_SPACE = r"\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
"""Whitespace and control characters, as a character class body (code points)."""
ACCOUNT_ID = rf"^[^{NO_SPACE}/?#]{{1,64}}$"
"""A customer id: 1-64 characters without whitespace, control characters, ``/ ? #``."""
NOT_BLANK = rf"[^{NO_SPACE}]"
"""Somewhere in the text, a character that is not whitespace (a pattern to search for)."""


_MONTH_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
"""Days of each month of a common year (``calendar.monthrange`` cost more than parsing)."""


def _checked_date(year: int, month: int, day: int) -> None:
    """A real day of the proleptic Gregorian calendar (year 0 is a leap year)."""
    if not 1 <= month <= 12:
        raise ValueError("is not a date")
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    days = 29 if month == 2 and leap else _MONTH_DAYS[month]
    if not 1 <= day <= days:
        raise ValueError("is not a date")


def _plain(found: re.Match[str]) -> bool:
    """A date-time ``datetime.fromisoformat`` reads exactly as ``parse_instant`` does:
    upper-case ``T``/``Z`` or a space, not year 0, no leap second, fields in range."""
    return (
        found[1] != "0000"
        and found[4] <= "23"
        and found[5] <= "59"
        and found[6] <= "59"
        and found[8] in (None, "Z")
        and (found[9] is None or (found[10] <= "23" and found[11] <= "59"))
        and found.string[10] in "T "  # 3.11's fromisoformat refuses a lower-case t
    )


def parse_instant(text: str) -> datetime:
    """An RFC 3339 date-time as an aware UTC datetime (see the module); ``ValueError``."""
    found = _INSTANT.fullmatch(text)
    if found is None:
        raise ValueError(f"must be a date-time (RFC 3339, e.g. {INSTANT_EXAMPLE})")
    if _plain(found):  # what SDKs send: read in C, the same value as below
        try:
            moment = datetime.fromisoformat(text)
            return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        except (ValueError, OverflowError):  # a day that does not exist, an edge of time
            pass
    year, month, day, hour, minute, second = map(int, found.group(1, 2, 3, 4, 5, 6))
    _checked_date(year, month, day)
    if hour > 23 or minute > 59 or second > 60:
        raise ValueError(f"must be a date-time (RFC 3339, e.g. {INSTANT_EXAMPLE})")
    offset = timedelta()
    if found[9]:
        hours, minutes = int(found[10]), int(found[11])
        if hours > 23 or minutes > 59:
            raise ValueError("has an offset out of range (at most ±23:59)")
        offset = timedelta(hours=hours, minutes=minutes) * (1 if found[9] == "+" else -1)
    micros = int((found[7] or "0")[:6].ljust(6, "0"))
    if second == 60:  # a leap second: its last microsecond
        second, micros = 59, 999_999
    if year == 0:
        return EARLIEST
    local = datetime(year, month, day, hour, minute, second, micros, tzinfo=UTC)
    try:
        return local - offset
    except OverflowError:
        return EARLIEST if offset > timedelta() else LATEST


def parse_day(text: str) -> date:
    """An RFC 3339 full-date (year 0 reads as the earliest day); ``ValueError``."""
    found = _DAY.fullmatch(text)
    if found is None:
        raise ValueError("must be a date (YYYY-MM-DD)")
    year, month, day = (int(found[i]) for i in range(1, 4))
    _checked_date(year, month, day)
    return date.min if year == 0 else date(year, month, day)


def _instant(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError(f"must be a date-time string (RFC 3339, e.g. {INSTANT_EXAMPLE})")
    return parse_instant(value)


def _day(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("must be a date string (YYYY-MM-DD)")
    return parse_day(value)


Instant = Annotated[datetime, BeforeValidator(_instant)]
"""A date-time read strictly (RFC 3339 text); documented ``format: date-time``."""
Day = Annotated[date, BeforeValidator(_day)]
"""A date read strictly (``YYYY-MM-DD``); documented ``format: date``."""

_AMOUNT = r"[0-9]{1,12}(\.[0-9]{1,2})?"


def _amount_schema(*, signed: bool) -> dict[str, Any]:
    number: dict[str, Any] = {"type": "number", "multipleOf": 0.01, "exclusiveMaximum": 1e12}
    number.update({"exclusiveMinimum": -1e12} if signed else {"minimum": 0})
    text = {"type": "string", "pattern": f"^{'-?' if signed else ''}{_AMOUNT}$"}
    return {"anyOf": [number, text]}


def _amount(*, signed: bool) -> BeforeValidator:
    text = re.compile(f"{'-?' if signed else ''}{_AMOUNT}")

    def check(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
            raise ValueError("must be an amount: a number, or a decimal string like '4200.00'")
        if isinstance(value, str) and not text.fullmatch(value):
            raise ValueError("must be an amount with at most 2 decimals, e.g. '4200.00'")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("must be a finite amount")
        return value if isinstance(value, Decimal) else Decimal(str(value))

    return BeforeValidator(check)


Amount = Annotated[
    Decimal,
    _amount(signed=True),
    Field(max_digits=14, decimal_places=2),
    WithJsonSchema(_amount_schema(signed=True)),
]
"""A money amount (see the module), negative ones too (a refund)."""
NonNegativeAmount = Annotated[
    Decimal,
    _amount(signed=False),
    Field(ge=0, max_digits=14, decimal_places=2),
    WithJsonSchema(_amount_schema(signed=False)),
]
"""A money amount, 0 or more (MRR)."""


def _integral(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)  # JSON Schema's integer: 5.0 is 5
    return value


WHOLE_NUMBER = BeforeValidator(_integral)
"""A JSON integer in a strict body: ``5`` or ``5.0``, never ``"5"``, ``true`` or ``5.5``.
Put it after the field's constraints (``Annotated[int, Field(ge=0), WHOLE_NUMBER]``):
before them, pydantic documents ``ge`` instead of ``minimum``."""

_DIGITS = re.compile(r"-?[0-9]+")


def _url_int(value: Any) -> Any:
    if isinstance(value, str) and not _DIGITS.fullmatch(value):
        raise ValueError("must be a whole number (digits)")
    return value


def _url_bool(value: Any) -> Any:
    if isinstance(value, str) and value not in ("true", "false"):
        raise ValueError("must be true or false")
    return value


URL_INT = BeforeValidator(_url_int)
"""An integer in a URL: digits, with an optional minus (not ``1.0``, ``+1`` or ``1_0``);
after the constraints, like ``WHOLE_NUMBER``."""
URL_BOOL = BeforeValidator(_url_bool)
"""A boolean in a URL: ``true`` or ``false``."""
