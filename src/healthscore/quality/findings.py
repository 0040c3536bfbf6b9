"""What the data-quality report says: one ``Finding`` per check, with the evidence behind
it, and the words an operator reads (why it matters for the score, what to do).

Plain data, built by ``quality.service`` and shaped by the API, the CLI and the dashboard,
which therefore cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from healthscore.ingest.anomalies import SENT_AT_SKEW
from healthscore.ingest.records import FUTURE_SKEW

_AHEAD = f"{FUTURE_SKEW.total_seconds() / 60:g} minutes"
_SENT = f"{SENT_AT_SKEW.total_seconds() / 60:g} minutes"


class Level(StrEnum):
    """``action``: the scores are wrong or missing data until someone acts (``healthscore
    doctor`` exits 1); ``notice``: worth a look, the scores are not (yet) wrong."""

    action = "action"
    notice = "notice"


@dataclass(frozen=True)
class Check:
    """A check's fixed words."""

    code: str
    title: str
    level: Level
    unit: str
    why: str
    fix: str


@dataclass(frozen=True)
class Finding:
    """One check's result: ``count`` of ``unit`` found (0: clean), and its words."""

    code: str
    title: str
    level: Level
    count: int
    unit: str
    why: str
    fix: str


@dataclass(frozen=True)
class UnseatedUser:
    """A user id with events on an account it is not a seat of."""

    user_id: str
    events: int
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True)
class UnseatedAccount:
    """An account's events from user ids that are not its seats, worst users first."""

    customer_id: str
    name: str
    users: int
    events: int
    first_seen: datetime
    last_seen: datetime
    top_users: list[UnseatedUser]


@dataclass(frozen=True)
class AccountRef:
    customer_id: str
    name: str
    created_at: datetime


@dataclass(frozen=True)
class UnknownAccountKey:
    """Events refused because the account they name is unknown (``""``: none named)."""

    source: str
    account_key: str
    events: int
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True)
class SkewSummary:
    """A source's client clocks seen wrong over the window: ``future`` timestamps refused,
    or Segment ``sent_at`` far from the receive time (kept, corrected)."""

    source: str
    kind: str
    events: int
    worst_seconds: float
    last_seen: datetime


@dataclass(frozen=True)
class SeatRef:
    customer_id: str
    user_id: str
    created_at: datetime
    removed_at: datetime | None


@dataclass(frozen=True)
class TicketRef:
    customer_id: str
    ticket_id: str
    opened_at: datetime
    resolved_at: datetime | None


@dataclass(frozen=True)
class DataQualityReport:
    """Every check, and the evidence of each (lists cut at the report's ``limit``; the
    counts are totals). ``clean``: no ``action`` finding."""

    as_of: datetime
    since: datetime
    window_days: int
    clean: bool
    findings: list[Finding]
    unseated_accounts: list[UnseatedAccount]
    accounts_without_seats: list[AccountRef]
    accounts_without_activity: list[AccountRef]
    unknown_accounts: list[UnknownAccountKey]
    clock_skew: list[SkewSummary]
    seats_removed_before_created: list[SeatRef]
    tickets_resolved_before_opened: list[TicketRef]


CHECKS = (
    Check(
        "unseated_users",
        "Activity from users who are not seats",
        Level.action,
        "users",
        "Only seats count in seat-based signals (active users, active seat-days), so this "
        "activity is stored but scores nothing: the account looks less used than it is, or "
        "a user who left keeps being active under an id nobody seated.",
        "Make the real users seats (users.csv, PUT /api/v1/customers/{id}/users/{userId}, or "
        "a Segment group call), or fix the sender to use the ids the seats have.",
    ),
    Check(
        "accounts_without_seats",
        "Accounts with no seats",
        Level.action,
        "accounts",
        "With no seat, every seat-based signal reads zero: the score is driven by the other "
        "signals alone and the account may be marked at risk for no reason.",
        "Import the account's users (users.csv), add seats through the API, or send Segment "
        "group calls for its users.",
    ),
    Check(
        "accounts_without_activity",
        "Accounts with no activity at all",
        Level.notice,
        "accounts",
        "No login, feature use, API call or other event was ever recorded: either the "
        "account is idle (a churn risk the score shows) or its events arrive under another "
        "id and are refused or land elsewhere.",
        "Check the unknown-account list for a near-miss id; check the sender's mapping of "
        "this account. Accounts created in the last week are not listed.",
    ),
    Check(
        "unknown_account_events",
        "Events refused for unknown accounts",
        Level.action,
        "events",
        "These events never reached any account, so their accounts score without them. An "
        "empty account key means the event named no account and its user has no seat.",
        "Create the account (PUT /api/v1/customers/{id}, customers.csv, or a Segment group "
        "call with traits) or correct the id the sender uses, then resend the events. A key "
        "leaves this list once it is an account.",
    ),
    Check(
        "future_timestamps",
        "Events refused for timestamps in the future",
        Level.action,
        "events",
        f"A client clock ahead of the server by more than the allowed skew ({_AHEAD}) has "
        "its events refused: their accounts score without them.",
        "Fix the sender's clock (NTP), or send Segment's sentAt so its correction applies; "
        "then resend the refused events.",
    ),
    Check(
        "sent_at_skew",
        f"Segment clocks off by more than {_SENT}",
        Level.notice,
        "messages",
        "Segment's sentAt correction kept these events, but their times are only as right "
        "as the device's clock was steady: day boundaries, recency and windows may shift.",
        "Find the devices or servers with a wrong clock (the worst skew says how wrong) "
        "and fix their time sync.",
    ),
    Check(
        "seats_removed_before_created",
        "Seats removed before they were created",
        Level.action,
        "seats",
        "A seat whose removal predates its creation never counts as a seat, so its user's "
        "activity scores nothing.",
        "Correct createdAt / removedAt with PUT /api/v1/customers/{id}/users/{userId} "
        '("removedAt": null takes the seat back).',
    ),
    Check(
        "tickets_resolved_before_opened",
        "Tickets resolved before they were opened",
        Level.action,
        "tickets",
        "Resolution times come out negative and skew the support signals.",
        "Resend the ticket with the right openedAt / resolvedAt "
        "(PUT /api/v1/customers/{id}/tickets/{ticketId}, tickets.csv).",
    ),
)
"""Every check, in the order the report lists them."""
