"""Backing up and restoring the embedded SQLite database (PostgreSQL has pg_dump).

Erasing or exporting one account is ``accounts.service``.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url


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
