"""Segment ``alias``: after ``previousId → userId`` an account measures and scores exactly as
if every event had come as ``userId``, on SQLite and PostgreSQL.

Two accounts receive the same story — seats, logins (on roll-up days and on the day the
as-of moment cuts), a feature use, a page view, a second user — one under a single id
from the start (``base``), the other under an old id and then a new one, merged by an
alias (``aliased``). Every aggregate the default scorecard reads, and then the scores,
must agree; no row of the old id is left; an account where only the new id is a seat is
untouched.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import TypeAdapter
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from healthscore.ingest import segment as seg
from healthscore.ingest import segment_messages
from healthscore.ingest.records import InvalidFact
from healthscore.ingest.segment_messages import Rejected
from healthscore.scoring.aggregates import load_aggregates
from healthscore.scoring.event_mapping import EventMapping
from healthscore.scoring.metrics import Aggregate, Source
from healthscore.scoring.requirements import required_aggregates
from healthscore.scoring.scorecard_loading import load_scorecard
from healthscore.scoring.service import score_without_saving
from healthscore.storage import models as m

# Mid-day (today is a cut day), and after the accounts' creation (the wall clock).
NOW = datetime.now(UTC).replace(hour=15, minute=0, second=0, microsecond=0) + timedelta(days=1)
MESSAGES = TypeAdapter(list[segment_messages.Message])
DEFAULT = load_scorecard("default")
MEASURES: tuple[tuple[Source, str], ...] = (
    ("sessions", "active_users"),
    ("sessions", "active_seat_days"),
    ("sessions", "logins"),
    ("users", "seats"),
    ("users", "new_users"),
    ("feature_usage", "distinct_features"),
)
MEASURED = [
    Aggregate(source, measure, window)
    for source, measure in MEASURES
    for window in (1, 7, 30, None)
]


def at(days: float) -> str:
    return (NOW - timedelta(days=days)).isoformat()


def story(account: str, first: str, second: str) -> list[dict[str, Any]]:
    """What ``account`` receives: ``first`` is the user's id until day 15, ``second``
    from then on (one id for both in the base account)."""
    ctx = {"groupId": account}
    login = "Signed In"
    return [
        {"type": "group", "userId": first, "groupId": account, "timestamp": at(40),
         "traits": {"name": account.title()}},
        *({"type": "track", "userId": first, "event": login, "context": ctx, "timestamp": at(d)}
          for d in (35, 20, 3, 0.1)),
        {"type": "track", "userId": first, "event": "Feature Used", "context": ctx,
         "properties": {"feature": "reports"}, "timestamp": at(10)},
        {"type": "page", "userId": first, "name": "Home", "context": ctx, "timestamp": at(4)},
        {"type": "group", "userId": second, "groupId": account, "timestamp": at(15)},
        *({"type": "track", "userId": second, "event": login, "context": ctx, "timestamp": at(d)}
          for d in (20, 5, 1, 0.05)),
        {"type": "group", "userId": f"{account}-other", "groupId": account, "timestamp": at(30)},
        {"type": "track", "userId": f"{account}-other", "event": login, "context": ctx,
         "timestamp": at(2)},
    ]  # fmt: skip


def ingest(session: Session, raw: list[dict[str, Any]]) -> seg.Outcome:
    outcome = seg.ingest(session, MESSAGES.validate_python(raw), EventMapping(), received_at=NOW)
    session.commit()
    return outcome


def user_ids(session: Session, model: Any, account: str) -> list[str | None]:
    return sorted(
        session.scalars(select(model.user_id).where(model.customer_id == account).distinct()),
        key=str,
    )


def test_after_an_alias_the_account_measures_and_scores_as_under_one_id(session):
    ingest(session, story("base", "b-new", "b-new"))
    ingest(session, story("aliased", "a-old", "a-new"))
    # a-new is also a seat elsewhere, where a-old never was: that account is not touched.
    ingest(session, [{"type": "group", "userId": "a-new", "groupId": "elsewhere"}])
    with pytest.raises(AssertionError):  # different until the alias
        assert_same(session)

    outcome = ingest(session, [{"type": "alias", "previousId": "a-old", "userId": "a-new"}])
    assert outcome.customers == {"aliased"}  # marked for rescore by the request

    assert_same(session)
    for model in (m.User, m.Session, m.FeatureUsage, m.EngagementEvent, m.UserActivity):
        assert "a-old" not in user_ids(session, model, "aliased"), model
    seat = session.scalars(
        select(m.User).where(m.User.customer_id == "aliased", m.User.user_id == "a-new")
    ).one()
    assert seat.created_at == NOW - timedelta(days=40)  # the earlier of the two seats
    assert session.scalar(select(func.count()).select_from(m.User)) == 5
    elsewhere = session.scalars(select(m.User).where(m.User.customer_id == "elsewhere")).one()
    assert (elsewhere.user_id, elsewhere.created_at) == ("a-new", NOW)

    # Aliasing again, or an id with no rows, changes nothing.
    again = ingest(session, [{"type": "alias", "previousId": "a-old", "userId": "a-new"}])
    assert again.customers == set()
    assert_same(session)


def assert_same(session: Session) -> None:
    wanted = [*MEASURED, *required_aggregates(DEFAULT)]
    values = load_aggregates(session, wanted, as_of=NOW)
    for aggregate in wanted:
        got = values[aggregate]
        assert got.get("aliased", 0) == got.get("base", 0), aggregate
    assert values[Aggregate("sessions", "active_users", 30)]["base"] == 2
    assert values[Aggregate("sessions", "active_seat_days", None)]["base"] == 7
    scores = {}
    # Accounts exist from their first group call, received NOW: scored a minute later.
    for batch in score_without_saving(session, DEFAULT, as_of=NOW + timedelta(minutes=1)):
        for i, customer in enumerate(batch.customer_ids):
            scores[customer] = (int(batch.scores[i]), batch.tiers[i], batch.raw[i].tolist())
    assert set(scores) == {"aliased", "base", "elsewhere"}
    assert str(scores["aliased"]) == str(scores["base"])  # NaN-safe: "nan" == "nan"


def test_alias_needs_both_ids_and_lets_later_events_of_the_new_id_find_the_account(session):
    ingest(session, [{"type": "group", "userId": "old", "groupId": "acme", "traits": {}}])
    with pytest.raises(Rejected) as refused:
        ingest(session, [{"type": "alias", "userId": "new"}, {"type": "alias", "previousId": "x"}])
    fields = [(p.field, p.message) for p in refused.value.problems]
    assert fields == [
        ("batch.0.previousId", "previousId is required: the id to merge"),
        ("batch.1.userId", "userId is required: the id previousId becomes"),
    ]
    assert all(isinstance(p, InvalidFact) for p in refused.value.problems)
    session.rollback()
    # In one batch: the alias, then an event of the new id without a groupId, which finds
    # its account through the old id's seat; the old id's own event moves too.
    ingest(
        session,
        [
            {"type": "track", "userId": "old", "event": "Signed In", "timestamp": at(1)},
            {"type": "alias", "previousId": "old", "userId": "new"},
            {"type": "track", "userId": "new", "event": "Signed In", "timestamp": at(0.5)},
        ],
    )
    assert user_ids(session, m.Session, "acme") == ["new"]
    assert user_ids(session, m.User, "acme") == ["new"]
    assert session.scalar(select(func.count()).select_from(m.Session)) == 2
