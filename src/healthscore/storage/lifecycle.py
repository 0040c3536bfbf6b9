"""Data lifecycle: erase one account (right to erasure), export one account, back up SQLite.

Erasure deletes every row that belongs to the account in every table, explicitly rather
than trusting foreign-key cascades alone (SQLite only cascades with ``foreign_keys=ON``,
and a forgotten table would silently keep personal data). A test checks that every table
with a ``customer_id`` column is covered.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Table, delete, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from healthscore.storage import models as m
from healthscore.storage import schema


def customer_tables() -> list[Table]:
    """Every table holding rows about one account, children before the account itself."""
    tables = [
        t
        for t in reversed(schema.metadata.sorted_tables)
        if "customer_id" in t.c and t.name != "customers"
    ]
    return tables


class UnknownAccountError(LookupError):
    pass


def delete_customer(session: Session, customer_id: str) -> dict[str, int]:
    """Delete the account and everything about it; returns rows deleted per table."""
    if session.get(m.Customer, customer_id) is None:
        raise UnknownAccountError(f"unknown customer {customer_id!r}")
    counts: dict[str, int] = {}
    for table in customer_tables():
        result = session.execute(delete(table).where(table.c.customer_id == customer_id))
        counts[table.name] = int(result.rowcount or 0)  # type: ignore[attr-defined]
    session.execute(delete(m.Customer).where(m.Customer.id == customer_id))
    counts["customers"] = 1
    session.expunge_all()
    return counts


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def export_customer(session: Session, customer_id: str) -> dict[str, Any]:
    """Everything stored about one account, table by table, as JSON-ready data."""
    customers = m.Customer.__table__
    account = session.execute(select(customers).where(customers.c.id == customer_id)).first()
    if account is None:
        raise UnknownAccountError(f"unknown customer {customer_id!r}")
    export: dict[str, Any] = {"customer": {k: _plain(v) for k, v in account._mapping.items()}}
    for table in reversed(customer_tables()):
        rows = session.execute(select(table).where(table.c.customer_id == customer_id))
        export[table.name] = [{k: _plain(v) for k, v in row._mapping.items()} for row in rows]
    return export


def sqlite_path(database_url: str) -> Path:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise ValueError(
            "backup and restore are for the embedded SQLite database; "
            "use pg_dump / pg_restore for PostgreSQL"
        )
    return Path(url.database)


def backup_sqlite(database_url: str, destination: Path) -> int:
    """A consistent copy while the database is in use (SQLite's online backup API)."""
    source_path = sqlite_path(database_url)
    if not source_path.exists():
        raise FileNotFoundError(f"no database at {source_path}")
    destination.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(source_path)
    target = sqlite3.connect(destination)
    try:
        source.backup(target)
        target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    finally:
        target.close()
        source.close()
    return destination.stat().st_size


def restore_sqlite(backup: Path, database_url: str) -> None:
    """Replace the database with a backup (stop `serve`/`worker` first).

    The backup is checked to be a healthscore database before anything is touched; the
    current file is kept next to it as ``<name>.before-restore``.
    """
    check = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    try:
        check.execute("SELECT version_num FROM alembic_version").fetchone()
        check.execute("SELECT count(*) FROM customers").fetchone()
    except sqlite3.DatabaseError as error:
        raise ValueError(f"{backup} is not a healthscore database: {error}") from error
    finally:
        check.close()
    target = sqlite_path(database_url)
    if target.exists():
        previous = target.with_name(target.name + ".before-restore")
        backup_sqlite(database_url, previous)
    staged = target.with_name(target.name + ".restoring")
    shutil.copy2(backup, staged)
    for suffix in ("-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    os.replace(staged, target)  # atomic: the database is either the old or the new one
