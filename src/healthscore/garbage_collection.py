"""Python's cyclic garbage collector in healthscore's long-running processes.

Why: ingest and scoring allocate a few container objects per event or account (parsed
messages, rows, dicts) and free nearly all of them by reference counting; CPython's
collector, with its defaults, still walked them again and again. Measured under
unpaced Segment ingest (``bench.ingest``, 300,000 events, PostgreSQL): the worker spent
2.9 s of its 7.3 s of CPU in the collector, 2.4 s of it in 18 full collections that
walked its whole heap (the libraries, the models, the scorecard), and the API process
about a tenth of its CPU in 5,900 young-generation collections. Nothing on these paths
relies on the collector: their objects make no reference cycles that must be freed
before the work ends.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_THRESHOLD = 20_000
"""Net allocations between young-generation collections in a settled process (CPython's
default is 700): an ingest request allocates about 2,000, so each one triggered about
three collections; at 20,000 the API process collected a tenth as often and its CPU per
request fell by a tenth. Memory held by short-lived cycles grows by at most a few MB."""


def settle_process() -> None:
    """Once a process has loaded everything that lives as long as it does (libraries,
    models, the scorecard): move that out of the collector's sight, so full collections
    walk only what was allocated since (``gc.freeze``), and collect the young generation
    less often (``YOUNG_THRESHOLD``; a higher threshold already set is kept). The API
    process calls it when it starts serving, ``healthscore worker`` before it consumes,
    ``healthscore import`` before it reads (a 2-million-event import spent 4.9 s in the
    collector, 1.2 s after). Not at every command's start: the collection costs a short
    command more than it saves."""
    gc.collect()
    gc.freeze()
    young, middle, old = gc.get_threshold()
    if young < YOUNG_THRESHOLD:
        gc.set_threshold(YOUNG_THRESHOLD, middle, old)


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """No cyclic collection while a bulk step runs: it allocates a few objects per
    account or event and keeps them to its end, and the collector would rescan them
    again and again (~10% of a 20,000-account rescore; 0.83 against 0.25 s to
    materialise 20,000 scores for the playbooks; a third of the journal applier's CPU).
    Pausing it loses nothing: what these steps allocate is freed by reference counting,
    and anything else waits for the next collection once it resumes. The pause is
    process-wide; nested or overlapping pauses leave the collector as the outermost
    found it (each re-enables only what it disabled)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
