"""newest_value: each account's newest row of a daily table in a window, or NULL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from healthscore.ingest.bulk import insert_rows
from healthscore.storage import models as m
from healthscore.storage.newest_rows import newest_value


def test_the_newest_day_in_the_window_wins_and_an_account_without_one_gets_null(session):
    start = date(2026, 3, 1)
    insert_rows(
        session,
        m.Customer,
        [
            {"id": cid, "name": cid, "created_at": datetime(2025, 1, 1, tzinfo=UTC), "traits": {}}
            for cid in ("a", "b", "c")
        ],
    )
    logins = {"a": [0, 5, 9, 20], "b": [25], "c": []}  # days after ``start``
    insert_rows(
        session,
        m.DailySessions,
        [
            {
                "customer_id": cid,
                "day": start + timedelta(days=offset),
                "logins": offset + 1,
                "last_at": datetime.combine(start, datetime.min.time(), UTC)
                + timedelta(days=offset, hours=1),
            }
            for cid, offsets in logins.items()
            for offset in offsets
        ],
    )
    session.commit()
    d, c = m.DailySessions, m.Customer
    before_day_10 = newest_value(d, d.logins, c.id, d.day < start + timedelta(days=10))
    rows = session.execute(select(c.id, before_day_10).order_by(c.id)).all()
    assert [tuple(row) for row in rows] == [("a", 10), ("b", None), ("c", None)]
