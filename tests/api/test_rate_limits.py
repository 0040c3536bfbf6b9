"""Requests per API key: over its limit a key gets 429 with ``Retry-After``, other keys go
on, a refused request changes nothing, and with Redis every API process shares the count."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from limits import parse_many
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from healthscore.accounts.repository import upsert_customer
from healthscore.api.app import create_app
from healthscore.auth.keys import Scope, create_key
from healthscore.settings import DEFAULT_RATE_LIMIT, Settings
from healthscore.storage import models as m
from healthscore.storage.database import transaction
from tests.fixtures.server import SHARED_TLS, free_port, run_server


@pytest.fixture
def keys(sessions: sessionmaker[Session]) -> dict[str, str]:
    with transaction(sessions) as session:
        return {
            name: create_key(session, scope=scope, name=name).secret
            for name, scope in (
                ("reader", Scope.read),
                ("other", Scope.read),
                ("ingest", Scope.ingest),
            )
        }


@pytest.fixture
def serve(db_url: str, tmp_path: Path) -> Callable[..., Iterator[str]]:
    """Start an API process (in a thread, on its own port) with these settings."""

    @contextmanager
    def start(**settings: object) -> Iterator[str]:
        app = create_app(
            Settings(
                database_url=db_url,
                queue_path=str(tmp_path / f"queue-{uuid.uuid4().hex[:6]}.db"),
                **settings,  # type: ignore[arg-type]
            )
        )
        port = free_port()
        server, thread = run_server(app, port)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            app.state.engine.dispose()

    return start


def _get(url: str, key: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.get(f"{url}/api/v1/customers", headers=headers, timeout=30, verify=SHARED_TLS)


def test_a_key_over_its_limit_gets_429_with_retry_after_and_other_keys_go_on(serve, keys):
    with serve(rate_limit="5/minute", redis_url=None) as url:
        assert [_get(url, keys["reader"]).status_code for _ in range(5)] == [200] * 5
        refused = _get(url, keys["reader"])
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        error = refused.json()["error"]
        assert error["code"] == "rate_limited"
        assert error["message"].startswith("rate limit of 5 per 1 minute exceeded")
        assert _get(url, keys["reader"]).status_code == 429  # still refused: it keeps counting
        assert _get(url, keys["other"]).status_code == 200  # another key has its own count
        # Without a key the answer is 401, and it spends nobody's quota.
        assert [_get(url, None).status_code for _ in range(8)] == [401] * 8


def test_a_refused_request_writes_nothing(serve, keys, sessions):
    event = {
        "customerId": "acme",
        "eventType": "login",
        "userId": "u1",
        "timestamp": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
    }
    auth = {"Authorization": f"Bearer {keys['ingest']}"}
    with (
        serve(rate_limit="3/minute", redis_url=None) as url,
        httpx.Client(verify=SHARED_TLS, base_url=url, headers=auth) as api,
    ):
        created = api.put("/api/v1/customers/acme", json={"name": "Acme"})
        assert created.status_code in (200, 201)
        statuses = [api.post("/api/v1/engagement-events", json=event).status_code for _ in "abcd"]
    assert statuses == [201, 201, 429, 429]
    with sessions() as session:
        stored = session.scalar(select(func.count()).select_from(m.Session))
    assert stored == 2


def test_with_redis_every_api_process_shares_a_keys_count(serve, keys, redis_url):
    shared = {
        "rate_limit": "5/minute",
        "redis_url": redis_url,
        "queue_name": f"t{uuid.uuid4().hex[:8]}",
    }
    with serve(**shared) as first, serve(**shared) as second:
        answers = [_get(url, keys["reader"]).status_code for url in (first, second) * 3]
    assert answers == [200] * 5 + [429]


def test_the_limit_is_checked_at_start_up_and_can_be_turned_off(serve):
    with pytest.raises(ValidationError, match="'lots' is not a rate limit"):
        Settings(rate_limit="lots")
    assert Settings(rate_limit="").rate_limit is None
    assert Settings(rate_limit="100/second;5000/minute").rate_limit == "100/second;5000/minute"


def test_the_default_limit_is_one_the_settings_need_not_check():
    """Settings skip parsing their default (every CLI command reads them, only the API
    needs the rate-limit library): it has to be a valid limit."""
    assert Settings.model_fields["rate_limit"].default == DEFAULT_RATE_LIMIT
    assert [str(limit) for limit in parse_many(DEFAULT_RATE_LIMIT)] == ["30000 per 1 minute"]


def test_segment_calls_count_against_the_write_keys_limit(serve, keys, sessions):
    """The Segment routes take their own fast path to the key check; the limit holds there."""
    with transaction(sessions) as session:
        upsert_customer(session, {"id": "acme", "name": "Acme"})
    track = {
        "type": "track",
        "messageId": "m1",
        "userId": "u1",
        "event": "Signed In",
        "context": {"groupId": "acme"},
        "timestamp": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
    }
    with serve(rate_limit="2/minute", redis_url=None) as url:
        answers = [
            httpx.post(
                f"{url}/v1/track",
                json={**track, "messageId": f"m{n}"},
                auth=(keys["ingest"], ""),
                timeout=30,
                verify=SHARED_TLS,
            )
            for n in range(3)
        ]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].headers["Retry-After"].isdigit()
