"""A full run in id-range chunks (``service.FULL_RUN_CHUNK``) stores exactly what one pass
stores, parents' roll-ups included, with later chunks still read on two connections."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import update

from healthscore.scoring import aggregates, repository, service
from healthscore.scoring.service import score_accounts
from healthscore.storage import models as m
from tests.scoring.test_fast_paths import CARD, NOW, stored


def test_a_chunked_full_run_stores_what_one_pass_stores(demo, monkeypatch):
    ids = [account.id for account in repository.active_accounts(demo, as_of=NOW)]
    # A parent in the first chunk with children in the last, one of them a parent too.
    parent, middle, child = ids[0], ids[-2], ids[-1]
    demo.execute(update(m.Customer).where(m.Customer.id == middle).values(parent_id=parent))
    demo.execute(update(m.Customer).where(m.Customer.id == child).values(parent_id=middle))
    demo.commit()
    monkeypatch.setattr(aggregates, "CONCURRENT_READ_MIN_ACCOUNTS", 1)
    reads: list[bool] = []
    real = aggregates.read_concurrently

    def spy(*args: Any, **kwargs: Any) -> Any:
        reads.append(True)
        return real(*args, **kwargs)

    monkeypatch.setattr(aggregates, "read_concurrently", spy)

    one_pass = score_accounts(demo, CARD, as_of=NOW)
    expected = stored(demo)
    demo.rollback()
    monkeypatch.setattr(service, "FULL_RUN_CHUNK", 17)  # 80 accounts: 5 chunks, then parents
    monkeypatch.setattr(service, "CHUNKED_FROM", 17)
    reads.clear()
    chunked = score_accounts(demo, CARD, as_of=NOW)

    assert stored(demo) == expected
    assert [(s.customer_id, s.score, s.tier) for s in chunked.scores] == [
        (s.customer_id, s.score, s.tier) for s in one_pass.scores
    ]
    assert sorted(chunked.churned) == sorted(one_pass.churned)
    rolled = demo.get(m.HealthScore, parent)
    assert rolled is not None and "rollup" in rolled.signals.get("adjusted", {})
    if demo.get_bind().dialect.name == "postgresql":
        # Every chunk read on two connections, though the first had written by then.
        assert len(reads) >= 5
    demo.rollback()


def test_a_failed_read_ahead_fails_the_run_and_leaves_no_reader(demo, monkeypatch):
    """The next chunk is read on another thread while one is written (PostgreSQL): its
    error is the run's, and the run ends only once that reader has."""
    monkeypatch.setattr(service, "FULL_RUN_CHUNK", 30)
    monkeypatch.setattr(service, "CHUNKED_FROM", 30)
    real = aggregates.load_aggregate_columns
    calls: list[int] = []

    def second_read_fails(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("read failed")
        return real(*args, **kwargs)

    monkeypatch.setattr(aggregates, "load_aggregate_columns", second_read_fails)
    with pytest.raises(RuntimeError, match="read failed"):
        score_accounts(demo, CARD, as_of=NOW)
    assert not [t for t in threading.enumerate() if t.name == "healthscore-read-ahead"]
    demo.rollback()
