"""When a worker starts its near-real-time rescore of touched accounts.

Each run rescores every account touched since the last, so under steady ingest runs
started back to back would spend the worker (and, on SQLite, the write lock) on
rescoring the same accounts for little freshness: a run starts at most once per batching
window, and at most a third of a worker thread's time goes to these runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

WAIT_IN_TASK_SECONDS = 2.0
"""Batching windows up to this long are waited out by the task itself, enqueued at once:
Huey starts a delayed task only at its scheduler's next tick, once a second, so a 0.5 s
window meant 0.5 to 1.5 s before the rescore began. Longer ones go through Huey's
schedule (no thread waits)."""
PAUSE_PER_RUN_SECOND = 3
"""A run starts no sooner than this many times the previous run's duration after its
start: under steady ingest, at most a third of a worker thread's time. Measured on 2
cores: 2 cost SQLite's applied mode a quarter of its throughput (the rescore holds the
write lock; 2,926 against 3,358-3,969 events/s before), 4 made fresh scores at 15,000
events/s on PostgreSQL 0.5 s later (median 2.28 against 1.80 s); 3: 4,023 events/s,
2.04 s."""


@dataclass
class RescorePacing:
    """One worker process's pacing: when its previous run started (``time.monotonic``)
    and how long it took."""

    window: float
    """The batching window (``HEALTHSCORE_RESCORE_DELAY_SECONDS``)."""
    started: float = -WAIT_IN_TASK_SECONDS
    took: float = 0.0

    def in_task(self) -> bool:
        """Whether the window is waited out in the task (else Huey's schedule)."""
        return self.window <= WAIT_IN_TASK_SECONDS

    def wait(self, not_before: float) -> float:
        """Seconds to wait before a run asked to start at ``not_before`` (a
        ``time.time()``): the rest of the window, never longer than the window itself (the
        process that asked may have another clock), and never sooner than one window, or
        ``PAUSE_PER_RUN_SECOND`` times the previous run's duration, after its start."""
        return max(
            min(not_before - time.time(), self.window),
            self.started + max(self.window, PAUSE_PER_RUN_SECOND * self.took) - time.monotonic(),
            0.0,
        )

    def record(self, started: float) -> None:
        """A run that started at ``started`` (``time.monotonic``) has just ended."""
        self.started, self.took = started, time.monotonic() - started
