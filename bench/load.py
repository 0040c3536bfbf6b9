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
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench import results
from bench.run import NOW, database_url, ensure_dataset
from bench.server import BenchServer, cpu_seconds, postgres_pids
from healthscore.auth.keys import Scope, create_key
from healthscore.scoring.scorecard_loading import load_scorecard
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

    workdir = Path(tempfile.mkdtemp(prefix="hs-load-"))
    ids_file = workdir / "ids.txt"
    ids_file.write_text("\n".join(ids) + "\n")
    # The production shape: API processes serve, a separate worker process runs the queue
    # (with Redis; without it the API process runs the worker itself, as in `make demo`).
    redis_url = (
        os.environ.get("HEALTHSCORE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
        if args.redis
        else None
    )
    server = BenchServer(
        url,
        worker="separate" if args.redis else "embedded",
        processes=args.workers,
        redis_url=redis_url,
    )
    with server:
        base = server.url
        warm_up = run_wrk(base, key, ids_file, rate=40, seconds=5, mix=args.mix)
        answer_ms = {str(r["op"]): float(r["mean"]) for r in warm_up}
        rss_start = server.rss_mib("server")
        samples: list[float] = []
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.wait(args.seconds / 6):
                samples.append(server.rss_mib("server"))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        watched = {
            **server.pids(),
            "postgresql": postgres_pids() if args.backend == "postgresql" else [],
        }
        cpu_before = {name: cpu_seconds(pids) for name, pids in watched.items()}
        outcome = run_wrk(
            base,
            key,
            ids_file,
            rate=args.rate,
            seconds=args.seconds,
            mix=args.mix,
            answer_ms=answer_ms,
        )
        sampling.set()
        rss_end = server.rss_mib("server")
        worker_rss = server.rss_mib("worker")
        if args.backend == "postgresql":  # backends connected during the run count whole
            watched["postgresql"] = sorted(set(watched["postgresql"]) | set(postgres_pids()))
        cpu = {name: cpu_seconds(pids) - cpu_before[name] for name, pids in watched.items()}
    shutil.rmtree(workdir, ignore_errors=True)
    total = sum(r["requests"] for r in outcome)
    print(
        f"{datetime.now(UTC):%Y-%m-%d} {args.backend}{' + Redis' if args.redis else ''}, "
        f"{args.size:,} accounts, {args.rate:.0f} req/s asked for {args.seconds:.0f} s "
        f"({args.mix}, {args.workers} server process(es), wrk): {total:,} requests "
        f"({total / args.seconds:.0f}/s), {sum(r['errors'] for r in outcome)} errors; "
        f"server RSS {rss_start:.0f} → {rss_end:.0f} MiB "
        f"(every {args.seconds / 6:.0f} s: {', '.join(f'{v:.0f}' for v in samples)})"
    )
    for r in sorted(outcome, key=lambda r: str(r["op"])):
        print(
            f"  {r['op']:<20} n={r['requests']:>6}  p50 {r['p50']:6.1f} ms  "
            f"p95 {r['p95']:6.1f} ms  p99 {r['p99']:6.1f} ms  max {r['max']:6.1f} ms  "
            f"errors {r['errors']}"
        )
    print(
        "  CPU s during the run: "
        + ", ".join(f"{name} {seconds:.1f}" for name, seconds in cpu.items())
        + f" (of {2 * args.seconds:.0f} core-seconds on 2 cores)"
    )
    results.record(
        "load",
        backend=args.backend,
        accounts=args.size,
        redis=args.redis,
        processes=args.workers,
        mix=args.mix,
        rate=args.rate,
        seconds=args.seconds,
        requests=total,
        errors=sum(r["errors"] for r in outcome),
        operations={
            str(r["op"]): {
                k: r[k] for k in ("requests", "errors", "p50", "p95", "p99", "max", "mean")
            }
            for r in outcome
        },
        server_rss_mib={"start": round(rss_start), "end": round(rss_end)},
        worker_rss_mib=round(worker_rss),
        cpu_seconds={name: round(seconds, 2) for name, seconds in cpu.items()},
    )


if __name__ == "__main__":
    main()
