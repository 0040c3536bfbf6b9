"""Copy a whole healthscore database into another one: how an operator moves from the
embedded SQLite file to PostgreSQL without losing history, outreach or API keys.

Every table is read in chunks through the ORM's column types (so timestamps, JSON and
money come out as the values the application wrote) and written with the same bulk
path the product uses (COPY on PostgreSQL). The target is migrated first and must be
empty; the copy is one transaction, so a failure leaves it empty; raw-event partitions
are created for the months the data spans, and id sequences continue after the copied
ids. Acknowledged Segment events still waiting in the source's ingest journal are not
in its tables, so the copy refuses to start until they are applied.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine, Table, bindparam, func, select, text
from sqlalchemy.orm import Session

from healthscore.ingest.journal import Journal
from healthscore.storage import models as m
from healthscore.storage import schema
from healthscore.storage.database import make_engine, make_sessionmaker, upgrade
from healthscore.storage.dialect import insert_many
from healthscore.storage.partitions import ensure_partitions

CHUNK_ROWS = 20_000
Progress = Callable[[str, int], None]


class TransferRefused(Exception):
    """The copy cannot start; nothing was written."""


@dataclass
class TransferReport:
    rows: dict[str, int] = field(default_factory=dict)


def _earliest_event(source: Session) -> datetime | None:
    firsts = [
        source.scalar(select(func.min(model.ts)))
        for model in (m.Session, m.FeatureUsage, m.ApiUsage, m.EngagementEvent)
    ]
    known = [moment for moment in firsts if moment is not None]
    return min(known) if known else None


def _check(source_url: str, source: Session, target: Session) -> None:
    pending = Journal(source_url)
    try:
        entries, events, _ = pending.backlog(source)
    finally:
        pending.close()
    if entries:
        raise TransferRefused(
            f"{events:,} acknowledged events still wait in the source's ingest journal; "
            "let a worker apply them (healthscore serve or worker) and copy again"
        )
    occupied = [
        table.name
        for table in schema.metadata.sorted_tables
        if target.execute(select(func.count()).select_from(table)).scalar_one()
    ]
    if occupied:
        raise TransferRefused(
            f"the target database is not empty ({', '.join(occupied[:5])}); "
            "copy into a new, empty database"
        )


def copy_database(
    source_url: str, target_url: str, *, progress: Progress | None = None
) -> TransferReport:
    """Copy every row of ``source_url`` into the empty database at ``target_url``."""
    if make_engine(source_url).url == make_engine(target_url).url:
        raise TransferRefused("the source and the target are the same database")
    source_engine, target_engine = make_engine(source_url), make_engine(target_url)
    try:
        upgrade(source_engine)
        upgrade(target_engine)
        return _copy(source_url, source_engine, target_engine, progress)
    finally:
        source_engine.dispose()
        target_engine.dispose()


def _copy(
    source_url: str, source_engine: Engine, target_engine: Engine, progress: Progress | None
) -> TransferReport:
    report = TransferReport()
    with (
        make_sessionmaker(source_engine)() as source,
        make_sessionmaker(target_engine)() as target,
        target.begin(),
    ):
        _check(source_url, source, target)
        earliest = _earliest_event(source)
        if earliest is not None:
            ensure_partitions(
                target.connection(), now=datetime.now(UTC), first_month=earliest.date()
            )
        for table in schema.metadata.sorted_tables:
            report.rows[table.name] = _copy_table(source, target, table, progress)
        _continue_sequences(target)
    return report


def _copy_table(source: Session, target: Session, table: Table, progress: Progress | None) -> int:
    copied = 0
    key = list(table.primary_key.columns)
    # A row may point at a row of its own table copied later (a customer's parent_id):
    # such columns are copied empty, then set once every row is there.
    inward = [fk.parent.name for fk in table.foreign_keys if fk.column.table is table]
    later: list[dict[str, object]] = []
    result = source.execute(select(table).order_by(*key).execution_options(yield_per=CHUNK_ROWS))
    for chunk in result.partitions():
        rows = [dict(row._mapping) for row in chunk]
        for row in rows:
            pointers = {name: row[name] for name in inward if row[name] is not None}
            if pointers:
                later.append({f"_{k.name}": row[k.name] for k in key} | pointers)
                row.update(dict.fromkeys(pointers))
        insert_many(target, table, rows)
        copied += len(chunk)
        if progress:
            progress(table.name, copied)
    for name in inward:
        found = [
            {f"_{k.name}": row[f"_{k.name}"] for k in key} | {"_value": row[name]}
            for row in later
            if name in row
        ]
        if found:
            statement = (
                table.update()
                .where(*(k == bindparam(f"_{k.name}") for k in key))
                .values({name: bindparam("_value")})
            )
            target.execute(statement, found)
    return copied


def _continue_sequences(target: Session) -> None:
    """PostgreSQL's id sequences continue after the copied ids (SQLite's rowids do by
    themselves); tables without a sequence are left alone (``setval(NULL, …)`` is NULL)."""
    if target.get_bind().dialect.name != "postgresql":
        return
    for table in schema.metadata.sorted_tables:
        if "id" not in table.c or table.c.id.type.python_type is not int:
            continue
        target.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', 'id'), "
                f'COALESCE((SELECT max(id) FROM "{table.name}"), 0) + 1, false)'
            )
        )
