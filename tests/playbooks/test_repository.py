"""The playbooks' reads on a real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from healthscore.ingest.bulk import insert_rows
from healthscore.playbooks.repository import last_login
from healthscore.storage import models as m
from healthscore.storage.partitions import apply_retention


def test_last_login_survives_raw_event_retention_and_sees_the_same_day(session):
    as_of = datetime(2026, 6, 1, 15, 0, tzinfo=UTC)
    insert_rows(
        session,
        m.Customer,
        [
            {"id": cid, "name": cid, "created_at": as_of - timedelta(days=900), "traits": {}}
            for cid in ("old", "today")
        ],
    )
    insert_rows(
        session,
        m.Session,
        [
            {"customer_id": "old", "ts": as_of - timedelta(days=200)},
            {"customer_id": "today", "ts": as_of - timedelta(hours=2)},
            {"customer_id": "today", "ts": as_of + timedelta(hours=1)},  # after as_of
        ],
    )
    apply_retention(session.connection(), retention_days=100, now=as_of)
    session.commit()

    assert last_login(session, ["old", "today"], as_of) == {
        "old": as_of - timedelta(days=200),
        "today": as_of - timedelta(hours=2),
    }
