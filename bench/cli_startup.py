"""How fast the command line answers: ``healthscore --help`` and ``healthscore show ID``
(on a small demo database), each run N times in a fresh process; median and slowest.

A first run warms the OS file cache and Python's bytecode cache, as a user's second
command would find them. ``--src DIR`` runs another checkout's ``src`` (e.g. a
``git worktree`` of an older commit) with this environment, for before → after figures;
its row is labelled with ``--label`` (e.g. ``before``) and that checkout's commit.
Results are printed and appended to ``.bench/results.jsonl``.

    python -m bench.cli_startup [--runs 9] [--src DIR [--label NAME]]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.results import add_checkout_options, checkout, checkout_env, record

BENCH_DIR = Path(".bench")
CLI = "from healthscore.cli.main import app; app()"


def _run(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", CLI, *args],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def _demo_database(env: dict[str, str], path: Path) -> str:
    """A 50-account demo base, made once per checkout (each migrates its own schema);
    answers the id ``show`` explains."""
    env["HEALTHSCORE_DATABASE_URL"] = f"sqlite:///{path.resolve()}"
    if not path.exists():
        BENCH_DIR.mkdir(exist_ok=True)
        demo = ["demo", "--customers", "50", "--days", "60", "--history-days", "1"]
        subprocess.run([sys.executable, "-c", CLI, *demo], env=env, check=True, capture_output=True)
    import sqlite3

    with sqlite3.connect(path) as connection:
        (customer_id,) = connection.execute(
            "SELECT customer_id FROM health_scores WHERE score IS NOT NULL LIMIT 1"
        ).fetchone()
    return str(customer_id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    add_checkout_options(parser)
    args = parser.parse_args()
    env = dict(os.environ)
    env.pop("HEALTHSCORE_SCORECARD", None)
    env.update(checkout_env(args.src))
    name = f"cli_startup_{args.src.resolve().parent.name}.db" if args.src else "cli_startup.db"
    database = BENCH_DIR / name
    customer_id = _demo_database(dict(env), database)
    env["HEALTHSCORE_DATABASE_URL"] = f"sqlite:///{database.resolve()}"
    results = {}
    for name, command in {"--help": ["--help"], "show ID": ["show", customer_id]}.items():
        _run(command, env)  # warm the caches
        times = [_run(command, env) for _ in range(args.runs)]
        results[name] = {
            "median_s": round(statistics.median(times), 3),
            "max_s": round(max(times), 3),
        }
        print(
            f"healthscore {name:8} median {results[name]['median_s']:.3f} s, "
            f"slowest {results[name]['max_s']:.3f} s ({args.runs} runs)"
        )
    record(
        "cli_startup",
        **checkout(args.src, args.label),
        runs=args.runs,
        results=results,
    )


if __name__ == "__main__":
    main()
