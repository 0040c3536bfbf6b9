"""A small demo book of accounts with ten days of score history and outreach behind it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from healthscore.ingest.bulk import insert_rows
from healthscore.ingest.demo import generate_demo
from healthscore.playbooks.rules import load_playbooks
from healthscore.rescoring.listeners import ScoreListeners
from healthscore.rescoring.service import Rescoring
from healthscore.scoring.scorecard_loading import load_scorecard
from healthscore.storage import models as m
from healthscore.storage.database import transaction
from tests.fixtures.snapshots import Snapshot

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
QUIET = "gone_quiet"
HISTORY = [NOW - timedelta(days=d) for d in range(10, 0, -1)]


class Recorder:
    """Stands in for the queue and the listeners: what a rescore handed on, in order."""

    def __init__(self) -> None:
        self.deliveries: list[list[int]] = []
        self.heard: list[list[str]] = []

    def deliver(self, ids: list[int]) -> None:
        self.deliveries.append(list(ids))

    def listen(self, ids: object) -> None:
        self.heard.append(list(ids))  # type: ignore[call-overload]


def rows(session: Session, model: type[m.Base]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def quiet_account(sessions: sessionmaker[Session]) -> str:
    """An enterprise account whose 10 seats logged in daily until 10 days ago: it fires
    ``enterprise_no_login`` (with a Redis message), never alerted before."""
    created = NOW - timedelta(days=300)
    with transaction(sessions) as session:
        insert_rows(
            session,
            m.Customer,
            [
                {
                    "id": QUIET,
                    "name": "Gone Quiet Inc",
                    "segment": "enterprise",
                    "plan": "enterprise",
                    "created_at": created,
                    "traits": {},
                }
            ],
        )
        insert_rows(
            session,
            m.User,
            [
                {"customer_id": "gone_quiet", "user_id": f"u{u}", "created_at": created}
                for u in range(10)
            ],
        )
        insert_rows(
            session,
            m.Session,
            [
                {
                    "customer_id": "gone_quiet",
                    "user_id": f"u{u}",
                    "ts": NOW - timedelta(days=d, hours=3),
                }
                for d in range(10, 200)
                for u in range(10)
            ],
        )
    return QUIET


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def rescoring(sessions: sessionmaker[Session], recorder: Recorder) -> Rescoring:
    return Rescoring(
        sessions=sessions,
        scorecard=load_scorecard("default"),
        playbooks=load_playbooks(),
        deliveries=recorder.deliver,
        listeners=ScoreListeners([recorder.listen]),
    )


def build_book(sessions: sessionmaker[Session]) -> None:
    """40 demo accounts, scored (with their playbooks) on each of the ten days before NOW,
    by a rescoring service of its own: the test's starts afresh, as after a restart."""
    with transaction(sessions) as session:
        generate_demo(session, customers=40, days=45, seed=3, now=NOW)
    recorder = Recorder()
    Rescoring(
        sessions=sessions,
        scorecard=load_scorecard("default"),
        playbooks=load_playbooks(),
        deliveries=recorder.deliver,
        listeners=ScoreListeners([recorder.listen]),
    ).replay(HISTORY, playbooks=True)


@pytest.fixture
def book(db_url: str, sessions: sessionmaker[Session], db_snapshot: Snapshot) -> None:
    """The book (``build_book``), built once per test process and database, then copied."""
    db_snapshot(db_url, "rescoring-book", lambda: build_book(sessions))
