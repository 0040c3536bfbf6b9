"""idempotent_requests: Idempotency-Key replays of the JSON API's writes

Revision ID: 0018
Revises: 0017

One row per (API key, Idempotency-Key): the request's fingerprint (method, path, SHA-256
of the body) and the answer it got, kept 24 hours (``api.idempotency``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import healthscore.storage.types

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "idempotent_requests",
        sa.Column(
            "api_key_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("path", sa.String(length=2048), nullable=False),
        sa.Column("body_sha256", sa.String(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("content_type", sa.String(length=255), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", healthscore.storage.types.UTCDateTime(), nullable=False),
        sa.Column("claimed_until", healthscore.storage.types.UTCDateTime(), nullable=False),
        sa.Column("expires_at", healthscore.storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_keys.id"],
            name=op.f("fk_idempotent_requests_api_key_id_api_keys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("api_key_id", "key", name=op.f("pk_idempotent_requests")),
    )
    op.create_index(
        op.f("ix_idempotent_requests_expires_at"),
        "idempotent_requests",
        ["expires_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("idempotent_requests")
