"""``column IN (ids)`` with the ids bound as ONE parameter, on SQLite and PostgreSQL.

Why: SQLAlchemy expands ``in_()`` into one parameter per id, rendered into the SQL at
every execution, and psycopg parses that (unique, uncacheable) text again each time.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from sqlalchemy import Boolean, ColumnElement, String, TypeDecorator, bindparam
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.type_api import TypeEngine
from sqlalchemy.sql.visitors import InternalTraversal


class IdList(TypeDecorator[list[str]]):
    """A list of text ids bound as ONE parameter: a ``VARCHAR[]`` on PostgreSQL, a JSON
    array on SQLite (read back with ``json_each``)."""

    impl = String
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.ARRAY(String()))
        return dialect.type_descriptor(String())

    def process_bind_param(self, value: list[str] | None, dialect: Dialect) -> Any:
        if value is None or dialect.name == "postgresql":
            return value
        return orjson.dumps(value).decode()


class IdsIn(ColumnElement[bool]):
    """``column IN (ids)`` with the ids bound as one parameter (``ids_in``)."""

    type = Boolean()
    inherit_cache = True
    _is_implicitly_boolean = True  # no "= 1" after it on SQLite: that hides the IN from
    # the planner, which then scans the whole table instead of looking the ids up
    _traverse_internals = (  # type: ignore[assignment]  # the cache key: column and parameter
        ("column", InternalTraversal.dp_clauseelement),
        ("ids", InternalTraversal.dp_clauseelement),
    )

    def __init__(self, column: ColumnElement[Any], ids: Iterable[str]) -> None:
        self.column = column
        self.ids = bindparam(None, list(ids), type_=IdList())


@compiles(IdsIn)
def _ids_in_sqlite(element: IdsIn, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    return f"{column} IN (SELECT value FROM json_each({compiler.process(element.ids, **kw)}))"


@compiles(IdsIn, "postgresql")
def _ids_in_postgresql(element: IdsIn, compiler: Any, **kw: Any) -> str:
    return f"{compiler.process(element.column, **kw)} = ANY({compiler.process(element.ids, **kw)})"


def ids_in(column: Any, ids: Iterable[str]) -> ColumnElement[bool]:
    """``column IN ids`` whatever the number of ids, as one bound parameter.

    Why: SQLAlchemy expands ``in_()`` into one parameter per id, rendered into the SQL at
    every execution, and psycopg parses that (unique, uncacheable) text again each time: a
    near-real-time rescore of 500 accounts spent about a third of its Python time on it.
    One parameter keeps each statement's text constant, so it is cached (and prepared
    by PostgreSQL after a few runs), whatever the ids."""
    return IdsIn(column, ids)
