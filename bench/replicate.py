"""Build a large PostgreSQL benchmark dataset from copies of a smaller one, in SQL.

The demo generator writes 100,000 accounts in about an hour and a half on SQLite (then
half an hour of COPY into PostgreSQL), or 2 hours straight into PostgreSQL (the roll-ups
are upserted batch by batch). A rescore's cost depends on the number of accounts and of
rows per account, not on the rows being different: ``--copies 5`` of the 20,000-account
dataset give 100,000 accounts with the same distribution of activity, archetypes and
churn, each copy under its own ids (``cust_00001``, ``cust_00001-r1``, …), in minutes.

    python -m bench.replicate --source 20000 --copies 5   # → schema bench_100000_90d_g2
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", type=int, default=20_000, help="accounts of the source")
    parser.add_argument("--copies", type=int, default=5)
    parser.add_argument("--days", type=int, default=90)
    args = parser.parse_args()
    source = dataset_name(args.source, args.days)
    target_url = database_url("postgresql", args.source * args.copies, args.days)
    engine = make_engine(target_url)
    upgrade(engine)
    with engine.connect() as connection:
        existing = connection.execute(text("SELECT count(*) FROM customers")).scalar()
    if existing == args.source * args.copies:
        print(f"  {existing:,} accounts already there")
        engine.dispose()
        return
    with engine.begin() as connection:
        # The copies satisfy every foreign key by construction: skip the per-row checks.
        connection.execute(text("SET LOCAL session_replication_role = replica"))
        ensure_partitions(connection, now=NOW, first_month=(NOW - timedelta(days=args.days)).date())
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
            for copy in range(args.copies):
                started = time.perf_counter()
                suffix = f"-r{copy}" if copy else ""
                values = ", ".join(
                    f"\"{c}\" || '{suffix}'" if c in renamed and suffix else f'"{c}"'
                    for c in columns
                )
                names = ", ".join(f'"{c}"' for c in columns)
                count = connection.execute(
                    text(f'INSERT INTO "{table}" ({names}) SELECT {values} FROM {source}."{table}"')
                ).rowcount
                print(
                    f"  {table} copy {copy}: {count:,} rows in {time.perf_counter() - started:.0f}s"
                )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
    engine.dispose()


if __name__ == "__main__":
    main()
