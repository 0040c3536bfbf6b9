"""A `healthscore worker` SIGKILLed in the middle of a shard: the rescore still completes,
and every account is scored exactly once for the run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from healthscore.ingest.demo import generate_demo
from healthscore.jobs import shards
from healthscore.jobs.queue import Jobs
from healthscore.playbooks.rules import load_playbooks
from healthscore.scoring.scorecard_loading import load_scorecard
from healthscore.settings import Settings
from healthscore.storage import job_models as jm
from healthscore.storage import models as m
from healthscore.storage.database import transaction

pytestmark = pytest.mark.slow  # processes of its own: `make test` runs it in its own step

HEALTHSCORE = str(Path(sys.executable).parent / "healthscore")
NOW = datetime.now(UTC).replace(microsecond=0)


def test_a_worker_killed_mid_shard_loses_nothing(db_url, sessions_for_url, redis_url):
    sessions = sessions_for_url(db_url)
    with transaction(sessions) as session:
        generate_demo(session, customers=600, days=40, seed=5, now=NOW)
    queue = f"kill-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "HEALTHSCORE_DATABASE_URL": db_url,
        "HEALTHSCORE_REDIS_URL": redis_url,
        "HEALTHSCORE_QUEUE_NAME": queue,
        "HEALTHSCORE_SHARD_CLAIM_SECONDS": "5",
        "HEALTHSCORE_LOG_LEVEL": "WARNING",
    }
    settings = Settings(
        database_url=db_url, redis_url=redis_url, queue_name=queue, shard_claim_seconds=5
    )
    jobs = Jobs(
        settings, sessions=sessions, scorecard=load_scorecard("default"), playbooks=load_playbooks()
    )
    worker = subprocess.Popen([HEALTHSCORE, "worker", "--threads", "1", "--no-periodic"], env=env)
    try:
        run_id = jobs.start_sharded_rescore(2, as_of=NOW)
        deadline = time.monotonic() + 60
        while True:  # kill the worker while it holds a shard it has not finished
            with sessions() as session:
                running = session.scalar(
                    select(func.count())
                    .select_from(jm.RescoreShard)
                    .where(jm.RescoreShard.run_id == run_id, jm.RescoreShard.status == "running")
                )
            if running:
                worker.send_signal(signal.SIGKILL)
                worker.wait(10)
                break
            assert time.monotonic() < deadline, "the worker never started a shard"
            time.sleep(0.005)
        with sessions() as session:
            assert not shards.progress(session, run_id).finished
        with sessions() as session, session.begin():  # the dead worker's claim expires:
            # moved into the past rather than waited for, as tests/jobs/test_shards.py does
            session.execute(
                update(jm.RescoreShard)
                .where(jm.RescoreShard.run_id == run_id, jm.RescoreShard.status == "running")
                .values(claimed_until=datetime.now(UTC) - timedelta(seconds=1))
            )
        worker = subprocess.Popen(
            [HEALTHSCORE, "worker", "--threads", "1", "--no-periodic"], env=env
        )
        jobs._sweep()  # what the periodic sweep does every minute
        deadline = time.monotonic() + 120
        while True:
            with sessions() as session:
                state = shards.progress(session, run_id)
            if state.finished:
                break
            assert time.monotonic() < deadline, f"run stuck at {state}"
            time.sleep(0.2)
    finally:
        if worker.poll() is None:
            worker.terminate()
            worker.wait(30)
    with sessions() as session:
        rows = session.scalars(
            select(jm.RescoreShard).where(jm.RescoreShard.run_id == run_id)
        ).all()
        assert max(s.attempts for s in rows) == 2, "one shard was re-run after the kill"
        active = session.scalar(
            select(func.count())
            .select_from(m.Customer)
            .where(m.Customer.churned_at.is_(None) | (m.Customer.churned_at > NOW))
        )
        scored_today = session.scalar(
            select(func.count())
            .select_from(m.HealthScoreHistory)
            .where(m.HealthScoreHistory.day == NOW.date())
        )
        assert scored_today == active
        assert sum(s.accounts for s in rows) == 600
