"""The worker's scheduled maintenance: retention (whole expired partitions on PostgreSQL),
VACUUM (ANALYZE) of what needs it, one worker at a time."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text, update

from healthscore.ingest.bulk import insert_rows
from healthscore.jobs.queue import Jobs
from healthscore.playbooks.rules import PlaybookSet
from healthscore.scoring.scorecard_loading import load_scorecard
from healthscore.settings import Settings
from healthscore.storage import models as m
from healthscore.storage.database import transaction
from healthscore.storage.partitions import add_months, ensure_partitions, month_start
from healthscore.storage.vacuum import maintenance_lock
from tests.storage.test_vacuum import table_stats


def make_jobs(db_url, sessions, tmp_path, **settings) -> Jobs:
    return Jobs(
        Settings(
            database_url=db_url,
            redis_url=None,
            queue_path=str(tmp_path / "queue.db"),
            raw_event_retention_days=100,
            vacuum_threshold_rows=0,
            vacuum_scale_factor=0,
            **settings,
        ),
        sessions=sessions,
        scorecard=load_scorecard("default"),
        playbooks=PlaybookSet(version=1, playbooks=[]),
    )


def test_the_scheduled_task_drops_expired_partitions_and_vacuums(
    db_url, sessions, tmp_path, caplog
):
    caplog.set_level(logging.INFO, logger="healthscore.jobs.maintenance")
    now = datetime.now(UTC)
    old_month = add_months(month_start(now.date()), -6)  # ended > 100 days ago
    with transaction(sessions) as session:
        if session.bind.dialect.name == "postgresql":  # one partition of that month alone
            before = add_months(old_month, -2)
            ensure_partitions(
                session.connection(),
                now=datetime(before.year, before.month, 1, tzinfo=UTC),
                first_month=old_month,
                tables=["sessions"],
            )
        insert_rows(
            session,
            m.Customer,
            [{"id": "c1", "name": "C1", "created_at": now - timedelta(days=400), "traits": {}}],
        )
        insert_rows(
            session,
            m.Session,
            [
                {"customer_id": "c1", "user_id": "u1", "ts": ts}
                for ts in (now - timedelta(hours=1), datetime.combine(old_month, now.time(), UTC))
            ],
        )
        session.execute(update(m.Customer).values(name="C one"))  # a dead row
        if session.bind.dialect.name == "postgresql":
            session.execute(text("SELECT pg_stat_force_next_flush()"))
    jobs = make_jobs(db_url, sessions, tmp_path)
    assert jobs.maintenance is not None

    assert jobs.huey.execute(jobs.maintenance.s()) is True  # as the worker runs it

    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(m.Session)) == 1
        assert session.scalar(select(func.count()).select_from(m.DailySessions)) == 2  # kept
    if jobs.engine.dialect.name == "postgresql":
        with jobs.engine.connect() as connection:
            dropped = f"sessions_p{old_month:%Y_%m}"
            assert connection.scalar(text("SELECT to_regclass(:t)"), {"t": dropped}) is None
        _, inserted, last_vacuum = table_stats(jobs.engine, "customers")
        assert last_vacuum is not None and inserted == 0
        assert "VACUUM (ANALYZE) of" in caplog.text and "customers" in caplog.text
    else:
        assert "SQLite: no VACUUM needed" in caplog.text and "PRAGMA optimize" in caplog.text
    assert "1 expired raw rows deleted" in caplog.text or "1 dropped" in caplog.text
    jobs.close()


def test_the_maintenance_runs_on_its_schedule_or_not_at_all(db_url, sessions, tmp_path):
    jobs = make_jobs(db_url, sessions, tmp_path, maintenance_cron="15 */6 * * *")
    task = jobs.maintenance.task_class
    assert task().validate_datetime(datetime(2026, 12, 6, 6, 15))
    assert not task().validate_datetime(datetime(2026, 12, 6, 7, 15))
    assert make_jobs(db_url, sessions, tmp_path, maintenance_cron="").maintenance is None


def test_two_workers_at_once_maintain_once(db_url, sessions, tmp_path):
    first, second = (make_jobs(db_url, sessions, tmp_path) for _ in range(2))
    postgres = first.engine.dialect.name == "postgresql"
    with maintenance_lock(first.engine):  # another worker is in the middle of a pass
        assert second._maintenance() is (not postgres)

    results: list[bool] = []
    start = threading.Barrier(2)

    def run(jobs: Jobs) -> None:
        start.wait()
        results.append(jobs._maintenance())

    threads = [threading.Thread(target=run, args=(jobs,)) for jobs in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Neither fails; on PostgreSQL the one that found the lock taken did nothing.
    assert len(results) == 2 and True in results
