"""lifecycle and confidence: renewal dates on accounts; stage and confidence on scores

Revision ID: 0009
Revises: 0008

A score now says where the account is in its life (onboarding, adopting, mature, renewal
window) and how much of it rests on enough data (confidence, 0-1). Rows written before
have neither (NULL): they are shown as unknown, never guessed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import healthscore.storage.types

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("customers") as table:
        table.add_column(
            sa.Column("renews_at", healthscore.storage.types.UTCDateTime(), nullable=True)
        )
    for name in ("health_scores", "health_score_history"):
        with op.batch_alter_table(name) as table:
            table.add_column(sa.Column("stage", sa.String(length=16), nullable=True))
            table.add_column(sa.Column("confidence", sa.Double(), nullable=True))


def downgrade() -> None:
    for name in ("health_score_history", "health_scores"):
        with op.batch_alter_table(name) as table:
            table.drop_column("confidence")
            table.drop_column("stage")
    with op.batch_alter_table("customers") as table:
        table.drop_column("renews_at")
