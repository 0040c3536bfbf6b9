"""Where a full rescore's time goes: its phases, each SQL statement, and the Python
functions that cost most, on a ``bench.run`` dataset.

    python -m bench.profile_rescore [--size 20000] [--backend postgresql]
                                    [--scorecard default] [--top 12]

One rescore as ``bench.run`` times it (read, score, write, in one transaction), here in
this process with every statement timed (SQLAlchemy cursor events: wall time from send
to result, on whichever connection ran it; the reads run on two connections at once, so
their times overlap) and cProfile on (which slows the Python side by about a third: take
the phase times from ``bench.run``). The statements are also run again one by one, alone,
after the rescore, so their cost without the others competing is known. Appended to
``.bench/results.jsonl`` as ``profile``.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import re
import time
from collections import defaultdict
from typing import Any

from sqlalchemy import event

from bench import results
from bench.run import NOW, database_url, vacuum_scores
from bench.server import cpu_seconds
from healthscore.scoring.scorecard_loading import load_scorecard
from healthscore.scoring.service import score_accounts
from healthscore.storage.database import make_engine, make_sessionmaker, transaction

WAIT = "psycopg/connection.py"
TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE)\s+\"?([a-z_]+)\"?", re.IGNORECASE)


def label(statement: str) -> str:
    """A short name for a statement: its verb and first table (a seats join says so)."""
    verb = statement.split(None, 1)[0].upper()
    found = TABLE.search(statement)
    name = found.group(1) if found else "?"
    if verb == "SELECT" and "user_activity" in statement and "users.removed_at" in statement:
        name = "user_activity x users (seats)"
    elif verb == "SELECT" and name == "anon_1":
        name = "activity roll-up" if "feature_activity" not in statement else "feature_activity"
    return f"{verb} {name}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--backend", default="postgresql", choices=["sqlite", "postgresql"])
    parser.add_argument("--scorecard", default="default")
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    url = database_url(args.backend, args.size, args.days)
    vacuum_scores(url)
    engine = make_engine(url)
    timed: dict[str, list[float]] = defaultdict(list)
    reads: list[tuple[str, Any]] = []
    backends: dict[int, float] = {}

    @event.listens_for(engine, "connect")
    def connected(dbapi_connection: Any, _record: Any) -> None:
        if args.backend == "postgresql":
            pid = dbapi_connection.info.backend_pid
            backends[pid] = cpu_seconds([pid])

    @event.listens_for(engine, "before_cursor_execute")
    def before(conn: Any, _c: Any, statement: str, params: Any, _x: Any, many: bool) -> None:
        conn.info.setdefault("started", []).append(time.perf_counter())
        if statement.lstrip().upper().startswith("SELECT") and not many:
            reads.append((statement, params))

    @event.listens_for(engine, "after_cursor_execute")
    def after(conn: Any, _c: Any, statement: str, _p: Any, _x: Any, _many: bool) -> None:
        timed[label(statement)].append(time.perf_counter() - conn.info["started"].pop())

    sessions = make_sessionmaker(engine)
    card = load_scorecard(args.scorecard)
    profile = cProfile.Profile()
    started, cpu_started = time.perf_counter(), time.process_time()
    profile.enable()
    with transaction(sessions) as session:
        run = score_accounts(session, card, as_of=NOW)
    profile.disable()
    total, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    postgres_cpu = sum(cpu_seconds([pid]) - at for pid, at in backends.items())
    engine.dispose()
    ranked = sorted(timed.items(), key=lambda item: -sum(item[1]))[: args.top]
    statements = [{"statement": k, "runs": len(v), "seconds": round(sum(v), 3)} for k, v in ranked]
    alone = _alone(url, reads, args.backend)
    stats = pstats.Stats(profile)
    own = {
        (path, line, name): tt
        for (path, line, name), (_cc, _nc, tt, _ct, _callers) in stats.stats.items()  # type: ignore[attr-defined]
    }
    # psycopg's wait is the time this process spent waiting for PostgreSQL's answers.
    waiting = sum(tt for (path, _l, name), tt in own.items() if WAIT in path and name == "wait")
    functions = sorted(
        (
            {"function": f"{path.rsplit('/', 1)[-1]}:{line}({name})", "own_seconds": tt}
            for (path, line, name), tt in own.items()
            if not (WAIT in path and name == "wait")
        ),
        key=lambda f: -float(f["own_seconds"]),
    )[: args.top]
    print(f"{args.backend}, {args.size:,} accounts, {args.scorecard}: {total:.2f} s wall, "
          f"{cpu:.2f} s CPU here, {postgres_cpu:.2f} s in PostgreSQL's backends; "
          f"phases {', '.join(f'{k} {v:.2f} s' for k, v in run.timings.items())}")  # fmt: skip
    for s in statements:
        print(f"  {s['seconds']:7.3f} s  {s['runs']:3d}x  {s['statement']}")
    for name, seconds in alone:
        print(f"  alone {seconds:7.3f} s  {name}")
    print(f"  waiting for PostgreSQL {waiting:.3f} s; Python's own time:")
    for f in functions:
        print(f"  own {float(f['own_seconds']):6.3f} s  {f['function']}")
    results.record(
        "profile",
        backend=args.backend,
        accounts=args.size,
        scorecard=args.scorecard,
        scored=run.scored,
        seconds=round(total, 3),
        cpu_s=round(cpu, 3),
        postgres_cpu_s=round(postgres_cpu, 3),
        phases={k: round(v, 3) for k, v in run.timings.items()},
        waiting_s=round(waiting, 3),
        statements=statements,
        alone=[{"statement": name, "seconds": round(sec, 3)} for name, sec in alone],
        functions=[{**f, "own_seconds": round(float(f["own_seconds"]), 3)} for f in functions],
    )


def _alone(url: str, reads: list[tuple[str, Any]], backend: str) -> list[tuple[str, float]]:
    """Each read statement again, on its own (best of two), with the settings the run
    gave it (the seats join's)."""
    from healthscore.scoring.aggregate_queries import SEAT_JOIN_SETTINGS

    engine = make_engine(url)
    timings: dict[str, float] = defaultdict(float)
    with engine.connect() as connection:
        for statement, params in reads:
            name = label(statement)
            seats = "seats" in name and backend == "postgresql"
            with connection.begin():
                for setting, value in SEAT_JOIN_SETTINGS if seats else ():
                    connection.exec_driver_sql(f"SET LOCAL {setting} = {value}")
                if backend == "postgresql":
                    connection.exec_driver_sql("SET LOCAL jit = off")
                best = float("inf")
                for _ in range(2):
                    began = time.perf_counter()
                    connection.exec_driver_sql(statement, params).fetchall()
                    best = min(best, time.perf_counter() - began)
            timings[name] += best
    engine.dispose()
    return sorted(timings.items(), key=lambda item: -item[1])


if __name__ == "__main__":
    main()
