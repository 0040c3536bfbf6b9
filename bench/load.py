"""API latency and stability under a steady open-loop load on 127.0.0.1.

Starts ``healthscore serve`` (one process) on a benchmark dataset, then sends requests at
a fixed arrival rate (open loop: a slow server does not slow the client down, so queueing
shows up in the latencies) for ``--seconds``, and stops by itself. Reports p50/p95/p99
per operation, the error count, and the server's memory at the start and the end.

    python -m bench.load --backend postgresql --size 20000 --rate 200 --seconds 60 \
        [--mix reads|mixed] [--redis]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import func, select

from bench.run import NOW, database_url, ensure_dataset
from healthscore.auth.keys import Scope, create_key
from healthscore.scoring.scorecard import load_scorecard
from healthscore.scoring.service import score_accounts
from healthscore.storage import models as m
from healthscore.storage.database import make_engine, make_sessionmaker, transaction


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def tree_rss_mib(pid: int) -> float:
    """The server and its worker processes (``--workers``)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = [int(c) for c in children.read_text().split()] if children.exists() else []
    return rss_mib(pid) + sum(rss_mib(k) for k in kids if Path(f"/proc/{k}").exists())


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def run_load(
    base: str, key: str, ids: list[str], *, rate: float, seconds: float, mix: str
) -> tuple[dict[str, list[float]], dict[str, int]]:
    latencies: dict[str, list[float]] = {}
    errors: dict[str, int] = {}
    rng = random.Random(1)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(
        base_url=base, headers={"X-API-Key": key}, timeout=30, limits=limits
    ) as client:

        async def one(op: str) -> None:
            cid = rng.choice(ids)
            started = time.perf_counter()
            try:
                if op == "getHealthScore":
                    response = await client.get(f"/api/v1/health-scores/{cid}")
                elif op == "listHealthScores":
                    params = {
                        "page": rng.randint(1, 20),
                        "tier": rng.choice(["at_risk", "monitor"]),
                    }
                    response = await client.get("/api/v1/health-scores", params=params)
                elif op == "trackEngagement":
                    response = await client.post(
                        "/api/v1/engagement-events",
                        json={
                            "customerId": cid,
                            "eventType": "login",
                            "userId": "u-load",
                        },
                        headers={"Idempotency-Key": uuid.uuid4().hex},
                    )
                else:  # refreshHealthScore
                    response = await client.post(f"/api/v1/health-scores/{cid}/refresh")
                ok = response.status_code < 400
            except httpx.HTTPError:
                ok = False
            latencies.setdefault(op, []).append((time.perf_counter() - started) * 1000)
            if not ok:
                errors[op] = errors.get(op, 0) + 1

        weights = (
            {"getHealthScore": 0.7, "listHealthScores": 0.3}
            if mix == "reads"
            else {
                "getHealthScore": 0.5,
                "listHealthScores": 0.2,
                "trackEngagement": 0.28,
                "refreshHealthScore": 0.02,
            }
        )
        ops, chances = list(weights), list(weights.values())
        tasks: list[asyncio.Task[None]] = []
        start = time.perf_counter()
        n = 0
        while (elapsed := time.perf_counter() - start) < seconds:
            due = start + n / rate
            if due > time.perf_counter():
                await asyncio.sleep(due - time.perf_counter())
            tasks.append(asyncio.create_task(one(rng.choices(ops, chances)[0])))
            n += 1
            del elapsed
        await asyncio.gather(*tasks)
    return latencies, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", default="postgresql", choices=["sqlite", "postgresql"])
    parser.add_argument("--size", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--mix", default="reads", choices=["reads", "mixed"])
    parser.add_argument("--redis", action="store_true", help="production mode: Redis cache+queue")
    parser.add_argument("--workers", type=int, default=1, help="server processes")
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
        key = create_key(session, scope=Scope.admin, name="load").secret
    with sessions() as session:
        ids = list(
            session.scalars(
                select(m.HealthScore.customer_id).where(m.HealthScore.score.is_not(None))
            )
        )
    engine.dispose()

    port = 8766
    workdir = Path(tempfile.mkdtemp(prefix="hs-load-"))
    env = {
        **os.environ,
        "HEALTHSCORE_DATABASE_URL": url,
        "HEALTHSCORE_QUEUE_PATH": str(workdir / "queue.db"),
        "HEALTHSCORE_LOG_LEVEL": "WARNING",
    }
    if args.redis:
        env["HEALTHSCORE_REDIS_URL"] = os.environ.get(
            "HEALTHSCORE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"
        )
        env["HEALTHSCORE_QUEUE_NAME"] = f"load-{uuid.uuid4().hex[:6]}"
        env["HEALTHSCORE_EMBEDDED_WORKER"] = "true"
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "healthscore"),
            "serve",
            "--port",
            str(port),
            "--workers",
            str(args.workers),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz").is_success:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        asyncio.run(run_load(base, key, ids, rate=20, seconds=3, mix=args.mix))  # warm-up
        rss_start = tree_rss_mib(server.pid)
        samples: list[float] = []
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.wait(args.seconds / 6):
                samples.append(tree_rss_mib(server.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        latencies, errors = asyncio.run(
            run_load(base, key, ids, rate=args.rate, seconds=args.seconds, mix=args.mix)
        )
        sampling.set()
        rss_end = tree_rss_mib(server.pid)
    finally:
        server.terminate()
        server.wait(30)
    total = sum(len(v) for v in latencies.values())
    print(
        f"{datetime.now(UTC):%Y-%m-%d} {args.backend}{' + Redis' if args.redis else ''}, "
        f"{args.size:,} accounts, {args.rate:.0f} req/s for {args.seconds:.0f} s "
        f"({args.mix}, {args.workers} server process(es)): {total:,} requests, "
        f"{sum(errors.values())} errors; "
        f"server RSS {rss_start:.0f} → {rss_end:.0f} MiB "
        f"(every {args.seconds / 6:.0f} s: {', '.join(f'{v:.0f}' for v in samples)})"
    )
    for op, values in sorted(latencies.items()):
        print(
            f"  {op:<20} n={len(values):>6}  p50 {statistics.median(values):6.1f} ms  "
            f"p95 {percentile(values, 0.95):6.1f} ms  p99 {percentile(values, 0.99):6.1f} ms  "
            f"errors {errors.get(op, 0)}"
        )


if __name__ == "__main__":
    main()
