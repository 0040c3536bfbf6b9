"""A Redis cache of read-API answers about latest scores, invalidated by every rescore.

Every entry is stamped with the *generation* it was computed in; any scoring run
increments the generation (one INCR), which invalidates every cached answer at once —
lists, summaries and single accounts — without having to know which keys exist. A read
fetches the generation and the entry in one MGET and uses the entry only if the stamps
match. Entries also expire after ``ttl`` seconds, which bounds staleness even if an
invalidation is lost while Redis is unreachable.

Redis is an accelerator, never a dependency: when it is down or slow, reads go to the
database and a warning is logged (at most once a minute), and requests never fail.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any, cast

import orjson
import redis

log = logging.getLogger(__name__)


class ScoreCache:
    def __init__(self, url: str | None, *, ttl: int = 60, prefix: str = "healthscore") -> None:
        self.ttl = ttl
        self.prefix = prefix
        self.generation_key = f"{prefix}:cache:generation"
        self._client = (
            redis.Redis.from_url(url, socket_timeout=0.25, socket_connect_timeout=0.25)
            if url
            else None
        )
        self._last_warning = 0.0
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self._client is not None

    def _warn(self, error: Exception) -> None:
        now = time.monotonic()
        if now - self._last_warning > 60:
            self._last_warning = now
            log.warning("Redis cache unavailable, reading from the database: %s", error)

    def key(self, kind: str, *parts: Any) -> str:
        digest = hashlib.sha1(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)).hexdigest()[:20]
        return f"{self.prefix}:cache:{kind}:{digest}"

    def cached_json(self, key: str, render: Callable[[], bytes]) -> bytes:
        """The JSON document cached for ``key`` in the current generation, else
        ``render()``, stored for the next caller. Routes answer these bytes as they are,
        so a cache hit costs one Redis round trip and nothing else."""
        if self._client is None:
            return render()
        try:
            generation, entry = cast(
                list[bytes | None], self._client.mget(self.generation_key, key)
            )
        except redis.RedisError as error:
            self._warn(error)
            return render()
        stamp = b"%d\n" % int(generation or 0)
        if entry is not None and entry.startswith(stamp):
            self.hits += 1
            return entry[len(stamp) :]
        self.misses += 1
        document = render()
        try:
            self._client.set(key, stamp + document, ex=self.ttl)
        except redis.RedisError as error:
            self._warn(error)
        return document

    def invalidate(self) -> None:
        """Scores changed: everything cached so far is stale."""
        if self._client is None:
            return
        try:
            self._client.incr(self.generation_key)
        except redis.RedisError as error:
            self._warn(error)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
