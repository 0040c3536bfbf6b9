"""data quality: what ingest refused, counted for the data-quality view

Revision ID: 0010
Revises: 0009

Two small counter tables written by ingest in the request's own transaction:
events refused for an unknown account (per source and account key) and client clocks
seen wrong (per source, kind and day: timestamps refused as in the future, Segment
``sentAt`` far from the receive time).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import healthscore.storage.types

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ingest_unknown_accounts",
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("account_key", sa.String(length=255), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("first_seen", healthscore.storage.types.UTCDateTime(), nullable=False),
        sa.Column("last_seen", healthscore.storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source", "account_key", name=op.f("pk_ingest_unknown_accounts")),
    )
    op.create_table(
        "ingest_clock_skew",
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("worst_seconds", sa.Double(), nullable=False),
        sa.Column("last_seen", healthscore.storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source", "kind", "day", name=op.f("pk_ingest_clock_skew")),
    )


def downgrade() -> None:
    op.drop_table("ingest_clock_skew")
    op.drop_table("ingest_unknown_accounts")
