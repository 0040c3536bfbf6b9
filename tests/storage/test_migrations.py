"""The migrations build exactly the schema the models declare, on SQLite and PostgreSQL:
a model changed without its migration (or the reverse) fails here, not in production."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from healthscore.storage import schema

PARTITION = re.compile(r"_(p\d{4}_\d{2}|default)$")
"""PostgreSQL's monthly partitions of the event tables (``storage.partitions``): made at
run time, not declared by the models."""


def _declared(obj: Any, name: str | None, kind: str, reflected: bool, compare_to: Any) -> bool:
    if kind == "table" and name and PARTITION.search(name):
        return False
    table = getattr(obj, "table", None)
    return not (kind == "index" and table is not None and PARTITION.search(table.name))


def test_the_migrated_database_matches_the_models(engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_object": _declared, "compare_type": False}
        )
        differences = compare_metadata(context, schema.metadata)
    assert differences == []


def test_the_newest_migration_file_is_alembics_head(engine):
    from alembic.script import ScriptDirectory

    from healthscore.storage.database import alembic_config, head_revision

    assert head_revision() == ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


CHECK = """
import sys
from healthscore.storage.database import make_engine, upgrade_if_behind
upgrade_if_behind(make_engine(sys.argv[1]))
print("alembic ran" if "alembic.command" in sys.modules else "alembic skipped")
"""


def test_a_new_database_is_migrated_and_a_current_one_skips_alembic(tmp_path):
    url = f"sqlite:///{tmp_path / 'new.db'}"
    runs = [
        subprocess.run(
            [sys.executable, "-c", CHECK, url], capture_output=True, text=True, check=True
        ).stdout.strip()
        for _ in range(2)
    ]
    assert runs == ["alembic ran", "alembic skipped"]


def test_upgrading_a_database_with_data_keeps_every_row(tmp_path):
    """SQLite alters ``customers`` by rebuilding it: with foreign keys enforced, the
    rebuild once cascade-deleted every fact and case of every account."""
    from sqlalchemy import text

    from healthscore.storage.database import make_engine, upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0014")
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO customers (id, name, plan, segment, mrr, created_at, traits) "
                "VALUES ('c1', 'C', 'pro', 'smb', 1, '2026-01-01 00:00:00', '{}')"
            )
        )
        c.execute(
            text(
                "INSERT INTO users (customer_id, user_id, created_at) "
                "VALUES ('c1', 'u1', '2026-01-01 00:00:00')"
            )
        )
    upgrade(engine)
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM users")).scalar() == 1
        assert c.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()
