"""cases: an outreach entry becomes a case with a lifecycle and an audit trail

Revision ID: 0012
Revises: 0011

Outreach entries become cases (``open → acknowledged → resolved``, or ``snoozed``): the
old statuses are mapped (``in_progress`` → ``acknowledged``; ``done`` and ``dismissed``
→ ``resolved`` with that resolution), at most one case per account and playbook stays
unresolved (older duplicates the stream left behind are resolved as ``merged``), and
every case gets its opening, and any status it had reached, as ``case_events``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import healthscore.storage.types

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNRESOLVED = sa.text("status <> 'resolved'")


def upgrade() -> None:
    op.create_table(
        "case_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("at", healthscore.storage.types.UTCDateTime(), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=True),
        sa.Column("to_state", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("request_key", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["outreach_log.id"],
            name=op.f("fk_case_events_case_id_outreach_log"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_case_events_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_events")),
    )
    with op.batch_alter_table("case_events") as table:
        table.create_index(table.f("ix_case_events_at"), ["at"], unique=False)
        table.create_index(table.f("ix_case_events_case_id"), ["case_id"], unique=False)
        table.create_index(table.f("ix_case_events_customer_id"), ["customer_id"], unique=False)

    with op.batch_alter_table("outreach_log") as table:
        table.add_column(
            sa.Column("severity", sa.String(length=16), server_default="normal", nullable=False)
        )
        table.add_column(
            sa.Column("evidence", sa.JSON(), server_default=sa.text("'[]'"), nullable=False)
        )
        for name in ("last_seen_at", "cleared_at", "snoozed_until", "resolved_at"):
            table.add_column(
                sa.Column(name, healthscore.storage.types.UTCDateTime(), nullable=True)
            )
        table.add_column(sa.Column("resolution", sa.String(length=32), nullable=True))
        table.add_column(
            sa.Column(
                "previous_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        table.create_foreign_key(
            table.f("fk_outreach_log_previous_id_outreach_log"),
            "outreach_log",
            ["previous_id"],
            ["id"],
            ondelete="SET NULL",
        )

    _cases_from_entries()
    op.create_index(
        "ux_outreach_log_unresolved_case",
        "outreach_log",
        ["customer_id", "playbook"],
        unique=True,
        sqlite_where=UNRESOLVED,
        postgresql_where=UNRESOLVED,
    )


def _cases_from_entries() -> None:
    """Old statuses → case states, one unresolved case per pair, and the events so far."""
    empty = "CAST('{}' AS JSON)" if op.get_bind().dialect.name == "postgresql" else "'{}'"
    migrated = "status before cases (migration 0012): "
    op.execute(
        "INSERT INTO case_events (case_id, customer_id, kind, actor, at, from_state, to_state,"
        f" note, detail) SELECT id, customer_id, 'opened', 'system', created_at, NULL, 'open',"
        f" reason, {empty} FROM outreach_log"
    )
    op.execute(
        "INSERT INTO case_events (case_id, customer_id, kind, actor, at, from_state, to_state,"
        " note, detail) SELECT id, customer_id, CASE WHEN status = 'in_progress' THEN"
        " 'acknowledged' ELSE 'resolved' END, 'system', updated_at, 'open', CASE WHEN status ="
        f" 'in_progress' THEN 'acknowledged' ELSE 'resolved' END, '{migrated}' || status, {empty}"
        " FROM outreach_log WHERE status IN ('in_progress', 'done', 'dismissed')"
    )
    op.execute("UPDATE outreach_log SET last_seen_at = created_at")
    op.execute("UPDATE outreach_log SET status = 'acknowledged' WHERE status = 'in_progress'")
    op.execute(
        "UPDATE outreach_log SET resolution = status, resolved_at = updated_at,"
        " status = 'resolved' WHERE status IN ('done', 'dismissed')"
    )
    # The stream left several open entries per account and playbook: keep the newest.
    stale = (
        "status <> 'resolved' AND id NOT IN (SELECT MAX(id) FROM outreach_log"
        " WHERE status <> 'resolved' GROUP BY customer_id, playbook)"
    )
    op.execute(
        "INSERT INTO case_events (case_id, customer_id, kind, actor, at, from_state, to_state,"
        " note, detail) SELECT id, customer_id, 'resolved', 'system', updated_at, status,"
        f" 'resolved', 'merged into the newest case of this playbook (migration 0012)', {empty}"
        f" FROM outreach_log WHERE {stale}"
    )
    op.execute(
        "UPDATE outreach_log SET resolution = 'merged', resolved_at = updated_at,"
        f" status = 'resolved' WHERE {stale}"
    )


def downgrade() -> None:
    op.drop_index(
        "ux_outreach_log_unresolved_case",
        table_name="outreach_log",
        sqlite_where=UNRESOLVED,
        postgresql_where=UNRESOLVED,
    )
    op.execute("UPDATE outreach_log SET status = 'in_progress' WHERE status = 'acknowledged'")
    op.execute("UPDATE outreach_log SET status = 'open' WHERE status = 'snoozed'")
    op.execute(
        "UPDATE outreach_log SET status = CASE WHEN resolution = 'dismissed' THEN 'dismissed'"
        " ELSE 'done' END WHERE status = 'resolved'"
    )
    with op.batch_alter_table("outreach_log") as table:
        table.drop_constraint(
            table.f("fk_outreach_log_previous_id_outreach_log"), type_="foreignkey"
        )
        for name in (
            "previous_id",
            "resolution",
            "resolved_at",
            "snoozed_until",
            "cleared_at",
            "last_seen_at",
            "evidence",
            "severity",
        ):
            table.drop_column(name)
    with op.batch_alter_table("case_events") as table:
        table.drop_index(table.f("ix_case_events_customer_id"))
        table.drop_index(table.f("ix_case_events_case_id"))
        table.drop_index(table.f("ix_case_events_at"))
    op.drop_table("case_events")
