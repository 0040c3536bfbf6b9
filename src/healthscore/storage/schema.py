"""The whole schema: every table module imported, so ``metadata`` holds every table.

Code that works over all tables (erasure, truncation, migrations) reads this
``metadata``: ``models.Base.metadata`` on its own lists only the tables of the modules
imported so far, and a table missing there would be silently skipped.
"""

from __future__ import annotations

from types import ModuleType

from sqlalchemy import MetaData

from healthscore.storage import csm_models, job_models, models

TABLE_MODULES: tuple[ModuleType, ...] = (models, job_models, csm_models)
"""Every module that declares tables on ``models.Base``."""

metadata: MetaData = models.Base.metadata
