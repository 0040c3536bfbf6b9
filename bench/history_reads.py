"""What the nightly run reads about every account's past, on a base with a year of it.

The rescore compares each account with its trend reference (its newest history row one
trend window back); the playbooks look at its previous tier (its newest history row
before today), its score some days ago, and its last login (the newest day of the
``daily_sessions`` roll-up). The rescore also reads the business records its measures
without a window need: tickets still open, seats, the MRR and the CSM's sentiment in
force. ``bench.run``'s datasets hold 90 days of records and one day of score history,
where a base in production keeps years of both: this bench builds its own base
(``ACCOUNTS`` accounts, ``DAYS`` days of history, daily logins, tickets, seats added and
removed, MRR changes and sentiment entries, kept in ``.bench/`` for SQLite and a
``bench_history_…`` schema on PostgreSQL) and times those reads for every account at
once, as the nightly run asks them (the business records with the default scorecard's
aggregates), best of ``--repeat``. ``--src DIR`` measures another checkout's code in a
child process.

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
from healthscore.scoring.aggregate_queries import aggregate_query
from healthscore.scoring.requirements import required_aggregates
from healthscore.scoring.scorecard_loading import load_scorecard
from healthscore.storage import models as m
from healthscore.storage.database import make_engine, make_sessionmaker, upgrade

TODAY = date(2026, 11, 1)
AS_OF = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
BASE_VERSION = 2
"""Bumped when the base's contents change: a new version builds a new base."""


def database_url(backend: str, accounts: int, days: int) -> str:
    return named_database_url(backend, f"bench_history_{accounts}_{days}d_v{BASE_VERSION}")


def ensure_base(engine: Engine, accounts: int, days: int) -> None:
    """The base, built once: accounts, a history row per account and day, and a login
    roll-up row on two days in three (one account in 50 with none in the last 120 days);
    per account 20 seats (6 removed during the period), a ticket every 15 days (resolved
    2 days later), an MRR change and a sentiment entry every 30 days (each replacing the
    last). Built set-based in the database (``generate_series`` on PostgreSQL, recursive
    CTEs on SQLite), in the formats the product stores."""
    upgrade(engine)
    with engine.connect() as connection:
        have = connection.scalar(select(func.count()).select_from(m.HealthScoreHistory))
    if have == accounts * days:
        return
    print(f"  building {accounts:,} accounts x {days} days of history …", flush=True)
    sql = _POSTGRESQL if engine.dialect.name == "postgresql" else _SQLITE
    with engine.begin() as connection:
        for table in (*BUSINESS_TABLES, "daily_sessions", "health_score_history", "customers"):
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
    "INSERT INTO users (customer_id, user_id, created_at, removed_at) "
    "SELECT 'acct-' || lpad(n::text, 6, '0'), 'user-' || k, "
    "CAST(:today AS date) - (:days + 30) + k, "
    "CASE WHEN k < 6 THEN CAST(:today AS date) - (1 + (n + k * 53) % :days) END "
    "FROM generate_series(0, :accounts - 1) n, generate_series(0, 19) k",
    "INSERT INTO support_tickets (customer_id, ticket_id, opened_at, resolved_at, severity, "
    "rating, subject) "
    "SELECT 'acct-' || lpad(n::text, 6, '0'), 'ticket-' || back, "
    "CAST(:today AS date) - back + interval '10 hours', CASE WHEN back > 2 THEN "
    "CAST(:today AS date) - back + interval '58 hours' END, "
    "(ARRAY['low','normal','high','urgent'])[1 + (n + back) % 4], "
    "CASE WHEN (n + back) % 2 = 0 THEN 1 + (n + back) % 5 END, '' "
    "FROM generate_series(0, :accounts - 1) n, generate_series(1, :days) back "
    "WHERE (n + back) % 15 = 0",
    "INSERT INTO mrr_changes (customer_id, stream, at, until, mrr, source, external_id) "
    "SELECT 'acct-' || lpad(n::text, 6, '0'), '', CAST(:today AS date) - back, "
    "CASE WHEN back > 30 THEN CAST(:today AS date) - back + 30 END, 100 + (n + back) % 50, "
    "'api', 'acct-' || n || ':' || back "
    "FROM generate_series(0, :accounts - 1) n, generate_series(1, :days) back "
    "WHERE (n + back) % 30 = 0",
    "INSERT INTO csm_sentiments (customer_id, value, note, author, recorded_at, valid_until, "
    "superseded_at) "
    "SELECT 'acct-' || lpad(n::text, 6, '0'), 1 + 2 * ((n + back) % 3), '', 'bench', "
    "CAST(:today AS date) - back, CAST(:today AS date) - back + 45, "
    "CASE WHEN back > 30 THEN CAST(:today AS date) - back + 30 END "
    "FROM generate_series(0, :accounts - 1) n, generate_series(1, :days) back "
    "WHERE (n + back) % 30 = 0",
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
    "WITH RECURSIVE a(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM a WHERE n < :accounts - 1), "
    "u(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM u WHERE k < 19) "
    "INSERT INTO users (customer_id, user_id, created_at, removed_at) "
    f"SELECT {_SQLITE_ID}, 'user-' || k, "
    "datetime(:today, '-' || (:days + 30 - k) || ' days') || '.000000', "
    "CASE WHEN k < 6 THEN datetime(:today, '-' || (1 + (n + k * 53) % :days) || ' days') "
    "|| '.000000' END FROM a, u",
    _SQLITE_NUMBERS + "INSERT INTO support_tickets (customer_id, ticket_id, opened_at, "
    "resolved_at, severity, rating, subject) "
    f"SELECT {_SQLITE_ID}, 'ticket-' || back, "
    f"datetime({_SQLITE_DAY}, '+10 hours') || '.000000', CASE WHEN back > 2 THEN "
    f"datetime({_SQLITE_DAY}, '+58 hours') || '.000000' END, "
    "CASE (n + back) % 4 WHEN 0 THEN 'low' WHEN 1 THEN 'normal' WHEN 2 THEN 'high' "
    "ELSE 'urgent' END, CASE WHEN (n + back) % 2 = 0 THEN 1 + (n + back) % 5 END, '' "
    "FROM a, d WHERE (n + back) % 15 = 0",
    _SQLITE_NUMBERS + "INSERT INTO mrr_changes (customer_id, stream, at, until, mrr, source, "
    "external_id) "
    f"SELECT {_SQLITE_ID}, '', {_SQLITE_DAY} || ' 00:00:00.000000', CASE WHEN back > 30 THEN "
    f"datetime({_SQLITE_DAY}, '+30 days') || '.000000' END, 100 + (n + back) % 50, 'api', "
    "'acct-' || n || ':' || back FROM a, d WHERE (n + back) % 30 = 0",
    _SQLITE_NUMBERS + "INSERT INTO csm_sentiments (customer_id, value, note, author, "
    "recorded_at, valid_until, superseded_at) "
    f"SELECT {_SQLITE_ID}, 1 + 2 * ((n + back) % 3), '', 'bench', "
    f"{_SQLITE_DAY} || ' 00:00:00.000000', datetime({_SQLITE_DAY}, '+45 days') || '.000000', "
    f"CASE WHEN back > 30 THEN datetime({_SQLITE_DAY}, '+30 days') || '.000000' END "
    "FROM a, d WHERE (n + back) % 30 = 0",
]
BUSINESS_TABLES = ("users", "support_tickets", "mrr_changes", "csm_sentiments")
BUSINESS_SOURCES = ("tickets", "users", "mrr", "sentiment")
"""The sources the default scorecard reads with measures without a window."""


def business_read(source: str) -> Callable[[Any], dict[str, Any]]:
    """The rescore's read of ``source``: the default scorecard's aggregates of it, for
    every account, each account's row."""
    card = load_scorecard("default")
    wanted = sorted((a for a in required_aggregates(card) if a.source == source), key=str)

    def read(session: Any) -> dict[str, Any]:
        dialect = session.get_bind().dialect.name
        query = aggregate_query(source, wanted, AS_OF, dialect=dialect)  # type: ignore[arg-type]
        return {row[0]: row[1:] for row in session.execute(query)}

    return read


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
        **{f"{source}_records": business_read(source) for source in BUSINESS_SOURCES},
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
    past = ("trend_reference", "tier_before", "score_7_days_ago", "last_login")
    figures["total_s"] = round(sum(figures[f"{name}_s"] for name in past), 3)
    business = [figures[f"{source}_records_s"] for source in BUSINESS_SOURCES]
    figures["records_total_s"] = round(sum(business), 3)
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
        f"last login {figures['last_login_s']} s; business records: "
        + ", ".join(f"{source} {figures[f'{source}_records_s']} s" for source in BUSINESS_SOURCES)
        + f" (best of {args.repeat})"
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
