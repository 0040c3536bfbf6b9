"""Two rescores of one account at once (PostgreSQL, where they really overlap: a refresh
while the worker rescores the account) both store their product scores; the later
``as_of`` is what stays."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from healthscore.scoring.product_queries import save_product_scores
from healthscore.storage import models as m
from healthscore.storage.database import make_engine, make_sessionmaker, transaction

EARLIER = datetime(2026, 11, 1, 12, tzinfo=UTC)


def product_row(as_of: datetime, score: int) -> dict[str, object]:
    return {
        "customer_id": "acme",
        "product": "analytics",
        "as_of": as_of,
        "score": score,
        "tier": "healthy",
        "share": 1.0,
        "signals": {},
        "confidence": 1.0,
        "scorecard": "default@v1",
    }


def waiting_backends(sessions) -> int:
    with sessions() as session:
        return int(session.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted")) or 0)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_the_second_of_two_overlapping_rescores_stores_its_product_scores(db_url):
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    failures: list[BaseException] = []
    later = EARLIER + timedelta(seconds=1)

    def second() -> None:
        try:
            with transaction(sessions) as session:
                save_product_scores(
                    session, [product_row(later, 60)], as_of=later, customer_ids=None
                )
        except BaseException as error:  # reported by the assertion below
            failures.append(error)

    try:
        with transaction(sessions) as session:
            session.add(m.Customer(id="acme", name="Acme", created_at=EARLIER, traits={}))
        with transaction(sessions) as first:
            save_product_scores(first, [product_row(EARLIER, 40)], as_of=EARLIER, customer_ids=None)
            racing = threading.Thread(target=second)
            racing.start()  # its delete sees nothing yet; its insert waits on our row
            deadline = time.monotonic() + 10
            while waiting_backends(sessions) == 0 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert waiting_backends(sessions) > 0, "the second rescore never waited"
        racing.join(10)
        assert failures == []
        with sessions() as session:
            stored = session.execute(select(m.ProductScore.as_of, m.ProductScore.score)).all()
            assert stored == [(later, 60)]
    finally:
        engine.dispose()
