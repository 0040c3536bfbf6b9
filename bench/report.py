"""Write BENCHMARKS.md's generated section from ``.bench/results.jsonl``.

    python -m bench.report [--results .bench/results.jsonl] [--output BENCHMARKS.md]

The section sits between ``BEGIN`` and ``END`` (added before the first ``## `` heading
when the file has none yet) and is replaced whole on every run: the latest result of
each kind (bench, backend, size, mode…), each with when it was measured, the commit
(``+``: with uncommitted changes) and the load average when it started, since the
machine may be shared. Everything outside the markers — the dated, hand-written
history — is left as it is. ``make bench`` runs it last.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from bench.results import RESULTS, ROOT, read

BEGIN = "<!-- bench.report: generated section, begin (python -m bench.report) -->"
END = "<!-- bench.report: generated section, end -->"
Record = dict[str, Any]


def latest(records: Iterable[Record], bench: str, key: Callable[[Record], Any]) -> list[Record]:
    """The newest record of ``bench`` for each ``key``, in the order keys first appeared."""
    found: dict[Any, Record] = {}
    for record in records:
        if record.get("bench") == bench:
            found[key(record)] = record
    return list(found.values())


def when(record: Record) -> str:
    load = record.get("load_average")
    at = str(record.get("at", "?"))[:16].replace("T", " ")
    return f"{at} `{record.get('rev', '?')}`" + (f", load {load:.1f}" if load is not None else "")


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    right = ["---:" if i else "---" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(right) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def number(value: Any, digits: int = 0, unit: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}{unit}"


def rescore_section(records: list[Record]) -> list[str]:
    runs = latest(
        records,
        "run",
        lambda r: (
            r["backend"],
            r["accounts"],
            r["scorecard"],
            r.get("playbooks", False),
            r.get("days"),
            r.get("code", "this checkout"),
        ),
    )
    if not runs:
        return []
    rows = []
    order = {"this checkout": 1}
    for r in sorted(
        runs,
        key=lambda r: (
            r["accounts"],
            r["backend"],
            r["scorecard"],
            r.get("playbooks", False),
            order.get(r.get("code", "this checkout"), 0),
        ),
    ):
        best, seed = r["best"], r.get("seed000_baseline")
        code = r.get("code", "this checkout")
        rows.append(
            [
                r["backend"] + ("" if code == "this checkout" else f" (`{code}`)"),
                number(r["accounts"]),
                r["scorecard"] + (" + playbooks" if r.get("playbooks") else ""),
                number(best["total"], 2),
                number(best.get("cpu_s"), 2)
                + (f" + {best['postgres_cpu_s']:.2f}" if "postgres_cpu_s" in best else ""),
                f"{best.get('read', 0):.2f} / {best.get('score', 0):.2f} / "
                f"{best.get('write', 0):.2f}",
                number(best.get("peak_mib")),
                number(seed["total"], 1) if seed else "-",
                f"**{seed['total'] / best['total']:.0f}x**" if seed else "-",
                when(r),
            ]
        )
    return [
        "### Full rescore (`python -m bench.run`)",
        "",
        "Best of the runs; CPU is the rescoring process's (+ that of the PostgreSQL "
        "backends it connected). The speed-up divides seed 000's per-customer loop, timed "
        "in the same `bench.run`, on the same PostgreSQL data; a row naming other code "
        "(`--src`) is the same run with that checkout's scoring (before -> after). "
        "`+ playbooks` (`--playbooks`): the worker's nightly run, the bundled playbooks "
        "judging every account and updating its cases in the same transaction.",
        "",
        *table(
            [
                "backend",
                "accounts",
                "scorecard",
                "wall s",
                "CPU s (+ PG)",
                "read / score / write s",
                "peak MiB",
                "seed 000 loop s",
                "speed-up",
                "measured",
            ],
            rows,
        ),
    ]


def _freshness(r: Record) -> str:
    """``median / p99 s (probes)`` of a run with freshness probes, else a dash."""
    fresh = r.get("freshness") or {}
    if not fresh.get("probes"):
        return "-"
    lost = f", {fresh['lost']} late" if fresh.get("lost") else ""
    return f"{fresh['median_s']:.2f} / {fresh['p99_s']:.2f} ({fresh['probes']}{lost})"


def ingest_section(records: list[Record]) -> list[str]:
    runs = latest(
        records,
        "ingest",
        lambda r: (
            r["backend"],
            r["ack"],
            r["worker"],
            r.get("bodies", "compact"),
            r.get("target_rate"),
            bool((r.get("freshness") or {}).get("probes")),
            checkout_label(r),
        ),
    )
    if not runs:
        return []
    rows = [
        [
            with_checkout(r["backend"], r),
            f"`{r['ack']}`",
            r["worker"],
            r.get("bodies", "compact"),
            number(r.get("target_rate")),
            number(r["events"]),
            f"**{number(r['events_per_second'])}**",
            number(r["applied_events_per_second"]),
            _freshness(r),
            number(r["cpu_ms_per_batch"], 2),
            ", ".join(f"{k} {v:.1f}" for k, v in r["cpu_seconds"].items() if v),
            number(r.get("import_events_per_second")),
            when(r),
        ]
        for r in runs
    ]
    return [
        "### Ingest (`python -m bench.ingest`)",
        "",
        "Segment batches of 100 events through `POST /v1/batch`, one API process; CPU of "
        "every process (server, worker, PostgreSQL, client) per batch. Bodies `sdk`: the "
        "bytes segment-analytics-python sends. A paced run sends at its target rate; "
        "freshness is event → fresh score (median / p99 s, probes) measured during it.",
        "",
        *table(
            [
                "backend",
                "ack",
                "worker",
                "bodies",
                "paced at/s",
                "events",
                "acknowledged/s",
                "applied/s",
                "fresh score s",
                "CPU ms per batch",
                "CPU s by process",
                "CSV import/s",
                "measured",
            ],
            rows,
        ),
    ]


def freshness_section(records: list[Record]) -> list[str]:
    return _freshness_runs(records) + _refresh_runs(records)


def _refresh_runs(records: list[Record]) -> list[str]:
    runs = latest(records, "refresh", lambda r: (r["backend"], checkout_label(r)))
    if not runs:
        return []
    rows = [
        [
            with_checkout(r["backend"], r),
            number(r["refreshes"] - 2),
            f"**{number(r['median_ms'], 1)}**",
            number(r["max_ms"], 1),
            number(r["first_two_ms"], 1),
            when(r),
        ]
        for r in runs
    ]
    return [
        "### One account's refresh (`python -m bench.refresh`)",
        "",
        "One account rescored at successive moments of a day, 2,000-account dataset.",
        "",
        *table(
            ["backend", "refreshes", "median ms", "slowest ms", "day's first two ms", "measured"],
            rows,
        ),
    ]


def _freshness_runs(records: list[Record]) -> list[str]:
    runs = latest(records, "freshness", lambda r: (r["backend"], r["accounts"], checkout_label(r)))
    if not runs:
        return []
    rows = [
        [
            with_checkout(r["backend"], r),
            number(r["accounts"]),
            number(r["trials"]),
            f"**{number(r['median_s'], 2)}**",
            number(r.get("p90_s"), 2),
            number(r["max_s"], 2),
            number(r.get("server_cpu_s"), 1),
            when(r),
        ]
        for r in runs
    ]
    return [
        "### Freshness (`python -m bench.freshness`)",
        "",
        "A failed payment through the API → the account rescored and its playbook fired.",
        "",
        *table(
            [
                "backend",
                "accounts",
                "trials",
                "median s",
                "p90 s",
                "max s",
                "server CPU s",
                "measured",
            ],
            rows,
        ),
    ]


def history_reads_section(records: list[Record]) -> list[str]:
    runs = latest(
        records,
        "history_reads",
        lambda r: (r["backend"], r["accounts"], r["days"], checkout_label(r)),
    )
    if not runs:
        return []
    rows = [
        [
            with_checkout(r["backend"], r),
            number(r["accounts"]),
            number(r["days"]),
            number(r.get("trend_reference_s"), 2),
            number(r["tier_before_s"], 2),
            number(r["score_7_days_ago_s"], 2),
            number(r["last_login_s"], 2),
            f"**{number(r['total_s'], 2)}**",
            # tickets, users, MRR, sentiment: in the order the bench records them
            " / ".join(number(v, 2) for k, v in r.items() if k.endswith("_records_s")) or "-",
            f"**{number(r.get('records_total_s'), 2)}**",
            when(r),
        ]
        for r in runs
    ]
    return [
        "### The nightly run's reads of the past (`python -m bench.history_reads`)",
        "",
        "Every account's trend reference (the rescore's), previous tier, score 7 days ago "
        "and last login (the playbooks'), on a base with a history row per account and day; "
        "and the rescore's reads of the business records its measures without a window "
        "need (open tickets, seats, MRR and sentiment in force), on the same days of "
        "tickets, seats, MRR changes and sentiment entries.",
        "",
        *table(
            [
                "backend",
                "accounts",
                "days of history",
                "trend reference s",
                "previous tier s",
                "score 7 days ago s",
                "last login s",
                "total s",
                "tickets / users / MRR / sentiment s",
                "records total s",
                "measured",
            ],
            rows,
        ),
    ]


def load_section(records: list[Record]) -> list[str]:
    runs = latest(
        records,
        "load",
        lambda r: (r["backend"], r["accounts"], r["redis"], r["processes"], r["mix"], r["rate"]),
    )
    if not runs:
        return []
    rows = []
    for r in runs:
        setup = (
            f"{r['backend']}{' + Redis' if r['redis'] else ''}, {r['accounts']:,} accounts, "
            f"{r['processes']} process(es), {r['mix']}, {r['rate']:.0f} req/s x "
            f"{r['seconds']:.0f} s"
        )
        for op, figures in sorted(r["operations"].items()):
            rows.append(
                [
                    setup,
                    f"`{op}`",
                    number(figures["requests"]),
                    f"{figures['p50']:.1f} / {figures['p95']:.1f} / {figures['p99']:.1f}",
                    number(figures["errors"]),
                    f"{r['server_rss_mib']['start']} → {r['server_rss_mib']['end']}",
                    ", ".join(f"{k} {v:.1f}" for k, v in r["cpu_seconds"].items() if v),
                    when(r),
                ]
            )
            setup = '"'
    return [
        "### API under load (`python -m bench.load`, wrk)",
        "",
        *table(
            [
                "set-up",
                "operation",
                "requests",
                "p50 / p95 / p99 ms",
                "errors",
                "server RSS MiB",
                "CPU s by process",
                "measured",
            ],
            rows,
        ),
    ]


def dashboard_section(records: list[Record]) -> list[str]:
    runs = latest(records, "dashboard", lambda r: (r["backend"], r["accounts"]))
    if not runs:
        return []
    rows = [
        [
            r["backend"],
            number(r["accounts"]),
            *(
                f"{r['pages'][page]['median_ms']:.0f} / {r['pages'][page]['max_ms']:.0f}"
                if page in r["pages"]
                else "-"
                for page in ("overview", "accounts", "account detail")
            ),
            when(r),
        ]
        for r in runs
    ]
    return [
        "### Dashboard (`python -m bench.dashboard`)",
        "",
        "Full page loads, median / slowest ms.",
        "",
        *table(
            ["backend", "accounts", "overview", "accounts table", "account detail", "measured"],
            rows,
        ),
    ]


def import_section(records: list[Record]) -> list[str]:
    runs = latest(records, "import_csv", lambda r: (r["backend"], r["accounts"]))
    if not runs:
        return []
    rows = [
        [
            r["backend"],
            number(r["accounts"]),
            number(r["rows"].get("events.csv")),
            number(r["seconds"], 1),
            number(r["cpu_seconds"], 1),
            f"**{number(r['events_per_second'])}**",
            number(r["peak_rss_mib"]),
            when(r),
        ]
        for r in runs
    ]
    return [
        "### CSV import (`python -m bench.import_csv`)",
        "",
        *table(
            [
                "backend",
                "accounts",
                "events",
                "wall s",
                "CPU s",
                "events/s",
                "peak MiB",
                "measured",
            ],
            rows,
        ),
    ]


def checkout_label(record: Record) -> str:
    """What code a row measured: this checkout, or the one ``--src`` named, by its label
    (``before (`7cdd996`)``); a record from before labels named it by the folder holding
    its ``src`` (``/work/scratch/perf/base/src``: other checkout ``base``)."""
    if "label" in record:
        return str(record["label"])
    src = str(record.get("src") or "this checkout")
    if src == "this checkout":
        return src
    path = Path(src)
    return f"other checkout `{(path.parent if path.name == 'src' else path).name}`"


def with_checkout(cell: str, record: Record) -> str:
    """``cell``, naming the code measured when it was not this checkout (``--src``)."""
    label = checkout_label(record)
    return cell if label == "this checkout" else f"{cell} ({label})"


def startup_section(records: list[Record]) -> list[str]:
    lines: list[str] = []
    cli = latest(records, "cli_startup", lambda r: r.get("label", r.get("src")))
    if cli:
        rows = [
            [
                checkout_label(r),
                *(
                    f"{r['results'][c]['median_s']:.3f} / {r['results'][c]['max_s']:.3f}"
                    for c in ("--help", "show ID")
                ),
                when(r),
            ]
            for r in cli
        ]
        lines += [
            "### CLI start-up (`python -m bench.cli_startup`), median / slowest s",
            "",
            *table(["code", "`healthscore --help`", "`healthscore show ID`", "measured"], rows),
        ]
    demo = latest(records, "demo_start", lambda r: None)
    if demo:
        rows = [
            [
                f"`{r.get('measured_rev', r.get('rev', '?'))}`",
                number(r["install_s"], 1),
                number(r["demo_data_s"], 1),
                f"**{number(r['dashboard_answers_s'], 1)}**",
                when(r),
            ]
            for r in demo
        ]
        lines += [
            "### `make demo` from a fresh clone (`python -m bench.demo_start`), seconds",
            "",
            *table(["code", "install", "demo data", "dashboard answers after", "measured"], rows),
        ]
    return lines


def profile_section(records: list[Record]) -> list[str]:
    runs = latest(records, "profile", lambda r: (r["backend"], r["accounts"], r["scorecard"]))
    lines: list[str] = []
    for r in runs:
        alone = {a["statement"]: a["seconds"] for a in r.get("alone", [])}
        rows = [
            [
                f"`{s['statement']}`",
                str(s["runs"]),
                number(s["seconds"], 3),
                number(alone.get(s["statement"]), 3),
            ]
            for s in r["statements"]
        ]
        phases = ", ".join(f"{k} {v:.2f} s" for k, v in r["phases"].items())
        functions = "; ".join(
            f"`{f['function']}` {f['own_seconds']:.2f} s" for f in r["functions"][:6]
        )
        waiting = r.get("waiting_s")
        lines += [
            f"### Where the time goes: {r['backend']}, {r['accounts']:,} accounts, "
            f"`{r['scorecard']}` (`python -m bench.profile_rescore`)",
            "",
            f"{r['seconds']:.2f} s wall under cProfile ({phases}); {r['cpu_s']:.2f} s CPU in "
            f"the rescoring process, {r['postgres_cpu_s']:.2f} s in its PostgreSQL backends; "
            f"measured {when(r)}. Statements: summed wall time in the run (the reads run on "
            "two connections at once) and alone afterwards, best of two.",
            "",
            *table(["statement", "runs", "in the run s", "alone s"], rows),
            (f"Waiting for PostgreSQL: {waiting:.2f} s. " if waiting is not None else "")
            + f"Python's own time, the largest: {functions}.",
            "",
        ]
    return lines


def scaling_section(records: list[Record]) -> list[str]:
    runs = latest(records, "scaling", lambda r: None)
    if not runs:
        return []
    r = runs[0]
    u, ingest, calibration = r["units"], r["ingest"], r["calibration"]
    unit_rows = [
        ["API process CPU per event ingested", f"{u['api_ms_per_event']:.3f} ms"],
        [
            "worker CPU per event (journal apply, touched accounts rescored)",
            f"{u['ingest_worker_ms_per_event']:.3f} ms",
        ],
        ["PostgreSQL CPU per event ingested", f"{u['ingest_postgres_ms_per_event']:.3f} ms"],
        [
            "WAL per event ingested"
            + ("" if ingest.get("wal_of") == "schema" else " (whole cluster: an upper bound)"),
            number(u["wal_bytes_per_event"], 0, " B"),
        ],
        ["worker CPU per account rescored", f"{u['worker_ms_per_account']:.3f} ms"],
        ["PostgreSQL CPU per account rescored", f"{u['postgres_ms_per_account']:.3f} ms"],
        [
            "8 KiB pages touched / read from outside shared buffers, per account rescored",
            f"{u.get('pages_touched_per_account', 0):.1f} / "
            f"{u.get('pages_read_per_account', 0):.1f}",
        ],
        [
            "WAL per account rescored"
            + (
                f" ({calibration['accounts']:,} accounts)"
                if u.get("wal_per_account_from_calibration")
                else ""
            ),
            number(u["wal_bytes_per_account"], 0, " B"),
        ],
        ["bytes per raw event (table + indexes)", number(u["bytes_per_raw_event"], 0)],
        ["bytes per roll-up row (table + indexes)", number(u["bytes_per_rollup_row"], 0)],
        ["roll-up rows per account and day", number(u["rollup_rows_per_account_day"], 2)],
        ["score history bytes per account and day", number(u["score_bytes_per_account_day"], 0)],
        ["Redis bytes per queued job", number(u.get("bytes_per_queued_job"), 0)],
        [
            "Redis bytes per cached `getHealthScore` answer",
            number(u.get("bytes_per_cached_score"), 0),
        ],
    ]
    run_rows = [
        [
            str(run["workers"]),
            str(run["shards"]),
            f"**{run['wall_s']:.1f}**",
            number(run.get("predicted_wall_s"), 1),
            f"{run['worker_cpu_s']:.1f} + {run['postgres_cpu_s']:.1f}",
            number(run.get("predicted_cpu_s"), 1),
            f"{1000 * (run['worker_cpu_s'] + run['postgres_cpu_s']) / run['accounts']:.3f}",
            number(run["worker_peak_mib"]),
            number(run.get("load_average"), 1),
        ]
        for run in r["runs"]
    ]
    size_rows = [
        [
            name,
            number(figures["rows"]),
            number(figures["predicted_bytes"] / 2**30, 2),
            number(figures["measured_bytes"] / 2**30, 2),
        ]
        for name, figures in r["sizes"].items()
    ]
    calibrated_ms = (
        1000
        * (calibration["worker_cpu_s"] + calibration["postgres_cpu_s"])
        / calibration["accounts"]
    )
    c = r["capacity"]
    gb = c["postgres_gb"]
    redis = c.get("redis", {})
    capacity_rows = [
        ["API processes (peak ingest)", number(c["api_processes"])],
        [
            "worker processes (ingest + near-real-time rescores)",
            number(c["worker_processes_ingest"]),
        ],
        [
            f"worker processes for a full rescore in {c['rescore_hours']:g} h",
            number(c["worker_processes_full_rescore"]),
        ],
        ["PostgreSQL cores", number(c["postgres_cores"])],
        *(
            [f"PostgreSQL size after {d} days, raw events kept {d} days (GB)", number(v)]
            for d, v in gb.items()
        ),
        [
            "WAL at peak ingest (MB/s) / write IOPS (8 KiB)",
            f"{c['wal_mb_per_second_peak']:,} / {c['write_iops_peak']:,}",
        ],
        ["WAL of one full rescore (GB)", number(c["wal_gb_per_full_rescore"], 1)],
        [
            f"Redis: cache at {redis.get('cache_at_reads_per_second', 0):,} reads/s (MB) / "
            "every account cached (GB) / one queued job per account (MB)",
            f"{redis.get('cache_mb', '-')} / {redis.get('every_account_cached_gb', '-')} / "
            f"{redis.get('one_job_per_account_mb', '-')}",
        ],
    ]
    return [
        "### Scale-out (`python -m bench.scaling`)",
        "",
        f"Per-unit costs: ingest in the default mode (`{ingest['ack']}`, "
        f"{ingest['events']:,} events, load {ingest.get('load_average', 0):.1f}); "
        f"the full rescore of {r['accounts']:,} accounts by 1 worker process below, and "
        "the sizes of that dataset. "
        f"Measured {when(r)}; the whole bench took {r.get('seconds', 0):,} s. "
        "The model and how to read it: docs/scaling.md.",
        "",
        *table(["per-unit cost", "measured"], unit_rows),
        f"A full rescore of {r['accounts']:,} accounts (sharded, real `healthscore worker` "
        f"processes, one thread each, {r['cores']} cores), against the model calibrated "
        f"on {calibration['accounts']:,} accounts by 1 worker "
        f"({calibrated_ms:.3f} CPU ms per account, {calibration['wall_s']:.1f} s, load "
        f"{calibration.get('load_average', 0):.1f}): CPU = accounts x CPU per account; wall "
        "= that CPU / min(workers, cores), as if the cores were the run's alone and every "
        "page in memory:",
        "",
        *table(
            [
                "workers",
                "shards",
                "wall s",
                "predicted s",
                "CPU s worker + PG",
                "predicted CPU s",
                "CPU ms per account",
                "peak MiB per worker",
                "load",
            ],
            run_rows,
        ),
        f"Storage at {r['accounts']:,} accounts, predicted from "
        f"{r['source_accounts']:,} (bytes per account x accounts) and measured:",
        "",
        *table(["tables", "rows", "predicted GiB", "measured GiB"], size_rows),
        f"What {c['accounts']:,} accounts and {c['events_per_day']:,} events a day need "
        f"(peak {c['peak']:g}x the average: {c['peak_events_per_second']:,} events/s; "
        f"processes planned at {c['busy']:.0%} of a core; the default scorecard needs raw "
        f"events kept at least {r.get('min_retention_days', '?')} days):",
        "",
        *table(["need", "model"], capacity_rows),
    ]


SECTIONS = (
    rescore_section,
    profile_section,
    ingest_section,
    freshness_section,
    history_reads_section,
    load_section,
    dashboard_section,
    import_section,
    startup_section,
    scaling_section,
)


def generate(records: list[Record]) -> str:
    machines = sorted({str(r["machine"]) for r in records if r.get("machine")})
    body = [
        "## Latest `make bench` results (generated)",
        "",
        "Written by `python -m bench.report` from `.bench/results.jsonl`, the latest result "
        "of each kind; do not edit by hand (the dated sections below are the history). "
        "The load generators share the machine's cores with the server, and other work may "
        "have too (the load average is given), so wall times are noisy: compare CPU times.",
        "",
    ]
    if machines:
        body += [f"Machine(s): {'; '.join(machines)}.", ""]
    for section in SECTIONS:
        body += section(records)
    if len(body) <= 6 + (2 if machines else 0):
        body += ["No results yet: run `make bench`.", ""]
    return "\n".join([BEGIN, *body, END])


def write(markdown: str, section: str) -> str:
    """``markdown`` with its generated section replaced by (or given) ``section``."""
    if BEGIN in markdown and END in markdown:
        start = markdown.index(BEGIN)
        end = markdown.index(END) + len(END)
        return markdown[:start] + section + markdown[end:]
    first = markdown.find("\n## ")
    if first < 0:
        return markdown.rstrip("\n") + "\n\n" + section + "\n"
    return markdown[: first + 1] + section + "\n\n" + markdown[first + 1 :]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()
    section = generate(list(read(args.results)))
    args.output.write_text(
        write(args.output.read_text(encoding="utf-8"), section), encoding="utf-8"
    )
    print(f"{args.output}: generated section from {args.results} written")


if __name__ == "__main__":
    main()
