"""docs/scaling.md's capacity model: per-unit costs from ``bench.scaling``'s
measurements, a full rescore's predicted time, and what a number of accounts and events
a day need."""

from __future__ import annotations

import math
from typing import Any

from bench.pgstats import ACCOUNT_TABLES, RAW_TABLES, ROLLUP_TABLES

PAGE = 8192


def rescore_units(run: dict[str, Any]) -> dict[str, float]:
    """Per account rescored, from one full rescore."""
    accounts = run["accounts"]
    return {
        "worker_ms_per_account": 1000 * run["worker_cpu_s"] / accounts,
        "postgres_ms_per_account": 1000 * run["postgres_cpu_s"] / accounts,
        "pages_touched_per_account": (run["pages_hit"] + run["pages_read"]) / accounts,
        "pages_read_per_account": run["pages_read"] / accounts,
        "wal_bytes_per_account": run["wal_bytes"] / accounts,
    }


def per_unit(
    rescore: dict[str, Any], ingested: dict[str, Any], sizes: dict[str, Any], days: int
) -> dict[str, float]:
    """The capacity model's inputs: ingest per event, a full rescore per account, and the
    bytes of the dataset the rescore ran on (``sizes``: ``storage`` of it)."""

    def bytes_per_row(tables: tuple[str, ...]) -> float:
        rows = sum(sizes[t]["rows"] for t in tables)
        return sum(sizes[t]["bytes"] for t in tables) / rows if rows else 0.0

    accounts = rescore["accounts"]
    raw_rows = sum(sizes[t]["rows"] for t in RAW_TABLES)
    rollup_rows = sum(sizes[t]["rows"] for t in ROLLUP_TABLES)
    return {
        "api_ms_per_event": ingested["api_ms_per_event"],
        "ingest_worker_ms_per_event": ingested["worker_ms_per_event"],
        "ingest_postgres_ms_per_event": ingested["postgres_ms_per_event"],
        "wal_bytes_per_event": ingested["wal_bytes_per_event"],
        **rescore_units(rescore),
        "bytes_per_raw_event": bytes_per_row(RAW_TABLES),
        "bytes_per_rollup_row": bytes_per_row(ROLLUP_TABLES),
        "rollup_rows_per_account_day": rollup_rows / accounts / days,
        "raw_events_per_account_day": raw_rows / accounts / days,
        "score_bytes_per_account_day": sizes["health_score_history"]["live_bytes"]
        / max(1.0, sizes["health_score_history"]["rows"]),
        "account_bytes": (
            sum(sizes[t]["bytes"] for t in ACCOUNT_TABLES) + sizes["health_scores"]["live_bytes"]
        )
        / accounts,
    }


def predict_wall(units: dict[str, float], accounts: int, processes: int, cores: int) -> float:
    """A full rescore's wall time: each worker and its PostgreSQL backend take turns (one
    waits while the other works), so a worker keeps about one core busy; ``processes``
    workers run in parallel up to the cores there are."""
    per_account = (units["worker_ms_per_account"] + units["postgres_ms_per_account"]) / 1000
    return accounts * per_account / min(processes, cores)


def capacity(
    units: dict[str, float],
    *,
    accounts: int = 1_000_000,
    events_per_day: int = 100_000_000,
    peak: float = 3.0,
    busy: float = 0.6,
    rescore_hours: float = 1.0,
    retention: tuple[int, ...] = (30, 72, 90, 365),
    reads_per_second: int = 1000,
    cache_ttl: int = 60,
) -> dict[str, Any]:
    """What ``accounts`` and ``events_per_day`` need, from the measured per-unit costs.

    ``peak``: the busiest hour's rate over the day's average; ``busy``: the share of a
    core a process is planned to use; ``rescore_hours``: the nightly full rescore's time
    budget. Near-real-time rescoring rescores each touched account once per
    ``rescore_delay_seconds`` window: with far more accounts than events in a window,
    about one account rescore per event (the upper bound used here)."""
    events_s = events_per_day / 86_400 * peak
    api_cores = events_s * units["api_ms_per_event"] / 1000
    touched_rescores_s = events_s  # at most one per event
    per_account_ms = units["worker_ms_per_account"] + units["postgres_ms_per_account"]
    ingest_worker_cores = events_s * units["ingest_worker_ms_per_event"] / 1000
    touched_cores = touched_rescores_s * units["worker_ms_per_account"] / 1000
    full_worker_cores = accounts * units["worker_ms_per_account"] / 1000 / (rescore_hours * 3600)
    pg_cores = (
        events_s * units["ingest_postgres_ms_per_event"]
        + touched_rescores_s * units["postgres_ms_per_account"]
    ) / 1000
    pg_full_cores = accounts * units["postgres_ms_per_account"] / 1000 / (rescore_hours * 3600)
    raw_gb = {d: events_per_day * d * units["bytes_per_raw_event"] / 1e9 for d in retention}
    # Roll-up rows follow accounts x active days, not the number of events.
    rollup_gb_per_day = (
        accounts * units["rollup_rows_per_account_day"] * units["bytes_per_rollup_row"] / 1e9
    )
    history_gb_per_day = accounts * units["score_bytes_per_account_day"] / 1e9
    fixed_gb = accounts * units["account_bytes"] / 1e9
    wal_mb_s = (
        events_s * units["wal_bytes_per_event"]
        + touched_rescores_s * units["wal_bytes_per_account"]
    ) / 1e6
    full_wal_gb = accounts * units["wal_bytes_per_account"] / 1e9
    # Redis: cached answers live cache_ttl_seconds (60), so the cache holds about the
    # distinct reads of one TTL; queued jobs are per delivery or shard, not per account.
    cached = units.get("bytes_per_cached_score", 0.0)
    redis_mb = {
        "cache_at_reads_per_second": reads_per_second,
        "cache_mb": round(reads_per_second * cache_ttl * cached / 1e6),
        "every_account_cached_gb": round(accounts * cached / 1e9, 1),
        "one_job_per_account_mb": round(accounts * units.get("bytes_per_queued_job", 0.0) / 1e6),
    }
    return {
        "accounts": accounts,
        "events_per_day": events_per_day,
        "peak_events_per_second": round(events_s),
        "api_processes": math.ceil(api_cores / busy),
        "worker_processes_ingest": math.ceil((ingest_worker_cores + touched_cores) / busy),
        "worker_processes_full_rescore": math.ceil(full_worker_cores / busy),
        "full_rescore_cpu_hours": round(accounts * per_account_ms / 1000 / 3600, 2),
        "postgres_cores": math.ceil((pg_cores + pg_full_cores) / busy),
        # After d days with HEALTHSCORE_RAW_EVENT_RETENTION_DAYS=d: raw events stop
        # growing there, roll-ups and score history (never dropped) keep growing.
        "postgres_gb": {
            d: round(raw_gb[d] + (rollup_gb_per_day + history_gb_per_day) * d + fixed_gb, 1)
            for d in retention
        },
        "raw_gb": {d: round(v, 1) for d, v in raw_gb.items()},
        "rollup_gb_per_day": round(rollup_gb_per_day, 2),
        "history_gb_per_day": round(history_gb_per_day, 2),
        "accounts_gb": round(fixed_gb, 2),
        "wal_mb_per_second_peak": round(wal_mb_s, 1),
        "wal_gb_per_full_rescore": round(full_wal_gb, 1),
        "write_iops_peak": round(wal_mb_s * 1e6 / PAGE),
        "full_rescore_pages_per_second": round(
            accounts * units["pages_touched_per_account"] / (rescore_hours * 3600)
        ),
        "redis": redis_mb,
        "peak": peak,
        "busy": busy,
        "rescore_hours": rescore_hours,
    }
