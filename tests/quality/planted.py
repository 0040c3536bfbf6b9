"""A database with one of each data-quality problem, planted the way real data arrives
(HTTP ingest, refused requests) where it can be, for the API, CLI and dashboard tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from healthscore.ingest.records import upsert_ticket
from healthscore.storage import models as m
from healthscore.storage.database import transaction
from tests.fixtures.server import SHARED_TLS

HOSTILE = "<script>alert(1)</script>"


def plant(server: Any) -> None:
    """acme: seat u1, and logins from u1 and from two non-seats; ``<script>``: an account
    with a hostile name and no seats; refused events for ``ghost`` and from the future; a
    Segment client an hour fast; a seat removed before it was created; a ticket resolved
    before it was opened."""
    now = datetime.now(UTC)
    with server.client("ingest") as api:
        for customer_id, name in (("acme", "Acme"), ("evil", HOSTILE)):
            body = {"name": name, "createdAt": (now - timedelta(days=60)).isoformat()}
            assert api.put(f"/api/v1/customers/{customer_id}", json=body).status_code == 200
        assert api.put("/api/v1/customers/acme/users/u1", json={}).status_code == 200
        for user, times in (("u1", 1), ("stranger", 3), ("<b>intruder</b>", 1)):
            for _ in range(times):
                event = {"customerId": "acme", "eventType": "login", "userId": user}
                assert api.post("/api/v1/engagement-events", json=event).status_code == 201
        ghost = {"customerId": "ghost", "eventType": "login"}
        assert api.post("/api/v1/engagement-events", json=ghost).status_code == 422
        later = {
            "customerId": "acme",
            "eventType": "x",
            "timestamp": (now + timedelta(hours=2)).isoformat(),
        }
        assert api.post("/api/v1/engagement-events", json=later).status_code == 422
    segment = httpx.Client(
        verify=SHARED_TLS,
        base_url=server.url,
        auth=httpx.BasicAuth(server.keys["ingest"], ""),
        timeout=30,
    )
    with segment:
        fast = now + timedelta(hours=1)
        batch = {
            "batch": [
                {
                    "type": "track",
                    "userId": "u1",
                    "event": "x",
                    "context": {"groupId": "acme"},
                    "timestamp": fast.isoformat(),
                }
            ],
            "sentAt": fast.isoformat(),
        }
        assert segment.post("/v1/batch", json=batch).status_code == 200
    with transaction(server.sessions) as session:
        session.add(
            m.User(
                customer_id="acme",
                user_id="u9",
                created_at=now - timedelta(days=1),
                removed_at=now - timedelta(days=5),
            )
        )
        upsert_ticket(
            session,
            {
                "customer_id": "acme",
                "ticket_id": "T1",
                "opened_at": now - timedelta(days=1),
                "resolved_at": now - timedelta(days=2),
            },
        )


EXPECTED = {
    "unseated_users": 2,
    "accounts_without_seats": 1,
    "accounts_without_activity": 1,
    "unknown_account_events": 1,
    "future_timestamps": 1,
    "sent_at_skew": 1,
    "seats_removed_before_created": 1,
    "tickets_resolved_before_opened": 1,
}
"""What ``plant`` leaves, finding by finding."""
