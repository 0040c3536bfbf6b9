"""The worker's ingest follow-ups: every journaled event applied once, by several
transactions at once on PostgreSQL (``HEALTHSCORE_JOURNAL_APPLIERS``), one at a time on
SQLite; and the near-real-time rescore started when its batching window ends."""

from __future__ import annotations

import gc
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
from healthscore.jobs.worker import start_embedded
from healthscore.playbooks.rules import PlaybookSet
from healthscore.scoring.scorecard_loading import load_scorecard
from healthscore.settings import Settings
from healthscore.storage import job_models as jm
from healthscore.storage import models as m
from healthscore.storage.database import transaction
from healthscore.storage.pending_rescores import mark_for_rescore
from tests.ingest.test_journal import acknowledge, track

REQUESTS = 60
GROUP = 5
"""Entries per transaction here (100 in production), so the appliers have groups to share."""


def make_jobs(
    db_url: str, sessions: sessionmaker[Session], tmp_path: Path, **settings: float
) -> Jobs:
    return Jobs(
        Settings(
            database_url=db_url,
            redis_url=None,
            queue_path=str(tmp_path / "queue.db"),
            **settings,  # type: ignore[arg-type]
        ),
        sessions=sessions,
        scorecard=load_scorecard("default"),
        playbooks=PlaybookSet(version=1, playbooks=[]),
    )


def touch_acme(sessions: sessionmaker[Session]) -> None:
    """One account, ``acme``, touched by ingest: marked for the next rescore."""
    with transaction(sessions) as session:
        upsert_customer(session, {"id": "acme", "name": "Acme"})
        mark_for_rescore(session, {"acme"})


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
    jobs = make_jobs(db_url, accounts, tmp_path, journal_appliers=appliers)
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


def test_the_cyclic_collector_is_paused_while_each_group_is_applied(
    db_url: str, accounts: sessionmaker[Session], tmp_path: Path
) -> None:
    """A group's events become a few objects each, kept to its commit: rescanning them
    took a third of the applier's CPU (``garbage_collection``). The collector is off in
    every transaction, the last (empty) one too, and on again once the journal is empty."""
    jobs = make_jobs(db_url, accounts, tmp_path, journal_appliers=1)
    for i in range(3 * GROUP):
        acknowledge(accounts, jobs.journal, track("Signed In", messageId=f"m{i}"))
    collecting: list[bool] = []
    apply = jobs.journal.apply

    def recording(session: Session, limit: int = GROUP) -> journal.Applied:
        collecting.append(gc.isenabled())
        return apply(session, limit=GROUP)

    jobs.journal.apply = recording  # type: ignore[method-assign]
    try:
        assert jobs.drain_journal(settle=0) == 3 * GROUP
    finally:
        jobs.journal.close()
    assert collecting == [False] * 4
    assert gc.isenabled()


# --- the rescore's batching window ----------------------------------------------------------


def test_a_short_window_is_waited_out_by_the_rescore_itself_not_by_the_scheduler(
    sqlite_url: str, sessions_for_url: Callable[[str], sessionmaker[Session]], tmp_path: Path
) -> None:
    """Huey starts a delayed task at its scheduler's next tick (once a second): a 0.5 s
    window took 0.5-1.5 s. The task is queued at once and waits out the window itself."""
    sessions = sessions_for_url(sqlite_url)
    touch_acme(sessions)
    jobs = make_jobs(sqlite_url, sessions, tmp_path, rescore_delay_seconds=0.3)
    jobs.request_rescore()
    jobs.request_rescore()  # one pending run covers every touch in its window
    assert jobs.huey.pending_count() == 1
    task = jobs.huey.dequeue()
    assert task.eta is None  # runnable at once: no scheduler tick to wait for
    started = time.monotonic()
    jobs.huey.execute(task)
    assert time.monotonic() - started >= 0.29  # the window, then the rescore
    with sessions() as session:
        assert session.scalar(select(m.HealthScore.customer_id)) == "acme"
        assert session.scalar(select(func.count()).select_from(jm.PendingRescore)) == 0


def test_a_long_window_goes_through_the_schedule(
    sqlite_url: str, sessions_for_url: Callable[[str], sessionmaker[Session]], tmp_path: Path
) -> None:
    jobs = make_jobs(sqlite_url, sessions_for_url(sqlite_url), tmp_path, rescore_delay_seconds=30)
    jobs.request_rescore()
    task = jobs.huey.dequeue()
    assert task.eta is not None and task.args == ()  # Huey's scheduler starts it


def test_under_steady_ingest_rescores_take_at_most_a_third_of_a_worker_thread(
    sqlite_url: str, sessions_for_url: Callable[[str], sessionmaker[Session]], tmp_path: Path
) -> None:
    """Not back to back: each run takes every account touched since the last, so runs
    started more often would cost CPU (and SQLite's write lock) for little freshness."""
    sessions = sessions_for_url(sqlite_url)
    touch_acme(sessions)
    jobs = make_jobs(sqlite_url, sessions, tmp_path, rescore_delay_seconds=0.05)
    previous = time.monotonic()
    jobs.pacing.started, jobs.pacing.took = previous, 0.4  # a run just started, 0.4 s long
    jobs.request_rescore()
    jobs.huey.execute(jobs.huey.dequeue())
    assert jobs.pacing.started - previous >= 1.19  # three times 0.4 s, not the window
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(jm.PendingRescore)) == 0


def test_a_graceful_stop_rescores_at_once_instead_of_waiting_out_the_window(
    sqlite_url: str, sessions_for_url: Callable[[str], sessionmaker[Session]], tmp_path: Path
) -> None:
    """A worker stopping (a deploy, the API process's shutdown) with a rescore waiting
    out its window runs it at once: the stop neither waits for the window (here two
    minutes) nor leaves the touched accounts to the next process."""
    sessions = sessions_for_url(sqlite_url)
    touch_acme(sessions)
    jobs = make_jobs(sqlite_url, sessions, tmp_path, rescore_delay_seconds=120)
    consumer = start_embedded(jobs)
    waiting = threading.Thread(target=jobs._rescore_touched, args=(time.time() + 120,))
    waiting.start()  # as a worker thread runs the task Huey's schedule started early
    try:
        time.sleep(0.2)
        assert waiting.is_alive()  # waiting out the window
        consumer.stop(graceful=True)
        waiting.join(timeout=30)
        assert not waiting.is_alive()
    finally:
        jobs.stopping.set()
        waiting.join()
    with sessions() as session:
        assert session.scalar(select(m.HealthScore.customer_id)) == "acme"
        assert session.scalar(select(func.count()).select_from(jm.PendingRescore)) == 0


def test_the_sweep_rescores_marks_left_behind_by_a_killed_process(
    sqlite_url: str, sessions_for_url: Callable[[str], sessionmaker[Session]], tmp_path: Path
) -> None:
    """A process killed after setting the rescore flag, before enqueueing its task, left
    the flag set: the sweep clears it and queues the rescore of the marked accounts."""
    sessions = sessions_for_url(sqlite_url)
    touch_acme(sessions)
    jobs = make_jobs(sqlite_url, sessions, tmp_path, rescore_delay_seconds=0)
    jobs.huey.put("rescore-requested", "1")  # the killed process's flag
    jobs._sweep()
    tasks = [jobs.huey.dequeue() for _ in range(jobs.huey.pending_count())]
    rescores = [task for task in tasks if task.name.endswith("rescore_touched")]
    assert len(rescores) == 1
    jobs.huey.execute(rescores[0])
    with sessions() as session:
        assert session.scalar(select(m.HealthScore.customer_id)) == "acme"
        assert session.scalar(select(func.count()).select_from(jm.PendingRescore)) == 0
    jobs._sweep()  # nothing marked any more: nothing queued
    assert not any(
        jobs.huey.dequeue().name.endswith("rescore_touched")
        for _ in range(jobs.huey.pending_count())
    )
