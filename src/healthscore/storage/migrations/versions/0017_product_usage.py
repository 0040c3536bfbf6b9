"""product on product events, product_scores: per-product health

Revision ID: 0017
Revises: 0016

Sessions, feature uses and API calls may name the product they are about (NULL: none,
as every row before). Adding a nullable column is a catalogue change on both databases;
on PostgreSQL the raw tables may be partitioned (0006) and the column added to the
parent reaches every partition. ``product_scores`` keeps the latest score per account
and product (``docs/products.md``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import healthscore.storage.types

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


PRODUCT_EVENT_TABLES = ("sessions", "feature_usage", "api_usage")


def upgrade() -> None:
    for table in PRODUCT_EVENT_TABLES:
        op.add_column(table, sa.Column("product", sa.String(length=64), nullable=True))
    op.create_table(
        "product_scores",
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("product", sa.String(length=64), nullable=False),
        sa.Column("as_of", healthscore.storage.types.UTCDateTime(), nullable=False),
        sa.Column("score", sa.SmallInteger(), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("share", sa.Double(), nullable=False),
        sa.Column("signals", sa.JSON(), nullable=False),
        sa.Column("confidence", sa.Double(), nullable=False),
        sa.Column("scorecard", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_product_scores_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("customer_id", "product", name=op.f("pk_product_scores")),
    )


def downgrade() -> None:
    op.drop_table("product_scores")
    for table in PRODUCT_EVENT_TABLES:
        op.drop_column(table, "product")
