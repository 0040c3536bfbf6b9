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
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # SQLite alters a table by rebuilding it (create, copy, drop the old, rename). With
        # foreign keys enforced, dropping the old table would cascade-delete every row that
        # points at it (customers: all facts and cases). Off for the migration (effective:
        # no transaction has started yet), checked and back on after it.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    context.configure(
        connection=connection,
        target_metadata=schema.metadata,
        render_as_batch=sqlite,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
    if sqlite:
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()
        if broken:
            raise RuntimeError(f"the migration left rows pointing nowhere: {broken[:5]}")
