"""What ingest refuses is counted for the data-quality view, over real HTTP.

A refused request changes nothing but its counters (events for unknown accounts,
timestamps in the future); an accepted request's counters (Segment ``sentAt`` skew)
commit in its own transaction, so they stand or fall with its events.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text

from healthscore.accounts.repository import upsert_customer
from healthscore.storage import job_models as jm
from healthscore.storage import models as m
from healthscore.storage import schema
from healthscore.storage.database import transaction
from tests.fixtures.server import SHARED_TLS

COUNTERS = {"ingest_unknown_accounts", "ingest_clock_skew"}


def table_counts(server: Any) -> dict[str, int]:
    with server.sessions() as session:
        return {
            t.name: session.scalar(select(func.count()).select_from(t)) or 0
            for t in schema.metadata.sorted_tables
        }


def changed(before: dict[str, int], after: dict[str, int]) -> set[str]:
    return {name for name in after if after[name] != before[name]}


def unknown(server: Any) -> dict[tuple[str, str], int]:
    with server.sessions() as session:
        rows = session.scalars(select(jm.UnknownAccountEvents))
        return {(r.source, r.account_key): r.events for r in rows}


def skew(server: Any) -> dict[tuple[str, str], tuple[int, float]]:
    with server.sessions() as session:
        rows = session.scalars(select(jm.ClockSkew))
        return {(r.source, r.kind): (r.events, r.worst_seconds) for r in rows}


def segment(server: Any) -> httpx.Client:
    return httpx.Client(
        verify=SHARED_TLS,
        base_url=server.url,
        auth=httpx.BasicAuth(server.keys["ingest"], ""),
        timeout=30,
    )


def track(**fields: Any) -> dict[str, Any]:
    return {"type": "track", "event": "Signed In", "messageId": str(uuid.uuid4()), **fields}


@pytest.fixture
def acme(live_server: Any) -> str:
    """An account written straight to the database: no request, no background work."""
    with transaction(live_server.sessions) as session:
        upsert_customer(
            session, {"id": "acme", "created_at": datetime.now(UTC) - timedelta(days=60)}
        )
    return "acme"


def test_a_segment_batch_refused_for_unknown_accounts_changes_nothing_but_its_counters(
    live_server: Any, acme: str
) -> None:
    batch = [
        track(userId="u1", context={"groupId": acme}),
        track(userId="u1", context={"groupId": "ghost"}),
        track(userId="u2", properties={"groupId": "ghost"}),
        track(userId="nobody"),  # names no account and belongs to none
    ]
    before = table_counts(live_server)
    with segment(live_server) as client:
        response = client.post("/v1/batch", json={"batch": batch})
        assert response.status_code == 400, response.text
        assert changed(before, table_counts(live_server)) == {"ingest_unknown_accounts"}
        assert unknown(live_server) == {("segment", "ghost"): 2, ("segment", ""): 1}
        assert client.post("/v1/track", json=batch[1]).status_code == 400
    assert unknown(live_server) == {("segment", "ghost"): 3, ("segment", ""): 1}
    with live_server.sessions() as session:
        ghost = session.get(jm.UnknownAccountEvents, ("segment", "ghost"))
        assert ghost is not None and ghost.first_seen <= ghost.last_seen


def test_segment_clocks_ahead_are_counted_refused_or_corrected(live_server: Any, acme: str) -> None:
    now = datetime.now(UTC)
    with segment(live_server) as client:
        before = table_counts(live_server)
        future = track(
            userId="u1", context={"groupId": acme}, timestamp=(now + timedelta(hours=2)).isoformat()
        )
        assert client.post("/v1/batch", json={"batch": [future]}).status_code == 400
        assert changed(before, table_counts(live_server)) == {"ingest_clock_skew"}
        ((events, worst),) = [v for k, v in skew(live_server).items() if k == ("segment", "future")]
        assert events == 1 and 2 * 3600 - 60 < worst <= 2 * 3600

        ahead = timedelta(hours=1)  # the device runs an hour fast: corrected, kept, counted
        batch = [
            track(userId="u1", context={"groupId": acme}, timestamp=(now + ahead).isoformat())
            for _ in range(3)
        ]
        sent = {"batch": batch, "sentAt": (now + ahead).isoformat()}
        assert client.post("/v1/batch", json=sent).status_code == 200, "accepted"
        on_time = {
            "batch": [track(userId="u1", context={"groupId": acme})],
            "sentAt": now.isoformat(),
        }
        assert client.post("/v1/batch", json=on_time).status_code == 200
    counted = skew(live_server)
    assert counted[("segment", "sent_at")][0] == 3  # the on-time message is not counted
    assert 3600 - 60 < counted[("segment", "sent_at")][1] < 3600 + 60
    with live_server.sessions() as session:
        assert session.scalar(select(func.count()).select_from(m.Session)) == 4


@pytest.fixture
def refuse_skew_counters(live_server: Any, db_url: str) -> Iterator[None]:
    """The database refuses every write to the clock-skew counters until the test ends."""
    sqlite = db_url.startswith("sqlite")
    rule = (
        "CREATE TRIGGER refuse_skew BEFORE INSERT ON ingest_clock_skew "
        "BEGIN SELECT RAISE(ABORT, 'no skew'); END"
        if sqlite
        else "ALTER TABLE ingest_clock_skew ADD CONSTRAINT refuse_skew CHECK (events < 0)"
    )
    drop = (
        "DROP TRIGGER refuse_skew"
        if sqlite
        else "ALTER TABLE ingest_clock_skew DROP CONSTRAINT refuse_skew"
    )
    with transaction(live_server.sessions) as session:
        session.execute(text(rule))
    yield
    with transaction(live_server.sessions) as session:
        session.execute(text(drop))


def test_an_accepted_requests_counters_commit_in_its_transaction(
    live_server: Any, acme: str, refuse_skew_counters: None
) -> None:
    now = datetime.now(UTC)
    sent = {
        "batch": [track(userId="u1", context={"groupId": acme})],
        "sentAt": (now + timedelta(hours=1)).isoformat(),
    }
    before = table_counts(live_server)
    with segment(live_server) as client:
        assert client.post("/v1/batch", json=sent).status_code == 500
    # The counter could not be written, so neither were the events it came with.
    assert changed(before, table_counts(live_server)) == set()


def test_api_facts_for_unknown_accounts_or_from_the_future_are_refused_and_counted(
    live_server: Any, acme: str
) -> None:
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    before = table_counts(live_server)
    with live_server.client("ingest") as api:
        refused = [
            api.post(
                "/api/v1/engagement-events", json={"customerId": "ghost", "eventType": "login"}
            ),
            api.post("/api/v1/nps-responses", json={"customerId": "ghost", "score": 9}),
            api.post(
                "/api/v1/payments",
                json={"customerId": "gone", "amount": "10.00", "status": "succeeded"},
            ),
            api.put("/api/v1/customers/gone/tickets/t1", json={"openedAt": "2026-01-01T00:00:00Z"}),
            api.post(
                "/api/v1/engagement-events",
                json={"customerId": acme, "eventType": "login", "timestamp": later},
            ),
        ]
    assert [r.status_code for r in refused] == [422, 422, 422, 404, 422]
    assert refused[-1].json()["error"]["details"] == [
        {"field": "timestamp", "message": "is in the future"}
    ]
    assert changed(before, table_counts(live_server)) == COUNTERS
    assert unknown(live_server) == {("api", "ghost"): 2, ("api", "gone"): 2}
    events, worst = skew(live_server)[("api", "future")]
    assert events == 1 and 86400 - 60 < worst <= 86400


def test_a_naive_api_timestamp_is_utc_as_before(live_server: Any, acme: str) -> None:
    with live_server.client("ingest") as api:
        response = api.post(
            "/api/v1/engagement-events",
            json={"customerId": acme, "eventType": "login", "timestamp": "2026-01-02T03:04:05"},
        )
    assert response.status_code == 201, response.text
    with live_server.sessions() as session:
        assert session.scalars(select(m.Session.ts)).one() == datetime(
            2026, 1, 2, 3, 4, 5, tzinfo=UTC
        )


def test_a_seat_is_removed_and_taken_back_through_the_api(live_server: Any, acme: str) -> None:
    created, removed = "2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z"
    url = f"/api/v1/customers/{acme}/users/jane"
    with live_server.client("ingest") as api:
        assert api.put(url, json={"createdAt": created}).status_code == 200
        assert api.put(url, json={"removedAt": removed}).status_code == 200
        with live_server.sessions() as session:
            seat = session.scalars(select(m.User)).one()
            assert (seat.created_at.isoformat(), seat.removed_at) == (
                "2026-01-01T00:00:00+00:00",
                datetime(2026, 3, 1, tzinfo=UTC),
            )
        assert api.put(url, json={"traits": {"role": "admin"}}).status_code == 200
        with live_server.sessions() as session:
            assert session.scalars(select(m.User.removed_at)).one() is not None  # untouched
        assert api.put(url, json={"removedAt": None}).status_code == 200
        with live_server.sessions() as session:
            seat = session.scalars(select(m.User)).one()
            assert (seat.removed_at, seat.traits) == (None, {"role": "admin"})


def test_a_removal_before_the_seat_was_created_is_refused(live_server: Any, acme: str) -> None:
    url = f"/api/v1/customers/{acme}/users/jane"
    with live_server.client("ingest") as api:
        assert api.put(url, json={"createdAt": "2026-02-01T00:00:00Z"}).status_code == 200
        before = table_counts(live_server)
        response = api.put(url, json={"removedAt": "2026-01-01T00:00:00Z"})
    assert response.status_code == 422
    assert response.json()["error"]["details"] == [
        {"field": "removedAt", "message": "is before createdAt"}
    ]
    assert changed(before, table_counts(live_server)) == set()
    with live_server.sessions() as session:
        assert session.scalars(select(m.User.removed_at)).one() is None
