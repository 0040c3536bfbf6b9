"""The data-quality report: which stored data (and which refused data) makes the scores
wrong, how much of it, and what to do. One function, ``data_quality``, that the API,
``healthscore doctor`` and the dashboard's data-quality page all call.

The identity rule it checks (``docs/identity.md``): a user is a *seat* of an account only
once the users import, the API or a Segment ``group``/``identify`` says so; events from
other user ids are kept but score in no seat-based signal.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from healthscore.errors import Invalid
from healthscore.quality import DEFAULT_DAYS as DEFAULT_DAYS  # the report's bounds, as before
from healthscore.quality import DEFAULT_LIMIT as DEFAULT_LIMIT
from healthscore.quality import MAX_DAYS as MAX_DAYS
from healthscore.quality import MAX_LIMIT as MAX_LIMIT
from healthscore.quality import repository
from healthscore.quality.findings import (
    CHECKS,
    AccountRef,
    DataQualityReport,
    Finding,
    Level,
    SeatRef,
    SkewSummary,
    TicketRef,
    UnknownAccountKey,
    UnseatedAccount,
    UnseatedUser,
)
from healthscore.quality.repository import Rows
from healthscore.timeutc import utc

TOP_USERS = 5
"""Worst user ids shown per account with unseated activity."""
NEW_ACCOUNT_GRACE = timedelta(days=7)
"""An account this young may not have sent anything yet: not listed as inactive."""


def data_quality(
    session: Session,
    *,
    now: datetime,
    days: int = DEFAULT_DAYS,
    limit: int = DEFAULT_LIMIT,
) -> DataQualityReport:
    """Run every check as of ``now``; activity checks look ``days`` back. Read-only."""
    if not 1 <= days <= MAX_DAYS:
        raise Invalid(f"days: must be 1-{MAX_DAYS}")
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid(f"limit: must be 1-{MAX_LIMIT}")
    now = utc(now)
    since = now - timedelta(days=days)

    unseated, unseated_users = _unseated(session, since=since, limit=limit)
    no_seats, no_seats_total = repository.accounts_without_seats(session, now=now, limit=limit)
    idle, idle_total = repository.accounts_without_activity(
        session, now=now, created_before=now - NEW_ACCOUNT_GRACE, limit=limit
    )
    unknown, _, unknown_events = repository.unknown_accounts(session, since=since, limit=limit)
    skew = [
        SkewSummary(**row._asdict()) for row in repository.clock_skew(session, since=since.date())
    ]
    seats, seats_total = repository.seats_removed_before_created(session, limit=limit)
    tickets, tickets_total = repository.tickets_resolved_before_opened(session, limit=limit)

    counts = {
        "unseated_users": unseated_users,
        "accounts_without_seats": no_seats_total,
        "accounts_without_activity": idle_total,
        "unknown_account_events": unknown_events,
        "future_timestamps": sum(s.events for s in skew if s.kind == "future"),
        "sent_at_skew": sum(s.events for s in skew if s.kind == "sent_at"),
        "seats_removed_before_created": seats_total,
        "tickets_resolved_before_opened": tickets_total,
    }
    findings = [
        Finding(
            code=c.code,
            title=c.title,
            level=c.level,
            count=counts[c.code],
            unit=c.unit,
            why=c.why,
            fix=c.fix,
        )
        for c in CHECKS
    ]
    return DataQualityReport(
        as_of=now,
        since=since,
        window_days=days,
        clean=not any(f.count and f.level is Level.action for f in findings),
        findings=findings,
        unseated_accounts=unseated,
        accounts_without_seats=[AccountRef(*_values(r)) for r in no_seats],
        accounts_without_activity=[AccountRef(*_values(r)) for r in idle],
        unknown_accounts=[UnknownAccountKey(**r._asdict()) for r in unknown],
        clock_skew=skew,
        seats_removed_before_created=[SeatRef(*_values(r)) for r in seats],
        tickets_resolved_before_opened=[TicketRef(*_values(r)) for r in tickets],
    )


def _values(row: Rows) -> tuple[Any, ...]:
    return tuple(row)


def _unseated(
    session: Session, *, since: datetime, limit: int
) -> tuple[list[UnseatedAccount], int]:
    """Accounts with activity from non-seats, most such events first (each with its
    ``TOP_USERS`` worst user ids), and how many such users in all."""
    per_account: dict[str, list[UnseatedUser]] = defaultdict(list)
    rows = repository.unseated_activity(session, since=since)
    for customer_id, user_id, events, first_seen, last_seen in rows:
        per_account[customer_id].append(UnseatedUser(user_id, events, first_seen, last_seen))
    ranked = sorted(
        per_account.items(), key=lambda item: (-sum(u.events for u in item[1]), item[0])
    )[:limit]
    known = repository.names(session, [customer_id for customer_id, _ in ranked])
    accounts = []
    for customer_id, users in ranked:
        users.sort(key=lambda u: (-u.events, u.user_id))
        accounts.append(
            UnseatedAccount(
                customer_id=customer_id,
                name=known.get(customer_id, customer_id),
                users=len(users),
                events=sum(u.events for u in users),
                first_seen=min(u.first_seen for u in users),
                last_seen=max(u.last_seen for u in users),
                top_users=users[:TOP_USERS],
            )
        )
    return accounts, len(rows)
