"""mrr_changes: MRR history from Stripe subscriptions and the CSV

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import healthscore.storage.types

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mrr_changes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("stream", sa.String(length=255), nullable=False),
        sa.Column("at", healthscore.storage.types.UTCDateTime(), nullable=False),
        sa.Column("until", healthscore.storage.types.UTCDateTime(), nullable=True),
        sa.Column("mrr", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("seats", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_mrr_changes_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mrr_changes")),
        sa.UniqueConstraint("external_id", name=op.f("uq_mrr_changes_external_id")),
    )
    with op.batch_alter_table("mrr_changes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_mrr_changes_customer_stream_at", ["customer_id", "stream", "at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("mrr_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_mrr_changes_customer_stream_at")
    op.drop_table("mrr_changes")
