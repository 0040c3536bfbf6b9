"""The migrations build exactly the schema the models declare, on SQLite and PostgreSQL:
a model changed without its migration (or the reverse) fails here, not in production."""

from __future__ import annotations

import re
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
