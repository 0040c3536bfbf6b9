"""Running the job queue: ``healthscore worker`` processes, or a thread inside ``serve``."""

from __future__ import annotations

from huey.consumer import Consumer

from healthscore.garbage_collection import settle_process
from healthscore.jobs.queue import Jobs

MAX_POLL_DELAY = 1.0
"""Longest pause between polls of an idle SQLite queue (Huey's default is 10 s), so a
journal apply or a rescore queued while idle starts within a second. Redis queues block
on the pop instead of polling."""


class EmbeddedConsumer(Consumer):  # type: ignore[misc]
    """A consumer living inside the API process: the host (uvicorn) owns the signals."""

    def _set_signal_handlers(self) -> None:
        return None


EMBEDDED_THREADS = 2
"""Worker threads inside ``serve``: under steady ingest the journal's apply runs
back to back, and with a single thread the near-real-time rescore would wait for the
journal to be empty, which it never is."""


def start_embedded(jobs: Jobs) -> Consumer:
    """Start the worker threads and the scheduler in this process (embedded default)."""
    consumer = EmbeddedConsumer(
        jobs.huey,
        workers=EMBEDDED_THREADS,
        worker_type="thread",
        periodic=True,
        scheduler_interval=1,
        max_delay=MAX_POLL_DELAY,
    )
    jobs.stopping = consumer.stop_flag
    consumer.start()
    return consumer


def run_worker(jobs: Jobs, *, threads: int, periodic: bool = True) -> None:
    """Block, processing tasks until SIGINT/SIGTERM (graceful: running tasks finish)."""
    jobs.resume()
    consumer = jobs.huey.create_consumer(
        workers=threads,
        worker_type="thread",
        periodic=periodic,
        scheduler_interval=1,
        max_delay=MAX_POLL_DELAY,
    )
    jobs.stopping = consumer.stop_flag
    settle_process()  # the heap loaded so far lives as long as the worker
    consumer.run()
