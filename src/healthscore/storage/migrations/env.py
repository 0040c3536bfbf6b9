"""Alembic environment: runs with the engine handed over by ``database.upgrade``.

Run standalone (``alembic -c alembic.ini upgrade head``) it reads HEALTHSCORE_DATABASE_URL.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from healthscore.settings import get_settings
from healthscore.storage import schema
from healthscore.storage.database import make_engine

config = context.config
engine = config.attributes.get("engine")
if not isinstance(engine, Engine):
    engine = make_engine(get_settings().database_url)

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=schema.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
