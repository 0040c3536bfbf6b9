"""The whole schema: every table module imported, so ``metadata`` holds every table.

Code that works over all tables (erasure, truncation, migrations) reads this
``metadata``: ``models.Base.metadata`` on its own lists only the tables of the modules
imported so far, and a table missing there would be silently skipped.
"""

from __future__ import annotations

from types import ModuleType

from sqlalchemy import Index, MetaData, text

from healthscore.storage import calibration_models, case_models, csm_models, job_models, models

TABLE_MODULES: tuple[ModuleType, ...] = (
    models,
    case_models,
    job_models,
    calibration_models,
    csm_models,
)
"""Every module that declares tables on ``models.Base``."""

metadata: MetaData = models.Base.metadata

UNRESOLVED_CASE = Index(
    "ux_outreach_log_unresolved_case",
    case_models.OutreachEntry.customer_id,
    case_models.OutreachEntry.playbook,
    unique=True,
    sqlite_where=text("status <> 'resolved'"),
    postgresql_where=text("status <> 'resolved'"),
)
"""At most one unresolved case per account and playbook (``case_models.OutreachEntry``).

Declared here, with the whole schema, not on the model: SQLAlchemy checks a
``postgresql_*`` option by loading its PostgreSQL dialect and every PostgreSQL driver's
module, which a command on SQLite that reads a few tables (``healthscore show``) should not
wait for. Only the schema's definition needs the index (migration 0012 creates it; Alembic
compares the migrations with this ``metadata``); queries never name it."""
