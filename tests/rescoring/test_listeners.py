"""The one "scores changed" hook: the cache is invalidated before the live push."""

from __future__ import annotations

import uuid

import redis

from healthscore.rescoring.listeners import standard_listeners
from healthscore.storage.cache import ScoreCache


def test_the_cache_is_invalidated_before_dashboards_are_told(redis_url):
    cache = ScoreCache(redis_url, prefix=f"test-{uuid.uuid4().hex[:8]}")
    client = redis.Redis.from_url(redis_url)
    pushed: list[tuple[list[str], bytes | None]] = []
    listeners = standard_listeners(
        cache, live=lambda ids: pushed.append((list(ids), client.get(cache.generation_key)))
    )
    try:
        listeners.scores_changed(["acme"])
        listeners.scores_changed([])
        assert pushed == [(["acme"], b"1"), ([], b"2")]
    finally:
        client.delete(cache.generation_key)
        client.close()
        cache.close()


def test_without_a_live_push_only_the_cache_hears():
    listeners = standard_listeners(ScoreCache(None))
    listeners.scores_changed(["acme"])  # no Redis: a no-op, and nothing raises
