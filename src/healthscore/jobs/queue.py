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
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from huey import Huey, RedisHuey, SqliteHuey, crontab
from sqlalchemy import Engine, delete, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from healthscore.ingest.journal import MAX_ENTRIES, SETTLE_SECONDS, Journal
from healthscore.jobs import shards as sharding
from healthscore.observability.metrics import DELIVERIES, INGESTED
from healthscore.playbooks import delivery, outbox
from healthscore.playbooks.mail import SmtpServer
from healthscore.playbooks.rules import PlaybookSet, load_playbooks
from healthscore.rescoring.listeners import ScoreListeners
from healthscore.rescoring.service import Rescoring
from healthscore.scoring.engine import raw_event_lookback_days
from healthscore.scoring.scorecard import Scorecard, load_scorecard
from healthscore.settings import Settings, scorecard_location
from healthscore.storage import job_models as jm
from healthscore.storage import models as m
from healthscore.storage.database import make_engine, make_sessionmaker, transaction, transient
from healthscore.storage.partitions import MaintenanceReport, maintain
from healthscore.storage.pending_rescores import mark_for_rescore
from healthscore.storage.vacuum import VacuumReport, maintenance_lock, vacuum_due

log = logging.getLogger(__name__)
RESCORE_FLAG = "rescore-requested"
APPLY_FLAG = "journal-apply-requested"
RESCORE_BATCH = 10_000
APPLY_ATTEMPTS = 3
"""Tries of a journal group whose transaction the database aborted (a deadlock victim)."""
WAIT_IN_TASK_SECONDS = 2.0
"""Longest rescore batching window a rescore task waits out on its thread (``request_rescore``)."""
PAUSE_PER_RUN_SECOND = 3
"""A touched-account rescore starts no sooner than this many times the previous run's
duration after its start: under steady ingest, at most a third of a worker thread's time.
Measured on 2 cores: 2 cost SQLite's applied mode a quarter of its throughput (the rescore
holds the write lock; 2,926 against 3,358-3,969 events/s before), 4 made fresh scores at
15,000 events/s on PostgreSQL 0.5 s later (median 2.28 against 1.80 s); 3: 4,023 events/s,
2.04 s."""


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
        self._last_touched_rescore = (-WAIT_IN_TASK_SECONDS, 0.0)
        """When this process last started a touched-account rescore (``time.monotonic``)
        and how long it took."""
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

        A window of up to ``WAIT_IN_TASK_SECONDS`` is waited out by the task itself,
        enqueued at once: Huey starts a delayed task only at its scheduler's next tick,
        once a second, so a 0.5 s window meant 0.5 to 1.5 s (about 1 s on average) before
        the rescore began. Longer windows go through Huey's schedule (no thread waits)."""
        try:
            if self.huey.put_if_empty(RESCORE_FLAG, "1"):
                delay = self.settings.rescore_delay_seconds
                if delay <= WAIT_IN_TASK_SECONDS:
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
        """Apply the journal until it is empty; the events applied. ``settle``: after a
        partial group, wait that long for a fuller one (the worker's task does; a server
        emptying the journal on its way out does not).

        On PostgreSQL ``journal_appliers`` transactions run at once, each on a thread and
        a connection of its own taking its own entries (as several workers would): one
        applier's statements run in the database while another decodes its group, which
        one applier, waiting for each statement in turn, could not overlap."""
        appliers = self.settings.journal_appliers if self.journal.shared else 1
        if appliers == 1:
            return self._drain(settle)
        with ThreadPoolExecutor(appliers, thread_name_prefix="journal-apply") as pool:
            runs = [pool.submit(self._drain, settle) for _ in range(appliers)]
            return sum(run.result() for run in runs)

    def _drain(self, settle: float) -> int:
        total, aborted = 0, 0
        while True:
            try:
                with transaction(self.sessions) as session:
                    applied = self.journal.apply(session)
                    mark_for_rescore(session, applied.customers)
            except DBAPIError as error:
                aborted += 1
                if aborted == APPLY_ATTEMPTS or not transient(error):
                    raise
                # Rolled back whole: its entries are back in the journal for the next try.
                log.info("journal apply aborted by the database (%s); retrying", error.orig)
                continue
            aborted = 0
            self.journal.prune(applied)
            if not applied.entries:
                return total
            total += applied.events
            INGESTED.labels("segment").inc(applied.events)
            if applied.dropped:
                log.info("journal: %d events of erased accounts dropped", applied.dropped)
            if applied.customers:
                self.request_rescore()
            if applied.entries < MAX_ENTRIES and settle:
                time.sleep(settle)  # let a fuller group gather

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
        has come: the rest of the batching window is waited out here, on this thread,
        never longer than the window itself (the process that asked may have another
        clock), and never sooner than one window, or ``PAUSE_PER_RUN_SECOND`` times
        the time this worker's previous run took, after that run's start. Each run
        rescores every account touched since the last, so under steady ingest runs
        started back to back would spend the worker (and, on SQLite, the write lock) on
        rescoring the same accounts for little freshness: at most one run per window, at
        most a third of a worker thread's time."""
        if not_before is not None:
            window = self.settings.rescore_delay_seconds
            started, took = self._last_touched_rescore
            wait = max(
                min(not_before - time.time(), window),
                started + max(window, PAUSE_PER_RUN_SECOND * took) - time.monotonic(),
            )
            if wait > 0:
                time.sleep(wait)
        started = time.monotonic()
        try:
            return self._rescore_marked()
        finally:
            self._last_touched_rescore = (started, time.monotonic() - started)

    def _rescore_marked(self) -> int:
        self.huey.get(RESCORE_FLAG)  # clear first: touches from now on schedule a new run
        with self.sessions() as session:
            ids = list(session.scalars(select(jm.PendingRescore.customer_id).limit(RESCORE_BATCH)))
        if not ids:
            return 0

        def claim_touched(session: Session) -> set[str]:
            return set(
                session.scalars(
                    select(m.Customer.id).where(m.Customer.id.in_(claim_marks(session)))
                )
            )

        def claim_marks(session: Session) -> list[str]:
            """The marks this rescore takes, deleted in its transaction (a mark an ingest
            adds meanwhile waits for its commit and schedules the next round). Locked in
            id order, skipping marks another transaction holds: this one never waits for
            a lock with marks of its own held, so it cannot close a deadlock cycle with
            ingest transactions or another worker's rescore."""
            marks = jm.PendingRescore
            query = select(marks.customer_id).where(marks.customer_id.in_(ids))
            if session.get_bind().dialect.name == "postgresql":
                query = query.order_by(marks.customer_id).with_for_update(skip_locked=True)
            claimed = list(session.scalars(query))
            session.execute(delete(marks).where(marks.customer_id.in_(claimed)))
            return claimed

        self.rescoring.rescore(kind="touched", as_of=None, select_ids=claim_touched)
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
        """Database maintenance under the maintenance lock: partitions ahead and raw-event
        retention, then VACUUM (ANALYZE) of the tables that need it (storage/vacuum.py).
        None, doing nothing, when another process holds the lock."""
        engine = self.engine
        started = time.perf_counter()
        with maintenance_lock(engine) as taken:
            if not taken:
                log.info("maintenance: skipped, another worker is running it")
                return None
            report = MaintenanceReport()
            if partitions:
                with self.sessions() as session, session.begin():
                    report = maintain(
                        session.connection(),
                        retention_days=self.settings.raw_event_retention_days,
                        lookback_days=raw_event_lookback_days(self.scorecard),
                    )
                log.info(
                    "maintenance: %d partitions created, %d dropped, %d expired raw rows deleted",
                    len(report.created),
                    len(report.dropped),
                    report.deleted_rows,
                )
            vacuumed = VacuumReport()
            if vacuum:
                vacuumed = vacuum_due(
                    engine,
                    min_rows=self.settings.vacuum_threshold_rows,
                    scale_factor=self.settings.vacuum_scale_factor,
                )
                if vacuumed.note:
                    log.info("maintenance: %s", vacuumed.note)
                else:
                    log.info(
                        "maintenance: VACUUM (ANALYZE) of %d tables (%d dead rows): %s; "
                        "ANALYZE of %d: %s",
                        len(vacuumed.vacuumed),
                        vacuumed.dead_rows,
                        ", ".join(vacuumed.vacuumed) or "none due",
                        len(vacuumed.analyzed),
                        ", ".join(vacuumed.analyzed) or "none due",
                    )
        log.info("maintenance: done in %.1f s", time.perf_counter() - started)
        return report, vacuumed

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
            pending = session.scalar(select(jm.PendingRescore.customer_id).limit(1))
            journaled = self.journal.backlog(session)[0]
            shards = sharding.unfinished_shards(session)
        self.enqueue_deliveries(due)
        for run_id, shard in shards:
            self.rescore_shard(run_id, shard)
        # A flag left set by a process killed between setting it and enqueueing its task
        # would make request_* skip the work forever: clear it first (at worst one run
        # more, which finds less or nothing to do).
        if pending is not None:
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
