"""Freshness: from an ingested failed payment to a rescored account with a fired playbook.

Starts ``healthscore serve`` (embedded worker, default settings) on a benchmark dataset,
then, for each trial, records a failed payment for a fresh account through the API and
polls until that account's score has changed *and* a ``payment_failed`` outreach entry
exists. Reports the distribution of that end-to-end delay (goal: ≤ 5 s).

    python -m bench.freshness [--backend sqlite|postgresql] [--size 2000] [--trials 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import select

from bench.run import NOW, database_url, ensure_dataset
from healthscore.auth.keys import Scope, create_key
from healthscore.scoring.scorecard import load_scorecard
from healthscore.scoring.service import score_accounts
from healthscore.storage import models as m
from healthscore.storage.database import make_engine, make_sessionmaker, transaction


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--size", type=int, default=2000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--trials", type=int, default=20)
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
                select(m.OutreachEntry.customer_id).where(
                    m.OutreachEntry.playbook == "payment_failed"
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
    port = 8767
    env = {
        **os.environ,
        "HEALTHSCORE_DATABASE_URL": url,
        "HEALTHSCORE_QUEUE_PATH": str(Path(tempfile.mkdtemp()) / "queue.db"),
        "HEALTHSCORE_LOG_LEVEL": "WARNING",
    }
    env.pop("HEALTHSCORE_REDIS_URL", None)
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "healthscore"), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    delays: list[float] = []
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz").is_success:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
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
    finally:
        server.terminate()
        server.wait(30)
    print(
        f"{args.backend}, {args.size:,} accounts: failed payment → rescored + playbook fired, "
        f"{len(delays)} trials: median {statistics.median(delays):.2f} s, "
        f"max {max(delays):.2f} s (batching window 2 s)"
    )


if __name__ == "__main__":
    main()
