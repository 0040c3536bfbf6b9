"""``make bench``: rescoring time for 2k / 20k / 100k accounts on SQLite and PostgreSQL,
side by side with seed 000's per-customer loop on the same PostgreSQL data.

Datasets are generated once with the demo generator and kept (``.bench/*.db`` for SQLite,
a ``bench_<n>`` schema on PostgreSQL) so later runs only measure scoring. Results are
printed and appended to ``.bench/results.jsonl``; copy the figures into BENCHMARKS.md.

    python -m bench.run [--sizes 2000,20000] [--backends sqlite,postgresql] [--days 90]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, func, select, text

from bench.baseline import run_baseline
from bench.copy_dataset import copy_sqlite_to_postgres
from healthscore.ingest.demo import generate_demo
from healthscore.scoring.scorecard import load_scorecard
from healthscore.scoring.service import score_accounts
from healthscore.storage import models as m
from healthscore.storage.database import make_engine, make_sessionmaker, transaction, upgrade

BENCH_DIR = Path(".bench")
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# A fixed "now" keeps cached datasets valid from one run to the next.
NOW = datetime(2026, 11, 1, tzinfo=UTC)
console = Console(width=160)


def database_url(backend: str, size: int, days: int) -> str:
    if backend == "sqlite":
        BENCH_DIR.mkdir(exist_ok=True)
        return f"sqlite:///{BENCH_DIR / f'bench_{size}_{days}d.db'}"
    base = os.environ.get("HEALTHSCORE_BENCH_DATABASE_URL", DEFAULT_PG)
    schema = f"bench_{size}_{days}d"
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
    sqlite_twin = BENCH_DIR / f"bench_{size}_{days}d.db"
    if existing != size and engine.dialect.name == "postgresql" and _complete(sqlite_twin, size):
        console.print(f"  copying the SQLite dataset of {size} accounts into PostgreSQL …")
        started = time.perf_counter()
        dsn = engine.url.render_as_string(hide_password=False).replace("+psycopg", "")
        copy_sqlite_to_postgres(sqlite_twin, dsn, console)
    elif existing != size:
        console.print(f"  generating {size} accounts x {days} days …")
        started = time.perf_counter()
        with transaction(sessions) as session:
            for table in reversed(m.Base.metadata.sorted_tables):
                session.execute(table.delete())
            generate_demo(session, customers=size, days=days, seed=11, now=NOW)
    if existing != size:
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                c.execute(text("VACUUM ANALYZE"))
        else:
            with engine.begin() as c:
                c.execute(text("ANALYZE"))
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


def _rescore_in_child(url: str, scorecard: str, out: Any) -> None:
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    card = load_scorecard(scorecard)
    started = time.perf_counter()
    with transaction(sessions) as session:
        run = score_accounts(session, card, as_of=NOW)
    total = time.perf_counter() - started
    engine.dispose()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.send({"total": total, **run.timings, "accounts": float(run.scored), "peak_mib": peak})


def rescore(url: str, scorecard: str = "default") -> dict[str, float]:
    """One full rescore as the CLI does it (read, score, write, commit), in a fresh process
    so its peak memory is its own."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_rescore_in_child, args=(url, scorecard, send))
    child.start()
    result: dict[str, float] = receive.recv()
    child.join()
    return result


def baseline(url: str, size: int) -> dict[str, float] | None:
    """Seed 000's per-customer loop on the same PostgreSQL data (and a real Redis)."""
    redis_url = os.environ.get("HEALTHSCORE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
    return run_baseline(dsn, redis_url, now=NOW, prefix=f"bench{size}:")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="2000,20000,100000")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--repeat", type=int, default=2, help="rescore runs per dataset")
    parser.add_argument(
        "--baseline",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time seed 000's per-customer loop on PostgreSQL (needs Redis)",
    )
    parser.add_argument(
        "--generate-only", action="store_true", help="build the datasets, measure nothing"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    backends = args.backends.split(",")

    table = Table(title=f"Full rescore, default scorecard, {args.days} days of data")
    for column in (
        "backend",
        "accounts",
        "raw event rows",
        "best total s",
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
            runs = [rescore(url) for _ in range(args.repeat)]
            best = min(runs, key=lambda r: r["total"])
            seed = baseline(url, size) if backend == "postgresql" and args.baseline else None
            events = rows["sessions"] + rows["feature_usage"] + rows["api_usage"]
            table.add_row(
                backend,
                f"{size:,}",
                f"{events:,}",
                f"{best['total']:.2f}",
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
                    "rows": rows,
                    "runs": runs,
                    "best": best,
                    "seed000_baseline": seed,
                }
            )
    console.print(table)
    peak_mib = max((r["best"]["peak_mib"] for r in results), default=0)
    record = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cores",
        "python": platform.python_version(),
        "days": args.days,
        "peak_rss_mib": round(peak_mib),
        "results": results,
    }
    BENCH_DIR.mkdir(exist_ok=True)
    with (BENCH_DIR / "results.jsonl").open("a") as out:
        out.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
