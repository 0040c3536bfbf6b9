"""One account's refresh: the rescore a request or the worker runs for a single account.

On the 2,000-account benchmark dataset, rescores one account at a time (``score_accounts``
with one id, the default scorecard) at successive moments of one day, each in a
transaction rolled back (the dataset stays as it is); reports the median and slowest
time of the day's later refreshes (``read_plans`` keeps the day's queries from its
second read) and of the first two (built). ``--src DIR`` measures another checkout's
code (e.g. a ``git worktree`` of an older commit) in a child process.

    python -m bench.refresh [--backend postgresql|sqlite] [--refreshes 60] [--src DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import timedelta

from sqlalchemy import select

from bench import results
from bench.run import NOW, database_url, ensure_dataset
from healthscore.scoring.scorecard_loading import load_scorecard
from healthscore.scoring.service import score_accounts
from healthscore.storage import models as m
from healthscore.storage.database import make_engine, make_sessionmaker

SIZE, DAYS = 2000, 90


def measure(backend: str, refreshes: int) -> dict[str, float]:
    engine = make_engine(database_url(backend, SIZE, DAYS))
    ensure_dataset(engine, SIZE, DAYS)
    sessions = make_sessionmaker(engine)
    card = load_scorecard("default")
    with sessions() as session:
        ids = list(session.scalars(select(m.Customer.id).order_by(m.Customer.id)))
    day = NOW - timedelta(hours=15)  # 09:00 on the data's last day
    times = []
    for i in range(refreshes):
        with sessions() as session:
            started = time.perf_counter()
            as_of, account = day + timedelta(minutes=7 * i), ids[i * 31 % len(ids)]
            score_accounts(session, card, as_of=as_of, customer_ids=[account])
            times.append(time.perf_counter() - started)
            session.rollback()
    engine.dispose()
    later = times[2:]
    return {
        "first_two_ms": round(1000 * statistics.mean(times[:2]), 1),
        "median_ms": round(1000 * statistics.median(later), 1),
        "max_ms": round(1000 * max(later), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="postgresql", choices=["postgresql", "sqlite"])
    parser.add_argument("--refreshes", type=int, default=60)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    results.add_checkout_options(parser)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.backend, args.refreshes)))
        return
    if args.src is None:
        figures = measure(args.backend, args.refreshes)
    else:
        options = ["--backend", args.backend, "--refreshes", str(args.refreshes)]
        figures = results.measure_in_checkout(args.src, "bench.refresh", options)
    where = results.checkout(args.src, args.label)
    print(
        f"{args.backend}, {SIZE:,} accounts, one account's refresh ({where['label']}): "
        f"median {figures['median_ms']} ms, slowest {figures['max_ms']} ms over "
        f"{args.refreshes - 2} refreshes; the day's first two {figures['first_two_ms']} ms"
    )
    results.record("refresh", **where, backend=args.backend, refreshes=args.refreshes, **figures)


if __name__ == "__main__":
    main()
