"""Pooled PostgreSQL connections: pinged before use only after sitting idle in the pool."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from healthscore.storage import database
from healthscore.storage.database import make_engine


def backend_pid(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def terminate(postgres_url: str, pid: int) -> None:
    """Kill one backend from outside the pool, as a server restart or a dropped link would."""
    outsider = make_engine(postgres_url, poolclass=NullPool)
    try:
        with outsider.connect() as connection:
            assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            connection.commit()
    finally:
        outsider.dispose()


@pytest.fixture
def pooled(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url, pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


def test_a_connection_killed_while_idle_in_the_pool_is_replaced_before_use(
    pooled: Engine, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 0.0)  # any idle time counts
    first = backend_pid(pooled)
    terminate(postgres_url, first)
    assert backend_pid(pooled) != first  # pinged at checkout, found dead, connected anew


def test_a_connection_back_in_the_pool_a_moment_ago_is_not_pinged(
    pooled: Engine, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No round trip per checkout: a connection killed within the idle allowance fails its
    statement (answered 503 by the API), and the pool connects anew for the next one."""
    monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 3600.0)
    first = backend_pid(pooled)
    terminate(postgres_url, first)
    with pytest.raises(DBAPIError) as failed:
        backend_pid(pooled)
    assert failed.value.connection_invalidated
    assert backend_pid(pooled) != first
