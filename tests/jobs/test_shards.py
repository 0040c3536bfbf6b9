"""Sharded rescores: every account in exactly one shard, resumable after a worker dies."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from healthscore.ingest.demo import generate_demo
from healthscore.jobs import shards
from healthscore.jobs.queue import Jobs
from healthscore.playbooks.rules import load_playbooks
from healthscore.scoring.scorecard_loading import load_scorecard
from healthscore.settings import Settings
from healthscore.storage import job_models as jm
from healthscore.storage import models as m
from healthscore.storage.database import transaction

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def test_a_shard_left_by_a_dead_worker_is_resumed_and_every_account_scored_once(
    db_url, sessions, tmp_path
):
    with transaction(sessions) as session:
        generate_demo(session, customers=40, days=30, seed=3, now=NOW)
    settings = Settings(
        database_url=db_url,
        redis_url=None,
        queue_path=str(tmp_path / "queue.db"),
        shard_claim_seconds=5,
    )
    jobs = Jobs(
        settings, sessions=sessions, scorecard=load_scorecard("default"), playbooks=load_playbooks()
    )
    run_id = jobs.start_sharded_rescore(4, as_of=NOW)
    with sessions() as session:
        planned = session.scalars(
            select(jm.RescoreShard)
            .where(jm.RescoreShard.run_id == run_id)
            .order_by(jm.RescoreShard.shard)
        ).all()
        ranges = [(s.first_id, s.last_id) for s in planned]
        # Ranges are ordered and disjoint: an account cannot fall in two shards.
        assert all(a[1] < b[0] for a, b in itertools.pairwise(ranges))
        # A worker takes shard 0 and dies before finishing it.
        assert shards.claim_shard(session, run_id, 0, claim_seconds=3600) is not None
    for shard in (1, 2, 3):
        assert jobs._rescore_shard(run_id, shard) > 0
    assert jobs._rescore_shard(run_id, 0) == 0, "still claimed by the dead worker"
    with sessions() as session:
        assert not shards.progress(session, run_id).finished
    with transaction(sessions) as session:  # the dead worker's lease runs out
        shard = session.get(jm.RescoreShard, (run_id, 0))
        assert shard is not None and shard.claimed_until is not None
        shard.claimed_until = datetime.now(UTC) - timedelta(seconds=1)
    with sessions() as session:
        assert (run_id, 0) in shards.unfinished_shards(session)
    assert jobs._rescore_shard(run_id, 0) > 0  # what the sweep's re-enqueued task does
    with sessions() as session:
        state = shards.progress(session, run_id)
        assert state.finished and state.accounts == 40
        run = session.get(jm.RescoreRun, run_id)
        assert run is not None and run.finished_at is not None
        day_rows = session.scalar(
            select(func.count())
            .select_from(m.HealthScoreHistory)
            .where(m.HealthScoreHistory.day == NOW.date())
        )
        churned = session.scalar(
            select(func.count()).select_from(m.Customer).where(m.Customer.churned_at <= NOW)
        )
        assert day_rows == 40 - churned
    assert jobs._rescore_shard(run_id, 1) == 0, "a done shard is never scored again"
