"""activity bitmaps: which days a user logged in / a feature was used, 64 days a row

Revision ID: 0008
Revises: 0007

``daily_active_users`` (one row per account, user and day) becomes ``user_activity``
(one row per account, user and 64 days; a bit per day), and distinct features get the
same layout in ``feature_activity``. Existing roll-ups are converted, so scores are the
same before and after.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from healthscore.storage.rollups import PERIOD, activity_sql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _activity_table(name: str, key: str) -> None:
    op.create_table(
        name,
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column(key, sa.String(length=255), nullable=False),
        sa.Column("period", sa.Integer(), nullable=False),
        sa.Column("days", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f(f"fk_{name}_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("customer_id", key, "period", name=op.f(f"pk_{name}")),
        # SQLite: the table is its primary key, so a scan reads ``days`` without lookups.
        sqlite_with_rowid=False,
    )


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    _activity_table("user_activity", "user_id")
    _activity_table("feature_activity", "feature")
    op.execute(
        activity_sql(
            dialect,
            "user_activity",
            "user_id",
            "SELECT customer_id, day, user_id FROM daily_active_users",
        )
    )
    op.execute(
        activity_sql(
            dialect,
            "feature_activity",
            "feature",
            "SELECT customer_id, day, feature FROM daily_features",
        )
    )
    op.drop_table("daily_active_users")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "daily_active_users",
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_daily_active_users_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "customer_id", "user_id", "day", name=op.f("pk_daily_active_users")
        ),
    )
    number = f"period * {PERIOD} + bit"
    day = (
        f"DATE '1970-01-01' + ({number})"
        if dialect == "postgresql"
        else f"date('1970-01-01', '+' || ({number}) || ' days')"
    )
    op.execute(
        "INSERT INTO daily_active_users (customer_id, user_id, day) "
        f"WITH RECURSIVE bits(bit) AS (SELECT 0 UNION ALL SELECT bit + 1 FROM bits "
        f"WHERE bit < {PERIOD - 1}) "
        f"SELECT customer_id, user_id, {day} FROM user_activity, bits "
        "WHERE (days >> bit) & 1 = 1"
    )
    op.drop_table("feature_activity")
    op.drop_table("user_activity")
