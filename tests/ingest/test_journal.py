"""The ingest journal: checked at acknowledgement, applied later exactly once, in order.

These call ``resolve_events`` / ``Journal.append`` as the route does in journaled mode and
``Journal.apply`` / ``prune`` as the worker does: on PostgreSQL the journal is a table; on a
SQLite file it is a file of its own with a mark in the database.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import TypeAdapter
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from healthscore.accounts.repository import upsert_customer
from healthscore.accounts.service import delete_customer
from healthscore.ingest import journal, segment_messages
from healthscore.ingest import segment as seg
from healthscore.scoring.event_mapping import EventMapping
from healthscore.storage import job_models as jm
from healthscore.storage import models as m
from healthscore.storage.database import transaction
from healthscore.storage.pending_rescores import mark_for_rescore

NOW = datetime.now(UTC).replace(microsecond=0)
messages = TypeAdapter(list[segment_messages.Message])


def parse(*raw: dict[str, Any]) -> list[segment_messages.Message]:
    return messages.validate_python(list(raw))


def track(event: str, account: str = "acme", **fields: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "userId": "u1",
        "event": event,
        "context": {"groupId": account},
        "timestamp": (NOW - timedelta(hours=1)).isoformat(),
        **fields,
    }


@pytest.fixture
def log(db_url: str) -> Iterator[journal.Journal]:
    pending = journal.Journal(db_url)
    yield pending
    pending.close()


def acknowledge(sessions: sessionmaker[Session], log: journal.Journal, *raw: Any) -> None:
    """What the route does in journaled mode: check, commit, journal, commit. The first
    commit hands the request's connection back before the journal row is appended: on
    PostgreSQL the row's commit needs a pooled connection of its own (``GroupCommit``),
    which requests holding theirs while they wait would leave it none of."""
    with transaction(sessions) as session:
        events = seg.resolve_events(session, parse(*raw), EventMapping(), received_at=NOW)
        session.commit()
        log.append(session, seg.SOURCE, events, now=NOW)


def apply_all(sessions: sessionmaker[Session], log: journal.Journal) -> list[journal.Applied]:
    """What the worker does: apply until the journal is empty."""
    runs = []
    while True:
        with transaction(sessions) as session:
            applied = log.apply(session)
            mark_for_rescore(session, applied.customers)
        log.prune(applied)
        if not applied.entries:
            return runs
        runs.append(applied)


def backlog(sessions: sessionmaker[Session], log: journal.Journal) -> tuple[int, int]:
    with sessions() as session:
        entries, events, _ = log.backlog(session)
    return entries, events


def count(session: Session, model: type[m.Base]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_an_acknowledged_request_is_journaled_and_stored_only_when_applied(accounts, log):
    acknowledge(
        accounts,
        log,
        track("Signed In", messageId="m1"),
        track("Feature Used", messageId="m2", properties={"feature": "reports"}),
        track("API Call", account="globex", messageId="m3", properties={"calls": 7}),
        track("Report Exported", messageId="m4"),
    )
    assert backlog(accounts, log) == (1, 4)
    with accounts() as session:
        assert count(session, m.Session) == 0

    [applied] = apply_all(accounts, log)
    assert (applied.entries, applied.events, applied.duplicates) == (1, 4, 0)
    assert backlog(accounts, log) == (0, 0)
    with accounts() as session:
        assert count(session, m.Session) == 1
        assert session.scalar(select(m.FeatureUsage.feature)) == "reports"
        assert session.scalar(select(m.ApiUsage.calls)) == 7
        assert session.scalar(select(m.EngagementEvent.event_type)) == "report_exported"
        assert session.scalar(select(m.DailySessions.logins)) == 1  # roll-ups kept too
        assert session.scalar(select(m.DailyApiUsage.calls)) == 7
        pending = set(session.scalars(select(jm.PendingRescore.customer_id)))
        assert pending == {"acme", "globex"}


def test_retries_are_applied_once_within_a_request_across_requests_and_after_apply(accounts, log):
    acknowledge(accounts, log, track("Signed In", messageId="a"), track("Signed In", messageId="a"))
    acknowledge(accounts, log, track("Signed In", messageId="a"), track("Signed In", messageId="b"))
    apply_all(accounts, log)
    acknowledge(accounts, log, track("Signed In", messageId="b"), track("Signed In"))  # no id
    [later] = apply_all(accounts, log)
    assert (later.events, later.duplicates) == (1, 1)
    with accounts() as session:
        assert count(session, m.Session) == 3  # a, b and the one without a messageId
        assert session.scalar(select(m.DailySessions.logins)) == 3


def test_many_requests_are_applied_in_one_transaction_in_order(accounts, log):
    for i in range(journal.MAX_ENTRIES + 5):
        acknowledge(accounts, log, track("Signed In", messageId=f"m{i}"))
    runs = apply_all(accounts, log)
    assert [r.entries for r in runs] == [journal.MAX_ENTRIES, 5]
    with accounts() as session:
        assert count(session, m.Session) == journal.MAX_ENTRIES + 5


def test_a_request_is_refused_at_acknowledgement_for_what_applied_mode_refuses(accounts, log):
    with pytest.raises(segment_messages.Rejected) as rejected:
        acknowledge(
            accounts,
            log,
            track("Signed In"),
            track("Signed In", account="initech"),
            track("Signed In", timestamp=(NOW + timedelta(hours=2)).isoformat()),
            {"type": "track", "userId": "stranger", "event": "Signed In"},
        )
    fields = [p.field for p in rejected.value.problems]
    assert fields == ["batch.2.timestamp"]  # checks without the database come first
    with pytest.raises(segment_messages.Rejected) as rejected:
        acknowledge(
            accounts,
            log,
            track("Signed In"),
            track("Signed In", account="initech"),
            {"type": "track", "userId": "stranger", "event": "Signed In"},
        )
    fields = [p.field for p in rejected.value.problems]
    assert fields == ["batch.1.context.groupId", "batch.2.context.groupId"]
    assert backlog(accounts, log) == (0, 0)


def test_group_and_identify_requests_are_not_journaled():
    assert segment_messages.events_only(parse(track("Signed In"), {"type": "page", "userId": "u1"}))
    assert not segment_messages.events_only(
        parse(track("Signed In"), {"type": "group", "groupId": "acme"})
    )
    assert not segment_messages.events_only(parse({"type": "identify", "userId": "u1"}))


def test_events_of_an_account_erased_before_apply_are_dropped(accounts, log):
    acknowledge(accounts, log, track("Signed In"), track("Signed In", account="globex"))
    with transaction(accounts) as session:
        delete_customer(session, "globex")
    [applied] = apply_all(accounts, log)
    assert (applied.events, applied.dropped) == (1, 1)
    with accounts() as session:
        assert session.scalars(select(m.Session.customer_id)).all() == ["acme"]


def test_known_accounts_remembers_existence_only(accounts):
    known = seg.KnownAccounts(ttl=60)
    with accounts() as session:
        assert known.existing(session, {"acme", "initech"}) == {"acme"}
    with transaction(accounts) as session:
        upsert_customer(session, {"id": "initech", "name": "Initech"})
    with accounts() as session:  # absence was not remembered
        assert known.existing(session, {"acme", "initech"}) == {"acme", "initech"}


def test_concurrent_appliers_apply_every_entry_exactly_once(accounts, log):
    for i in range(120):
        acknowledge(
            accounts,
            log,
            track("Signed In", messageId=f"m{i}"),
            track("Signed In"),  # no messageId: only the journal keeps it single
        )
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            while True:
                with transaction(accounts) as session:
                    applied = log.apply(session, limit=7)
                log.prune(applied)
                if not applied.entries:
                    return
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with accounts() as session:
        assert count(session, m.Session) == 240
        assert session.scalar(select(func.sum(m.DailySessions.logins))) == 240
    assert backlog(accounts, log) == (0, 0)


# --- SQLite: the journal in a file of its own ------------------------------------------------


@pytest.fixture
def sqlite_accounts(sqlite_url: str, sessions_for_url: Any) -> tuple[str, sessionmaker[Session]]:
    sessions = sessions_for_url(sqlite_url)
    with transaction(sessions) as session:
        upsert_customer(session, {"id": "acme", "name": "Acme"})
    return sqlite_url, sessions


def test_on_sqlite_the_journal_is_a_file_beside_the_database(sqlite_accounts):
    url, sessions = sqlite_accounts
    log = journal.Journal(url)
    path = journal.journal_file(url)
    assert path is not None and not path.exists()  # nothing journaled, no file
    acknowledge(sessions, log, track("Signed In"))
    assert path.exists()
    with sessions() as session:  # the database's own table is not used
        assert count(session, jm.IngestJournalEntry) == 0
    apply_all(sessions, log)
    log.close()


def test_entries_applied_but_not_yet_pruned_are_not_applied_again(sqlite_accounts):
    url, sessions = sqlite_accounts
    log = journal.Journal(url)
    acknowledge(sessions, log, track("Signed In"), track("Signed In"))
    with transaction(sessions) as session:  # applied and committed; the prune never ran
        log.apply(session)
    assert backlog(sessions, log) == (0, 0)
    assert apply_all(sessions, log) == []
    with sessions() as session:
        assert count(session, m.Session) == 2
    log.close()


def test_a_new_journal_file_numbers_its_entries_past_the_mark(sqlite_accounts):
    url, sessions = sqlite_accounts
    log = journal.Journal(url)
    for _ in range(3):
        acknowledge(sessions, log, track("Signed In"))
    apply_all(sessions, log)
    log.close()
    path = journal.journal_file(url)
    assert path is not None
    path.unlink()  # lost, or the database restored elsewhere

    log = journal.Journal(url)
    acknowledge(sessions, log, track("Signed In"))
    [applied] = apply_all(sessions, log)
    assert applied.events == 1
    with sessions() as session:
        assert count(session, m.Session) == 4
    log.close()


def test_requests_appended_at_once_are_each_committed_before_append_returns(accounts, log):
    """On PostgreSQL the rows of concurrent requests share commits (GroupCommit); either
    way each append returns once its row is durable, and none is lost or doubled."""
    threads = [  # more than the pool's 15 connections
        threading.Thread(target=acknowledge, args=(accounts, log, track("Signed In")))
        for _ in range(24)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert backlog(accounts, log) == (24, 24)
    assert sum(run.events for run in apply_all(accounts, log)) == 24
