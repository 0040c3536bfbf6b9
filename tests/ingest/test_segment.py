"""Segment messages → scoring facts: the event mapping, timestamps, account resolution.

No HTTP here (tests/api/test_segment.py drives the real SDK against a live server); the
database tests call ``ingest`` inside a transaction as the route does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from healthscore.accounts.repository import upsert_customer
from healthscore.ingest import segment as seg
from healthscore.ingest import segment_facts as facts
from healthscore.ingest import segment_messages
from healthscore.ingest.records import Event, InvalidFact, event_rows
from healthscore.scoring.scorecard import EventMapping
from healthscore.scoring.scorecard_loading import ScorecardError, load_scorecard, parse_scorecard
from healthscore.storage import job_models as jm
from healthscore.storage import models as m

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
DEFAULTS = EventMapping()
messages = TypeAdapter(list[segment_messages.Message])


def track(event: str, **fields: Any) -> segment_messages.TrackMessage:
    return segment_messages.TrackMessage.model_validate({"userId": "u1", "event": event, **fields})


def parse(*raw: dict[str, Any]) -> list[segment_messages.Message]:
    return messages.validate_python(list(raw))


# --- event names → facts -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Signed In", "Logged In", "Login", "signed_in", " LOGIN "])
def test_login_names_map_to_login_whatever_their_spelling(name: str) -> None:
    assert facts.track_fact(track(name), DEFAULTS) == ("login", None)


def test_feature_used_takes_the_feature_from_the_configured_property() -> None:
    message = track("Feature Used", properties={"feature": " reports ", "plan": "pro"})
    assert facts.track_fact(message, DEFAULTS) == ("feature_used", {"feature": "reports"})
    custom = EventMapping(feature_used=["Used Feature"], feature_property="name")
    renamed = track("Used Feature", properties={"name": "exports"})
    assert facts.track_fact(renamed, custom) == ("feature_used", {"feature": "exports"})


def test_feature_used_without_a_feature_is_rejected_naming_the_property() -> None:
    with pytest.raises(InvalidFact) as error:
        facts.track_fact(track("Feature Used", properties={}), DEFAULTS, "batch.4.")
    assert error.value.field == "batch.4.properties.feature"


def test_api_call_counts_default_to_one_and_must_be_whole() -> None:
    assert facts.track_fact(track("API Call"), DEFAULTS) == ("api_call", {"calls": 1})
    assert facts.track_fact(track("API Calls", properties={"calls": 40.0}), DEFAULTS) == (
        "api_call",
        {"calls": 40},
    )
    for bad in (-1, 2.5, "many", True, 10**9 + 1):
        with pytest.raises(InvalidFact, match="whole number"):
            facts.track_fact(track("API Call", properties={"calls": bad}), DEFAULTS)


def test_zero_api_calls_is_a_count_on_every_channel() -> None:
    """A day with no calls is reported as 0 calls, not refused (HTTP and Segment alike)."""
    assert facts.track_fact(track("API Call", properties={"calls": 0}), DEFAULTS) == (
        "api_call",
        {"calls": 0},
    )
    event = Event("acme", "api_call", datetime(2026, 11, 1, tzinfo=UTC), None, {"calls": 0})
    assert event_rows(event) == (
        m.ApiUsage,
        {"customer_id": "acme", "ts": event.ts, "product": None, "calls": 0},
    )
    with pytest.raises(InvalidFact, match="0 or more"):
        event_rows(Event("acme", "api_call", event.ts, None, {"calls": -1}))


def test_unmapped_names_are_engagement_events_named_by_slug() -> None:
    props = {"format": "pdf"}
    message = track("Report Exported", properties=props)
    assert facts.track_fact(message, DEFAULTS) == ("report_exported", props)
    assert facts.track_fact(track("🎉"), DEFAULTS)[0] == "unnamed_event"


def test_an_unmapped_name_cannot_feed_a_signal_through_its_slug() -> None:
    """With ``login: [Signed In]`` only, an event called "Login" must not count as a login."""
    mapping = EventMapping(login=["Signed In"], api_call=[])
    assert facts.track_fact(track("Login"), mapping)[0] == "login_event"
    assert facts.track_fact(track("api-call"), mapping)[0] == "api_call_event"


def test_events_section_is_optional_validated_and_documented_in_default() -> None:
    assert load_scorecard("default").events == DEFAULTS
    assert load_scorecard("seed000").events == DEFAULTS
    base = "version: 1\nname: t\nsignals:\n  - {name: a, group: engagement, metric: logins, "
    base += "normalise: {kind: target, target: 1}, weight: 1}\n"
    card = parse_scorecard(base + "events: {login: [Session Started], calls_property: n}\n")
    assert card.events.event_type("Session Started") == "login"
    assert card.events.event_type("Signed In") is None
    assert card.events.feature_used == ["Feature Used"]
    with pytest.raises(ScorecardError, match=r"events.*mapped twice"):
        parse_scorecard(base + "events: {login: [Ping], api_call: [ping]}\n")
    with pytest.raises(ScorecardError, match=r"events\.logins"):
        parse_scorecard(base + "events: {logins: [Ping]}\n")


# --- parsing and timestamps --------------------------------------------------------------


def test_messages_parse_by_type_with_sdk_extras_and_numeric_ids() -> None:
    parsed = parse(
        {"type": "track", "event": "Signed In", "userId": 42, "context": {"library": {}}},
        {"type": "group", "groupId": 7, "anonymousId": "a", "userId": ""},
        {"type": "alias", "userId": "u", "previousId": "a"},
    )
    assert isinstance(parsed[0], segment_messages.TrackMessage) and parsed[0].user_id == "42"
    assert isinstance(parsed[1], segment_messages.GroupMessage) and parsed[1].group_id == "7"
    assert parsed[1].user_id is None
    with pytest.raises(ValidationError):
        parse({"type": "track", "userId": "u"})  # no event name
    with pytest.raises(ValidationError):
        parse({"type": "group", "userId": "u", "groupId": "has space"})
    with pytest.raises(ValidationError):
        parse({"type": "teleport", "userId": "u"})


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", None), (0, "0"), (12.0, "12"), ("m-1", "m-1"), (None, None)],
)
def test_an_id_reads_blank_as_none_and_whole_numbers_as_their_digits(
    value: Any, expected: str | None
) -> None:
    message = parse({"type": "track", "event": "x", "userId": "u", "messageId": value})[0]
    assert message.message_id == expected


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        ("", "String should have at least 1 character"),
        ("x" * 256, "String should have at most 255 characters"),
        (1.5, "must be text or a whole number"),
    ],
)
def test_an_event_name_out_of_bounds_is_refused_saying_why(event: Any, problem: str) -> None:
    with pytest.raises(ValidationError) as refused:
        parse({"type": "track", "event": event, "userId": "u"})
    (error,) = refused.value.errors()
    assert error["loc"][-1] == "event"
    assert problem in error["msg"]


def test_timestamp_is_corrected_for_client_clock_skew_like_segment() -> None:
    ahead = timedelta(hours=3)  # the device's clock runs three hours fast
    message = track("Signed In", timestamp=NOW + ahead - timedelta(minutes=10), sentAt=NOW + ahead)
    assert facts.event_time(message, received_at=NOW, batch_sent_at=None, where="") == (
        NOW - timedelta(minutes=10)
    )
    batch_sent = facts.event_time(
        track("Signed In", timestamp=NOW + ahead),
        received_at=NOW,
        batch_sent_at=NOW + ahead,
        where="",
    )
    assert batch_sent == NOW
    assert facts.event_time(track("x"), received_at=NOW, batch_sent_at=None, where="") == NOW
    old = track("x", originalTimestamp="2026-01-01T00:00:00Z")
    assert facts.event_time(old, received_at=NOW, batch_sent_at=None, where="") == datetime(
        2026, 1, 1, tzinfo=UTC
    )


def test_future_timestamps_beyond_the_skew_are_rejected() -> None:
    soon = track("x", timestamp=NOW + timedelta(minutes=2))
    assert facts.event_time(soon, received_at=NOW, batch_sent_at=None, where="") > NOW
    future = track("x", timestamp=NOW + timedelta(days=1), sentAt=NOW)
    with pytest.raises(InvalidFact) as error:
        facts.event_time(future, received_at=NOW, batch_sent_at=None, where="batch.2.")
    assert error.value.field == "batch.2.timestamp"


def test_group_traits_map_to_account_columns() -> None:
    traits = {"name": "Acme", "plan": "pro", "segment": "smb", "mrr": "99.5", "industry": "x"}
    assert facts.account_fields(traits, "") == {
        "name": "Acme",
        "plan": "pro",
        "segment": "smb",
        "mrr": Decimal("99.50"),
    }
    for bad in ({"mrr": -1}, {"mrr": "lots"}, {"name": ""}, {"plan": "p" * 65}, {"name": {}}):
        with pytest.raises(InvalidFact):
            facts.account_fields(bad, "")


# --- against the database ------------------------------------------------------------------


def ingest(session: Session, *raw: dict[str, Any]) -> seg.Outcome:
    with session.begin():
        return seg.ingest(session, parse(*raw), DEFAULTS, received_at=NOW)


def count(session: Session, model: type[m.Base]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_group_creates_the_account_and_links_the_user(session: Session) -> None:
    ingest(
        session,
        {"type": "group", "userId": "u1", "groupId": "acme", "traits": {"name": "Acme", "mrr": 50}},
        {"type": "identify", "userId": "u1", "traits": {"email": "a@acme.test"}},
        {"type": "track", "userId": "u1", "event": "Signed In"},
        {"type": "track", "userId": "u1", "event": "Feature Used", "properties": {"feature": "f"}},
        {"type": "page", "userId": "u1", "name": "Home", "context": {"page": {"url": "https://x"}}},
    )
    customer = session.get(m.Customer, "acme")
    assert customer is not None and customer.name == "Acme" and customer.mrr == Decimal(50)
    assert customer.traits == {"name": "Acme", "mrr": 50}
    seat = session.scalars(select(m.User)).one()
    assert (seat.customer_id, seat.user_id, seat.traits) == ("acme", "u1", {"email": "a@acme.test"})
    assert session.scalars(select(m.Session.customer_id)).all() == ["acme"]
    assert session.scalars(select(m.FeatureUsage.feature)).all() == ["f"]
    page = session.scalars(select(m.EngagementEvent)).one()
    assert page.event_type == "page_viewed"
    assert page.properties == {"name": "Home", "url": "https://x"}


def test_later_group_calls_merge_traits(session: Session) -> None:
    ingest(session, {"type": "group", "userId": "u1", "groupId": "a", "traits": {"x": 1, "y": 1}})
    ingest(session, {"type": "group", "userId": "u2", "groupId": "a", "traits": {"y": 2}})
    customer = session.get(m.Customer, "a")
    assert customer is not None and customer.traits == {"x": 1, "y": 2}
    assert customer.name == "a"  # no name trait yet: the id, as elsewhere
    assert count(session, m.User) == 2


def test_explicit_group_id_wins_over_the_users_account(session: Session) -> None:
    ingest(
        session,
        {"type": "group", "userId": "u1", "groupId": "a"},
        {"type": "group", "userId": "u2", "groupId": "b"},
        {"type": "track", "userId": "u1", "event": "Login", "context": {"groupId": "b"}},
        {"type": "track", "userId": "u1", "event": "Login", "properties": {"groupId": "b"}},
        {"type": "track", "userId": "u1", "event": "Login"},
    )
    assert sorted(session.scalars(select(m.Session.customer_id))) == ["a", "b", "b"]


def test_a_user_in_several_accounts_counts_for_the_latest_joined(session: Session) -> None:
    ingest(
        session,
        {"type": "group", "userId": "u1", "groupId": "a", "timestamp": "2026-01-01T00:00:00Z"},
        {"type": "group", "userId": "u1", "groupId": "b", "timestamp": "2026-02-01T00:00:00Z"},
    )
    ingest(session, {"type": "track", "userId": "u1", "event": "Login"})
    assert session.scalars(select(m.Session.customer_id)).all() == ["b"]


def test_one_unresolvable_message_rejects_the_request_and_says_which(session: Session) -> None:
    with session.begin():
        upsert_customer(session, {"id": "acme"})
    with pytest.raises(segment_messages.Rejected) as error:
        ingest(
            session,
            {"type": "group", "userId": "u1", "groupId": "new"},
            {"type": "track", "userId": "u1", "event": "Login", "messageId": "m1"},
            {"type": "track", "userId": "u1", "event": "Login", "context": {"groupId": "nope"}},
            {"type": "track", "userId": "stranger", "event": "Login"},
            {"type": "identify", "userId": "u1", "traits": {"groupId": "gone"}},
        )
    fields = [p.field for p in error.value.problems]
    assert fields == [
        "batch.2.context.groupId",
        "batch.3.context.groupId",
        "batch.4.traits.groupId",
    ]
    assert "unknown account 'nope'" in error.value.problems[0].message
    assert "belongs to no account" in error.value.problems[1].message
    for model in (m.User, m.Session, jm.ProcessedMessage):
        assert count(session, model) == 0
    assert session.get(m.Customer, "new") is None


def test_messages_are_checked_before_anything_is_claimed(session: Session) -> None:
    with pytest.raises(segment_messages.Rejected) as error:
        ingest(
            session,
            {"type": "track", "anonymousId": "a", "event": "x", "messageId": "m1"},
            {"type": "track", "userId": "u", "event": "x", "timestamp": "2099-01-01T00:00:00Z"},
            {"type": "track", "event": "x"},
        )
    assert [p.field for p in error.value.problems] == ["batch.1.timestamp", "batch.2.userId"]
    assert count(session, jm.ProcessedMessage) == 0


def test_retried_messages_are_acknowledged_not_applied_again(session: Session) -> None:
    raw = [
        {
            "type": "track",
            "userId": "u",
            "event": "Login",
            "context": {"groupId": "a"},
            "messageId": f"m{i}",
        }
        for i in range(3)
    ]
    group = {"type": "group", "userId": "u", "groupId": "a", "messageId": "g"}
    first = ingest(session, group, *raw, raw[0])  # m0 twice in one batch: the copy is a retry
    assert (first.applied, first.duplicates, first.events) == (4, 1, 3)
    again = ingest(session, group, *raw)
    assert (again.applied, again.duplicates, again.events) == (0, 4, 0)
    assert count(session, m.Session) == 3
