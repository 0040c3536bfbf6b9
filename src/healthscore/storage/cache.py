"""A Redis cache of read-API answers about latest scores, invalidated by every rescore.

Every entry is stamped with the *generation* it was computed in; any scoring run
increments the generation (one INCR), which invalidates every cached answer at once —
lists, summaries and single accounts — without having to know which keys exist. A read
fetches the generation and the entry in one MGET and uses the entry only if the stamps
match. Entries also expire after ``ttl`` seconds, which bounds staleness even if an
invalidation is lost while Redis is unreachable.

The same MGET also fetches the *keys generation*, which ``healthscore keys revoke``
increments: an API process trusts a key it has checked in the database for as long as
that generation stays the same (at most ``ttl`` seconds), so a cache hit costs one Redis
round trip and no database work, and a revoked key is still refused from the next request
on (``api.security.TrustedKeys``).

Redis is an accelerator, never a dependency: when it is down or slow, reads go to the
database and a warning is logged (at most once a minute), and requests never fail.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import orjson
import redis

from healthscore.observability.metrics import CACHE_LOOKUPS
from healthscore.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Lookup:
    """What one MGET found: the entry's document if it is of the current generation, the
    stamp to store a fresh one with, and the current keys generation."""

    document: bytes | None
    stamp: bytes
    keys_generation: int


class ScoreCache:
    def __init__(self, url: str | None, *, ttl: int = 60, prefix: str = "healthscore") -> None:
        self.ttl = ttl
        self.prefix = prefix
        self.generation_key = f"{prefix}:cache:generation"
        self.keys_generation_key = f"{prefix}:keys:generation"
        self._client = (
            redis.Redis.from_url(url, socket_timeout=0.25, socket_connect_timeout=0.25)
            if url
            else None
        )
        self._last_warning = 0.0
        self.hits = 0
        self.misses = 0

    @classmethod
    def for_settings(cls, settings: Settings) -> ScoreCache:
        """The deployment's cache: every process (API, worker, CLI) must share its prefix,
        or a rescore's invalidation or a key revocation would not reach the API."""
        return cls(settings.redis_url, ttl=settings.cache_ttl_seconds, prefix=settings.queue_name)

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

    def cached_json(
        self,
        key: str,
        render: Callable[[], bytes],
        *,
        admit: Callable[[int | None], object] | None = None,
    ) -> bytes:
        """The JSON document cached for ``key`` in the current generation, else
        ``render()``, stored for the next caller. ``admit``, if given, is called with the
        keys generation (``None`` without Redis) before anything cached is used; it
        refuses a request by raising. Routes answer these bytes as they are, so a cache
        hit costs one Redis round trip (the MGET of ``_lookup``) and nothing else."""
        found = self._lookup(key)
        if admit is not None:
            admit(found.keys_generation if found is not None else None)
        if found is not None:  # counted once admitted: a refused request used nothing
            self._count(hit=found.document is not None)
            if found.document is not None:
                return found.document
        document = render()
        self._store(key, found, document)
        return document

    def _lookup(self, key: str) -> _Lookup | None:
        """One MGET: ``key``'s entry (if of the current generation) and both generations;
        ``None`` without Redis or when it fails."""
        if self._client is None:
            return None
        try:
            generation, entry, keys_generation = cast(
                list[bytes | None],
                self._client.mget(self.generation_key, key, self.keys_generation_key),
            )
        except redis.RedisError as error:
            self._warn(error)
            return None
        stamp = b"%d\n" % int(generation or 0)
        document = entry[len(stamp) :] if entry is not None and entry.startswith(stamp) else None
        return _Lookup(document, stamp, int(keys_generation or 0))

    def _count(self, *, hit: bool) -> None:
        if hit:
            self.hits += 1
        else:
            self.misses += 1
        CACHE_LOOKUPS.labels("hit" if hit else "miss").inc()

    def _store(self, key: str, found: _Lookup | None, document: bytes) -> None:
        """Cache ``document`` for ``key`` in the generation ``found`` (a ``_lookup`` that
        missed) saw: should a rescore have moved it on meanwhile, the entry is never used."""
        if self._client is None or found is None:
            return
        try:
            self._client.set(key, found.stamp + document, ex=self.ttl)
        except redis.RedisError as error:
            self._warn(error)

    def invalidate(self) -> None:
        """Scores changed: everything cached so far is stale."""
        if self._client is None:
            return
        try:
            self._client.incr(self.generation_key)
        except redis.RedisError as error:
            self._warn(error)

    def invalidate_keys(self) -> bool:
        """A key was revoked: every API process checks keys in the database again.
        ``False`` if Redis could not be told (processes then trust keys they have checked
        for at most ``ttl`` seconds more)."""
        if self._client is None:
            return True
        try:
            self._client.incr(self.keys_generation_key)
        except redis.RedisError as error:
            self._warn(error)
            return False
        return True

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
