"""What the nightly run reads about every account's past, on a base with a year of it.

The rescore compares each account with its trend reference (its newest history row one
trend window back); the playbooks look at its previous tier (its newest history row
before today), its score some days ago, and its last login (the newest day of the
``daily_sessions`` roll-up). ``bench.run``'s datasets hold one day of score history,
where a base in production holds one row per account per day it has been scored: this
bench builds its own base (``ACCOUNTS`` accounts, ``DAYS`` days of history and of daily
logins, kept in ``.bench/`` for SQLite and a ``bench_history_…`` schema on PostgreSQL)
and times those reads for every account at once, as the nightly run asks them, best of
``--repeat``. ``--src DIR`` measures another checkout's code in a child process.

    python -m bench.history_reads [--backend postgresql|sqlite] [--accounts 20000]
        [--days 365] [--repeat 3] [--src DIR --label before]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select, text

from bench import results
from bench.run import analyze_base, named_database_url
from healthscore.playbooks import repository
from healthscore.scoring import repository as scoring_repository
from healthscore.storage import models as m
from healthscore.storage.database import make_engine, make_sessionmaker, upgrade

TODAY = date(2026, 11, 1)
AS_OF = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
BASE_VERSION = 1
"""Bumped when the base's contents change: a new version builds a new base."""


def database_url(backend: str, accounts: int, days: int) -> str:
    return named_database_url(backend, f"bench_history_{accounts}_{days}d_v{BASE_VERSION}")


def ensure_base(engine: Engine, accounts: int, days: int) -> None:
    """The base, built once: accounts, a history row per account and day, and a login
    roll-up row on two days in three (one account in 50 with none in the last 120 days).
    Built set-based in the database (``generate_series`` on PostgreSQL, a recursive
    CTE on SQLite), in the formats the product stores."""
    upgrade(engine)
    with engine.connect() as connection:
        have = connection.scalar(select(func.count()).select_from(m.HealthScoreHistory))
    if have == accounts * days:
        return
    print(f"  building {accounts:,} accounts x {days} days of history …", flush=True)
    sql = _POSTGRESQL if engine.dialect.name == "postgresql" else _SQLITE
    with engine.begin() as connection:
        for table in ("daily_sessions", "health_score_history", "customers"):
            connection.execute(text(f"DELETE FROM {table}"))
        for statement in sql:
            connection.execute(
                text(statement), {"accounts": accounts, "days": days, "today": TODAY}
            )
    analyze_base(engine)


_TIERS = "(ARRAY['healthy','monitor','at_risk','critical'])[1 + (n + back / 30) % 4]"
_POSTGRESQL = [
    "INSERT INTO customers (id, name, plan, segment, mrr, created_at, traits) "
    "SELECT 'acct-' || lpad(n::text, 6, '0'), 'acct-' || lpad(n::text, 6, '0'), '', '', 0, "
    "CAST(:today AS date) - (:days + 30), '{}' FROM generate_series(0, :accounts - 1) n",
    "INSERT INTO health_score_history "
    "(customer_id, day, as_of, score, tier, trend, components, contributions, scorecard) "
    "SELECT 'acct-' || lpad(n::text, 6, '0'), CAST(:today AS date) - back, "
    "CAST(:today AS date) - back, (n * 7 + back) % 101, " + _TIERS + ", 'stable', "
    "'{\"usage\": 50.0}', '{\"logins\": 10.0}', 'bench' "
    "FROM generate_series(0, :accounts - 1) n, generate_series(1, :days) back",
    "INSERT INTO daily_sessions (customer_id, day, logins, last_at) "
    "SELECT 'acct-' || lpad(n::text, 6, '0'), CAST(:today AS date) - back, 1 + n % 5, "
    "CAST(:today AS date) - back + make_interval(secs => (n * 97) % 86000) "
    "FROM generate_series(0, :accounts - 1) n, generate_series(1, :days) back "
    "WHERE (n + back) % 3 <> 0 AND (n % 50 <> 0 OR back > 120)",
]
_SQLITE_NUMBERS = (
    "WITH RECURSIVE a(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM a WHERE n < :accounts - 1), "
    "d(back) AS (SELECT 1 UNION ALL SELECT back + 1 FROM d WHERE back < :days) "
)
_SQLITE_ID = "'acct-' || printf('%06d', n)"
_SQLITE_DAY = "date(:today, '-' || back || ' days')"
_SQLITE = [
    "WITH RECURSIVE a(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM a WHERE n < :accounts - 1) "
    "INSERT INTO customers (id, name, plan, segment, mrr, created_at, traits) "
    f"SELECT {_SQLITE_ID}, {_SQLITE_ID}, '', '', 0, "
    "datetime(:today, '-' || (:days + 30) || ' days') || '.000000', '{}' FROM a",
    _SQLITE_NUMBERS + "INSERT INTO health_score_history "
    "(customer_id, day, as_of, score, tier, trend, components, contributions, scorecard) "
    f"SELECT {_SQLITE_ID}, {_SQLITE_DAY}, {_SQLITE_DAY} || ' 00:00:00.000000', "
    "(n * 7 + back) % 101, "
    "CASE (n + back / 30) % 4 WHEN 0 THEN 'healthy' WHEN 1 THEN 'monitor' "
    "WHEN 2 THEN 'at_risk' ELSE 'critical' END, 'stable', "
    "'{\"usage\": 50.0}', '{\"logins\": 10.0}', 'bench' FROM a, d",
    _SQLITE_NUMBERS + "INSERT INTO daily_sessions (customer_id, day, logins, last_at) "
    f"SELECT {_SQLITE_ID}, {_SQLITE_DAY}, 1 + n % 5, "
    f"datetime({_SQLITE_DAY}, '+' || ((n * 97) % 86000) || ' seconds') || '.000000' "
    "FROM a, d WHERE (n + back) % 3 <> 0 AND (n % 50 <> 0 OR back > 120)",
]


def measure(backend: str, accounts: int, days: int, repeat: int) -> dict[str, float]:
    engine = make_engine(database_url(backend, accounts, days))
    ensure_base(engine, accounts, days)
    sessions = make_sessionmaker(engine)
    with sessions() as session:
        ids = list(session.scalars(select(m.Customer.id)))
    reads: dict[str, Callable[[Any], dict[str, Any]]] = {
        "trend_reference": lambda s: scoring_repository.previous_scores(
            s, earliest=TODAY - timedelta(days=14), latest=TODAY - timedelta(days=7)
        ),
        "tier_before": lambda s: repository.tier_before(s, ids, TODAY),
        "score_7_days_ago": lambda s: repository.score_on_or_before(
            s, ids, TODAY - timedelta(days=7)
        ),
        "last_login": lambda s: repository.last_login(s, ids, AS_OF),
    }
    figures: dict[str, float] = {}
    for name, read in reads.items():
        best = float("inf")
        for _ in range(repeat):
            with sessions() as session:
                started = time.perf_counter()
                found = read(session)
                best = min(best, time.perf_counter() - started)
        assert len(found) > accounts // 2, (name, len(found))  # the reads found the rows
        figures[f"{name}_s"] = round(best, 3)
    figures["total_s"] = round(sum(figures.values()), 3)
    engine.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="postgresql", choices=["postgresql", "sqlite"])
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    results.add_checkout_options(parser)
    args = parser.parse_args()
    sizes = (args.backend, args.accounts, args.days, args.repeat)
    if args.child:
        print(json.dumps(measure(*sizes)))
        return
    if args.src is None:
        figures = measure(*sizes)
    else:
        options = ["--backend", args.backend, "--accounts", str(args.accounts)]
        options += ["--days", str(args.days), "--repeat", str(args.repeat)]
        figures = results.measure_in_checkout(args.src, "bench.history_reads", options)
    where = results.checkout(args.src, args.label)
    print(
        f"{args.backend}, {args.accounts:,} accounts x {args.days} days of history "
        f"({where['label']}): trend reference {figures['trend_reference_s']} s, "
        f"previous tier {figures['tier_before_s']} s, "
        f"score 7 days ago {figures['score_7_days_ago_s']} s, "
        f"last login {figures['last_login_s']} s (best of {args.repeat})"
    )
    results.record(
        "history_reads",
        **where,
        backend=args.backend,
        accounts=args.accounts,
        days=args.days,
        **figures,
    )


if __name__ == "__main__":
    main()
