"""``healthscore import``: load a folder of CSV files, all or nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from healthscore.cli.context import console, errors, fail, open_database, progress_bar


def import_(
    folder: Annotated[
        Path, typer.Argument(exists=True, file_okay=False, help="Folder of CSV files.")
    ],
) -> None:
    """Import customers.csv, users.csv, events.csv, payments.csv, tickets.csv, nps.csv.

    Every row is checked first; if any row is bad, nothing is written and every problem is
    listed as file:line: reason.
    """
    from healthscore.ingest.csv_import import ImportFailed, import_folder

    _, sessions = open_database()
    with progress_bar() as progress:
        task = progress.add_task("importing", total=None)
        try:
            report = import_folder(
                sessions,
                folder,
                progress=lambda name, rows: progress.update(
                    task, completed=rows, description=f"importing {name}"
                ),
            )
        except ImportFailed as error:
            for problem in error.errors:
                errors.print(str(problem), markup=False, highlight=False)
            message = f"import rejected: {error.total} problem(s); nothing was written"
            raise fail(message) from error
    for name, count in report.counts.items():
        console.print(f"{name}: {count} rows")


def register(app: typer.Typer) -> None:
    app.command("import")(import_)
