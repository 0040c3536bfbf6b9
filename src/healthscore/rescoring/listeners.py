"""Who is told that scores changed: the one hook every rescore publishes through.

A rescore commits, then tells each listener which accounts have new scores: the read
cache drops what it holds, open dashboards re-read. Listeners are registered once per
process (the API's app factory, the CLI, the worker) and never stop a rescore: one that
fails is logged and the others still hear.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from healthscore.storage.cache import ScoreCache

log = logging.getLogger(__name__)

Listener = Callable[[Sequence[str]], None]
"""Called with the ids of the accounts whose scores changed; none means any account."""


class ScoreListeners:
    """The listeners of one process, told in the order they were added."""

    def __init__(self, listeners: Sequence[Listener] = ()) -> None:
        self._listeners = list(listeners)

    def append(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def scores_changed(self, customer_ids: Sequence[str]) -> None:
        for listener in self._listeners:
            try:
                listener(customer_ids)
            except Exception:
                log.warning("score listener failed", exc_info=True)


def standard_listeners(cache: ScoreCache, *, live: Listener | None = None) -> ScoreListeners:
    """What every process that scores must tell: the cache first (a dashboard that re-reads
    on the live push must not be answered from it), then the live push, if this process
    has one (the API's broadcaster; elsewhere a Redis publish, only with Redis)."""
    listeners = ScoreListeners([lambda _ids: cache.invalidate()])
    if live is not None:
        listeners.append(live)
    return listeners
