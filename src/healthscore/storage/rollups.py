"""Daily roll-ups of the raw product-event tables, kept up to date at ingest.

Every writer of raw sessions, feature usage and API usage calls ``add_to_rollups`` in the
same transaction, so a roll-up never disagrees with the events acknowledged. Scoring reads
whole days from the roll-ups and raw rows only for the one or two days an *as-of* moment
cuts in two; that makes its cost follow accounts x days rather than raw events, and lets
retention drop raw events without changing any score (see ``storage/partitions.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Table, text
from sqlalchemy.orm import Session

from healthscore.storage import models as m
from healthscore.storage.dialect import add_or_insert

ROLLED_UP: tuple[type[m.Base], ...] = (m.Session, m.FeatureUsage, m.ApiUsage)
"""The raw tables that have roll-ups (and are partitioned by time on PostgreSQL)."""


def _table(model: type[m.Base]) -> Table:
    table: Table = model.__table__  # type: ignore[assignment]
    return table


def utc_day(ts: datetime) -> date:
    """The UTC calendar day of a timestamp (naive timestamps are UTC already)."""
    return (ts if ts.tzinfo is None else ts.astimezone(UTC)).date()


def midnight(day: date) -> datetime:
    """Midnight UTC starting ``day``: where a roll-up day, a cut-off or a daily score begins."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


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
        add_or_insert(
            session,
            _table(m.DailyActiveUsers),
            [{"customer_id": cid, "day": day, "user_id": user} for cid, day, user in users],
            key=["customer_id", "user_id", "day"],
        )
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


REBUILD = [
    (
        "daily_sessions",
        "sessions",
        "INSERT INTO daily_sessions (customer_id, day, logins, last_at) "
        "SELECT customer_id, date(ts), count(*), max(ts) FROM sessions "
        "GROUP BY customer_id, date(ts)",
    ),
    (
        "daily_active_users",
        "sessions",
        "INSERT INTO daily_active_users (customer_id, day, user_id) "
        "SELECT DISTINCT customer_id, date(ts), user_id FROM sessions "
        "WHERE user_id IS NOT NULL AND user_id <> ''",
    ),
    (
        "daily_features",
        "feature_usage",
        "INSERT INTO daily_features (customer_id, day, feature, events) "
        "SELECT customer_id, date(ts), feature, count(*) FROM feature_usage "
        "GROUP BY customer_id, date(ts), feature",
    ),
    (
        "daily_api_usage",
        "api_usage",
        "INSERT INTO daily_api_usage (customer_id, day, calls) "
        "SELECT customer_id, date(ts), sum(calls) FROM api_usage GROUP BY customer_id, date(ts)",
    ),
]


class RawEventsDropped(RuntimeError):
    """Roll-ups reach further back than the raw events: rebuilding would lose days."""


def rebuild_rollups(connection: Connection) -> dict[str, int]:
    """Recompute every roll-up from the raw events (after raw rows were loaded behind
    healthscore's back, e.g. with COPY). Refused once retention has dropped raw events,
    since the roll-ups are then the only record of those days."""
    for rollup, raw, _ in REBUILD:
        oldest_day = connection.execute(text(f'SELECT min(day) FROM "{rollup}"')).scalar()
        oldest_raw = connection.execute(text(f'SELECT min(date(ts)) FROM "{raw}"')).scalar()
        if oldest_day is not None and (oldest_raw is None or str(oldest_day) < str(oldest_raw)):
            raise RawEventsDropped(
                f"{rollup} has days from {oldest_day} but {raw} only from {oldest_raw}: "
                "raw events were dropped, rebuilding would lose those days"
            )
    rows = {}
    for rollup, _, statement in REBUILD:
        connection.execute(text(f'DELETE FROM "{rollup}"'))
        rows[rollup] = connection.execute(text(statement)).rowcount or 0
    return rows
