"""Build a large PostgreSQL benchmark dataset from copies of a smaller one, in SQL.

The demo generator writes 100,000 accounts in about an hour and a half on SQLite (then
half an hour of COPY into PostgreSQL), or 2 hours straight into PostgreSQL (the roll-ups
are upserted batch by batch). A rescore's cost depends on the number of accounts and of
rows per account, not on the rows being different: ``--copies 5`` of the 20,000-account
dataset give 100,000 accounts with the same distribution of activity, archetypes and
churn, each copy under its own ids (``cust_00001``, ``cust_00001-r1``, …), in minutes.
``--accounts N`` instead of ``--copies`` makes N accounts even when N is not a multiple of
the source: the last copy takes the source's first accounts only (the first N accounts
of a generated base are those of a smaller base generated the same way).

    python -m bench.replicate --source 20000 --copies 5   # → schema bench_100000_90d_g3
    python -m bench.replicate --source 20000 --accounts 250000   # 12 copies + 10,000
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta

from sqlalchemy import text

from bench.run import NOW, database_url, dataset_name
from healthscore.storage.database import make_engine, upgrade
from healthscore.storage.partitions import ensure_partitions

# Tables of a generated dataset, parents first, and the columns that carry an id which
# must differ between copies (the account id everywhere; Stripe ids are unique).
TABLES: dict[str, list[str]] = {
    "customers": ["id", "stripe_customer_id"],
    "users": ["customer_id"],
    "sessions": ["customer_id"],
    "feature_usage": ["customer_id"],
    "api_usage": ["customer_id"],
    "engagement_events": ["customer_id"],
    "payments": ["customer_id", "external_id"],
    "mrr_changes": ["customer_id", "external_id"],
    "support_tickets": ["customer_id"],
    "nps_responses": ["customer_id"],
    "daily_sessions": ["customer_id"],
    "user_activity": ["customer_id"],
    "feature_activity": ["customer_id"],
    "daily_features": ["customer_id"],
    "daily_api_usage": ["customer_id"],
}
GENERATED = {"id"}
"""Surrogate keys the target numbers itself (identity columns), except customers.id."""


def replicate(source_accounts: int, accounts: int, days: int = 90) -> str:
    """Make the PostgreSQL dataset of ``accounts`` accounts from copies of the generated
    one of ``source_accounts`` (which must exist), unless it is there; its URL."""
    source = dataset_name(source_accounts, days)
    target_url = database_url("postgresql", accounts, days)
    copies, rest = divmod(accounts, source_accounts)
    # (copy number, the source's accounts it takes: None for all of them)
    plan: list[tuple[int, int | None]] = [(copy, None) for copy in range(copies)]
    if rest:
        plan.append((copies, rest))
    engine = make_engine(target_url)
    upgrade(engine)
    with engine.connect() as connection:
        existing = connection.execute(text("SELECT count(*) FROM customers")).scalar()
        last_id = connection.execute(
            text(f"SELECT id FROM {source}.customers ORDER BY id LIMIT 1 OFFSET :n"),
            {"n": (rest or source_accounts) - 1},
        ).scalar()
    if existing == accounts:
        print(f"  {existing:,} accounts already there")
        engine.dispose()
        return target_url
    # In a transaction of its own: it takes the database's partition lock, which the
    # copy (minutes) would otherwise hold, blocking every migration of another schema.
    with engine.begin() as connection:
        ensure_partitions(connection, now=NOW, first_month=(NOW - timedelta(days=days)).date())
    with engine.begin() as connection:
        # The copies satisfy every foreign key by construction: skip the per-row checks.
        connection.execute(text("SET LOCAL session_replication_role = replica"))
        for table in reversed(TABLES):
            connection.execute(text(f'DELETE FROM "{table}"'))
        for table, renamed in TABLES.items():
            columns = [
                name
                for (name,) in connection.execute(
                    text(
                        "SELECT column_name FROM information_schema.columns "
                        "WHERE table_schema = :schema AND table_name = :table "
                        "ORDER BY ordinal_position"
                    ),
                    {"schema": source, "table": table},
                )
                if not (name in GENERATED and table != "customers")
            ]
            account = "id" if table == "customers" else "customer_id"
            for copy, first in plan:
                started = time.perf_counter()
                where = f' WHERE "{account}" <= :last' if first else ""
                suffix = f"-r{copy}" if copy else ""
                values = ", ".join(
                    f"\"{c}\" || '{suffix}'" if c in renamed and suffix else f'"{c}"'
                    for c in columns
                )
                names = ", ".join(f'"{c}"' for c in columns)
                count = connection.execute(
                    text(
                        f'INSERT INTO "{table}" ({names}) '
                        f'SELECT {values} FROM {source}."{table}"{where}'
                    ),
                    {"last": last_id} if first else {},
                ).rowcount
                print(
                    f"  {table} copy {copy}: {count:,} rows in {time.perf_counter() - started:.0f}s"
                )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    return target_url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", type=int, default=20_000, help="accounts of the source")
    how_many = parser.add_mutually_exclusive_group()
    how_many.add_argument("--copies", type=int, default=5)
    how_many.add_argument("--accounts", type=int, help="accounts in all (default: copies)")
    parser.add_argument("--days", type=int, default=90)
    args = parser.parse_args()
    replicate(args.source, args.accounts or args.source * args.copies, args.days)


if __name__ == "__main__":
    main()
