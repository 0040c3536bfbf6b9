"""The few statements that differ between SQLite and PostgreSQL, in one place."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.sql.operators import custom_op

from healthscore.storage.types import UTCDateTime

BATCH_ROWS = 5000
COPY_INSERT_THRESHOLD = 500
"""From this many rows, plain PostgreSQL inserts (raw events) go through COPY."""
COPY_THRESHOLD = 1000
"""From this many rows, PostgreSQL upserts go through COPY (psycopg's executemany sends
one statement per row: 100k rows took 15 s, COPY + one INSERT … SELECT about 3 s)."""


def upsert(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    key: Sequence[str],
    unless_newer: str | None = None,
) -> None:
    """Insert ``rows``; where ``key`` already exists, overwrite the other columns the rows
    carry (model defaults filled in, as SQLAlchemy's own INSERT would).

    Columns the rows leave out and that have no model default (an autoincrement ``id``,
    a server default) are neither sent nor overwritten: the database fills them on insert
    and an existing row keeps its own. So both paths store the same rows, and a re-import
    keeps a row's id.

    With ``unless_newer="as_of"`` an existing row whose ``as_of`` is later than the incoming
    one is kept (a backfill of an earlier day never replaces a newer latest score).
    """
    if not rows:
        return
    rows = _with_python_defaults(table, rows)
    columns = list(rows[0])
    if any(row.keys() != rows[0].keys() for row in rows):
        raise ValueError(f"upsert into {table.name}: every row must carry the same columns")
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql" and len(rows) >= COPY_THRESHOLD:
        _copy_upsert(session, table, rows, columns, key=key, unless_newer=unless_newer)
        return
    module: Any = postgresql if dialect == "postgresql" else sqlite
    statement = module.insert(table)
    update = {name: statement.excluded[name] for name in columns if name not in key}
    where = table.c[unless_newer] <= statement.excluded[unless_newer] if unless_newer else None
    statement = (
        statement.on_conflict_do_update(index_elements=list(key), set_=update, where=where)
        if update
        else statement.on_conflict_do_nothing(index_elements=list(key))
    )
    for start in range(0, len(rows), BATCH_ROWS):
        session.execute(statement, list(rows[start : start + BATCH_ROWS]))


def _copy_upsert(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    *,
    key: Sequence[str],
    unless_newer: str | None,
) -> None:
    """COPY ``columns`` into a transaction-scoped temporary table, then one
    INSERT … ON CONFLICT (the columns left out get the table's defaults there)."""
    dialect = session.get_bind().dialect
    processors = [table.c[name].type._cached_bind_processor(dialect) for name in columns]
    with _staging_copy(session, table, columns) as copy:
        for row in rows:
            copy.write_row(
                [
                    process(row[name]) if process else row[name]
                    for name, process in zip(columns, processors, strict=True)
                ]
            )
    upsert_from_staging(session, table, columns, key=key, unless_newer=unless_newer)


@contextmanager
def _staging_copy(session: Session, table: Table, columns: Sequence[str]) -> Iterator[Any]:
    """psycopg's COPY into ``table``'s transaction-scoped staging table ``_staging_<table>``
    (created, or emptied if this transaction already used it), for ``columns``."""
    connection = session.connection()
    staging = f"_staging_{table.name}"
    connection.exec_driver_sql(
        f'CREATE TEMP TABLE IF NOT EXISTS "{staging}" '
        f'(LIKE "{table.name}" INCLUDING DEFAULTS) ON COMMIT DROP'
    )
    connection.exec_driver_sql(f'TRUNCATE "{staging}"')
    with _copy_into(session, staging, columns) as copy:
        yield copy


@contextmanager
def _copy_into(session: Session, table_name: str, columns: Sequence[str]) -> Iterator[Any]:
    """psycopg's ``COPY table_name (columns) FROM STDIN`` in the session's transaction."""
    quoted = ", ".join(f'"{name}"' for name in columns)
    cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f'COPY "{table_name}" ({quoted}) FROM STDIN') as copy:
        yield copy


def add_or_insert(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    key: Sequence[str],
    add: Sequence[str] = (),
    greatest: Sequence[str] = (),
    bit_or: Sequence[str] = (),
) -> None:
    """Insert ``rows``; where ``key`` exists, add the ``add`` columns to the stored ones,
    keep the larger of each ``greatest`` column and OR the bits of each ``bit_or``
    column into the stored ones: how roll-ups absorb new events.

    ``rows`` must have unique keys. They are written in key order so that concurrent
    transactions lock roll-up rows in the same order and cannot deadlock. SQLite takes an
    executemany (a C loop); PostgreSQL one ``INSERT … SELECT FROM unnest(arrays)``, one
    round trip and one constant statement whatever the row count.
    """
    if not rows:
        return
    ordered = sorted(rows, key=lambda row: tuple(row[k] for k in key))
    postgres = session.get_bind().dialect.name == "postgresql"
    larger = "GREATEST" if postgres else "max"  # SQLite's two-argument max()
    updates = [f'"{n}" = "{table.name}"."{n}" + EXCLUDED."{n}"' for n in add]
    updates += [f'"{n}" = {larger}("{table.name}"."{n}", EXCLUDED."{n}")' for n in greatest]
    updates += [f'"{n}" = "{table.name}"."{n}" | EXCLUDED."{n}"' for n in bit_or]
    conflict = ", ".join(f'"{name}"' for name in key)
    action = f"DO UPDATE SET {', '.join(updates)}" if updates else "DO NOTHING"
    suffix = f"ON CONFLICT ({conflict}) {action}"
    if postgres:
        _insert_unnest(session, table, ordered, suffix, key=key)
    else:
        _insert_executemany(session, table, ordered, suffix)


def _bound_values(
    session: Session, table: Table, rows: Sequence[dict[str, Any]]
) -> tuple[list[str], list[list[Any]]]:
    """Column names and, per column, the values as the driver takes them (dates and
    timestamps converted by the column types, exactly as SQLAlchemy would)."""
    dialect = session.get_bind().dialect
    columns = list(rows[0])
    values = []
    for name in columns:
        column = [row[name] for row in rows]
        if dialect.name == "sqlite" and isinstance(table.c[name].type, UTCDateTime):
            values.append(_sqlite_timestamps(column))
            continue
        process = table.c[name].type._cached_bind_processor(dialect)
        values.append(_processed(process, column) if process else column)
    return columns, values


def _sqlite_timestamps(column: list[Any]) -> list[Any]:
    """What ``UTCDateTime`` binds on SQLite (naive UTC as ``YYYY-MM-DD HH:MM:SS.ffffff``,
    SQLAlchemy's storage format), made in C by ``isoformat``: the per-value processors
    cost more than SQLite's insert itself (tests compare the two)."""
    out: list[Any] = []
    for value in column:
        if value is None:
            out.append(None)
            continue
        if not isinstance(value, datetime):
            raise TypeError(f"expected datetime, got {type(value).__name__}")
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        out.append(value.isoformat(" ", "microseconds"))
    return out


def _processed(process: Callable[[Any], Any], column: list[Any]) -> list[Any]:
    """``process`` applied to every value, once per run of the same object: a column such
    as ``received_at`` often repeats one timestamp for every row."""
    out: list[Any] = []
    last: Any = out  # a sentinel no value is
    converted: Any = None
    for value in column:
        if value is not last:
            last, converted = value, process(value)
        out.append(converted)
    return out


def _insert_executemany(
    session: Session, table: Table, rows: Sequence[dict[str, Any]], suffix: str = ""
) -> None:
    """One prepared INSERT run by sqlite3's C executemany loop: no per-row work in
    SQLAlchemy, which on the ingest path cost more than SQLite itself."""
    columns, values = _bound_values(session, table, rows)
    quoted = ", ".join(f'"{name}"' for name in columns)
    marks = ", ".join("?" for _ in columns)
    session.connection().exec_driver_sql(
        f'INSERT INTO "{table.name}" ({quoted}) VALUES ({marks}) {suffix}',
        list(zip(*values, strict=True)),
    )


def _insert_unnest(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    suffix: str = "",
    *,
    key: Sequence[str] = (),
) -> CursorResult[Any]:
    """``INSERT … SELECT FROM unnest(one array per column)``: PostgreSQL's fastest insert
    short of COPY, and unlike COPY usable with ``ON CONFLICT``.

    From ``COPY_INSERT_THRESHOLD`` rows the values go through COPY into a staging table
    instead (psycopg builds array parameters in Python, COPY rows in C: a journal apply of
    10,000 ``messageId``s spent most of its time building arrays); ``key`` then orders the
    insert as the arrays' order would, so concurrent writers still lock rows in one order.
    """
    connection = session.connection()
    dialect = connection.dialect
    columns, arrays = _bound_values(session, table, rows)
    quoted = ", ".join(f'"{name}"' for name in columns)
    if len(rows) >= COPY_INSERT_THRESHOLD:
        with _staging_copy(session, table, columns) as copy:
            for record in zip(*arrays, strict=True):
                copy.write_row(record)
        order = " ORDER BY " + ", ".join(f'"{name}"' for name in key) if key else ""
        return connection.exec_driver_sql(
            f'INSERT INTO "{table.name}" ({quoted}) '
            f'SELECT {quoted} FROM "_staging_{table.name}"{order} {suffix}'
        )
    casts = ", ".join(
        f"CAST(%s AS {table.c[name].type.compile(dialect=dialect)}[])" for name in columns
    )
    return connection.exec_driver_sql(
        f'INSERT INTO "{table.name}" ({quoted}) SELECT * FROM unnest({casts}) {suffix}',
        tuple(arrays),
    )


def insert_many(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Plain inserts of many rows: sqlite3's executemany, or one ``unnest`` on PostgreSQL
    (psycopg's executemany sends a statement per row)."""
    if not rows:
        return
    if not all(row.keys() == rows[0].keys() for row in rows):
        session.execute(table.insert(), list(rows))
    elif session.get_bind().dialect.name == "postgresql":
        if len(rows) >= COPY_INSERT_THRESHOLD:
            _copy_insert(session, table, _with_python_defaults(table, rows))
        else:
            _insert_unnest(session, table, _with_python_defaults(table, rows))
    else:
        _insert_executemany(session, table, _with_python_defaults(table, rows))


def _copy_insert(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """COPY straight into ``table``: psycopg formats each row in C, where ``unnest`` needs
    its arrays built in Python first (most of the journal applier's time at ~1,000 rows)."""
    columns, values = _bound_values(session, table, rows)
    with _copy_into(session, table.name, columns) as copy:
        for row in zip(*values, strict=True):
            copy.write_row(row)


def _with_python_defaults(table: Table, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fill the columns a row leaves out with their model defaults (``default=dict``…), as
    SQLAlchemy's own INSERT would; columns without one are left to the database."""
    missing: dict[str, Any] = {
        column.name: column.default
        for column in table.columns
        if column.name not in rows[0] and column.default is not None
    }
    if not missing:
        return list(rows)

    def value(default: Any) -> Any:
        return default.arg(None) if default.is_callable else default.arg

    return [{**row, **{name: value(d) for name, d in missing.items()}} for row in rows]


def insert_ignoring_duplicates(
    session: Session, table: Table, rows: Sequence[dict[str, Any]], *, key: Sequence[str]
) -> None:
    """Insert ``rows``, silently skipping those whose ``key`` exists (idempotent ingest)."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":  # one constant statement per chunk, not one per row
        conflict = ", ".join(f'"{name}"' for name in key)
        for start in range(0, len(rows), BATCH_ROWS):
            chunk = rows[start : start + BATCH_ROWS]
            _insert_unnest(session, table, chunk, f"ON CONFLICT ({conflict}) DO NOTHING", key=key)
        return
    statement = sqlite.insert(table).on_conflict_do_nothing(index_elements=list(key))
    for start in range(0, len(rows), BATCH_ROWS):
        session.execute(statement, list(rows[start : start + BATCH_ROWS]))


def insert_new_keys(
    session: Session, table: Table, rows: Sequence[dict[str, Any]], *, key: Sequence[str]
) -> list[tuple[Any, ...]]:
    """Insert ``rows`` skipping existing keys; returns the keys this call inserted.

    ``ON CONFLICT DO NOTHING RETURNING`` decides atomically in the database, so two
    concurrent deliveries of the same message cannot both believe they were first.
    """
    if not rows:
        return []
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":  # a constant statement psycopg parses once and prepares
        conflict = ", ".join(f'"{name}"' for name in key)
        suffix = f"ON CONFLICT ({conflict}) DO NOTHING RETURNING {conflict}"
        # fetchall: psycopg's bulk fetch, not one fetchone per row (10,000 messageIds)
        return [tuple(r) for r in _insert_unnest(session, table, rows, suffix, key=key).fetchall()]
    return _insert_new_keys_sqlite(session, table, rows, key)


SQLITE_ROWS_PER_STATEMENT = 2000
"""Rows per multi-row SQLite INSERT: well under its 32,766 bound parameters."""


def _insert_new_keys_sqlite(
    session: Session, table: Table, rows: Sequence[dict[str, Any]], key: Sequence[str]
) -> list[tuple[Any, ...]]:
    """Multi-row ``INSERT … ON CONFLICT DO NOTHING RETURNING`` with values bound once per
    column: SQLAlchemy's own insertmanyvalues did the same statements with per-value
    Python work that cost more than SQLite (a third of the journal applier's time)."""
    columns, values = _bound_values(session, table, rows)
    quoted = ", ".join(f'"{name}"' for name in columns)
    conflict = ", ".join(f'"{name}"' for name in key)
    one = "(" + ", ".join("?" for _ in columns) + ")"
    connection = session.connection()
    inserted: list[tuple[Any, ...]] = []
    records = list(zip(*values, strict=True))
    for start in range(0, len(records), SQLITE_ROWS_PER_STATEMENT):
        chunk = records[start : start + SQLITE_ROWS_PER_STATEMENT]
        result = connection.exec_driver_sql(
            f'INSERT INTO "{table.name}" ({quoted}) VALUES {", ".join([one] * len(chunk))} '
            f"ON CONFLICT ({conflict}) DO NOTHING RETURNING {conflict}",
            tuple(value for record in chunk for value in record),
        )
        inserted.extend(tuple(row) for row in result)
    return inserted


def without_index(column: ColumnElement[Any], dialect: str) -> ColumnElement[Any]:
    """``+column`` on SQLite: the same value, but the planner may not pick an index on it.

    A wide range on ``ts`` tempts SQLite's planner into the ``ts`` index plus a temporary
    B-tree for ``GROUP BY customer_id``; filtering on ``+ts`` makes it stream the covering
    ``(customer_id, ts, …)`` index instead, several times faster. PostgreSQL plans this
    well by itself.
    """
    if dialect != "sqlite":
        return column
    return UnaryExpression(column, operator=custom_op("+"), type_=column.type)


def copy_to_staging(
    session: Session, table: Table, names: Sequence[str], chunks: Iterable[str]
) -> None:
    """PostgreSQL: COPY ``chunks`` (``copy_chunks``, columns ``names``) into ``table``'s
    transaction-scoped staging table (emptied first); ``upsert_from_staging`` merges it."""
    with _staging_copy(session, table, names) as copy:
        for chunk in chunks:
            copy.write(chunk)


def upsert_from_staging(
    session: Session,
    table: Table,
    columns: Sequence[str],
    *,
    key: Sequence[str],
    unless_newer: str | None = None,
) -> None:
    """One INSERT … SELECT … ON CONFLICT from the staging table: ``upsert``'s statement,
    ``key`` and ``unless_newer`` alike. Only the database works meanwhile, so a caller
    may run it on another thread while it prepares its next rows (not touching the
    session until it ends)."""
    quoted = ", ".join(f'"{name}"' for name in columns)
    updates = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in columns if c not in key)
    where = (
        f' WHERE "{table.name}"."{unless_newer}" <= EXCLUDED."{unless_newer}"'
        if unless_newer
        else ""
    )
    conflict = ", ".join(f'"{name}"' for name in key)
    action = f"DO UPDATE SET {updates}{where}" if updates else "DO NOTHING"
    session.connection().exec_driver_sql(
        f'INSERT INTO "{table.name}" ({quoted}) SELECT {quoted} FROM "_staging_{table.name}" '
        f"ON CONFLICT ({conflict}) {action}"
    )
