"""daily roll-ups of raw events; raw events partitioned by month on PostgreSQL

Revision ID: 0006
Revises: 0005

Existing raw events are rolled up here, so scores are the same before and after.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import healthscore.storage.types
from healthscore.storage.partitions import PARTITIONED, partition_table

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLL_UP_EXISTING = [
    "INSERT INTO daily_sessions (customer_id, day, logins, last_at) "
    "SELECT customer_id, date(ts), count(*), max(ts) FROM sessions "
    "GROUP BY customer_id, date(ts)",
    "INSERT INTO daily_active_users (customer_id, day, user_id) "
    "SELECT DISTINCT customer_id, date(ts), user_id FROM sessions "
    "WHERE user_id IS NOT NULL AND user_id <> ''",
    "INSERT INTO daily_features (customer_id, day, feature, events) "
    "SELECT customer_id, date(ts), feature, count(*) FROM feature_usage "
    "GROUP BY customer_id, date(ts), feature",
    "INSERT INTO daily_api_usage (customer_id, day, calls) "
    "SELECT customer_id, date(ts), sum(calls) FROM api_usage GROUP BY customer_id, date(ts)",
]


def _customer_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["customer_id"],
        ["customers.id"],
        name=op.f(f"fk_{table}_customer_id_customers"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "daily_sessions",
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("logins", sa.Integer(), nullable=False),
        sa.Column("last_at", healthscore.storage.types.UTCDateTime(), nullable=False),
        _customer_fk("daily_sessions"),
        sa.PrimaryKeyConstraint("customer_id", "day", name=op.f("pk_daily_sessions")),
    )
    op.create_table(
        "daily_active_users",
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        _customer_fk("daily_active_users"),
        # Customer, then user, then day: distinct users stream out of the key in order.
        sa.PrimaryKeyConstraint(
            "customer_id", "user_id", "day", name=op.f("pk_daily_active_users")
        ),
    )
    op.create_table(
        "daily_features",
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("feature", sa.String(length=255), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        _customer_fk("daily_features"),
        sa.PrimaryKeyConstraint("customer_id", "feature", "day", name=op.f("pk_daily_features")),
    )
    op.create_table(
        "daily_api_usage",
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        _customer_fk("daily_api_usage"),
        sa.PrimaryKeyConstraint("customer_id", "day", name=op.f("pk_daily_api_usage")),
    )
    for statement in ROLL_UP_EXISTING:
        op.execute(statement)
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        for table in PARTITIONED:
            partition_table(connection, table)


def downgrade() -> None:
    for table in ("daily_api_usage", "daily_features", "daily_active_users", "daily_sessions"):
        op.drop_table(table)
    # Partitioned raw tables stay partitioned: they work with every earlier revision.
