"""Column types shared by every table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from healthscore.timeutc import naive_utc, utc


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps are stored as naive UTC and handed back timezone-aware.

    One rule on both SQLite and PostgreSQL keeps "as of" comparisons identical on either
    database: a naive value coming in is taken to be UTC already.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected datetime, got {type(value).__name__}")
        moment: datetime = value
        return naive_utc(moment)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # SQLite aggregates (MAX) can hand back raw text
            value = datetime.fromisoformat(value)
        if not isinstance(value, datetime):
            raise TypeError(f"expected a timestamp from the database, got {value!r}")
        return utc(value)
