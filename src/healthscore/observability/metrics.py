"""Prometheus metrics: ingest counts, rescore durations, queue depth, delivery failures.

Each process exposes its own registry at ``/metrics``. With several processes per host,
set ``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess mode) so any process
answers for all of them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector

INGESTED = Counter(
    "healthscore_ingested_events_total",
    "Facts accepted and committed, by channel (api, segment, stripe, import).",
    ["source"],
)
JOURNALED = Counter(
    "healthscore_journaled_events_total",
    "Events acknowledged into the ingest journal (HEALTHSCORE_INGEST_ACK=journaled), by channel;"
    " healthscore_ingested_events_total counts them again once a worker has applied them.",
    ["source"],
)
RESCORE_SECONDS = Histogram(
    "healthscore_rescore_seconds",
    "Duration of scoring runs, by kind (full, touched, refresh, cli).",
    ["kind"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
RESCORED = Counter(
    "healthscore_rescored_accounts_total", "Accounts scored, by kind of run.", ["kind"]
)
DELIVERIES = Counter(
    "healthscore_deliveries_total",
    "Playbook delivery attempts by action kind and outcome (delivered, failed, gave_up).",
    ["kind", "outcome"],
)
PLAYBOOK_FIRINGS = Counter(
    "healthscore_playbook_entries_total", "Outreach entries logged, by playbook.", ["playbook"]
)
CACHE_LOOKUPS = Counter(
    "healthscore_cache_lookups_total",
    "Read-API answers looked up in the Redis cache, by outcome (hit, miss); a request"
    " refused for its key counts as neither.",
    ["outcome"],
)
HTTP_SECONDS = Histogram(
    "healthscore_http_request_seconds",
    "HTTP request latency by route template and status class.",
    ["method", "route", "status"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)


class QueueDepth(Collector):
    """Jobs waiting in the queue, read when Prometheus scrapes (never stale)."""

    def __init__(self, pending: Callable[[], int]) -> None:
        self.pending = pending

    def collect(self) -> Iterable[Metric]:
        gauge = GaugeMetricFamily("healthscore_queue_depth", "Jobs waiting in the queue.")
        try:
            gauge.add_metric([], float(self.pending()))
        except Exception:  # the queue is unreachable: report nothing rather than fail
            return []
        return [gauge]


class ShardProgress(Collector):
    """Shards of the latest distributed rescore by status, so progress is visible."""

    def __init__(self, read: Callable[[], dict[str, int]]) -> None:
        self.read = read

    def collect(self) -> Iterable[Metric]:
        gauge = GaugeMetricFamily(
            "healthscore_rescore_shards",
            "Shards of the latest distributed rescore, by status.",
            labels=["status"],
        )
        try:
            counts = self.read()
        except Exception:
            return []
        for status in ("pending", "running", "done"):
            gauge.add_metric([status], float(counts.get(status, 0)))
        return [gauge]


class JournalBacklog(Collector):
    """Acknowledged events not yet applied, and the age of the oldest: how far the
    journal's appliers are behind."""

    def __init__(self, read: Callable[[], tuple[int, float]]) -> None:
        self.read = read

    def collect(self) -> Iterable[Metric]:
        try:
            events, age = self.read()
        except Exception:
            return []
        waiting = GaugeMetricFamily(
            "healthscore_ingest_journal_events", "Acknowledged events waiting to be applied."
        )
        waiting.add_metric([], float(events))
        oldest = GaugeMetricFamily(
            "healthscore_ingest_journal_age_seconds",
            "How long the oldest waiting journal entry has waited.",
        )
        oldest.add_metric([], age)
        return [waiting, oldest]


class Combined(Collector):
    def __init__(self, *parts: Collector) -> None:
        self.parts = parts

    def collect(self) -> Iterable[Metric]:
        for part in self.parts:
            yield from part.collect()


def render(extra: Collector | None = None) -> tuple[bytes, str]:
    """The exposition text of every metric (all processes in multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = REGISTRY
    body = generate_latest(registry)
    if extra is not None:
        local = CollectorRegistry()
        local.register(extra)
        body += generate_latest(local)
    return body, CONTENT_TYPE_LATEST
