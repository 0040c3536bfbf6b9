"""The worker's journal apply: every journaled event applied once, by several transactions
at once on PostgreSQL (``HEALTHSCORE_JOURNAL_APPLIERS``), one at a time on SQLite."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from healthscore.accounts.repository import upsert_customer
from healthscore.ingest import journal
from healthscore.jobs.queue import Jobs
from healthscore.playbooks.rules import PlaybookSet
from healthscore.scoring.scorecard import load_scorecard
from healthscore.settings import Settings
from healthscore.storage import job_models as jm
from healthscore.storage import models as m
from healthscore.storage.database import transaction
from tests.ingest.test_journal import acknowledge, track

REQUESTS = 60
GROUP = 5
"""Entries per transaction here (100 in production), so the appliers have groups to share."""


@pytest.fixture
def accounts(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with transaction(sessions) as session:
        for customer_id in ("acme", "globex"):
            upsert_customer(session, {"id": customer_id, "name": customer_id.title()})
    return sessions


def make_jobs(db_url: str, sessions: sessionmaker[Session], tmp_path: Path, appliers: int) -> Jobs:
    return Jobs(
        Settings(
            database_url=db_url,
            redis_url=None,
            queue_path=str(tmp_path / "queue.db"),
            journal_appliers=appliers,
        ),
        sessions=sessions,
        scorecard=load_scorecard("default"),
        playbooks=PlaybookSet(version=1, playbooks=[]),
    )


class Overlap:
    """Wraps ``Journal.apply`` to count how many transactions apply at once; each holds
    its entries a little, as a group's statements would."""

    def __init__(self, apply: Callable[..., journal.Applied]) -> None:
        self._apply = apply
        self._lock = threading.Lock()
        self.active = self.most = 0

    def __call__(self, session: Session, limit: int = GROUP) -> journal.Applied:
        with self._lock:
            self.active += 1
            self.most = max(self.most, self.active)
        try:
            applied = self._apply(session, limit=GROUP)
            time.sleep(0.02)
            return applied
        finally:
            with self._lock:
                self.active -= 1


@pytest.mark.parametrize("appliers", [1, 3])
def test_every_journaled_event_is_applied_once_by_any_number_of_appliers(
    db_url: str, accounts: sessionmaker[Session], tmp_path: Path, appliers: int
) -> None:
    jobs = make_jobs(db_url, accounts, tmp_path, appliers)
    for i in range(REQUESTS):
        acknowledge(
            accounts,
            jobs.journal,
            track("Signed In", messageId=f"m{i}"),
            track("Signed In", messageId=f"m{i}"),  # a retry within the request
            track("Feature Used", account="globex", properties={"feature": "reports"}),
        )
    overlap = Overlap(jobs.journal.apply)
    jobs.journal.apply = overlap  # type: ignore[method-assign]
    try:
        assert jobs.drain_journal(settle=0.01) == 2 * REQUESTS
    finally:
        jobs.journal.close()
    with accounts() as session:
        assert session.scalar(select(func.count()).select_from(m.Session)) == REQUESTS
        assert session.scalar(select(func.sum(m.DailySessions.logins))) == REQUESTS
        assert session.scalar(select(func.sum(m.DailyFeatures.events))) == REQUESTS
        assert set(session.scalars(select(jm.PendingRescore.customer_id))) == {"acme", "globex"}
        assert jobs.journal.backlog(session)[:2] == (0, 0)
    # PostgreSQL's journal is a table the appliers share; SQLite's file is applied in turn.
    if db_url.startswith("postgresql") and appliers > 1:
        assert overlap.most > 1
    else:
        assert overlap.most == 1
