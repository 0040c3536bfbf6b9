"""Backup/restore of the embedded database and forward migrations with data in them."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, inspect, select, text

from healthscore.ingest.demo import generate_demo
from healthscore.scoring.scorecard_loading import load_scorecard
from healthscore.scoring.service import score_accounts
from healthscore.storage import models as m
from healthscore.storage.backup import backup_sqlite, restore_sqlite
from healthscore.storage.database import make_engine, make_sessionmaker, upgrade

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def test_backup_while_in_use_and_restore(sqlite_url, tmp_path):
    engine = make_engine(sqlite_url)
    with make_sessionmaker(engine)() as session:
        generate_demo(session, customers=5, days=10, seed=1, now=NOW)
        session.commit()
        size = backup_sqlite(sqlite_url, tmp_path / "backup.db")
        assert size > 0
        session.execute(text("DELETE FROM sessions"))
        session.commit()
    engine.dispose()
    restore_sqlite(tmp_path / "backup.db", sqlite_url)
    engine = make_engine(sqlite_url)
    with make_sessionmaker(engine)() as session:
        assert session.scalar(select(func.count()).select_from(m.Session)) > 0
    engine.dispose()
    not_ours = tmp_path / "other.db"
    sqlite3.connect(not_ours).execute("CREATE TABLE x (y)")
    with pytest.raises(ValueError, match="not a healthscore database"):
        restore_sqlite(not_ours, sqlite_url)
    with pytest.raises(ValueError, match="pg_dump"):
        backup_sqlite("postgresql+psycopg://x@localhost/db", tmp_path / "b.db")


def test_migrations_run_forward_from_the_first_release_with_data_in_it(tmp_path):
    """0001 schema with rows → head: the rows survive and the new tables work."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    upgrade(engine, "0001")
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO customers (id, name, plan, segment, mrr, created_at, traits) "
                "VALUES ('c1', 'Old Co', 'pro', 'smb', 10, '2026-01-01 00:00:00', '{}')"
            )
        )
        c.execute(
            text(
                "INSERT INTO users (customer_id, user_id, created_at) "
                "VALUES ('c1', 'u1', '2026-01-02 00:00:00')"
            )
        )
        c.execute(
            text("INSERT INTO sessions (customer_id, user_id, ts) VALUES ('c1', 'u1', :ts)"),
            {"ts": (NOW - timedelta(days=1)).replace(tzinfo=None)},
        )
    upgrade(engine)
    tables = set(inspect(engine).get_table_names())
    assert {"api_keys", "processed_messages", "deliveries", "pending_rescores"} <= tables
    with make_sessionmaker(engine)() as session:
        user = session.scalars(select(m.User)).one()
        assert (user.user_id, user.traits) == ("u1", None)
        run = score_accounts(session, load_scorecard("default"), as_of=NOW)
        assert [s.customer_id for s in run.scores] == ["c1"]
    engine.dispose()
