"""API latency and stability under a steady paced load on 127.0.0.1, driven by wrk.

Starts ``healthscore serve`` on a benchmark dataset (with ``--redis``, also a
``healthscore worker`` process, as deployed), then runs one wrk process per API
operation (``bench/paced.lua``) for ``--seconds``. Each wrk connection pauses an
exponentially distributed time before each request, so arrivals are close to Poisson at
the operation's share of ``--rate`` and a slow answer only delays its own connection.
wrk is C: the load generator takes a few percent of a core, where a Python client took as
much CPU as the server and its own scheduling delays showed up as server latency.
Reports p50/p95/p99 per operation, the achieved rate, errors, and the server's memory at
the start and the end.

    python -m bench.load --backend postgresql --size 20000 --rate 200 --seconds 60 \
        [--mix reads|mixed] [--redis] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from bench.run import NOW, database_url, ensure_dataset
from healthscore.auth.keys import Scope, create_key
from healthscore.scoring.scorecard import load_scorecard
from healthscore.scoring.service import score_accounts
from healthscore.storage import models as m
from healthscore.storage.database import make_engine, make_sessionmaker, transaction

SCRIPT = Path(__file__).with_name("paced.lua")
MIXES = {
    "reads": {"getHealthScore": 0.7, "listHealthScores": 0.3},
    "mixed": {
        "getHealthScore": 0.5,
        "listHealthScores": 0.2,
        "trackEngagement": 0.28,
        "refreshHealthScore": 0.02,
    },
}
MEAN_PAUSE_MS = 200.0
"""Mean pause of one connection between requests; connections = rate share * pause."""


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


def run_wrk(
    base: str,
    key: str,
    ids_file: Path,
    *,
    rate: float,
    seconds: float,
    mix: str,
    answer_ms: dict[str, float] | None = None,
) -> list[dict[str, Any]]:
    """One wrk per operation, all at once; their JSON summaries. A connection's cycle is
    its pause plus the answer's time, so ``answer_ms`` (mean latency per operation, from
    the warm-up) is taken off the pause to arrive at ``rate``."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    runs = []
    for op, share in MIXES[mix].items():
        op_rate = rate * share
        connections = max(1, round(op_rate * MEAN_PAUSE_MS / 1000))
        env = {
            **os.environ,
            "OP": op,
            "API_KEY": key,
            "IDS_FILE": str(ids_file),
            "PACE_MS": f"{connections / op_rate * 1000 - (answer_ms or {}).get(op, 0.0):.3f}",
        }
        command = [wrk, "-t1", f"-c{connections}", f"-d{seconds:.0f}s", "--timeout", "30s"]
        runs.append(
            subprocess.Popen(
                [*command, "-s", str(SCRIPT), base], env=env, stdout=subprocess.PIPE, text=True
            )
        )
    results = []
    for run in runs:
        out, _ = run.communicate()
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


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
    ids_file = workdir / "ids.txt"
    ids_file.write_text("\n".join(ids) + "\n")
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
        env["HEALTHSCORE_EMBEDDED_WORKER"] = "false"
    # The production shape: API processes serve, a separate worker process runs the queue
    # (with Redis; without it the API process runs the worker itself, as in `make demo`).
    worker = (
        subprocess.Popen(
            [str(Path(sys.executable).parent / "healthscore"), "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        if args.redis
        else None
    )
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
        warm_up = run_wrk(base, key, ids_file, rate=40, seconds=5, mix=args.mix)
        answer_ms = {str(r["op"]): float(r["mean"]) for r in warm_up}
        rss_start = tree_rss_mib(server.pid)
        samples: list[float] = []
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.wait(args.seconds / 6):
                samples.append(tree_rss_mib(server.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        results = run_wrk(
            base,
            key,
            ids_file,
            rate=args.rate,
            seconds=args.seconds,
            mix=args.mix,
            answer_ms=answer_ms,
        )
        sampling.set()
        rss_end = tree_rss_mib(server.pid)
    finally:
        server.terminate()
        server.wait(30)
        if worker is not None:
            worker.terminate()
            worker.wait(30)
    total = sum(r["requests"] for r in results)
    print(
        f"{datetime.now(UTC):%Y-%m-%d} {args.backend}{' + Redis' if args.redis else ''}, "
        f"{args.size:,} accounts, {args.rate:.0f} req/s asked for {args.seconds:.0f} s "
        f"({args.mix}, {args.workers} server process(es), wrk): {total:,} requests "
        f"({total / args.seconds:.0f}/s), {sum(r['errors'] for r in results)} errors; "
        f"server RSS {rss_start:.0f} → {rss_end:.0f} MiB "
        f"(every {args.seconds / 6:.0f} s: {', '.join(f'{v:.0f}' for v in samples)})"
    )
    for r in sorted(results, key=lambda r: str(r["op"])):
        print(
            f"  {r['op']:<20} n={r['requests']:>6}  p50 {r['p50']:6.1f} ms  "
            f"p95 {r['p95']:6.1f} ms  p99 {r['p99']:6.1f} ms  max {r['max']:6.1f} ms  "
            f"errors {r['errors']}"
        )


if __name__ == "__main__":
    main()
