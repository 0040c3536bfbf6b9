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
