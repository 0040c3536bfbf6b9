"""bench.report: BENCHMARKS.md's generated section comes from the result file, between its
markers, replaced whole on each run; the hand-written history around it stays as it was."""

from __future__ import annotations

import json

from bench.report import BEGIN, END, generate, write
from bench.results import read

CONTEXT = {"at": "2026-12-06T10:00:00+00:00", "machine": "box, 2 cores", "rev": "abc1234"}
RUN = {
    "backend": "postgresql",
    "accounts": 20000,
    "scorecard": "default",
    "rows": {},
    "runs": [],
    "best": {"total": 2.0, "read": 1.0, "score": 0.5, "write": 0.5, "peak_mib": 200.0},
    "seed000_baseline": {"total": 120.0, "accounts": 20000.0},
}
HISTORY = "# Benchmarks\n\nIntro.\n\n## 2026-12-01: by hand\n\nOld figures.\n"


def test_the_section_holds_the_latest_result_of_each_kind_and_keeps_the_history(tmp_path):
    results = tmp_path / "results.jsonl"
    old = {**CONTEXT, "date": "2026-11-30", "days": 90, "results": [RUN]}  # before bench.results
    newer = {**CONTEXT, "bench": "run", "days": 90, **RUN, "best": {**RUN["best"], "total": 1.5}}
    ingest = {
        **CONTEXT,
        "bench": "ingest",
        "backend": "postgresql",
        "ack": "applied",
        "worker": "separate",
        "events": 40000,
        "events_per_second": 10123,
        "applied_events_per_second": 10100,
        "cpu_ms_per_batch": 12.5,
        "cpu_seconds": {"server": 3.0, "worker": 1.0},
    }
    results.write_text("\n".join(json.dumps(r) for r in (old, newer, ingest)) + "\n")
    records = list(read(results))
    assert [r["bench"] for r in records] == ["run", "run", "ingest"]

    once = write(HISTORY, generate(records))
    again = write(once, generate(records))

    assert once == again  # replaced, not added
    assert once.startswith("# Benchmarks\n\nIntro.\n\n" + BEGIN)
    assert once.endswith(END + "\n\n## 2026-12-01: by hand\n\nOld figures.\n")
    section = once[once.index(BEGIN) : once.index(END)]
    assert "| postgresql | 20,000 | default | 1.50 |" in section  # the newer run only
    assert "**80x**" in section and "**10,123**" in section
    assert "2026-12-06 10:00 `abc1234`" in section


def test_a_rescore_with_playbooks_stands_beside_the_scoring_alone():
    scoring = {**CONTEXT, "bench": "run", "days": 90, **RUN}
    nightly = {
        **scoring,
        "playbooks": True,
        "best": {**RUN["best"], "total": 3.25},
        "seed000_baseline": None,
    }
    section = generate([scoring, nightly])
    assert "| postgresql | 20,000 | default | 2.00 |" in section
    assert "| postgresql | 20,000 | default + playbooks | 3.25 |" in section


def test_a_checkout_measured_with_src_is_named_by_its_label_not_its_scratch_path():
    timings = {
        "--help": {"median_s": 0.2, "max_s": 0.3},
        "show ID": {"median_s": 0.6, "max_s": 0.7},
    }
    records = [
        {
            **CONTEXT,
            "bench": "cli_startup",
            "src": "/work/scratch/perf/base/src",
            "results": timings,
        },
        {
            **CONTEXT,
            "bench": "cli_startup",
            "src": "/tmp/old/src",
            "label": "before (`7cdd996`)",
            "results": timings,
        },
        {**CONTEXT, "bench": "cli_startup", "src": "this checkout", "results": timings},
    ]
    section = generate(records)
    assert "| other checkout `base` | 0.200 / 0.300 |" in section
    assert "| before (`7cdd996`) | 0.200 / 0.300 |" in section
    assert "| this checkout | 0.200 / 0.300 |" in section
    assert "/work/scratch" not in section and "/tmp/old" not in section


def test_ingest_and_freshness_rows_of_another_checkout_stand_beside_this_ones():
    ingest = {
        **CONTEXT,
        "bench": "ingest",
        "backend": "postgresql",
        "ack": "journaled",
        "worker": "separate",
        "events": 40000,
        "events_per_second": 20000,
        "applied_events_per_second": 19000,
        "cpu_ms_per_batch": 9.5,
        "cpu_seconds": {"server": 3.0},
    }
    freshness = {
        **CONTEXT,
        "bench": "freshness",
        "backend": "sqlite",
        "accounts": 2000,
        "trials": 20,
        "median_s": 0.6,
        "max_s": 0.8,
    }
    before = {"src": "/work/scratch/before/src", "label": "before (`55e6ff9`)"}
    section = generate(
        [
            {**ingest, **before, "events_per_second": 15000},
            {**ingest, "src": "this checkout", "label": "this checkout"},
            {**freshness, **before, "median_s": 1.0},
            freshness,  # recorded before labels: this checkout
        ]
    )
    assert "| postgresql (before (`55e6ff9`)) | `journaled` |" in section
    assert "**15,000**" in section and "**20,000**" in section
    assert "| sqlite (before (`55e6ff9`)) | 2,000 | 20 | **1.00** |" in section
    assert "| sqlite | 2,000 | 20 | **0.60** |" in section


def test_one_accounts_refresh_before_and_after_stand_side_by_side():
    refresh = {
        **CONTEXT,
        "bench": "refresh",
        "backend": "postgresql",
        "refreshes": 60,
        "first_two_ms": 130.0,
        "median_ms": 38.0,
        "max_ms": 110.0,
    }
    before = {"src": "/work/before/src", "label": "before (`62f644f`)"}
    section = generate([{**refresh, **before, "median_ms": 81.4}, refresh])
    assert "| postgresql (before (`62f644f`)) | 58 | **81.4** | 110.0 | 130.0 |" in section
    assert "| postgresql | 58 | **38.0** | 110.0 | 130.0 |" in section


def test_the_scaling_section_shows_the_model_against_what_was_measured():
    run = {
        "workers": 2,
        "shards": 16,
        "accounts": 250000,
        "wall_s": 80.0,
        "predicted_wall_s": 29.0,
        "predicted_cpu_s": 58.0,
        "worker_cpu_s": 40.0,
        "postgres_cpu_s": 35.0,
        "worker_peak_mib": 270,
        "load_average": 6.0,
    }
    units = {
        "api_ms_per_event": 0.039,
        "ingest_worker_ms_per_event": 0.027,
        "ingest_postgres_ms_per_event": 0.022,
        "wal_bytes_per_event": 700,
        "worker_ms_per_account": 0.16,
        "postgres_ms_per_account": 0.14,
        "pages_touched_per_account": 45.0,
        "pages_read_per_account": 9.6,
        "wal_bytes_per_account": 3000,
        "bytes_per_raw_event": 209,
        "bytes_per_rollup_row": 102,
        "rollup_rows_per_account_day": 1.75,
        "score_bytes_per_account_day": 740,
        "bytes_per_queued_job": 147,
        "bytes_per_cached_score": 10276,
    }
    capacity = {
        "accounts": 1000000,
        "events_per_day": 100000000,
        "peak": 3.0,
        "busy": 0.6,
        "rescore_hours": 1.0,
        "peak_events_per_second": 3472,
        "api_processes": 1,
        "worker_processes_ingest": 2,
        "worker_processes_full_rescore": 1,
        "postgres_cores": 2,
        "postgres_gb": {"30": 703.2, "90": 2088.6},
        "wal_mb_per_second_peak": 12.5,
        "write_iops_peak": 1526,
        "wal_gb_per_full_rescore": 3.0,
        "redis": {"cache_at_reads_per_second": 1000, "cache_mb": 617},
    }
    scaling = {
        **CONTEXT,
        "bench": "scaling",
        "accounts": 250000,
        "source_accounts": 20000,
        "cores": 2,
        "ingest": {"ack": "journaled", "events": 30000, "load_average": 5.1},
        "calibration": {
            "accounts": 20000,
            "worker_cpu_s": 3.0,
            "postgres_cpu_s": 1.6,
            "wall_s": 7.6,
            "load_average": 8.9,
        },
        "units": units,
        "runs": [run],
        "sizes": {"raw events": {"rows": 7, "predicted_bytes": 2**30, "measured_bytes": 2**31}},
        "capacity": capacity,
        "min_retention_days": 72,
        "seconds": 545,
    }
    section = generate([scaling])
    assert "### Scale-out (`python -m bench.scaling`)" in section
    assert "| 2 | 16 | **80.0** | 29.0 | 40.0 + 35.0 | 58.0 | 0.300 | 270 | 6.0 |" in section
    assert "| raw events | 7 | 1.00 | 2.00 |" in section
    assert "| PostgreSQL size after 90 days, raw events kept 90 days (GB) | 2,089 |" in section
    assert "at least 72 days" in section


HISTORY_READS = {
    **CONTEXT,
    "bench": "history_reads",
    "backend": "postgresql",
    "accounts": 20000,
    "days": 365,
    "trend_reference_s": 0.3,
    "tier_before_s": 0.41,
    "score_7_days_ago_s": 0.33,
    "last_login_s": 0.68,
    "total_s": 1.42,
}
"""A ``bench.history_reads`` record as the fourteenth session's bench wrote it."""


def test_the_playbooks_history_reads_of_each_checkout_and_backend_get_a_row():
    reads = HISTORY_READS
    before = {**reads, "src": "/work/before/src", "label": "before (`58ccee3`)", "total_s": 5.08}
    section = generate([reads, before, {**reads, "backend": "sqlite", "total_s": 0.51}])
    assert "| postgresql | 20,000 | 365 | 0.30 | 0.41 | 0.33 | 0.68 | **1.42** |" in section
    assert "| postgresql (before (`58ccee3`)) | 20,000 | 365 |" in section
    assert "**5.08**" in section and "| sqlite | 20,000 | 365 |" in section


def test_the_business_record_reads_are_shown_beside_the_history_reads_when_measured():
    reads = {
        **HISTORY_READS,
        "total_s": 1.72,
        "tickets_records_s": 0.052,
        "users_records_s": 0.31,
        "mrr_records_s": 0.024,
        "sentiment_records_s": 0.018,
        "records_total_s": 0.404,
    }
    older = {**HISTORY_READS, "backend": "sqlite"}  # written before the records were read
    section = generate([reads, older])
    assert "| **1.72** | 0.05 / 0.31 / 0.02 / 0.02 | **0.40** |" in section
    assert "| sqlite | 20,000 | 365 | 0.30 | 0.41 | 0.33 | 0.68 | **1.42** | - | **-** |" in section
