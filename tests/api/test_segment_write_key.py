"""Segment's ``writeKey`` in the body, as analytics.js and Segment's HTTP API docs send it:
accepted like the Basic-auth header (same key check, same rate limit), on both databases."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from healthscore.settings import Settings
from healthscore.storage import models as m
from tests.fixtures.server import SHARED_TLS

LIMIT = 5


@pytest.fixture
def server_settings(server_settings: Settings) -> Settings:
    return server_settings.model_copy(update={"rate_limit": f"{LIMIT}/minute"})


def logins(server: Any) -> int:
    with server.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(m.Session)) or 0)


def login(**fields: Any) -> dict[str, Any]:
    return {"type": "track", "userId": "u1", "event": "Signed In", **fields}


def test_a_write_key_in_the_body_is_checked_and_counted_like_the_header(live_server):
    ingest, reader = live_server.keys["ingest"], live_server.keys["read"]
    counted = 0
    with httpx.Client(verify=SHARED_TLS, base_url=live_server.url, timeout=30) as http:
        # A single call, the key only in the body (Segment's HTTP API example).
        group = {"userId": "u1", "groupId": "acme", "traits": {"name": "Acme"}}
        assert http.post("/v1/group", json={**group, "writeKey": ingest}).status_code == 200
        counted += 1
        # analytics.js: a batch as text/plain, the key at the top and in every message.
        batch = {"batch": [login(writeKey=ingest)], "writeKey": ingest}
        sent = http.post(
            "/v1/batch", content=json.dumps(batch), headers={"Content-Type": "text/plain"}
        )
        assert sent.status_code == 200, sent.text
        counted += 1
        # The key only in the messages.
        two = {"batch": [login(writeKey=ingest), login(writeKey=ingest)]}
        assert http.post("/v1/batch", json=two).status_code == 200
        counted += 1
        assert logins(live_server) == 3

        # A wrong body key is refused like a wrong header, even beside a good header.
        wrong = http.post(
            "/v1/track", json=login(writeKey=ingest + "x"), auth=httpx.BasicAuth(ingest, "")
        )
        assert wrong.status_code == 401
        assert wrong.json()["error"]["message"] == "unknown or revoked API key"
        assert "WWW-Authenticate" in wrong.headers
        not_ingest = http.post("/v1/track", json=login(writeKey=reader))
        assert not_ingest.status_code == 403
        mixed = {"batch": [login(writeKey=ingest), login(writeKey=reader)]}
        split = http.post("/v1/batch", json=mixed)
        assert split.status_code == 400
        assert split.json()["error"]["code"] == "invalid_message"
        assert http.post("/v1/track", json=login()).status_code == 401  # no key at all
        assert logins(live_server) == 3

        # Header and body keys share the key's rate limit.
        assert http.post("/v1/track", json=login(), auth=(ingest, "")).status_code == 200
        counted += 1
        while counted < LIMIT:
            assert http.post("/v1/track", json=login(writeKey=ingest)).status_code == 200
            counted += 1
        over = http.post("/v1/track", json=login(writeKey=ingest))
        assert over.status_code == 429 and int(over.headers["Retry-After"]) >= 1
        assert http.post("/v1/track", json=login(), auth=(ingest, "")).status_code == 429
    assert logins(live_server) == 3 + (LIMIT - 3)  # a login per request since the batches
