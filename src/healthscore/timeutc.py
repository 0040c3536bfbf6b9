"""UTC everywhere: one rule for turning any datetime into UTC.

A naive datetime is taken to be UTC already (that is what the database stores and what
a CSV or API timestamp without an offset means); an aware one is converted.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime."""
    zone = moment.tzinfo
    if zone is UTC:  # what parsing produces: nothing to convert (a hot path of ingest)
        return moment
    return moment.replace(tzinfo=UTC) if zone is None else moment.astimezone(UTC)


def naive_utc(moment: datetime) -> datetime:
    """``moment`` as a naive UTC datetime, the way the database columns hold it."""
    return moment if moment.tzinfo is None else moment.astimezone(UTC).replace(tzinfo=None)
