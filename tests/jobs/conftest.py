"""Fixtures of the job tests: HTTP receivers on 127.0.0.1 and queue settings."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from healthscore.settings import Settings
from tests.jobs.support import SECRET, Receiver


@pytest.fixture
def receiver_factory() -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(**kwargs: float) -> Receiver:
        made.append(Receiver(**kwargs))  # type: ignore[arg-type]
        return made[-1]

    yield make
    for r in made:
        r.close()


@pytest.fixture
def queue_settings(db_url, redis_url, monkeypatch) -> Settings:
    monkeypatch.setenv("HEALTHSCORE_HOOK_SECRET", SECRET)
    return Settings(
        database_url=db_url,
        redis_url=redis_url,
        queue_name=f"test-{uuid.uuid4().hex[:8]}",
        delivery_claim_seconds=2,
        delivery_retry_seconds=0.2,  # retries after 0.2 s, 0.4 s (by default 2 s, 4 s)
        allow_private_webhook_targets=True,  # the receivers listen on 127.0.0.1
    )
