"""``healthscore copy-database``: move from the embedded SQLite file to PostgreSQL."""

from __future__ import annotations

from typing import Annotated

import typer

from healthscore.cli.context import console, fail, progress_bar


def copy_database_command(
    target: Annotated[
        str,
        typer.Argument(
            help="Database URL to copy into, e.g. postgresql+psycopg://user@host/healthscore "
            "(migrated here; must be empty).",
            show_default=False,
        ),
    ],
) -> None:
    """Copy every account, event, score, outreach entry and API key of the configured
    database (HEALTHSCORE_DATABASE_URL) into an empty one, in one transaction.

    Then point HEALTHSCORE_DATABASE_URL at the target. Stop `serve` and `worker` first,
    so nothing is written to the source meanwhile.
    """
    from healthscore.settings import Settings
    from healthscore.storage.transfer import TransferRefused, copy_database

    source = Settings().database_url
    with progress_bar() as progress:
        task = progress.add_task("copying", total=None)
        try:
            report = copy_database(
                source,
                target,
                progress=lambda table, rows: progress.update(
                    task, completed=rows, description=f"copying {table}"
                ),
            )
        except TransferRefused as error:
            raise fail(f"{error}; nothing was copied") from error
    total = sum(report.rows.values())
    console.print(f"copied {total:,} rows in {len(report.rows)} tables")
    for table, rows in report.rows.items():
        if rows:
            console.print(f"  {table}: {rows:,}")
    console.print("now set HEALTHSCORE_DATABASE_URL to the target and start serve / worker")


def register(app: typer.Typer) -> None:
    app.command("copy-database")(copy_database_command)
