"""The playbooks' reads on a real database."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from healthscore.ingest.bulk import insert_rows
from healthscore.playbooks.repository import last_login, score_on_or_before, tier_before
from healthscore.storage import models as m
from healthscore.storage.partitions import apply_retention
from tests.fixtures.history import insert_history


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


def _accounts(session, ids, created_at):
    insert_rows(
        session,
        m.Customer,
        [{"id": cid, "name": cid, "created_at": created_at, "traits": {}} for cid in ids],
    )


def test_the_previous_tier_and_a_past_score_come_from_each_accounts_newest_day_in_range(session):
    """Checked against a plain reading of the history: 40 accounts with scattered scored
    days, some after the day asked about, some with none before it, one never scored."""
    rng = random.Random(7)
    today = date(2026, 6, 1)
    ids = [f"acct-{n:02d}" for n in range(40)]
    _accounts(session, ids, datetime(2025, 1, 1, tzinfo=UTC))
    history: dict[str, dict[date, tuple[int, str]]] = {cid: {} for cid in ids[:-1]}
    for cid in ids[:-1]:
        for offset in rng.sample(range(-3, 400), rng.randint(1, 25)):
            day = today - timedelta(days=offset)
            history[cid][day] = (rng.randint(0, 100), rng.choice(["healthy", "at_risk"]))
    insert_history(
        session,
        (
            (cid, day, score, tier, {})
            for cid, days in history.items()
            for day, (score, tier) in days.items()
        ),
    )
    session.commit()

    def newest(cid, earliest, latest):
        days = [d for d in history.get(cid, {}) if earliest <= d <= latest]
        return history[cid][max(days)] if days else None

    expected_tiers = {
        cid: found[1] for cid in ids if (found := newest(cid, date.min, today - timedelta(days=1)))
    }
    assert tier_before(session, ids, today) == expected_tiers
    week_ago = today - timedelta(days=7)
    expected_scores = {
        cid: found[0]
        for cid in ids
        if (found := newest(cid, week_ago - timedelta(days=3), week_ago))
    }
    assert score_on_or_before(session, ids, week_ago) == expected_scores
    assert 0 < len(expected_scores) < len(expected_tiers) < len(ids)  # every case is present
    assert tier_before(session, ids[:3], today) == {
        cid: tier for cid, tier in expected_tiers.items() if cid in ids[:3]
    }


def test_last_login_is_the_newest_earlier_day_or_earlier_today(session):
    as_of = datetime(2026, 6, 1, 15, 0, tzinfo=UTC)
    _accounts(session, ["months", "yesterday", "later-today", "never"], as_of - timedelta(days=900))
    day = timedelta(days=1)
    daily = [
        ("months", as_of - 300 * day),
        ("months", as_of - 90 * day),
        ("yesterday", as_of - 40 * day),
        ("yesterday", as_of - day),
        # A login later today (after as_of) is in today's roll-up row: never read.
        ("later-today", as_of - 2 * day),
        ("later-today", as_of + timedelta(hours=3)),
    ]
    insert_rows(
        session,
        m.DailySessions,
        [{"customer_id": cid, "day": at.date(), "logins": 1, "last_at": at} for cid, at in daily],
    )
    insert_rows(
        session, m.Session, [{"customer_id": "later-today", "ts": as_of + timedelta(hours=3)}]
    )
    session.commit()

    assert last_login(session, ["months", "yesterday", "later-today", "never"], as_of) == {
        "months": as_of - 90 * day,
        "yesterday": as_of - day,
        "later-today": as_of - 2 * day,
    }
