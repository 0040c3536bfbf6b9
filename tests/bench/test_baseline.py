"""The benchmark's premise: seed 000's loop (bench.baseline) and a rescore with the
``seed000`` scorecard compute the same signal values, so their times compare like for like."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
from bench.baseline import COMPARED_SIGNALS, run_baseline, signal_disagreements

from healthscore.ingest.demo import generate_demo
from healthscore.scoring.scorecard_loading import load_scorecard
from healthscore.scoring.service import score_accounts
from healthscore.storage.database import transaction

NOW = datetime(2026, 6, 15, tzinfo=UTC)


def test_the_seed000_scorecard_computes_the_loops_signal_values_for_every_account(
    postgres_url, redis_url, sessions_for_url
):
    sessions = sessions_for_url(postgres_url)
    with transaction(sessions) as session:
        generate_demo(session, customers=120, days=95, seed=13, now=NOW)
    with transaction(sessions) as session:
        run = score_accounts(session, load_scorecard("seed000"), as_of=NOW)
    dsn = postgres_url.replace("postgresql+psycopg://", "postgresql://", 1)

    try:
        loop = run_baseline(dsn, redis_url, now=NOW, prefix=f"test-{uuid.uuid4().hex[:8]}:")
        check_the_loop_against_the_run(dsn, loop, run.scored)
    finally:  # the loop's own table is no part of the schema the next test on this process gets
        with psycopg.connect(dsn) as pg:
            pg.execute("DROP TABLE IF EXISTS baseline_health_scores")


def check_the_loop_against_the_run(dsn: str, loop: dict[str, Any], scored: int) -> None:
    assert loop["accounts"] == scored > 80  # the same active accounts, most of 120
    with psycopg.connect(dsn) as pg:
        compared, disagreeing = signal_disagreements(pg)
        assert (compared, disagreeing) == (scored, {})
        logins = {
            row[0]
            for row in pg.execute(
                "SELECT e->>'value' FROM baseline_health_scores, "
                "jsonb_array_elements(signals) e WHERE e->>'name' = 'login_frequency'"
            )
        }
        assert len(logins) > 3, "the data must tell accounts apart for the check to mean much"

        # One value off by more than the loop's rounding is reported, account and signal.
        customer_id, signals = pg.execute(
            "SELECT customer_id, signals FROM baseline_health_scores ORDER BY customer_id LIMIT 1"
        ).fetchone()
        changed = [
            {**s, "value": s["value"] + (1 if s["value"] < 100 else -1)}
            if s["name"] == "team_growth"
            else s
            for s in signals
        ]
        pg.execute(
            "UPDATE baseline_health_scores SET signals = %s WHERE customer_id = %s",
            (json.dumps(changed), customer_id),
        )
        assert signal_disagreements(pg) == (scored, {customer_id: ["team_growth"]})
    assert "api_usage_trend" not in COMPARED_SIGNALS  # the one deliberate difference
