"""The dialect adapter: upserts behave the same on SQLite and PostgreSQL, small or bulk."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Table, func, select

from healthscore.ingest.bulk import insert_rows
from healthscore.storage import job_models as jm
from healthscore.storage import models as m
from healthscore.storage.dialect import (
    COPY_INSERT_THRESHOLD,
    COPY_THRESHOLD,
    add_or_insert,
    insert_many,
    insert_new_keys,
    upsert,
)

LATEST: Table = m.HealthScore.__table__  # type: ignore[assignment]
T0 = datetime(2026, 5, 1, tzinfo=UTC)


def _customers(session, n: int) -> list[str]:
    ids = [f"c{i:05d}" for i in range(n)]
    insert_rows(
        session,
        m.Customer,
        [
            {"id": cid, "name": cid, "created_at": T0, "churned_at": None, "traits": {}}
            for cid in ids
        ],
    )
    return ids


def _latest(cid: str, as_of: datetime, score: int) -> dict:
    return {
        "customer_id": cid,
        "as_of": as_of,
        "score": score,
        "tier": "healthy",
        "trend": "stable",
        "previous_score": None,
        "components": {"engagement": 50.5},
        "signals": {"raw": {"x": None}, "value": {"x": 0.5}, "weight": {"x": 1.0}},
        "drivers": {},
        "scorecard": "t@v1",
        "calculated_at": as_of,
    }


@pytest.mark.parametrize("n", [3, COPY_THRESHOLD + 5], ids=["statement", "bulk"])
def test_upsert_inserts_then_overwrites_but_never_with_an_older_row(session, n):
    ids = _customers(session, n)
    upsert(
        session,
        LATEST,
        [_latest(c, T0, 10) for c in ids],
        key=["customer_id"],
        unless_newer="as_of",
    )
    # Newer rows win for even ids; an older row for odd ids must not replace anything.
    upsert(
        session,
        LATEST,
        [_latest(c, T0 + timedelta(days=1 if i % 2 == 0 else -1), 20) for i, c in enumerate(ids)],
        key=["customer_id"],
        unless_newer="as_of",
    )
    session.commit()
    rows = {r.customer_id: r for r in session.scalars(select(m.HealthScore))}
    assert session.scalar(select(func.count()).select_from(m.HealthScore)) == n
    assert rows[ids[0]].score == 20 and rows[ids[0]].as_of == T0 + timedelta(days=1)
    assert rows[ids[1]].score == 10 and rows[ids[1]].as_of == T0
    assert rows[ids[0]].components == {"engagement": 50.5}
    assert rows[ids[1]].signals["raw"] == {"x": None}


@pytest.mark.parametrize("n", [3, COPY_INSERT_THRESHOLD + 5], ids=["statement", "bulk"])
def test_insert_many_stores_every_value_whether_by_statement_or_copy(session, n):
    [cid] = _customers(session, 1)
    rows = [
        {
            "customer_id": cid,
            "user_id": None if i % 3 == 0 else f"u{i}",
            "event_type": "report_exported",
            "ts": T0 + timedelta(seconds=i, microseconds=7),
            "properties": {"i": i, "quote": 'it\'s "x"\ttab\\', "nested": [1, None]},
        }
        for i in range(n)
    ]
    insert_many(session, m.EngagementEvent.__table__, rows)  # type: ignore[arg-type]
    session.expire_all()
    stored = session.execute(
        select(
            m.EngagementEvent.user_id, m.EngagementEvent.ts, m.EngagementEvent.properties
        ).order_by(m.EngagementEvent.ts)
    ).all()
    assert [(r.user_id, r.ts, r.properties) for r in stored] == [
        (row["user_id"], row["ts"], row["properties"]) for row in rows
    ]


@pytest.mark.parametrize("n", [5, COPY_INSERT_THRESHOLD + 100], ids=["arrays", "staging"])
def test_new_keys_and_roll_up_additions_are_exact_at_any_size(session, n):
    claims: Table = jm.ProcessedMessage.__table__  # type: ignore[assignment]
    first = [{"source": "t", "message_id": f"m{i}", "received_at": T0} for i in range(n)]
    assert (
        len(insert_new_keys(session, claims, first[: n // 2], key=["source", "message_id"]))
        == n // 2
    )
    fresh = insert_new_keys(session, claims, first, key=["source", "message_id"])
    assert sorted(fresh) == sorted(("t", f"m{i}") for i in range(n // 2, n))

    ids = _customers(session, n)
    daily: Table = m.DailySessions.__table__  # type: ignore[assignment]
    day = T0.date()
    for logins, last in ((2, T0), (3, T0 - timedelta(hours=1))):
        rows = [{"customer_id": c, "day": day, "logins": logins, "last_at": last} for c in ids]
        add_or_insert(
            session, daily, rows, key=["customer_id", "day"], add=["logins"], greatest=["last_at"]
        )
    stored = session.execute(select(m.DailySessions.logins, m.DailySessions.last_at)).all()
    assert len(stored) == n and set(stored) == {(5, T0)}


def test_bulk_timestamps_on_sqlite_bind_exactly_as_sqlalchemy_would():
    from datetime import UTC, datetime, timedelta, timezone

    from sqlalchemy.dialects import sqlite

    from healthscore.storage.dialect import _sqlite_timestamps
    from healthscore.storage.types import UTCDateTime

    process = UTCDateTime()._cached_bind_processor(sqlite.dialect())
    assert process is not None
    moments = [
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        datetime(2026, 1, 2, 3, 4, 5, 123, tzinfo=timezone(timedelta(hours=2))),
        datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5))),
        datetime(1999, 3, 4, 5, 6, 7, 80),  # naive: taken as UTC
        datetime(1, 1, 1, tzinfo=UTC),
        None,
    ]
    assert _sqlite_timestamps(moments) == [None if m is None else process(m) for m in moments]
