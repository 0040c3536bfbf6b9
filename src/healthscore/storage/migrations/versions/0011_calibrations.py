"""calibrations: a score's probability of churn, fitted and judged by ``healthscore tune``

Revision ID: 0011
Revises: 0010

One row per scorecard (identity and digest of its recipe), horizon (30 or 90 days) and
tuning run: the fitted score → probability mapping, the training and validation periods
it was fitted and judged on, its Brier score next to the base rate's, the reliability
bins, and whether it is validated (only validated rows are ever shown).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import healthscore.storage.types

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    moment = healthscore.storage.types.UTCDateTime
    op.create_table(
        "calibrations",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("created_at", moment(), nullable=False),
        sa.Column("scorecard", sa.String(length=128), nullable=False),
        sa.Column("scorecard_digest", sa.String(length=64), nullable=False),
        sa.Column("horizon_days", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("mapping", sa.JSON(), nullable=False),
        sa.Column("train_from", moment(), nullable=False),
        sa.Column("train_until", moment(), nullable=False),
        sa.Column("validate_from", moment(), nullable=False),
        sa.Column("validate_until", moment(), nullable=False),
        sa.Column("months_of_history", sa.Double(), nullable=False),
        sa.Column("brier", sa.Double(), nullable=True),
        sa.Column("brier_base_rate", sa.Double(), nullable=True),
        sa.Column("reliability", sa.JSON(), nullable=False),
        sa.Column("validated", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("statistics", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calibrations")),
    )
    with op.batch_alter_table("calibrations") as table:
        table.create_index(table.f("ix_calibrations_created_at"), ["created_at"], unique=False)
        table.create_index(table.f("ix_calibrations_scorecard"), ["scorecard"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("calibrations") as table:
        table.drop_index(table.f("ix_calibrations_scorecard"))
        table.drop_index(table.f("ix_calibrations_created_at"))
    op.drop_table("calibrations")
