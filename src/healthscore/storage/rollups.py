"""Daily roll-ups of the raw product-event tables, kept up to date at ingest.

Every writer of raw sessions, feature usage and API usage calls ``add_to_rollups`` in the
same transaction, so a roll-up never disagrees with the events acknowledged. Counts and
sums are kept per account and day; distinct counts (active users, features used) as
activity bitmaps, a bit per day and a row per 64 days (``activity_rows``). Scoring reads
whole days from the roll-ups and raw rows only for the one or two days an *as-of* moment
cuts in two; that makes its cost follow accounts x days rather than raw events, and lets
retention drop raw events without changing any score (see ``storage/partitions.py``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Connection, Table, cast, func, literal, text
from sqlalchemy.dialects.postgresql import BIT
from sqlalchemy.orm import Session

from healthscore.storage import models as m
from healthscore.storage.dialect import add_or_insert
from healthscore.timeutc import utc

ROLLED_UP: tuple[type[m.Base], ...] = (m.Session, m.FeatureUsage, m.ApiUsage)
"""The raw tables that have roll-ups (and are partitioned by time on PostgreSQL)."""
ACTIVITY_TABLES = ("user_activity", "feature_activity")
"""Roll-ups of which days a key (user, feature) was active: ``activity_rows``."""


def _table(model: type[m.Base]) -> Table:
    table: Table = model.__table__  # type: ignore[assignment]
    return table


def utc_day(ts: datetime) -> date:
    """The UTC calendar day of a timestamp (naive timestamps are UTC already)."""
    if ts.tzinfo is None or ts.tzinfo is UTC:  # the usual case, without a conversion
        return ts.date()
    return utc(ts).date()


def midnight(day: date) -> datetime:
    """Midnight UTC starting ``day``: where a roll-up day, a cut-off or a daily score begins."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


EPOCH = date(1970, 1, 1)
PERIOD = m.ACTIVITY_PERIOD_DAYS
ALL_DAYS = (1 << PERIOD) - 1
"""The mask of every day of an activity row."""


def day_number(day: date) -> int:
    """Days since 1970-01-01: how activity rows address a day."""
    return (day - EPOCH).days


def period_of(day: date) -> int:
    """The activity row (``UserActivity.period``) that holds ``day``."""
    return day_number(day) // PERIOD


def as_bigint(bits: int) -> int:
    """A 64-bit mask as the signed BIGINT both databases store (bit 63 is the sign)."""
    return bits - (1 << 64) if bits >= 1 << 63 else bits


_CHUNK = 14
_SPREAD = 0x200040008001
"""``v * _SPREAD`` holds 4 copies of a 14-bit ``v``, 15 bits apart (below 2^59)."""
_FIELDS = 0x111111111111111
"""Bit 0 of each 4-bit field: after the spread, every bit of ``v`` in a field of its own."""


def days_set_sql(days: ColumnElement[int], mask: int, dialect: str) -> ColumnElement[int]:
    """SQL for how many of the days ``mask`` selects (bits of one activity row, bit 63
    included) ``days`` has set: a popcount.

    PostgreSQL counts the bits of the value cast to ``BIT(64)`` (two's complement, so the
    sign bit is day 63). SQLite has no popcount: 14 bits at a time, a multiplication
    spreads the bits into 4-bit fields and their sum is the product mod 15. Every step
    stays below 2^63 (neither database may overflow), and the sign bits an arithmetic
    shift brings in are masked off.
    """
    if not mask:
        return literal(0, BigInteger)
    if dialect == "postgresql":
        return func.bit_count(cast(days.bitwise_and(as_bigint(mask)), BIT(64)))
    low = (mask & -mask).bit_length() - 1
    counts = []
    for start in range(low, mask.bit_length(), _CHUNK):
        bits = (mask >> start) & ((1 << _CHUNK) - 1)
        if bits:
            piece = (days.bitwise_rshift(start) if start else days).bitwise_and(bits)
            counts.append((piece * _SPREAD).bitwise_and(_FIELDS) % 15)
    total = counts[0]
    for count in counts[1:]:
        total = total + count
    return total


def activity_rows(seen: Iterable[tuple[str, date, str]], key: str) -> list[dict[str, Any]]:
    """Distinct (account, day, key) sightings as activity rows: one per account, key and
    period, each day a bit of ``days``."""
    bits: dict[tuple[str, str, int], int] = defaultdict(int)
    for customer_id, day, value in seen:
        period, bit = divmod(day_number(day), PERIOD)
        bits[customer_id, value, period] |= 1 << bit
    return [
        {"customer_id": cid, key: value, "period": period, "days": as_bigint(days)}
        for (cid, value, period), days in bits.items()
    ]


def _add_activity(
    session: Session, model: type[m.Base], seen: Iterable[tuple[str, date, str]], key: str
) -> None:
    """OR the days of distinct (account, day, ``key``) sightings into ``model``'s bits."""
    add_or_insert(
        session,
        _table(model),
        activity_rows(seen, key),
        key=["customer_id", key, "period"],
        bit_or=["days"],
    )


def add_to_rollups(session: Session, model: type[m.Base], rows: Sequence[dict[str, Any]]) -> None:
    """Count raw ``rows`` just inserted into ``model``'s table into its daily roll-ups."""
    if model is m.Session:
        logins: dict[tuple[str, date], list[Any]] = {}
        users: set[tuple[str, date, str]] = set()
        for row in rows:
            day = utc_day(row["ts"])
            key = (row["customer_id"], day)
            entry = logins.get(key)
            if entry is None:
                logins[key] = [1, row["ts"]]
            else:
                entry[0] += 1
                entry[1] = max(entry[1], row["ts"])
            if row.get("user_id"):
                users.add((row["customer_id"], day, row["user_id"]))
        add_or_insert(
            session,
            _table(m.DailySessions),
            [
                {"customer_id": cid, "day": day, "logins": n, "last_at": last}
                for (cid, day), (n, last) in logins.items()
            ],
            key=["customer_id", "day"],
            add=["logins"],
            greatest=["last_at"],
        )
        _add_activity(session, m.UserActivity, users, "user_id")
    elif model is m.FeatureUsage:
        features: dict[tuple[str, date, str], int] = {}
        for row in rows:
            key3 = (row["customer_id"], utc_day(row["ts"]), row["feature"])
            features[key3] = features.get(key3, 0) + 1
        add_or_insert(
            session,
            _table(m.DailyFeatures),
            [
                {"customer_id": cid, "day": day, "feature": feature, "events": n}
                for (cid, day, feature), n in features.items()
            ],
            key=["customer_id", "feature", "day"],
            add=["events"],
        )
        _add_activity(session, m.FeatureActivity, features, "feature")
    elif model is m.ApiUsage:
        calls: dict[tuple[str, date], int] = {}
        for row in rows:
            key = (row["customer_id"], utc_day(row["ts"]))
            calls[key] = calls.get(key, 0) + int(row.get("calls", 1))
        add_or_insert(
            session,
            _table(m.DailyApiUsage),
            [{"customer_id": cid, "day": day, "calls": n} for (cid, day), n in calls.items()],
            key=["customer_id", "day"],
            add=["calls"],
        )


def day_number_sql(dialect: str, day: str) -> str:
    """SQL for ``day_number`` of the date expression ``day``."""
    if dialect == "postgresql":
        return f"({day} - DATE '1970-01-01')"
    return f"CAST(julianday({day}) - 2440587.5 AS INTEGER)"


def activity_sql(dialect: str, table: str, key: str, source: str) -> str:
    """Roll (customer_id, day, ``key``) rows of ``source`` (a subquery without
    duplicates) up into ``table``'s activity rows. On SQLite, which has no ``bit_or``,
    the bits are summed: distinct days are distinct powers of two, so the sum is the OR."""
    number = day_number_sql(dialect, "day")
    combine = "bit_or" if dialect == "postgresql" else "sum"
    return (
        f"INSERT INTO {table} (customer_id, {key}, period, days) "
        f"SELECT customer_id, {key}, {number} / {PERIOD}, "
        f"{combine}(CAST(1 AS BIGINT) << ({number} % {PERIOD})) FROM ({source}) AS seen "
        f"GROUP BY customer_id, {key}, {number} / {PERIOD}"
    )


def rebuild_statements(dialect: str) -> list[tuple[str, str, str]]:
    """(roll-up table, raw table, statement filling it from the raw events)."""
    return [
        (
            "daily_sessions",
            "sessions",
            "INSERT INTO daily_sessions (customer_id, day, logins, last_at) "
            "SELECT customer_id, date(ts), count(*), max(ts) FROM sessions "
            "GROUP BY customer_id, date(ts)",
        ),
        (
            "user_activity",
            "sessions",
            activity_sql(
                dialect,
                "user_activity",
                "user_id",
                "SELECT DISTINCT customer_id, date(ts) AS day, user_id FROM sessions "
                "WHERE user_id IS NOT NULL AND user_id <> ''",
            ),
        ),
        (
            "daily_features",
            "feature_usage",
            "INSERT INTO daily_features (customer_id, day, feature, events) "
            "SELECT customer_id, date(ts), feature, count(*) FROM feature_usage "
            "GROUP BY customer_id, date(ts), feature",
        ),
        (
            "feature_activity",
            "feature_usage",
            activity_sql(
                dialect,
                "feature_activity",
                "feature",
                "SELECT DISTINCT customer_id, date(ts) AS day, feature FROM feature_usage",
            ),
        ),
        (
            "daily_api_usage",
            "api_usage",
            "INSERT INTO daily_api_usage (customer_id, day, calls) "
            "SELECT customer_id, date(ts), sum(calls) FROM api_usage "
            "GROUP BY customer_id, date(ts)",
        ),
    ]


class RawEventsDropped(RuntimeError):
    """Roll-ups reach further back than the raw events: rebuilding would lose days."""


def rebuild_rollups(connection: Connection) -> dict[str, int]:
    """Recompute every roll-up from the raw events (after raw rows were loaded behind
    healthscore's back, e.g. with COPY). Refused once retention has dropped raw events,
    since the roll-ups are then the only record of those days."""
    statements = rebuild_statements(connection.dialect.name)
    for rollup, raw, _ in statements:
        if rollup in ACTIVITY_TABLES:  # as old as the daily roll-up of the same raw table
            continue
        oldest_day = connection.execute(text(f'SELECT min(day) FROM "{rollup}"')).scalar()
        oldest_raw = connection.execute(text(f'SELECT min(date(ts)) FROM "{raw}"')).scalar()
        if oldest_day is not None and (oldest_raw is None or str(oldest_day) < str(oldest_raw)):
            raise RawEventsDropped(
                f"{rollup} has days from {oldest_day} but {raw} only from {oldest_raw}: "
                "raw events were dropped, rebuilding would lose those days"
            )
    rows = {}
    for rollup, _, statement in statements:
        connection.execute(text(f'DELETE FROM "{rollup}"'))
        rows[rollup] = connection.execute(text(statement)).rowcount or 0
    return rows
