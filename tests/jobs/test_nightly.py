"""The nightly job: raw-event maintenance, then the full rescore."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from healthscore.ingest.bulk import insert_rows
from healthscore.jobs.queue import Jobs
from healthscore.playbooks.rules import PlaybookSet
from healthscore.scoring.scorecard_loading import load_scorecard
from healthscore.settings import Settings
from healthscore.storage import models as m
from healthscore.storage.database import transaction


def test_the_nightly_job_applies_retention_and_rescores(db_url, sessions, tmp_path):
    now = datetime.now(UTC)
    with transaction(sessions) as session:
        insert_rows(
            session,
            m.Customer,
            [{"id": "c1", "name": "C1", "created_at": now - timedelta(days=900), "traits": {}}],
        )
        insert_rows(
            session,
            m.Session,
            [
                {"customer_id": "c1", "user_id": "u1", "ts": now - timedelta(days=d)}
                for d in (1, 500)
            ],
        )
    settings = Settings(
        database_url=db_url,
        redis_url=None,
        queue_path=str(tmp_path / "queue.db"),
        raw_event_retention_days=400,
    )
    jobs = Jobs(
        settings,
        sessions=sessions,
        scorecard=load_scorecard("default"),
        playbooks=PlaybookSet(version=1, playbooks=[]),
    )

    assert jobs._nightly() == 1  # one account rescored

    with sessions() as session:
        kept = session.scalars(select(m.Session.ts)).all()
        assert [round((now - ts).total_seconds() / 86400) for ts in kept] == [1]
        # The expired day is still in the roll-ups.
        assert session.scalar(select(func.count()).select_from(m.DailySessions)) == 2
        assert session.get(m.HealthScore, "c1") is not None
