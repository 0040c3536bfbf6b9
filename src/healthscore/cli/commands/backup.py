"""``healthscore backup`` and ``restore``: copy the embedded SQLite database and put it back."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from healthscore.cli.context import console, fail, invalidate_cache, open_database


def backup(destination: Annotated[Path, typer.Argument(help="Backup file to write.")]) -> None:
    """Consistent copy of the embedded SQLite database, safe while it is in use."""
    from healthscore.ingest.journal import Journal, journal_file
    from healthscore.settings import Settings
    from healthscore.storage.backup import backup_sqlite

    url = Settings().database_url
    try:
        size = backup_sqlite(url, destination)
    except (ValueError, FileNotFoundError) as error:
        raise fail(str(error)) from error
    console.print(f"backed up to {destination} ({size / 1e6:.1f} MB)")
    engine, sessions = open_database(migrate=False)
    pending = Journal(url)
    try:
        with sessions() as session:
            entries, events, _ = pending.backlog(session)
    finally:
        pending.close()
        engine.dispose()
    if entries:
        console.print(
            f"[yellow]note:[/] {events:,} acknowledged events were still waiting in the "
            f"ingest journal ({journal_file(url)}) and are not in this backup; run it again "
            "once a worker has applied them (healthscore_ingest_journal_events = 0)"
        )


def restore(
    source: Annotated[Path, typer.Argument(help="Backup file made by `healthscore backup`.")],
    yes: Annotated[bool, typer.Option("--yes", help="Confirm replacing the database.")] = False,
) -> None:
    """Replace the embedded SQLite database with a backup (stop serve/worker first)."""
    from healthscore.settings import Settings
    from healthscore.storage.backup import restore_sqlite

    if not yes:
        raise fail("this replaces the current database; pass --yes to confirm", code=2)
    if not source.is_file():
        raise fail(f"no backup at {source}")
    try:
        restore_sqlite(source, Settings().database_url)
    except ValueError as error:
        raise fail(str(error)) from error
    open_database()  # a backup from an older release is migrated forward
    invalidate_cache()
    console.print(f"restored from {source}")


def register(app: typer.Typer) -> None:
    app.command()(backup)
    app.command()(restore)
