"""``make bench``: rescoring time for 2k / 20k / 100k accounts on SQLite and PostgreSQL,
side by side with seed 000's per-customer loop on the same PostgreSQL data.

Datasets are generated once with the demo generator and kept (``.bench/*.db`` for SQLite,
a ``bench_<n>_<days>d_g<generator version>`` schema on PostgreSQL) so later runs only
measure scoring; a new generator version generates them anew. Results are printed and
appended to ``.bench/results.jsonl`` (``bench.results``); ``python -m bench.report``
writes them into BENCHMARKS.md. Each rescore's CPU time is recorded next to its wall
time, since the machine is shared: the rescoring process's (``cpu_s``) and that of the
PostgreSQL backends it connected (``postgres_cpu_s``; parallel query workers not counted).

    python -m bench.run [--sizes 2000,20000] [--backends sqlite,postgresql] [--days 90]
                        [--scorecards default,seed000] [--src OTHER_CHECKOUT/src]
                        [--playbooks --no-baseline]

Each dataset is rescored with every scorecard named: ``default`` (the product's own,
more signals, windows and baselines than seed 000) and ``seed000`` (seed 000's six
signals, windows and weights: the same work as the loop it is compared with).
``--playbooks`` rescores as the worker's nightly run does (``Rescoring.rescore``): the
bundled playbooks judge every account and update its cases in the same transaction.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sqlite3
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, event, func, select, text

from bench import results as bench_results
from bench.baseline import COMPARED_SIGNALS, run_baseline, signal_disagreements
from bench.copy_dataset import copy_sqlite_to_postgres
from bench.server import cpu_seconds
from healthscore.ingest.demo import GENERATOR_VERSION, generate_demo
from healthscore.playbooks.rules import load_playbooks
from healthscore.rescoring.service import Rescoring
from healthscore.scoring.scorecard_loading import load_scorecard
from healthscore.scoring.service import score_accounts
from healthscore.storage import models as m
from healthscore.storage import schema
from healthscore.storage.database import make_engine, make_sessionmaker, transaction, upgrade
from healthscore.storage.partitions import ensure_partitions
from healthscore.storage.vacuum import vacuum_due

BENCH_DIR = Path(".bench")
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# A fixed "now" keeps cached datasets valid from one run to the next.
NOW = datetime(2026, 11, 1, tzinfo=UTC)
console = Console(width=160)


def dataset_name(size: int, days: int) -> str:
    """The cache key of a generated dataset: a new demo generator version makes new ones."""
    return f"bench_{size}_{days}d_g{GENERATOR_VERSION}"


def database_url(backend: str, size: int, days: int) -> str:
    return named_database_url(backend, dataset_name(size, days))


def analyze_base(engine: Engine) -> None:
    """After building a base: VACUUM ANALYZE on PostgreSQL (its statistics, and visibility
    maps for index-only scans), ANALYZE on SQLite."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM ANALYZE"))
    else:
        with engine.begin() as c:
            c.execute(text("ANALYZE"))


def named_database_url(backend: str, name: str) -> str:
    """A bench base called ``name``: ``.bench/<name>.db`` on SQLite, a schema of that name
    (created if need be) on PostgreSQL."""
    if backend == "sqlite":
        BENCH_DIR.mkdir(exist_ok=True)
        return f"sqlite:///{BENCH_DIR / f'{name}.db'}"
    base = os.environ.get("HEALTHSCORE_BENCH_DATABASE_URL", DEFAULT_PG)
    schema = name
    admin = make_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    admin.dispose()
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options={quote(f'-csearch_path={schema}')}"


def _complete(sqlite_file: Path, size: int) -> bool:
    if not sqlite_file.exists():
        return False
    connection = sqlite3.connect(sqlite_file)
    try:
        return bool(connection.execute("SELECT count(*) FROM customers").fetchone()[0] == size)
    except sqlite3.DatabaseError:
        return False
    finally:
        connection.close()


def ensure_dataset(engine: Engine, size: int, days: int) -> dict[str, int]:
    """Generate the dataset unless a complete one is already there."""
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    with sessions() as session:
        existing = session.scalar(select(func.count()).select_from(m.Customer))
    sqlite_twin = BENCH_DIR / f"{dataset_name(size, days)}.db"
    if existing != size and engine.dialect.name == "postgresql":
        with engine.begin() as connection:  # raw events go straight to their month
            ensure_partitions(connection, now=NOW, first_month=(NOW - timedelta(days=days)).date())
    if existing != size and engine.dialect.name == "postgresql" and _complete(sqlite_twin, size):
        console.print(f"  copying the SQLite dataset of {size} accounts into PostgreSQL …")
        started = time.perf_counter()
        twin = make_engine(f"sqlite:///{sqlite_twin}")
        upgrade(twin)  # a dataset generated by an older release gets its roll-ups
        twin.dispose()
        dsn = engine.url.render_as_string(hide_password=False).replace("+psycopg", "")
        copy_sqlite_to_postgres(sqlite_twin, dsn, console)
    elif existing != size:
        console.print(f"  generating {size} accounts x {days} days …")
        started = time.perf_counter()
        with transaction(sessions) as session:
            for table in reversed(schema.metadata.sorted_tables):
                session.execute(table.delete())
            generate_demo(session, customers=size, days=days, seed=11, now=NOW)
    if existing != size:
        analyze_base(engine)
        console.print(f"  ready in {time.perf_counter() - started:.0f}s")
    with sessions() as session:
        return {
            table: int(session.scalar(select(func.count()).select_from(model)) or 0)
            for table, model in [
                ("sessions", m.Session),
                ("feature_usage", m.FeatureUsage),
                ("api_usage", m.ApiUsage),
                ("payments", m.Payment),
                ("support_tickets", m.SupportTicket),
                ("nps_responses", m.NpsResponse),
            ]
        }


def peak_rss_mib() -> float:
    """This process's peak resident memory since it started its program: ``VmHWM``, not
    ``ru_maxrss``, which Linux carries over ``exec`` from the parent, so a spawned child
    reported the bench process's own peak (498 MiB for every size once it had generated a
    dataset)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _rescore_in_child(url: str, scorecard: str, out: Any, playbooks: bool = False) -> None:
    engine = make_engine(url)
    backends: dict[int, float] = {}
    if engine.dialect.name == "postgresql":  # the run's own backends, as they connect

        @event.listens_for(engine, "connect")
        def connected(dbapi_connection: Any, _record: Any) -> None:
            pid = dbapi_connection.info.backend_pid
            backends[pid] = cpu_seconds([pid])

    sessions = make_sessionmaker(engine)
    card = load_scorecard(scorecard)
    started, cpu_started = time.perf_counter(), time.process_time()
    if playbooks:  # the worker's nightly path: the playbooks judge every account too
        rescoring = Rescoring(
            sessions=sessions,
            scorecard=card,
            playbooks=load_playbooks(),
            deliveries=lambda _ids: None,  # queued in the database; not sent here
        )
        run = rescoring.rescore(kind="full", as_of=NOW).run
    else:
        with transaction(sessions) as session:
            run = score_accounts(session, card, as_of=NOW)
    total, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    # Before dispose, while the backends live (parallel query workers are not counted).
    figures = (
        {"postgres_cpu_s": sum(cpu_seconds([pid]) - at for pid, at in backends.items())}
        if backends
        else {}
    )
    engine.dispose()
    out.send(
        {
            "total": total,
            **run.timings,
            "accounts": float(run.scored),
            "peak_mib": peak_rss_mib(),
            "cpu_s": cpu,
            **figures,
        }
    )
    print(f"  rescored with {Path(score_accounts.__code__.co_filename).parents[2]}")


def vacuum_scores(url: str) -> None:
    """The product's scheduled maintenance VACUUM (``storage.vacuum``, run hourly by the
    worker and after its nightly rescore) before each run: a rescore leaves one dead row
    per account in ``health_scores``, and on this machine's server autovacuum is off, so
    without it every run would find more dead rows than the last (measured: 0.19 s
    instead of 0.15 s per upsert at 457,000 dead rows)."""
    engine = make_engine(url)
    try:
        vacuum_due(engine)
    finally:
        engine.dispose()


def rescore(url: str, scorecard: str = "default", playbooks: bool = False) -> dict[str, float]:
    """One full rescore as the CLI does it (read, score, write, commit), in a fresh process
    so its peak memory is its own; with ``playbooks``, as ``Rescoring.rescore`` does it
    (the playbooks judge every account and update its cases in the same transaction)."""
    vacuum_scores(url)
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_rescore_in_child, args=(url, scorecard, send, playbooks))
    child.start()
    result: dict[str, float] = receive.recv()
    child.join()
    return result


def baseline(url: str, size: int, *, compare: bool) -> dict[str, float] | None:
    """Seed 000's per-customer loop on the same PostgreSQL data (and a real Redis). With
    ``compare`` (the last rescore used the ``seed000`` scorecard), also checks that both
    computed the same signal values, account by account."""
    redis_url = os.environ.get("HEALTHSCORE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
    result = run_baseline(dsn, redis_url, now=NOW, prefix=f"bench{size}:")
    if compare:
        with psycopg.connect(dsn) as pg:
            compared, disagreeing = signal_disagreements(pg)
        console.print(
            f"  seed000 scorecard vs the loop: {compared:,} accounts, "
            f"{len(disagreeing):,} differ on {', '.join(COMPARED_SIGNALS)}"
        )
        if disagreeing or compared != result["accounts"]:
            example = next(iter(disagreeing.items()), None)
            console.print(
                "  [bold red]the seed000 ratio is not like for like[/]: "
                f"{result['accounts']:,.0f} accounts looped, {compared:,} compared; e.g. {example}"
            )
        result |= {"compared": compared, "disagreeing": len(disagreeing)}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="2000,20000,100000")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument(
        "--repeat", type=int, default=2, help="rescore runs per dataset and scorecard"
    )
    parser.add_argument(
        "--scorecards",
        default="default,seed000",
        help="scorecards to rescore each dataset with (seed000: the loop's own work)",
    )
    parser.add_argument(
        "--playbooks",
        action="store_true",
        help="rescore as the worker's nightly run does: the bundled playbooks judge every "
        "account and update its cases in the same transaction (not seed 000's work: use "
        "with --no-baseline)",
    )
    parser.add_argument(
        "--baseline",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time seed 000's per-customer loop on PostgreSQL (needs Redis)",
    )
    parser.add_argument(
        "--generate-only", action="store_true", help="build the datasets, measure nothing"
    )
    parser.add_argument(
        "--src",
        type=Path,
        help="rescore with another checkout's src (e.g. a git worktree of an older commit), "
        "for before -> after figures on the same data (it must have what bench.run imports)",
    )
    args = parser.parse_args()
    code = "this checkout"
    if args.src:  # spawned children start from this sys.path: they import healthscore there
        sys.path.insert(0, str(args.src.resolve()))
        code = str(args.src)
    sizes = [int(s) for s in args.sizes.split(",")]
    backends = args.backends.split(",")
    # seed000 last: its scores are then the ones compared with the loop's.
    scorecards = sorted(args.scorecards.split(","), key=lambda card: card == "seed000")

    table = Table(title=f"Full rescore, {args.days} days of data")
    for column in (
        "backend",
        "accounts",
        "scorecard",
        "raw event rows",
        "best total s",
        "CPU s (+ PG)",
        "read s",
        "score s",
        "write s",
        "peak MiB",
        "seed 000 loop s",
        "speed-up",
    ):
        table.add_column(column, justify="left" if column == "backend" else "right")
    results = []
    for size in sizes:
        for backend in backends:
            console.print(f"[bold]{backend}[/] {size} accounts")
            url = database_url(backend, size, args.days)
            engine = make_engine(url)
            rows = ensure_dataset(engine, size, args.days)
            if args.generate_only:
                engine.dispose()
                continue
            engine.dispose()
            scored = {
                card: [rescore(url, card, args.playbooks) for _ in range(args.repeat)]
                for card in scorecards
            }
            seed = (
                baseline(url, size, compare=scorecards[-1] == "seed000")
                if backend == "postgresql" and args.baseline
                else None
            )
            events = rows["sessions"] + rows["feature_usage"] + rows["api_usage"]
            for card, runs in scored.items():
                best = min(runs, key=lambda r: r["total"])
                table.add_row(
                    backend,
                    f"{size:,}",
                    card + (" + playbooks" if args.playbooks else ""),
                    f"{events:,}",
                    f"{best['total']:.2f}",
                    f"{best['cpu_s']:.2f}"
                    + (f" (+{best['postgres_cpu_s']:.2f})" if "postgres_cpu_s" in best else ""),
                    f"{best['read']:.2f}",
                    f"{best['score']:.2f}",
                    f"{best['write']:.2f}",
                    f"{best['peak_mib']:.0f}",
                    f"{seed['total']:.1f}" if seed else "-",
                    f"{seed['total'] / best['total']:.0f}x" if seed else "-",
                )
                results.append(
                    {
                        "backend": backend,
                        "accounts": size,
                        "scorecard": card,
                        "playbooks": args.playbooks,
                        "rows": rows,
                        "runs": runs,
                        "best": best,
                        "seed000_baseline": seed,
                    }
                )
    console.print(table)
    for result in results:
        bench_results.record("run", days=args.days, code=code, **result)


if __name__ == "__main__":
    main()
