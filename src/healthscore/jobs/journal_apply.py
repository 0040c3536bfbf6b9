"""How a worker applies the ingest journal (``ingest.journal``): groups of journaled
requests, each in one transaction with the marks for the near-real-time rescore.

On PostgreSQL several transactions run at once (``HEALTHSCORE_JOURNAL_APPLIERS``), each
on a thread and a connection of its own taking its own entries, as several workers would:
one applier's statements run in the database while another decodes its group, which one
applier, waiting for each statement in turn, could not overlap.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from healthscore.garbage_collection import cyclic_gc_paused
from healthscore.ingest.journal import MAX_ENTRIES, Journal
from healthscore.observability.metrics import INGESTED
from healthscore.storage.database import transaction, transient
from healthscore.storage.pending_rescores import mark_for_rescore

APPLY_ATTEMPTS = 3
"""Tries of a group the database aborts (a deadlock between appliers): tables are written
in a fixed order, so one is rare, and the group's entries are back in the journal."""

log = logging.getLogger(__name__)


def drain_journal(
    journal: Journal,
    sessions: sessionmaker[Session],
    *,
    appliers: int,
    settle: float,
    touched: Callable[[], None],
) -> int:
    """Apply the journal until it is empty; the events applied. ``settle``: after a
    partial group, wait that long for a fuller one (the worker's task does; a server
    emptying the journal on its way out does not). ``touched``: called after a group
    marked accounts for rescoring. ``appliers`` is taken as 1 on SQLite (one writer)."""
    appliers = appliers if journal.shared else 1

    def drain() -> int:
        return _drain(journal, sessions, settle=settle, touched=touched)

    if appliers == 1:
        return drain()
    with ThreadPoolExecutor(appliers, thread_name_prefix="journal-apply") as pool:
        runs = [pool.submit(drain) for _ in range(appliers)]
        return sum(run.result() for run in runs)


def _drain(
    journal: Journal,
    sessions: sessionmaker[Session],
    *,
    settle: float,
    touched: Callable[[], None],
) -> int:
    total, aborted = 0, 0
    while True:
        try:
            with cyclic_gc_paused(), transaction(sessions) as session:
                applied = journal.apply(session)
                mark_for_rescore(session, applied.customers)
        except DBAPIError as error:
            aborted += 1
            if aborted == APPLY_ATTEMPTS or not transient(error):
                raise
            # Rolled back whole: its entries are back in the journal for the next try.
            log.info("journal apply aborted by the database (%s); retrying", error.orig)
            continue
        aborted = 0
        journal.prune(applied)
        if not applied.entries:
            return total
        total += applied.events
        INGESTED.labels("segment").inc(applied.events)
        if applied.dropped:
            log.info("journal: %d events of erased accounts dropped", applied.dropped)
        if applied.customers:
            touched()
        if applied.entries < MAX_ENTRIES and settle:
            time.sleep(settle)  # let a fuller group gather
