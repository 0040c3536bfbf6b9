"""bench.cases measures what it claims on a small demo book, on both databases: at most
one unresolved case per account and playbook, and no message for a persisting condition."""

from __future__ import annotations

from bench.cases import NOW, measure, replay_days, report

from healthscore.ingest.demo import generate_demo
from healthscore.playbooks.rules import load_playbooks
from healthscore.scoring.scorecard_loading import load_scorecard
from healthscore.storage.database import transaction


def test_the_case_invariants_hold_over_a_replayed_demo_book(sessions):
    with transaction(sessions) as session:
        generate_demo(session, customers=60, days=50, seed=11, now=NOW)
    figures = measure(
        sessions,
        scorecard=load_scorecard("default"),
        playbooks=load_playbooks(),
        moments=replay_days(10, 10),
        horizon_days=10,
    )
    assert figures.max_unresolved == 1
    assert figures.persisting_messages == 0
    # The measurement is not vacuous: conditions persisted across runs.
    assert figures.firings > figures.cases > 0
    assert figures.messages["opened"] == figures.cases
    assert figures.stream_entries >= figures.cases
    assert 0 < figures.accounts <= 60 and figures.base_rate is not None
    assert "must be 0" in report(figures)
