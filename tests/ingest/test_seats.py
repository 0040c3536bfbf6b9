"""Who is a seat (docs/identity.md): a Segment ``group`` or an ``identify`` naming the
account makes the user one, dated by the message; any other event keeps its user out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.orm import Session

from healthscore.accounts.repository import upsert_customer
from healthscore.ingest import segment as seg
from healthscore.ingest import segment_messages
from healthscore.ingest.records import UnknownAccount
from healthscore.scoring.event_mapping import EventMapping
from healthscore.storage import models as m

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
EARLIER = NOW - timedelta(days=3)
messages = TypeAdapter(list[segment_messages.Message])


def ingest(session: Session, *raw: dict[str, Any]) -> seg.Outcome:
    with session.begin():
        return seg.ingest(
            session, messages.validate_python(list(raw)), EventMapping(), received_at=NOW
        )


def seats(session: Session) -> dict[tuple[str, str], tuple[datetime, datetime | None]]:
    with session.begin():
        return {
            (u.customer_id, u.user_id): (u.created_at, u.removed_at)
            for u in session.scalars(select(m.User))
        }


@pytest.fixture
def acme(session: Session) -> str:
    with session.begin():
        upsert_customer(session, {"id": "acme", "created_at": NOW - timedelta(days=90)})
    return "acme"


def test_a_group_call_seats_the_user_from_the_message_timestamp(session: Session) -> None:
    ingest(
        session,
        {"type": "group", "userId": "u1", "groupId": "acme", "timestamp": EARLIER.isoformat()},
    )
    assert seats(session) == {("acme", "u1"): (EARLIER, None)}


@pytest.mark.parametrize(
    "where",
    [
        {"traits": {"groupId": "acme"}},
        {"context": {"groupId": "acme"}},
        {"context": {"traits": {"groupId": "acme"}}},
    ],
    ids=["traits.groupId", "context.groupId", "context.traits.groupId"],
)
def test_an_identify_naming_the_account_seats_the_user(
    session: Session, acme: str, where: dict[str, Any]
) -> None:
    ingest(session, {"type": "identify", "userId": "u1", "timestamp": EARLIER.isoformat(), **where})
    assert seats(session) == {(acme, "u1"): (EARLIER, None)}


def test_a_seat_keeps_its_creation_date_whatever_comes_later(session: Session, acme: str) -> None:
    ingest(
        session,
        {"type": "group", "userId": "u1", "groupId": acme, "timestamp": EARLIER.isoformat()},
    )
    older, newer = EARLIER - timedelta(days=30), EARLIER + timedelta(days=1)
    ingest(
        session,
        {"type": "group", "userId": "u1", "groupId": acme, "timestamp": older.isoformat()},
        {
            "type": "identify",
            "userId": "u1",
            "traits": {"groupId": acme},
            "timestamp": newer.isoformat(),
        },
    )
    assert seats(session) == {(acme, "u1"): (EARLIER, None)}


def test_events_from_a_user_who_is_not_a_seat_are_kept_without_seating_them(
    session: Session, acme: str
) -> None:
    ingest(
        session,
        {"type": "track", "userId": "stranger", "event": "Signed In", "context": {"groupId": acme}},
        {"type": "page", "userId": "stranger", "name": "Home", "properties": {"groupId": acme}},
    )
    assert seats(session) == {}
    logins = session.scalars(select(m.Session)).all()
    assert [(s.customer_id, s.user_id) for s in logins] == [(acme, "stranger")]
    assert session.scalars(select(m.EngagementEvent.user_id)).all() == ["stranger"]


def test_a_group_after_a_removal_takes_the_seat_back_keeping_its_creation(
    session: Session, acme: str
) -> None:
    ingest(
        session,
        {"type": "group", "userId": "u1", "groupId": acme, "timestamp": EARLIER.isoformat()},
    )
    removed = EARLIER + timedelta(days=1)
    with session.begin():
        seat = session.scalars(select(m.User)).one()
        seat.removed_at = removed
    ingest(
        session,
        {
            "type": "group",
            "userId": "u1",
            "groupId": acme,
            "timestamp": (removed - timedelta(hours=1)).isoformat(),
        },
    )
    assert seats(session) == {(acme, "u1"): (EARLIER, removed)}  # older than the removal
    ingest(session, {"type": "group", "userId": "u1", "groupId": acme})
    assert seats(session) == {(acme, "u1"): (EARLIER, None)}


def test_an_identify_for_an_unknown_account_is_refused_naming_the_key(session: Session) -> None:
    with pytest.raises(segment_messages.Rejected) as error:
        ingest(session, {"type": "identify", "userId": "u1", "traits": {"groupId": "ghost"}})
    (problem,) = error.value.problems
    assert isinstance(problem, UnknownAccount) and problem.account_key == "ghost"
    assert seats(session) == {}
