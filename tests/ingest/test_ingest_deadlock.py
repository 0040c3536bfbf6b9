"""Rescore marks under contention on PostgreSQL: an applied Segment request whose
transaction the database picks as a deadlock victim is run again instead of answering
503, and the worker's rescore takes its marks without waiting on marks others hold.

The deadlock is built deterministically with a second connection playing the worker: it
deletes a mark the request is about to add (as ``rescore_touched`` does in its rescore
transaction), then adds a mark the request has just added. PostgreSQL detects the cycle
in the request's backend (the other connection's deadlock_timeout is raised), aborts it,
and the request's second run goes through once the other transaction commits.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, text

from healthscore.accounts.repository import upsert_customer
from healthscore.ingest import segment as seg
from healthscore.ingest import segment_messages, segment_requests
from healthscore.jobs.queue import Jobs
from healthscore.scoring.event_mapping import EventMapping
from healthscore.settings import Settings
from healthscore.storage import job_models as jm
from healthscore.storage import models as m
from healthscore.storage.database import make_engine, make_sessionmaker, transaction

NOW = datetime.now(UTC).replace(microsecond=0)


def batch(*accounts: str) -> segment_messages.Batch:
    return segment_messages.Batch.model_validate(
        {
            "batch": [
                {
                    "type": "track",
                    "userId": "u1",
                    "event": "Report Exported",
                    "context": {"groupId": account},
                    "timestamp": (NOW - timedelta(hours=1)).isoformat(),
                }
                for account in accounts
            ]
        }
    )


def test_an_applied_request_chosen_as_deadlock_victim_is_run_again(postgres_url, tmp_path: Path):
    engine = make_engine(postgres_url)
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as session:
        for account in ("a", "b"):
            upsert_customer(session, {"id": account, "name": account})
            session.add(jm.PendingRescore(customer_id=account, touched_at=NOW))
    with transaction(sessions) as session:  # 'a' unmarked: the request adds it anew
        session.execute(text("DELETE FROM pending_rescores WHERE customer_id = 'a'"))
    jobs = Jobs(
        Settings(database_url=postgres_url, ingest_ack="applied", queue_path=str(tmp_path / "q"))
    )
    worker = engine.connect()
    worker.execute(text("SET deadlock_timeout = '10s'"))  # the request's backend detects it
    worker.execute(text("DELETE FROM pending_rescores WHERE customer_id = 'b'"))  # holds 'b'
    failure: list[BaseException] = []

    def request() -> None:
        try:
            with sessions() as session:
                segment_requests.receive(
                    session, jobs, batch("a", "b").batch, EventMapping(), seg.KnownAccounts()
                )
        except BaseException as error:  # reported by the assertion below
            failure.append(error)

    thread = threading.Thread(target=request)
    thread.start()
    time.sleep(0.3)  # the request has added mark 'a' and waits for 'b'
    # Waits for the request's 'a' until the request is aborted as the deadlock's victim.
    worker.execute(text("INSERT INTO pending_rescores VALUES ('a', now()) ON CONFLICT DO NOTHING"))
    worker.commit()
    thread.join(15)
    worker.close()
    jobs.close()
    assert not thread.is_alive()
    assert failure == [], "the deadlock reached the client"
    with sessions() as session:
        stored = session.scalar(select(func.count()).select_from(m.EngagementEvent))
        marks = set(session.scalars(select(jm.PendingRescore.customer_id)))
    engine.dispose()
    assert stored == 2, "applied once, by the second run"
    assert marks == {"a", "b"}


def test_the_rescore_takes_the_marks_nobody_holds_and_leaves_the_others(
    postgres_url, tmp_path: Path
):
    engine = make_engine(postgres_url)
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as session:
        for account in ("a", "b"):
            upsert_customer(
                session, {"id": account, "name": account, "created_at": NOW - timedelta(days=30)}
            )
            session.add(jm.PendingRescore(customer_id=account, touched_at=NOW))
    jobs = Jobs(Settings(database_url=postgres_url, queue_path=str(tmp_path / "q")))
    other = engine.connect()
    other.execute(text("SELECT 1 FROM pending_rescores WHERE customer_id = 'a' FOR UPDATE"))
    done: list[int] = []
    thread = threading.Thread(target=lambda: done.append(jobs._rescore_touched()))
    thread.start()
    thread.join(10)
    other.rollback()
    thread.join(10)
    other.close()
    jobs.close()
    with sessions() as session:
        marks = set(session.scalars(select(jm.PendingRescore.customer_id)))
        scored = set(session.scalars(select(m.HealthScore.customer_id)))
    engine.dispose()
    assert marks == {"a"}, "the held mark waits for the next round, the free one was taken"
    assert scored == {"b"}


def test_an_mrr_change_does_not_deadlock_with_a_rescore_holding_the_mark(postgres_url):
    """A rescore deletes the account's mark, then writes a row referencing the account; an
    MRR change locks the account, then marks it. With the account locked FOR UPDATE the
    two waited for each other (a foreign key check takes KEY SHARE on the account)."""
    from decimal import Decimal

    from healthscore.ingest.facts import record_mrr_change

    engine = make_engine(postgres_url)
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as session:
        upsert_customer(session, {"id": "a", "name": "a"})
        session.add(jm.PendingRescore(customer_id="a", touched_at=NOW))
    worker = engine.connect()
    worker.execute(text("SET deadlock_timeout = '10s'"))  # the request's backend detects it
    worker.execute(text("DELETE FROM pending_rescores WHERE customer_id = 'a'"))  # the claim
    failure: list[BaseException] = []

    def request() -> None:
        try:
            with transaction(sessions) as session:
                record_mrr_change(session, customer_id="a", mrr_amount=Decimal("10.00"))
        except BaseException as error:  # reported by the assertion below
            failure.append(error)

    thread = threading.Thread(target=request)
    thread.start()
    time.sleep(0.3)  # the request holds the account and waits for the mark
    # A row naming the account, as the rescore's scores do: its foreign key is checked.
    worker.execute(text("INSERT INTO pending_rescores VALUES ('a', now())"))
    worker.commit()
    thread.join(15)
    worker.close()
    engine.dispose()
    assert not thread.is_alive()
    assert failure == [], "the request was the deadlock's victim"
