"""The one path of a rescore: score → run playbooks → deliver → tell listeners.

Scores and the outreach entries and deliveries their playbooks log are written in one
transaction, so a playbook fires exactly when its scores are committed; only then are
the deliveries handed to the queue (each is claimed before sending, so it goes out once)
and are the listeners told (``rescoring.listeners``). The worker's tasks, the API's
refresh and the CLI's commands all rescore through :class:`Rescoring`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from healthscore.audit import repository as audit
from healthscore.garbage_collection import cyclic_gc_paused
from healthscore.observability.metrics import RESCORE_SECONDS, RESCORED
from healthscore.playbooks.rules import PlaybookSet
from healthscore.playbooks.service import PlaybookRun, run_playbooks
from healthscore.rescoring.dry_run import PlaybookDryRun, dry_run
from healthscore.rescoring.listeners import ScoreListeners
from healthscore.scoring.run_reads import Progress
from healthscore.scoring.scorecard import Scorecard
from healthscore.scoring.selection import IdRange
from healthscore.scoring.service import ScoringRun, score_accounts
from healthscore.storage.database import transaction
from healthscore.subscriptions import service as subscriptions

Deliveries = Callable[[list[int]], None]
"""Hands committed outbox rows to the queue (``Jobs.enqueue_deliveries``)."""


@dataclass(frozen=True)
class Rescored:
    run: ScoringRun
    playbooks: PlaybookRun

    @property
    def changed(self) -> list[str]:
        """The accounts whose scores changed: scored, or newly churned (scores removed)."""
        return sorted(self.run.customer_ids) + list(self.run.churned)


PLAYBOOK_GROUP = 10_000
"""Accounts judged by the playbooks at a time after a rescore, in id order: the same cases
and deliveries, in the same order, as all at once (each account's are its own; a parent
reads its children's tiers from what the rescore stored), with one group's objects held
at a time."""


class Rescoring:
    """Rescores with one scorecard and one set of playbooks, in one database."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        scorecard: Scorecard,
        playbooks: PlaybookSet,
        deliveries: Deliveries,
        listeners: ScoreListeners | None = None,
    ) -> None:
        self.sessions = sessions
        self.scorecard = scorecard
        self.playbooks = playbooks
        self.deliveries = deliveries
        self.listeners = listeners or ScoreListeners()
        self._scorecard_noted = False

    def rescore(
        self,
        *,
        kind: str,
        as_of: datetime | None,
        customer_ids: Collection[str] | None = None,
        id_range: IdRange | None = None,
        select_ids: Callable[[Session], Collection[str]] | None = None,
        record: Callable[[Session, ScoringRun], None] | None = None,
        progress: Progress | None = None,
    ) -> Rescored:
        """Score every active account at ``as_of`` (or ``customer_ids``, or one
        ``id_range`` shard) and run the playbooks, in one transaction; then count the run
        under ``kind``, enqueue its deliveries and tell the listeners.

        ``select_ids`` picks the accounts inside that transaction (claiming touched
        accounts), ``record`` writes more in it (a shard marked done). Unknown
        ``customer_ids`` raise ``UnknownCustomerError`` and nothing is written.

        ``as_of=None`` scores at the moment the accounts have been picked: an event whose
        rescore mark ``select_ids`` takes was stored before that moment, so it counts
        (a moment taken before the claim would miss an event stored in between, and its
        mark would be gone)."""
        started = time.perf_counter()
        with cyclic_gc_paused(), transaction(self.sessions) as session:
            ids = select_ids(session) if select_ids else customer_ids
            as_of = as_of or datetime.now(UTC)
            self._note_scorecard(session)
            before = subscriptions.before_rescore(session, ids, id_range)
            run = score_accounts(
                session,
                self.scorecard,
                as_of=as_of,
                customer_ids=ids,
                id_range=id_range,
                progress=progress,
            )
            fired, changes = PlaybookRun(firings=[]), []
            for scores in run.score_groups(PLAYBOOK_GROUP):
                fired.extend(run_playbooks(session, self.playbooks, scores, as_of=as_of))
                changes += subscriptions.queue_changes(session, before, scores, as_of=as_of)
            if record:
                record(session, run)
        RESCORE_SECONDS.labels(kind).observe(time.perf_counter() - started)
        RESCORED.labels(kind).inc(run.scored)
        rescored = Rescored(run, fired)
        if fired.delivery_ids or changes:
            self.deliveries([*fired.delivery_ids, *changes])
        self.listeners.scores_changed(rescored.changed)
        return rescored

    def _note_scorecard(self, session: Session) -> None:
        """A scorecard change is a manual change too: the first rescore with a different
        scorecard (name, version or any field) writes it to the audit log, once."""
        if self._scorecard_noted:
            return
        text = self.scorecard.model_dump_json()
        audit.record_if_changed(
            session,
            kind="scorecard",
            subject=self.scorecard.identity,
            new={
                "scorecard": self.scorecard.identity,
                "sha256": hashlib.sha256(text.encode()).hexdigest(),
            },
            actor=audit.SYSTEM,
            reason="the service started scoring with this scorecard",
        )
        self._scorecard_noted = True

    def replay(
        self,
        moments: Iterable[datetime],
        *,
        playbooks: bool,
        scored: Callable[[datetime], None] | None = None,
    ) -> ScoringRun | None:
        """Build score history: score at each moment, oldest first, each in its own
        transaction (an interrupted replay keeps the moments it finished). With
        ``playbooks`` the outreach log fills as it would have, but nothing is delivered:
        these moments are past. Listeners hear once, at the end, that any account may
        have changed. Returns the last moment's run. Like ``rescore``, each moment runs
        with the cyclic collector paused until it commits (the demo's 180 days of history
        took 18% less time than with the playbooks' objects rescanned)."""
        run: ScoringRun | None = None
        for moment in moments:
            with cyclic_gc_paused(), transaction(self.sessions) as session:
                run = score_accounts(session, self.scorecard, as_of=moment)
                if playbooks:
                    run_playbooks(session, self.playbooks, run.scores, as_of=moment, deliver=False)
            if scored:
                scored(moment)
        self.listeners.scores_changed(())
        return run

    def dry_run(self, *, as_of: datetime) -> PlaybookDryRun:
        """Which playbooks would fire at ``as_of`` and which would log; nothing is written."""
        with self.sessions() as session:
            return dry_run(session, scorecard=self.scorecard, playbooks=self.playbooks, as_of=as_of)
