"""Requests per API key: a runaway integration slows itself down, not everyone else.

Counting is done by the ``limits`` library in fixed windows (one increment per request).
With Redis configured the counters live there, so every API process of a deployment
shares them; without it (the embedded default, one process) they live in memory. A key
over its limit gets 429 with ``Retry-After``: the seconds until its window ends.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import FixedWindowRateLimiter

from healthscore.auth.keys import KeyInfo


@dataclass(frozen=True)
class Exceeded:
    """A key over one of its limits: which, and when it may try again."""

    limit: RateLimitItem
    retry_after: int
    """Whole seconds until the window ends (at least 1)."""

    @property
    def message(self) -> str:
        return (
            f"rate limit of {self.limit} exceeded for this API key; "
            f"retry after {self.retry_after} s"
        )


class RateLimiter:
    """Counts a key's requests against every configured limit."""

    def __init__(self, limits: list[RateLimitItem], storage: Storage, namespace: str) -> None:
        self.limits = limits
        self.storage = storage
        self.namespace = namespace
        self._strategy = FixedWindowRateLimiter(storage)

    @classmethod
    def from_settings(
        cls, text: str | None, redis_url: str | None, namespace: str
    ) -> RateLimiter | None:
        """None when no limit is configured (``HEALTHSCORE_RATE_LIMIT`` empty)."""
        if not text:
            return None
        storage: Storage = RedisStorage(redis_url) if redis_url else MemoryStorage()
        return cls(parse_many(text), storage, namespace)  # checked by Settings

    def hit(self, key: KeyInfo) -> Exceeded | None:
        """Count one request of ``key``; the limit it broke, if any. A request over the
        limit still counts, so a client that keeps hammering stays refused."""
        for limit in self.limits:
            if not self._strategy.hit(limit, self.namespace, str(key.id)):
                reset, _ = self._strategy.get_window_stats(limit, self.namespace, str(key.id))
                return Exceeded(limit, max(1, math.ceil(reset - time.time())))
        return None
