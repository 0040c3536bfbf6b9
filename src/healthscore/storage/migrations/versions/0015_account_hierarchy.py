"""customers.parent_id: account hierarchies

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("customers") as table:
        table.add_column(sa.Column("parent_id", sa.String(length=64), nullable=True))
        table.create_index(table.f("ix_customers_parent_id"), ["parent_id"], unique=False)
        table.create_foreign_key(
            table.f("fk_customers_parent_id_customers"),
            "customers",
            ["parent_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("customers") as table:
        table.drop_constraint(table.f("fk_customers_parent_id_customers"), type_="foreignkey")
        table.drop_index(table.f("ix_customers_parent_id"))
        table.drop_column("parent_id")
