"""One request to the Segment endpoints, applied (or journaled) all or nothing.

With ``HEALTHSCORE_INGEST_ACK=journaled`` (the default) an events-only request is checked
fully and journaled (``ingest.journal``), for a worker to apply in bulk, unless the
journal already holds ``HEALTHSCORE_INGEST_MAX_BACKLOG_EVENTS`` events (``JournalFull``:
503, retry later); other requests, and all of them with ``applied``, are applied in one
transaction that commits before the acknowledgement. Either way the follow-up (a
rescore, or the journal's apply) is asked of the job queue only once the transaction has
committed.

A request with an ``alias`` is always applied; with the journal on, the events already
journaled are applied first, in its transaction, so that the previous id's acknowledged
events are merged too.

Anomalies (``ingest.anomalies``) are counted in the same transaction: the ``sentAt`` skew
of an accepted request commits with its events; a refused request is rolled back and
only its counters (unknown accounts, timestamps in the future, ``sentAt`` skew) are
committed before the refusal is raised.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from healthscore.ingest import anomalies as anomaly
from healthscore.ingest import segment as seg
from healthscore.ingest import segment_messages
from healthscore.ingest.journal import Applied, Journal
from healthscore.ingest.records import InvalidFact
from healthscore.ingest.segment_facts import sent_at_skews
from healthscore.observability.metrics import INGESTED, JOURNALED
from healthscore.scoring.event_mapping import EventMapping
from healthscore.settings import Settings
from healthscore.storage.database import transient
from healthscore.storage.pending_rescores import mark_for_rescore


class Followups(Protocol):
    """What a request needs of the job queue (``jobs.queue.Jobs``)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def journal(self) -> Journal: ...

    def request_rescore(self) -> None: ...

    def request_apply(self) -> None: ...


ATTEMPTS = 3
"""Tries of a request whose transaction the database chose to abort (``transient``)."""

log = logging.getLogger(__name__)


def receive(
    session: Session,
    jobs: Followups,
    messages: Sequence[segment_messages.Message],
    mapping: EventMapping,
    known: seg.KnownAccounts,
    *,
    batch_sent_at: datetime | None = None,
    prefix: str | None = None,
) -> None:
    """Apply or journal the messages and commit, or write nothing and raise
    ``segment_messages.Rejected`` / ``InvalidFact`` naming every message at fault.

    This commits (unlike most services) because the acknowledgement promises a commit,
    and the session's transaction may already be open: the key was looked up in it (the
    lookup writes nothing, except a coarse ``last_used_at`` it commits itself).

    A transaction the database aborted as a deadlock victim (an applied request's rescore
    marks against a worker's rescore, say) is rolled back whole and run again, up to
    ``ATTEMPTS`` times, instead of answering 503: the request is all or nothing, so a
    second run is the first one's exact equivalent."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            _receive_once(
                session, jobs, messages, mapping, known, batch_sent_at=batch_sent_at, prefix=prefix
            )
            return
        except DBAPIError as error:
            if attempt == ATTEMPTS or not transient(error):
                raise
            log.info("segment request aborted by the database (%s); retrying", error.orig)
            time.sleep(0.01 * attempt)


def journals(settings: Settings, messages: Sequence[segment_messages.Message]) -> bool:
    """True when the request is journaled, not applied: the journal is on and the request
    only has events. Such a request writes nothing to the database but the journal row
    (committed on its own, ``GroupCommit``) and, on their own, anomaly counters, so it
    needs no transaction of its own: the API runs it on an autocommit session (no BEGIN
    and COMMIT round trips around the key lookup)."""
    return settings.ingest_ack == "journaled" and segment_messages.events_only(messages)


def _receive_once(
    session: Session,
    jobs: Followups,
    messages: Sequence[segment_messages.Message],
    mapping: EventMapping,
    known: seg.KnownAccounts,
    *,
    batch_sent_at: datetime | None,
    prefix: str | None,
) -> None:
    received_at = datetime.now(UTC)
    journal_on = jobs.settings.ingest_ack == "journaled"
    journaled = journals(jobs.settings, messages)
    drained: list[Applied] = []
    seen = anomaly.Anomalies()
    seen.note_sent_at(sent_at_skews(messages, received_at=received_at, batch_sent_at=batch_sent_at))
    try:
        if journaled:
            jobs.journal.admit(session, jobs.settings.ingest_max_backlog_events)
            events = seg.resolve_events(
                session,
                messages,
                mapping,
                received_at=received_at,
                batch_sent_at=batch_sent_at,
                prefix=prefix,
                known=known,
            )
            # Anomaly counters first, then the journal row (committed on its own, with
            # other requests' rows): if the row's commit fails, the request fails having
            # at most counted its clock skew, never with journaled events unanswered.
            anomaly.record(session, seg.SOURCE, seen, now=received_at)
            session.commit()
            jobs.journal.append(session, seg.SOURCE, events, now=received_at)
            count, touched = len(events), bool(events)
        else:
            if journal_on and any(isinstance(m, segment_messages.AliasMessage) for m in messages):
                drained = _drain_journal(session, jobs.journal)
            outcome = seg.ingest(
                session,
                messages,
                mapping,
                received_at=received_at,
                batch_sent_at=batch_sent_at,
                prefix=prefix,
            )
            customers = outcome.customers.union(*(applied.customers for applied in drained))
            mark_for_rescore(session, customers)
            count, touched = outcome.events, bool(customers)
            anomaly.record(session, seg.SOURCE, seen, now=received_at)
        session.commit()
    except (segment_messages.Rejected, InvalidFact) as refused:
        session.rollback()
        seen.note_refused(
            refused.problems if isinstance(refused, segment_messages.Rejected) else [refused]
        )
        anomaly.record_refusal(session, seg.SOURCE, seen, now=received_at)
        raise
    except BaseException:
        session.rollback()
        raise
    for applied in drained:
        jobs.journal.prune(applied)
        INGESTED.labels("segment").inc(applied.events)
    if journaled:
        if touched:
            jobs.request_apply()
        JOURNALED.labels("segment").inc(count)
    else:
        if touched:
            jobs.request_rescore()
        INGESTED.labels("segment").inc(count)


def _drain_journal(session: Session, journal: Journal) -> list[Applied]:
    """Apply every journaled request in the caller's transaction (as the worker would),
    before an alias merges ids: what each pass applied, for ``prune`` after the commit."""
    passes: list[Applied] = []
    while True:
        applied = journal.apply(session)
        if not applied.entries:
            return passes
        passes.append(applied)
