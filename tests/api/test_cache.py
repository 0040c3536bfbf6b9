"""Read answers are cached in the real Redis, invalidated by rescoring, survive Redis outages;
the keys that may read them are trusted per process until a key is revoked."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import event, update
from typer.testing import CliRunner

from healthscore.api.app import create_app
from healthscore.auth.keys import Scope, create_key, revoke_key
from healthscore.cli.main import app as cli_app
from healthscore.storage import models as m
from healthscore.storage.cache import ScoreCache
from healthscore.storage.database import transaction
from tests.fixtures.metrics import samples
from tests.fixtures.server import SHARED_TLS, free_port, run_server

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
        verify=SHARED_TLS,
        base_url=f"http://127.0.0.1:{port}",
        headers={"X-API-Key": key},
        timeout=30,
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
        # The key is checked before anything the cache holds is used.
        counted = (cache.hits, cache.misses)
        refused = httpx.get(
            f"{api.base_url}{path}", headers={"X-API-Key": "hs_abc_def"}, verify=SHARED_TLS
        )
        assert refused.status_code == 401
        assert refused.json()["error"]["message"] == "unknown or revoked API key"
        assert cached.content not in refused.content
        assert (cache.hits, cache.misses) == counted  # a refused request used nothing


def test_cache_hits_and_misses_are_exported_on_metrics(cached_server):
    _, api = cached_server
    api.put("/api/v1/customers/acme", json={"name": "Acme"}).raise_for_status()
    api.post("/api/v1/health-scores/acme/refresh").raise_for_status()

    def lookups() -> dict[str, float]:
        return {
            dict(labels)["outcome"]: value
            for (name, labels), value in samples(api.get("/metrics").text).items()
            if name == "healthscore_cache_lookups_total"
        }

    before = lookups()
    for _ in range(3):
        api.get("/api/v1/health-scores/acme").raise_for_status()
    refused = httpx.get(
        f"{api.base_url}/api/v1/health-scores/acme",
        headers={"X-API-Key": "hs_abc_def"},
        verify=SHARED_TLS,
    )
    assert refused.status_code == 401
    after = lookups()
    assert after["miss"] - before.get("miss", 0) == 1
    assert after["hit"] - before.get("hit", 0) == 2


def test_reads_fall_back_to_the_database_when_redis_is_down(caplog):
    calls = []
    cache = ScoreCache(f"redis://127.0.0.1:{free_port()}/0")
    value = cache.cached_json(cache.key("x"), lambda: calls.append(1) or b'{"a": 1}')
    assert value == b'{"a": 1}' and calls == [1]
    cache.invalidate()  # must not raise either
    assert "Redis cache unavailable" in caplog.text


def _read_key(sessions) -> str:
    with transaction(sessions) as session:
        return create_key(session, scope=Scope.read, name="reader").secret


def _key_lookups(app) -> list[str]:
    """Every key lookup (a SELECT from ``api_keys``) the API runs from now on."""
    seen: list[str] = []

    @event.listens_for(app.state.engine, "before_cursor_execute")
    def record(_conn, _cursor, statement, *_args):
        if statement.startswith("SELECT") and "FROM api_keys" in statement:
            seen.append(statement)

    return seen


def _scored(api) -> None:
    api.put(
        "/api/v1/customers/acme",
        json={"name": "Acme", "createdAt": (NOW - timedelta(days=90)).isoformat()},
    ).raise_for_status()
    api.post("/api/v1/health-scores/acme/refresh").raise_for_status()


def test_a_cached_read_checks_its_key_in_the_database_once_per_keys_generation(
    cached_server, sessions
):
    app, api = cached_server
    _scored(api)
    key = _read_key(sessions)
    lookups = _key_lookups(app)
    for path in ["/api/v1/health-scores/acme", "/api/v1/health-summary"] * 3:
        assert api.get(path, headers={"X-API-Key": key}).status_code == 200
    assert len(lookups) == 1
    app.state.cache.invalidate_keys()  # what `healthscore keys revoke` does
    assert api.get("/api/v1/health-summary", headers={"X-API-Key": key}).status_code == 200
    assert len(lookups) == 2
    # A trusted read key is still only a read key.
    refused = api.post("/api/v1/health-scores/acme/refresh", headers={"X-API-Key": key})
    assert refused.status_code == 403


def test_a_key_revoked_with_the_cli_is_refused_at_once_by_a_process_that_trusted_it(
    cached_server, sessions, monkeypatch
):
    app, api = cached_server
    _scored(api)
    key = _read_key(sessions)
    assert api.get("/api/v1/health-summary", headers={"X-API-Key": key}).status_code == 200
    settings = app.state.settings
    monkeypatch.setenv("HEALTHSCORE_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("HEALTHSCORE_REDIS_URL", settings.redis_url)
    monkeypatch.setenv("HEALTHSCORE_QUEUE_NAME", settings.queue_name)
    revoked = CliRunner().invoke(cli_app, ["keys", "revoke", key.split("_")[1]])
    assert revoked.exit_code == 0, revoked.output
    assert "Redis unreachable" not in revoked.output
    response = api.get("/api/v1/health-summary", headers={"X-API-Key": key})
    assert response.status_code == 401


def test_a_revocation_made_behind_redis_back_is_honoured_within_the_cache_ttl(
    cached_server, sessions
):
    app, api = cached_server
    _scored(api)
    key = _read_key(sessions)
    app.state.trusted_keys.max_age = 0.5
    assert api.get("/api/v1/health-summary", headers={"X-API-Key": key}).status_code == 200
    with transaction(sessions) as session:
        revoke_key(session, key.split("_")[1])  # straight in the database: no generation
    assert api.get("/api/v1/health-summary", headers={"X-API-Key": key}).status_code == 200
    time.sleep(0.6)
    assert api.get("/api/v1/health-summary", headers={"X-API-Key": key}).status_code == 401


def test_without_redis_every_read_checks_its_key_in_the_database(server_settings, sessions):
    app = create_app(server_settings)  # no Redis: no keys generation to trust keys by
    key = _read_key(sessions)
    lookups = _key_lookups(app)
    server, thread = run_server(app, port := free_port())
    try:
        for _ in range(3):
            response = httpx.get(
                f"http://127.0.0.1:{port}/api/v1/health-summary",
                headers={"X-API-Key": key},
                verify=SHARED_TLS,
            )
            assert response.status_code == 200
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        app.state.engine.dispose()
    assert len(lookups) == 3
