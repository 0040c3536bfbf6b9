"""What a scoring run reads for one part of its accounts (a chunk of a full run, or all of
them), now on the run's session or ahead on a thread of its own while the part before
is scored and written (``ReadAhead``: the database's reading overlaps this process's
writing in chunked full runs on PostgreSQL)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from healthscore.scoring import aggregates, repository
from healthscore.scoring.concurrent_read import snapshot_session
from healthscore.scoring.requirements import required_aggregates
from healthscore.scoring.scorecard import Scorecard
from healthscore.scoring.selection import IdRange, Selection

Progress = Callable[[str], None]
"""Told what a run is doing now (a progress bar's description)."""


@dataclass
class PartRead:
    """What a part's scoring reads from its own accounts' data: who is scored or churned,
    and their aggregate columns. ``seconds``: how long the caller waited for it."""

    selection: Selection
    accounts: list[repository.Account]
    churned: list[str]
    columns: aggregates.AggregateColumns
    seconds: float = 0.0


def read_part(
    session: Session,
    scorecard: Scorecard,
    *,
    as_of: datetime,
    selection: Selection,
    step: Progress,
    skip: frozenset[str] = frozenset(),
    snapshot: str | None = None,
) -> PartRead:
    """The accounts of ``selection`` but those in ``skip``, and their aggregates."""
    step("loading accounts")
    accounts = repository.active_accounts(session, as_of=as_of, customer_ids=selection)
    churned = repository.churned_accounts(session, as_of=as_of, customer_ids=selection)
    if skip:
        accounts = [account for account in accounts if account.id not in skip]
        churned = [cid for cid in churned if cid not in skip]
    step("aggregating signals")
    columns = aggregates.load_aggregate_columns(
        session,
        required_aggregates(scorecard),
        as_of=as_of,
        accounts=[account.id for account in accounts],
        customer_ids=selection,
        concurrent=len(accounts) >= aggregates.CONCURRENT_READ_MIN_ACCOUNTS,
        snapshot=snapshot,
    )
    return PartRead(selection, accounts, churned, columns)


class ReadAhead:
    """Reads a chunk (``read_part``) on a thread of its own, in the run's snapshot on
    connections of its own, while the session scores and writes the chunk before; with
    no snapshot (SQLite, or a transaction that had written before the run) it reads on
    the session when the chunk's turn comes, as one pass would."""

    def __init__(
        self,
        session: Session,
        scorecard: Scorecard,
        *,
        as_of: datetime,
        skip: frozenset[str],
        snapshot: str | None,
    ) -> None:
        self.session, self.scorecard, self.as_of = session, scorecard, as_of
        self.skip, self.snapshot = skip, snapshot
        self.engine = session.connection().engine
        self.thread: threading.Thread | None = None
        self.pending: IdRange | None = None
        self.result: list[PartRead] = []
        self.failure: list[BaseException] = []

    def start(self, chunk: IdRange) -> None:
        """Begin reading ``chunk`` in the background (PostgreSQL with a snapshot)."""
        self.pending = chunk
        if self.snapshot is None:
            return
        snapshot = self.snapshot

        def read() -> None:
            try:
                with snapshot_session(self.engine, snapshot) as reader:
                    self.result.append(self._read(reader, chunk, lambda _message: None))
            except BaseException as error:  # re-raised by ``take``
                self.failure.append(error)

        self.thread = threading.Thread(target=read, name="healthscore-read-ahead", daemon=True)
        self.thread.start()

    def take(self, chunk: IdRange, step: Progress) -> PartRead:
        """``chunk``'s read: the one begun in the background, or one done now."""
        started = time.perf_counter()
        if self.pending != chunk:
            self.start(chunk)
        self.pending = None
        if self.thread is None:
            read = self._read(self.session, chunk, step)
        else:
            step("aggregating signals")
            self.thread.join()
            self.thread = None
            if self.failure:
                raise self.failure.pop()
            read = self.result.pop()
        read.seconds = time.perf_counter() - started
        return read

    def close(self) -> None:
        """Wait for a read still running (after an error): its connections close."""
        if self.thread is not None:
            self.thread.join()
            self.thread = None

    def _read(self, session: Session, chunk: IdRange, step: Progress) -> PartRead:
        return read_part(
            session,
            self.scorecard,
            as_of=self.as_of,
            selection=chunk,
            step=step,
            skip=self.skip,
            snapshot=self.snapshot,
        )
