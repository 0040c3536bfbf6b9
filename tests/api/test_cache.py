"""Read answers are cached in the real Redis, invalidated by rescoring, survive Redis outages."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import update

from healthscore.api.app import create_app
from healthscore.auth.keys import Scope, create_key
from healthscore.storage import models as m
from healthscore.storage.cache import ScoreCache
from healthscore.storage.database import transaction
from tests.fixtures.server import free_port, run_server

NOW = datetime.now(UTC)


@pytest.fixture
def cached_server(server_settings, sessions, redis_url):
    settings = server_settings.model_copy(
        update={"redis_url": redis_url, "queue_name": f"test-{uuid.uuid4().hex[:8]}"}
    )
    app = create_app(settings)
    with transaction(sessions) as session:
        key = create_key(session, scope=Scope.admin).secret
    server, thread = run_server(app, port := free_port())
    client = httpx.Client(
        base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": key}, timeout=30
    )
    yield app, client
    client.close()
    server.should_exit = True
    thread.join(timeout=10)
    app.state.engine.dispose()


def test_scores_are_served_from_cache_until_a_rescore_invalidates_them(cached_server, sessions):
    app, api = cached_server
    api.put(
        "/api/v1/customers/acme",
        json={"name": "Acme", "createdAt": (NOW - timedelta(days=90)).isoformat()},
    ).raise_for_status()
    first = api.post("/api/v1/health-scores/acme/refresh").json()
    cache = app.state.cache
    assert api.get("/api/v1/health-scores/acme").json() == first
    hits = cache.hits
    assert api.get("/api/v1/health-scores/acme").json() == first
    assert cache.hits == hits + 1

    assert api.get("/api/v1/health-summary").json()["averageScore"] == first["score"]

    # Change the stored score behind the cache's back: the cached answers are still served…
    with transaction(sessions) as session:
        session.execute(update(m.HealthScore).values(score=3))
    assert api.get("/api/v1/health-scores/acme").json()["score"] == first["score"]
    summary = api.get("/api/v1/health-summary").json()
    # …until a rescore invalidates every cached answer at once.
    cache.invalidate()
    assert api.get("/api/v1/health-scores/acme").json()["score"] == 3
    assert api.get("/api/v1/health-summary").json()["averageScore"] == 3
    assert summary["averageScore"] == first["score"]
    after = api.post("/api/v1/health-scores/acme/refresh").json()
    assert api.get("/api/v1/health-scores/acme").json()["score"] == after["score"]
    assert api.get("/api/v1/health-scores").json()["items"][0]["score"] == after["score"]


def test_a_cached_answer_is_the_uncached_answer_byte_for_byte_and_still_needs_a_key(
    cached_server,
):
    app, api = cached_server
    api.put(
        "/api/v1/customers/acme",
        json={"name": "Acme", "createdAt": (NOW - timedelta(days=90)).isoformat()},
    ).raise_for_status()
    api.post("/api/v1/health-scores/acme/refresh").raise_for_status()
    paths = ["/api/v1/health-scores/acme", "/api/v1/health-scores", "/api/v1/health-summary"]
    cache = app.state.cache
    for path in paths:
        misses = cache.misses
        computed = api.get(path)
        assert cache.misses == misses + 1
        hits = cache.hits
        cached = api.get(path)
        assert cache.hits == hits + 1
        assert cached.content == computed.content
        assert cached.headers["content-type"] == "application/json"
        assert "customerId" in computed.text or "averageScore" in computed.text  # camelCase
        # The key is checked before the cache is looked at.
        hits = cache.hits
        refused = httpx.get(f"{api.base_url}{path}", headers={"X-API-Key": "hs_abc_def"})
        assert refused.status_code == 401
        assert cache.hits == hits


def test_reads_fall_back_to_the_database_when_redis_is_down(caplog):
    calls = []
    cache = ScoreCache(f"redis://127.0.0.1:{free_port()}/0")
    value = cache.cached_json(cache.key("x"), lambda: calls.append(1) or b'{"a": 1}')
    assert value == b'{"a": 1}' and calls == [1]
    cache.invalidate()  # must not raise either
    assert "Redis cache unavailable" in caplog.text
