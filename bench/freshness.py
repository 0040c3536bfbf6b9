"""Freshness: from an ingested failed payment to a rescored account with a fired playbook.

Starts ``healthscore serve`` (embedded worker, default settings) on a benchmark dataset,
then, for each trial, records a failed payment for a fresh account through the API and
polls until that account's score has changed *and* a ``payment_failed`` outreach entry
exists. Reports the distribution of that end-to-end delay (goal: ≤ 5 s).

    python -m bench.freshness [--backend sqlite|postgresql] [--size 2000] [--trials 20]

One event at a time on an idle server; ``python -m bench.ingest --rate 25000 --probes 4``
measures event → fresh score while ingest runs at that rate.
"""

from __future__ import annotations

import argparse
import statistics
import time

import httpx
from sqlalchemy import select

from bench import results
from bench.run import NOW, database_url, ensure_dataset
from bench.server import BenchServer
from healthscore.auth.keys import Scope, create_key
from healthscore.scoring.scorecard_loading import load_scorecard
from healthscore.scoring.service import score_accounts
from healthscore.settings import Settings
from healthscore.storage import case_models
from healthscore.storage import models as m
from healthscore.storage.database import make_engine, make_sessionmaker, transaction


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--size", type=int, default=2000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--trials", type=int, default=20)
    results.add_checkout_options(parser)
    args = parser.parse_args()
    url = database_url(args.backend, args.size, args.days)
    engine = make_engine(url)
    ensure_dataset(engine, args.size, args.days)
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as session:
        score_accounts(session, load_scorecard("default"), as_of=NOW)
        key = create_key(session, scope=Scope.admin, name="freshness").secret
        already = set(
            session.scalars(
                select(case_models.OutreachEntry.customer_id).where(
                    case_models.OutreachEntry.playbook == "payment_failed"
                )
            )
        )
        candidates = [
            cid
            for cid in session.scalars(
                select(m.HealthScore.customer_id)
                .where(m.HealthScore.score.is_not(None))
                .order_by(m.HealthScore.customer_id)
            )
            if cid not in already
        ][: args.trials]
    engine.dispose()
    delays: list[float] = []
    with BenchServer(url, worker="embedded", env=results.checkout_env(args.src)) as server:
        base = server.url
        cpu_before = server.cpu_seconds()
        with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=30) as api:
            for cid in candidates:
                before = api.get(f"/api/v1/health-scores/{cid}").json()["asOf"]
                started = time.perf_counter()
                api.post(
                    "/api/v1/payments",
                    json={"customerId": cid, "amount": "99.00", "status": "failed"},
                ).raise_for_status()
                while True:
                    rescored = api.get(f"/api/v1/health-scores/{cid}").json()["asOf"] != before
                    entries = api.get(
                        "/api/v1/outreach", params={"customerId": cid, "playbook": "payment_failed"}
                    ).json()["total"]
                    if rescored and entries:
                        break
                    if time.perf_counter() - started > 60:
                        raise RuntimeError(f"{cid}: not rescored within 60 s")
                    time.sleep(0.05)
                delays.append(time.perf_counter() - started)
        cpu = server.cpu_seconds()["server"] - cpu_before["server"]
    print(
        f"{args.backend}, {args.size:,} accounts: failed payment → rescored + playbook fired, "
        f"{len(delays)} trials: median {statistics.median(delays):.2f} s, "
        f"max {max(delays):.2f} s (batching window {Settings().rescore_delay_seconds:g} s); "
        f"server CPU {cpu:.1f} s"
    )
    results.record(
        "freshness",
        **results.checkout(args.src, args.label),
        backend=args.backend,
        accounts=args.size,
        trials=len(delays),
        median_s=round(statistics.median(delays), 3),
        p90_s=round(statistics.quantiles(delays, n=10, method="inclusive")[-1], 3)
        if len(delays) > 1
        else None,
        max_s=round(max(delays), 3),
        server_cpu_s=round(cpu, 2),
        rescore_delay_seconds=Settings().rescore_delay_seconds,
    )


if __name__ == "__main__":
    main()
