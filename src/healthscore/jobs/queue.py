"""Background jobs on Huey: deliveries, near-real-time rescoring, periodic full rescores.

Why Huey: one small, well-kept library that runs on Redis in production and on a SQLite
file embedded (so ``make demo`` needs no server and no extra process), with delayed and
periodic tasks built in. Several workers can share one Redis: each task is popped by one
worker, and deliveries are additionally *claimed* in the database before sending
(``playbooks.outbox``), so a task that runs twice still sends once.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from huey import Huey, RedisHuey, SqliteHuey, crontab
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from healthscore.ingest.journal import SETTLE_SECONDS, Journal
from healthscore.jobs import shards as sharding
from healthscore.jobs.journal_apply import drain_journal
from healthscore.jobs.maintenance import run_maintenance
from healthscore.jobs.rescore_pacing import RescorePacing
from healthscore.observability.metrics import DELIVERIES
from healthscore.playbooks import delivery, outbox
from healthscore.playbooks.mail import SmtpServer
from healthscore.playbooks.rules import PlaybookSet, load_playbooks
from healthscore.rescoring.listeners import ScoreListeners
from healthscore.rescoring.service import Rescoring
from healthscore.scoring.scorecard import Scorecard
from healthscore.scoring.scorecard_loading import load_scorecard
from healthscore.settings import Settings, scorecard_location
from healthscore.storage import pending_rescores
from healthscore.storage.database import make_engine, make_sessionmaker, transaction
from healthscore.storage.partitions import MaintenanceReport
from healthscore.storage.vacuum import VacuumReport

log = logging.getLogger(__name__)
RESCORE_FLAG = "rescore-requested"
APPLY_FLAG = "journal-apply-requested"
RESCORE_BATCH = 10_000


def queue_file(settings: Settings) -> Path:
    if settings.queue_path:
        return Path(settings.queue_path)
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(f"{url.database}.queue")
    return Path("healthscore-queue.db")


def make_huey(settings: Settings) -> Huey:
    if settings.redis_url:
        return RedisHuey(settings.queue_name, url=settings.redis_url, results=False)
    path = queue_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(settings.queue_name, filename=str(path), results=False)


def _cron(expression: str) -> Any:
    minute, hour, day, month, day_of_week = expression.split()
    return crontab(minute=minute, hour=hour, day=day, month=month, day_of_week=day_of_week)


class Jobs:
    """The task registry of one process (API server, worker or CLI)."""

    def __init__(
        self,
        settings: Settings,
        *,
        sessions: sessionmaker[Session] | None = None,
        scorecard: Scorecard | None = None,
        playbooks: PlaybookSet | None = None,
        listeners: ScoreListeners | None = None,
    ) -> None:
        self.settings = settings
        self.huey = make_huey(settings)
        self._engine: Engine | None = None
        self._sessions = sessions
        self.scorecard = scorecard or load_scorecard(scorecard_location(settings.scorecard))
        self.playbooks = playbooks or load_playbooks(settings.playbooks)
        self.listeners = listeners or ScoreListeners()
        """Told after scores change: the read cache, live dashboards."""
        self.deliver = self.huey.task(name="deliver")(self._deliver)
        self.rescore_touched = self.huey.task(name="rescore_touched")(self._rescore_touched)
        self.apply_journal = self.huey.task(name="apply_journal")(self._apply_journal)
        self.rescore_all = self.huey.task(name="rescore_all")(self._rescore_all)
        self.rescore_shard = self.huey.task(name="rescore_shard")(self._rescore_shard)
        self.sweep = self.huey.periodic_task(crontab(minute="*"), name="sweep")(self._sweep)
        self.nightly = self.huey.periodic_task(
            _cron(settings.full_rescore_cron), name="nightly_rescore"
        )(self._nightly)
        self.pacing = RescorePacing(settings.rescore_delay_seconds)
        """When this process starts its touched-account rescores."""
        self.stopping = threading.Event()
        """Set when this process's worker stops (``jobs.worker`` makes it the consumer's
        stop flag): a rescore waiting out its batching window starts at once, so a
        graceful stop neither waits for the window nor leaves the touched accounts."""
        self.maintenance: Any = None
        """The scheduled maintenance task; None with an empty maintenance_cron."""
        if settings.maintenance_cron.strip():
            self.maintenance = self.huey.periodic_task(
                _cron(settings.maintenance_cron), name="maintenance"
            )(self._maintenance)

    @functools.cached_property
    def journal(self) -> Journal:
        """Where journaled Segment requests wait (``ingest.journal``)."""
        return Journal(self.settings.database_url)

    @property
    def sessions(self) -> sessionmaker[Session]:
        if self._sessions is None:
            self._engine = make_engine(self.settings.database_url)
            self._sessions = make_sessionmaker(self._engine)
        return self._sessions

    @functools.cached_property
    def rescoring(self) -> Rescoring:
        """How this process rescores: its deliveries go to this queue."""
        return Rescoring(
            sessions=self.sessions,
            scorecard=self.scorecard,
            playbooks=self.playbooks,
            deliveries=self.enqueue_deliveries,
            listeners=self.listeners,
        )

    # --- enqueueing (called after commits) ---------------------------------------------

    def enqueue_deliveries(self, delivery_ids: list[int]) -> None:
        for delivery_id in delivery_ids:
            try:
                self.deliver(delivery_id)
            except Exception:  # the periodic sweep re-enqueues anything left behind
                log.warning("could not enqueue delivery %s; the sweep will", delivery_id)

    def request_rescore(self) -> None:
        """Have one batched rescore of touched accounts run once the batching window
        (``rescore_delay_seconds``) has passed, unless one is pending.

        A short window is waited out by the task itself, enqueued at once; a long one
        goes through Huey's schedule (``jobs.rescore_pacing``)."""
        try:
            if self.huey.put_if_empty(RESCORE_FLAG, "1"):
                delay = self.settings.rescore_delay_seconds
                if self.pacing.in_task():
                    self.rescore_touched(time.time() + delay)
                else:
                    self.rescore_touched.schedule(delay=delay)
        except Exception:
            log.warning("could not schedule a rescore; the sweep will", exc_info=True)

    def request_apply(self) -> None:
        """Have a worker apply the ingest journal now, unless a run is already queued."""
        try:
            if self.huey.put_if_empty(APPLY_FLAG, "1"):
                self.apply_journal()
        except Exception:
            log.warning("could not enqueue the journal's apply; the sweep will", exc_info=True)

    # --- tasks -------------------------------------------------------------------------

    def _apply_journal(self) -> int:
        """Apply the ingest journal until it is empty, many requests per transaction.

        One run at a time: the flag stays set while this runs, so requests journaled
        meanwhile do not queue a second run. (Cleared at the start, as it was, a second
        run took the worker's other thread under steady ingest, and the near-real-time
        rescore waited for the journal to be empty, which it never was.) Once the
        journal is found empty the flag is cleared and the journal looked at once more,
        so an entry journaled just before the clear is not left to the sweep."""
        try:
            total = self.drain_journal(settle=SETTLE_SECONDS)
        finally:
            self.huey.get(APPLY_FLAG)
        with self.sessions() as session:
            waiting = self.journal.backlog(session)[0]
        if waiting:
            self.request_apply()
        return total

    def resume(self) -> None:
        """At a worker's start: clear the flags a killed process may have left set (they
        would keep request_* from queueing anything until the sweep), then apply what
        the journal holds and rescore what is marked."""
        self.huey.get(APPLY_FLAG)
        self.huey.get(RESCORE_FLAG)
        self.request_apply()
        self.request_rescore()

    def drain_journal(self, *, settle: float = 0.0) -> int:
        """Apply the journal until it is empty (``jobs.journal_apply``); the events applied."""
        return drain_journal(
            self.journal,
            self.sessions,
            appliers=self.settings.journal_appliers,
            settle=settle,
            touched=self.request_rescore,
        )

    def _deliver(self, delivery_id: int) -> str:
        with self.sessions() as session:
            claimed = outbox.claim(
                session, delivery_id, claim_seconds=self.settings.delivery_claim_seconds
            )
            if claimed is None:
                return "not due or taken by another worker"
            kind = claimed.kind
            try:
                delivery.send(
                    claimed,
                    redis_url=self.settings.redis_url,
                    allow_private=self.settings.allow_private_webhook_targets,
                    smtp=SmtpServer.from_settings(self.settings),
                )
            except delivery.NotConfigured as error:
                outbox.mark_skipped(session, delivery_id, str(error))
                DELIVERIES.labels(kind, "skipped").inc()
                return f"skipped: {error}"
            except delivery.DeliveryError as error:
                first = self.settings.delivery_retry_seconds
                retry = outbox.mark_failed(session, claimed, str(error), first_retry=first)
                DELIVERIES.labels(kind, "failed" if retry else "gave_up").inc()
                log.warning("delivery %s (%s) failed: %s", delivery_id, kind, error)
                if retry:
                    wait = outbox.backoff(claimed.attempts, first).total_seconds()
                    self.deliver.schedule(args=(delivery_id,), delay=wait)
                return f"attempt {claimed.attempts} failed: {error}"
            outbox.mark_delivered(session, delivery_id)
            DELIVERIES.labels(kind, "delivered").inc()
            return "delivered"

    def _rescore_touched(self, not_before: float | None = None) -> int:
        """Rescore the accounts marked touched, once ``not_before`` (a ``time.time()``)
        has come and the pacing allows (``jobs.rescore_pacing``)."""
        if not_before is not None:
            wait = self.pacing.wait(not_before)
            if wait > 0:
                self.stopping.wait(wait)
        started = time.monotonic()
        try:
            return self._rescore_marked()
        finally:
            self.pacing.record(started)

    def _rescore_marked(self) -> int:
        self.huey.get(RESCORE_FLAG)  # clear first: touches from now on schedule a new run
        with self.sessions() as session:
            ids = pending_rescores.marked(session, RESCORE_BATCH)
        if not ids:
            return 0
        self.rescoring.rescore(
            kind="touched",
            as_of=None,
            select_ids=lambda session: pending_rescores.claim_marked(session, ids),
        )
        if len(ids) == RESCORE_BATCH:
            self.request_rescore()
        return len(ids)

    def _nightly(self) -> int:
        """Partitions ahead and retention first, then the full rescore, then VACUUM of
        the score tables it has just rewritten (every row of ``health_scores``)."""
        try:
            self.maintain(vacuum=False)
        except Exception:  # a failed maintenance must not cost the night's scores
            log.exception("raw-event maintenance failed; rescoring anyway")
        scored = self._rescore_all()
        try:
            self.maintain(partitions=False)
        except Exception:
            log.exception("maintenance after the full rescore failed")
        return scored

    def _maintenance(self) -> bool:
        """The scheduled pass (``HEALTHSCORE_MAINTENANCE_CRON``); False when another
        worker was running it."""
        return self.maintain() is not None

    @property
    def engine(self) -> Engine:
        """The engine behind ``sessions`` (VACUUM needs a connection outside a session)."""
        with self.sessions() as session:
            bind = session.get_bind()
        return bind if isinstance(bind, Engine) else bind.engine

    def maintain(
        self, *, partitions: bool = True, vacuum: bool = True
    ) -> tuple[MaintenanceReport, VacuumReport] | None:
        """Database maintenance (``jobs.maintenance``); None when another process ran it."""
        return run_maintenance(
            self.engine,
            self.sessions,
            self.settings,
            self.scorecard,
            partitions=partitions,
            vacuum=vacuum,
        )

    def _rescore_all(self) -> int:
        return self.rescoring.rescore(kind="full", as_of=datetime.now(UTC)).run.scored

    def start_sharded_rescore(self, shards: int, *, as_of: datetime | None = None) -> int:
        """Plan a full rescore in ``shards`` id ranges and queue them for all workers."""
        with transaction(self.sessions) as session:
            run = sharding.plan_run(session, as_of=as_of or datetime.now(UTC), shards=shards)
            run_id, count = run.id, run.shards
        for shard in range(count):
            self.rescore_shard(run_id, shard)
        return run_id

    def _rescore_shard(self, run_id: int, shard: int) -> int:
        with self.sessions() as session:
            claimed = sharding.claim_shard(
                session, run_id, shard, claim_seconds=self.settings.shard_claim_seconds
            )
        if claimed is None:
            return 0
        id_range, as_of = claimed
        rescored = self.rescoring.rescore(
            kind="shard",
            as_of=as_of,
            id_range=id_range,
            record=lambda session, run: sharding.finish_shard(
                session, run_id, shard, run.scored + len(run.churned)
            ),
        )
        return rescored.run.scored

    def _sweep(self) -> None:
        """Safety net: re-enqueue due deliveries, pending rescores, abandoned shards and a
        journal left unapplied (a lost queue message, a worker that died)."""
        with self.sessions() as session:
            due = outbox.due(session)
            pending = pending_rescores.marked(session, 1)
            journaled = self.journal.backlog(session)[0]
            shards = sharding.unfinished_shards(session)
        self.enqueue_deliveries(due)
        for run_id, shard in shards:
            self.rescore_shard(run_id, shard)
        # A flag left set by a process killed between setting it and enqueueing its task
        # would make request_* skip the work forever: clear it first (at worst one run
        # more, which finds less or nothing to do).
        if pending:
            self.huey.get(RESCORE_FLAG)
            self.request_rescore()
        if journaled:
            self.huey.get(APPLY_FLAG)
            self.request_apply()

    def close(self) -> None:
        if "journal" in self.__dict__:
            self.journal.close()
        if self._engine is not None:
            self._engine.dispose()
