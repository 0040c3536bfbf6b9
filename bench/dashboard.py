"""Dashboard page times on a benchmark dataset (goal: overview < 1 s at 20,000 accounts).

Starts ``healthscore serve``, signs in with a read key and times full page loads (server
render + transfer) of the overview, the accounts table and one account's detail page.

    python -m bench.dashboard [--backend sqlite|postgresql] [--size 20000] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import httpx
from sqlalchemy import func, select

from bench import results
from bench.run import NOW, database_url, ensure_dataset
from bench.server import BenchServer
from healthscore.auth.keys import Scope, create_key
from healthscore.scoring.scorecard_loading import load_scorecard
from healthscore.scoring.service import score_accounts
from healthscore.storage import models as m
from healthscore.storage.database import make_engine, make_sessionmaker, transaction


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--size", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    url = database_url(args.backend, args.size, args.days)
    engine = make_engine(url)
    ensure_dataset(engine, args.size, args.days)
    sessions = make_sessionmaker(engine)
    with sessions() as session:
        scored = session.scalar(select(func.count()).select_from(m.HealthScore)) or 0
    if scored == 0:
        with transaction(sessions) as session:
            score_accounts(session, load_scorecard("default"), as_of=NOW)
    with transaction(sessions) as session:
        key = create_key(session, scope=Scope.read, name="dashboard-bench").secret
        account = session.scalar(
            select(m.HealthScore.customer_id).where(m.HealthScore.score.is_not(None)).limit(1)
        )
    engine.dispose()
    timings: dict[str, list[float]] = {}
    with BenchServer(url, worker="embedded") as server:
        base = server.url
        cpu_before = server.cpu_seconds()["server"]
        with httpx.Client(base_url=base, timeout=60) as browser:
            browser.post("/login", data={"key": key, "next": "/"})
            pages = {
                "overview": "/",
                "accounts": "/accounts?tier=at_risk&sort=score",
                "account detail": f"/accounts/{account}",
            }
            for name, path in pages.items():
                browser.get(path).raise_for_status()  # warm-up
                for _ in range(args.runs):
                    started = time.perf_counter()
                    browser.get(path).raise_for_status()
                    timings.setdefault(name, []).append(time.perf_counter() - started)
        cpu = server.cpu_seconds()["server"] - cpu_before
    for name, values in timings.items():
        print(
            f"{args.backend}, {args.size:,} accounts: {name:<15} median "
            f"{statistics.median(values) * 1000:6.0f} ms, max {max(values) * 1000:6.0f} ms "
            f"({args.runs} loads)"
        )
    print(f"server CPU {cpu:.1f} s for the page loads (warm-ups included)")
    results.record(
        "dashboard",
        backend=args.backend,
        accounts=args.size,
        runs=args.runs,
        pages={
            name: {
                "median_ms": round(statistics.median(values) * 1000, 1),
                "max_ms": round(max(values) * 1000, 1),
            }
            for name, values in timings.items()
        },
        server_cpu_s=round(cpu, 2),
    )


if __name__ == "__main__":
    main()
