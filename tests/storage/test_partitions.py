"""Raw-event volume: monthly partitions on PostgreSQL, retention on both databases, and
scores that do not move when old raw events are dropped."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote

import pytest
from sqlalchemy import func, select, text

from healthscore.ingest.bulk import insert_rows
from healthscore.ingest.records import Event, record_events
from healthscore.scoring.requirements import raw_event_lookback_days
from healthscore.scoring.scorecard_loading import load_scorecard
from healthscore.scoring.service import score_accounts
from healthscore.storage import models as m
from healthscore.storage.database import make_engine, make_sessionmaker, upgrade
from healthscore.storage.partitions import (
    PARTITIONED,
    RetentionTooShort,
    add_months,
    ensure_partitions,
    maintain,
    month_start,
    partition_name,
)

NOW = datetime(2026, 11, 24, 15, 40, tzinfo=UTC)  # not a midnight: edge days are read raw
SCORECARD = load_scorecard("default")
LOOKBACK = raw_event_lookback_days(SCORECARD)


@pytest.fixture
def private_postgres() -> Iterator[str]:
    """A migrated schema of its own: these tests create and drop partitions."""
    base = os.environ.get("HEALTHSCORE_TEST_DATABASE_URL")
    if not base:
        if os.environ.get("CI"):
            pytest.fail("HEALTHSCORE_TEST_DATABASE_URL must be set in CI")
        pytest.skip("set HEALTHSCORE_TEST_DATABASE_URL to run the PostgreSQL variant")
    schema = f"hs_partitions_{uuid.uuid4().hex[:8]}"
    admin = make_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{base}{'&' if '?' in base else '?'}options={quote(f'-csearch_path={schema}')}"
    yield url
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def ten_months_of_events(session) -> int:
    """Two accounts, a login, a feature use and an API call every 9 hours for 300 days."""
    insert_rows(
        session,
        m.Customer,
        [
            {"id": cid, "name": cid, "created_at": NOW - timedelta(days=400), "traits": {}}
            for cid in ("a", "b")
        ],
    )
    events = []
    for step in range(1, 300 * 24 // 9):
        ts = NOW - timedelta(hours=9 * step)
        cid = "a" if step % 3 else "b"
        events += [
            Event(cid, "login", ts, f"u{step % 4}"),
            Event(cid, "feature_used", ts, None, {"feature": f"f{step % 11}"}),
            Event(cid, "api_call", ts, None, {"calls": step % 7 + 1}),
        ]
    record_events(session, events)
    session.commit()
    return len(events)


def snapshot(session) -> dict[str, tuple]:
    run = score_accounts(session, SCORECARD, as_of=NOW)
    session.rollback()
    return {
        s.customer_id: (s.score, s.tier, [(d.name, d.raw, d.value) for d in s.signals])
        for s in run.scores
    }


def partitions(connection, table: str) -> list[str]:
    return list(
        connection.execute(
            text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = to_regclass(:t) ORDER BY 1"
            ),
            {"t": table},
        ).scalars()
    )


def raw_count(session, older_than: datetime | None = None) -> int:
    total = 0
    for model in (m.Session, m.FeatureUsage, m.ApiUsage):
        query = select(func.count()).select_from(model)
        if older_than is not None:
            query = query.where(model.ts < older_than)
        total += session.scalar(query) or 0
    return total


def test_raw_events_are_partitioned_by_month_and_retention_drops_whole_months(
    private_postgres,
):
    engine = make_engine(private_postgres)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    with sessions() as session:
        stored = ten_months_of_events(session)
        assert raw_count(session) == stored
        before = snapshot(session)
        rollup_rows = session.scalar(select(func.count()).select_from(m.DailySessions))

    first = add_months(month_start(NOW.date()), -10)
    with engine.begin() as connection:
        created = ensure_partitions(connection, now=NOW, first_month=first)
        # Every month from the oldest event to two ahead of NOW, for every raw event table
        # (and to two ahead of the real date: migrating created those).
        ahead = add_months(month_start(max(NOW, datetime.now(UTC)).date()), 2)
        months = [first]
        while months[-1] < ahead:
            months.append(add_months(months[-1], 1))
        for table in PARTITIONED:
            assert partitions(connection, table) == sorted(
                [partition_name(table, month) for month in months] + [f"{table}_default"]
            )
        assert set(created) >= {partition_name("sessions", month) for month in months[:8]}
        # Rows that had landed in DEFAULT moved into their month's partition.
        assert connection.execute(text("SELECT count(*) FROM sessions_default")).scalar() == 0
        assert ensure_partitions(connection, now=NOW, first_month=first) == []  # idempotent

    with sessions() as session:
        assert raw_count(session) == stored
        assert snapshot(session) == before

    with engine.begin() as connection, pytest.raises(RetentionTooShort, match="at least"):
        maintain(connection, retention_days=LOOKBACK, lookback_days=LOOKBACK, now=NOW)
    with sessions() as session:
        assert raw_count(session) == stored  # refused: nothing dropped

    retention = 120
    cutoff = NOW - timedelta(days=retention)
    with engine.begin() as connection:
        report = maintain(connection, retention_days=retention, lookback_days=LOOKBACK, now=NOW)
        expired = [mo for mo in months if add_months(mo, 1) <= cutoff.date()]
        assert sorted(report.dropped) == sorted(
            partition_name(table, month) for table in PARTITIONED for month in expired
        )
        assert partition_name("sessions", month_start(cutoff.date())) in partitions(
            connection, "sessions"
        )

    with sessions() as session:
        assert (
            raw_count(
                session,
                older_than=datetime.combine(month_start(cutoff.date()), datetime.min.time(), UTC),
            )
            == 0
        )
        assert 0 < raw_count(session) < stored
        # Roll-ups are kept whole and the scores have not moved.
        assert session.scalar(select(func.count()).select_from(m.DailySessions)) == rollup_rows
        assert snapshot(session) == before

        # A late event for a dropped month still lands (in DEFAULT) and is rolled up.
        late = NOW - timedelta(days=250)
        record_events(session, [Event("a", "login", late, "u9")])
        session.commit()
        assert (
            session.scalar(
                select(m.DailySessions.logins).where(
                    m.DailySessions.customer_id == "a", m.DailySessions.day == late.date()
                )
            )
            >= 1
        )
    engine.dispose()


def test_retention_on_sqlite_deletes_expired_raw_rows_and_keeps_scores(sqlite_url):
    engine = make_engine(sqlite_url)
    sessions = make_sessionmaker(engine)
    with sessions() as session:
        stored = ten_months_of_events(session)
        before = snapshot(session)
    cutoff = NOW - timedelta(days=100)
    with engine.begin() as connection:
        report = maintain(connection, retention_days=100, lookback_days=LOOKBACK, now=NOW)
        assert report.created == [] and report.dropped == []
    with sessions() as session:
        assert report.deleted_rows == stored - raw_count(session) > 0
        assert raw_count(session, older_than=cutoff) == 0
        assert snapshot(session) == before
    engine.dispose()


def test_migration_partitions_existing_raw_events_and_rolls_them_up(private_postgres):
    engine = make_engine(private_postgres)
    upgrade(engine, "0005")
    old = datetime(2026, 3, 14, 10, 0)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO customers (id, name, plan, segment, mrr, created_at, traits) "
                "VALUES ('c1', 'Old Co', 'pro', 'smb', 10, '2025-01-01', '{}')"
            )
        )
        for hours in range(5):
            connection.execute(
                text("INSERT INTO sessions (customer_id, user_id, ts) VALUES ('c1', 'u1', :ts)"),
                {"ts": old + timedelta(hours=hours)},
            )
    upgrade(engine)
    with engine.begin() as connection:
        assert partition_name("sessions", date(2026, 3, 1)) in partitions(connection, "sessions")
        # Ids keep counting from where the plain table left off.
        new_id = connection.execute(
            text("INSERT INTO sessions (customer_id, ts) VALUES ('c1', now()) RETURNING id")
        ).scalar()
        assert new_id == 6
    with make_sessionmaker(engine)() as session:
        assert session.execute(select(m.DailySessions.day, m.DailySessions.logins)).all() == [
            (old.date(), 5)
        ]
        assert session.scalar(select(func.count()).select_from(m.Session)) == 6
    engine.dispose()
