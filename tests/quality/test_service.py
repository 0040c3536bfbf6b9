"""The data-quality report: every finding appears when its problem is planted and
disappears once it is fixed, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from healthscore.accounts import service as accounts
from healthscore.errors import Invalid
from healthscore.ingest import anomalies
from healthscore.ingest.records import Event, record_events, upsert_ticket
from healthscore.quality.findings import CHECKS, DataQualityReport, Level
from healthscore.quality.service import data_quality
from healthscore.storage import models as m

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def report(session: Session, **options: int) -> DataQualityReport:
    session.flush()
    return data_quality(session, now=NOW, **options)


def counts(session: Session, **options: int) -> dict[str, int]:
    return {f.code: f.count for f in report(session, **options).findings}


def only(session: Session, **expected: int) -> None:
    """Every finding is 0 but those named."""
    assert counts(session) == {c.code: expected.get(c.code, 0) for c in CHECKS}


def login(session: Session, customer_id: str, user_id: str | None, ts: datetime) -> None:
    record_events(session, [Event(customer_id, "login", ts, user_id)])


@pytest.fixture
def acme(session: Session) -> str:
    """A healthy account: one seat, and its user logged in yesterday."""
    accounts.save_customer(session, "acme", {"name": "Acme", "created_at": NOW - 90 * DAY})
    accounts.save_user(session, customer_id="acme", user_id="u1", created_at=NOW - 80 * DAY)
    login(session, "acme", "u1", NOW - DAY)
    return "acme"


def test_a_clean_base_has_no_findings_and_every_check_explains_itself(
    session: Session, acme: str
) -> None:
    clean = report(session)
    assert clean.clean
    assert [f.code for f in clean.findings] == [c.code for c in CHECKS]
    assert all(f.count == 0 and f.why and f.fix for f in clean.findings)
    assert (clean.as_of, clean.since, clean.window_days) == (NOW, NOW - 30 * DAY, 30)


def test_activity_from_a_user_who_is_not_a_seat_is_found_until_they_are_seated(
    session: Session, acme: str
) -> None:
    for hours in (1, 2, 3):
        login(session, acme, "stranger", NOW - hours * timedelta(hours=1))
    record_events(session, [Event(acme, "feature_used", NOW - DAY, "intern", {"feature": "x"})])
    login(session, acme, None, NOW - DAY)  # anonymous: not a user id
    login(session, acme, "old-timer", NOW - 45 * DAY)  # before the window
    found = report(session)
    assert not found.clean
    only(session, unseated_users=2)
    (account,) = found.unseated_accounts
    assert (account.customer_id, account.name, account.users, account.events) == (
        acme,
        "Acme",
        2,
        4,
    )
    assert [(u.user_id, u.events) for u in account.top_users] == [("stranger", 3), ("intern", 1)]
    assert (account.first_seen, account.last_seen) == (NOW - DAY, NOW - timedelta(hours=1))

    accounts.save_user(session, customer_id=acme, user_id="stranger")
    accounts.save_user(session, customer_id=acme, user_id="intern")
    only(session)


def test_activity_after_a_seat_was_removed_counts_as_unseated(session: Session, acme: str) -> None:
    accounts.save_user(session, customer_id=acme, user_id="u1", removed_at=NOW - DAY / 2)
    only(session, accounts_without_seats=1)  # its login came before the removal
    accounts.save_user(session, customer_id=acme, user_id="u1", removed_at=NOW - 2 * DAY)
    only(session, unseated_users=1, accounts_without_seats=1)  # the login came after
    accounts.save_user(session, customer_id=acme, user_id="u1", restore=True)
    only(session)


def test_accounts_with_no_seats_or_no_activity_are_found_until_they_have_them(
    session: Session, acme: str
) -> None:
    accounts.save_customer(session, "beta", {"name": "Beta", "created_at": NOW - 30 * DAY})
    accounts.save_customer(session, "fresh", {"created_at": NOW - 2 * DAY})  # too young to judge
    accounts.save_customer(
        session, "gone", {"created_at": NOW - 300 * DAY, "churned_at": NOW - 100 * DAY}
    )
    found = report(session)
    assert [a.customer_id for a in found.accounts_without_seats] == ["beta", "fresh"]
    assert [a.customer_id for a in found.accounts_without_activity] == ["beta"]
    only(session, accounts_without_seats=2, accounts_without_activity=1)

    accounts.save_user(session, customer_id="beta", user_id="b1", created_at=NOW - 20 * DAY)
    accounts.save_user(session, customer_id="fresh", user_id="f1")
    only(session, accounts_without_activity=1)
    record_events(session, [Event("beta", "api_call", NOW - 20 * DAY, None, {"calls": 3})])
    only(session)


def test_a_notice_alone_leaves_the_report_clean(session: Session, acme: str) -> None:
    accounts.save_customer(session, "idle", {"created_at": NOW - 30 * DAY})
    accounts.save_user(session, customer_id="idle", user_id="i1")
    found = report(session)
    levels = {f.code: f.level for f in found.findings if f.count}
    assert levels == {"accounts_without_activity": Level.notice}
    assert found.clean


def test_events_refused_for_unknown_accounts_are_listed_until_the_account_exists(
    session: Session, acme: str
) -> None:
    seen = anomalies.Anomalies()
    seen.unknown.update({"ghost": 3, "": 1})
    anomalies.record(session, "segment", seen, now=NOW - DAY)
    anomalies.record(session, "api", anomalies.Anomalies(unknown={"ghost": 1}), now=NOW)
    anomalies.record(session, "csv", anomalies.Anomalies(unknown={"old": 9}), now=NOW - 40 * DAY)
    found = report(session)
    keys = [(k.source, k.account_key, k.events) for k in found.unknown_accounts]
    assert keys == [("segment", "ghost", 3), ("api", "ghost", 1), ("segment", "", 1)]
    only(session, unknown_account_events=5)
    assert counts(session, days=60)["unknown_account_events"] == 14  # "old" is in 60 days

    accounts.save_customer(session, "ghost", {})
    # What is left: the events that named no account; and the new account has no seat yet.
    only(session, unknown_account_events=1, accounts_without_seats=1)


def test_clock_skew_is_summed_per_source_over_the_window(session: Session, acme: str) -> None:
    anomalies.record(session, "segment", anomalies.Anomalies(future=[600.0, 7200.0]), now=NOW)
    anomalies.record(session, "segment", anomalies.Anomalies(future=[900.0]), now=NOW - 2 * DAY)
    anomalies.record(session, "api", anomalies.Anomalies(future=[400.0]), now=NOW - 40 * DAY)
    anomalies.record(session, "segment", anomalies.Anomalies(sent_at=[3600.0]), now=NOW)
    found = report(session)
    rows = [(s.source, s.kind, s.events, s.worst_seconds) for s in found.clock_skew]
    assert rows == [("segment", "future", 3, 7200.0), ("segment", "sent_at", 1, 3600.0)]
    only(session, future_timestamps=3, sent_at_skew=1)
    assert counts(session, days=7) == counts(session)
    assert counts(session, days=1)["future_timestamps"] == 2


def test_impossible_dates_on_seats_and_tickets_are_found_until_corrected(
    session: Session, acme: str
) -> None:
    session.add(
        m.User(customer_id=acme, user_id="u2", created_at=NOW - DAY, removed_at=NOW - 9 * DAY)
    )
    upsert_ticket(
        session,
        {
            "customer_id": acme,
            "ticket_id": "T1",
            "opened_at": NOW - DAY,
            "resolved_at": NOW - 3 * DAY,
        },
    )
    found = report(session)
    assert [(s.user_id, s.removed_at) for s in found.seats_removed_before_created] == [
        ("u2", NOW - 9 * DAY)
    ]
    assert [t.ticket_id for t in found.tickets_resolved_before_opened] == ["T1"]
    only(session, seats_removed_before_created=1, tickets_resolved_before_opened=1)

    accounts.save_user(session, customer_id=acme, user_id="u2", created_at=NOW - 10 * DAY)
    upsert_ticket(
        session,
        {"customer_id": acme, "ticket_id": "T1", "opened_at": NOW - DAY, "resolved_at": NOW},
    )
    only(session)


def test_lists_stop_at_the_limit_but_counts_are_totals(session: Session, acme: str) -> None:
    for n in range(5):
        accounts.save_customer(session, f"bare{n}", {"created_at": NOW - 30 * DAY})
        login(session, f"bare{n}", f"x{n}", NOW - DAY)
    found = report(session, limit=2)
    assert [a.customer_id for a in found.accounts_without_seats] == ["bare0", "bare1"]
    assert len(found.unseated_accounts) == 2
    assert counts(session, limit=2) == counts(session)
    assert counts(session)["accounts_without_seats"] == 5


@pytest.mark.parametrize("options", [{"days": 0}, {"days": 366}, {"limit": 0}, {"limit": 501}])
def test_out_of_range_options_are_refused(session: Session, options: dict[str, int]) -> None:
    with pytest.raises(Invalid):
        data_quality(session, now=NOW, **options)
