"""``healthscore import``: load a folder of CSV files, all or nothing unless told to skip
up to N bad rows (and where to write them)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from healthscore.cli.context import console, errors, fail, open_database, progress_bar

if TYPE_CHECKING:
    from rich.progress import Progress

if TYPE_CHECKING:
    from healthscore.ingest.csv_report import ImportFailed, ImportReport

SHOWN = 20
"""Rejected rows listed on screen when the import goes ahead (the rejects file has all)."""


def import_(
    folder: Annotated[
        Path, typer.Argument(exists=True, file_okay=False, help="Folder of CSV files.")
    ],
    max_bad_rows: Annotated[
        int,
        typer.Option(
            "--max-bad-rows",
            min=0,
            help="Load the good rows if at most N rows are bad (0: any bad row rejects all).",
        ),
    ] = 0,
    rejects: Annotated[
        Path | None,
        typer.Option(
            "--rejects",
            dir_okay=False,
            help="Write every rejected row to this CSV file: file, line, reason, row.",
        ),
    ] = None,
) -> None:
    """Import customers.csv, users.csv, events.csv, payments.csv, tickets.csv, nps.csv,
    mrr_history.csv.

    Every row is checked first; if more than --max-bad-rows rows are bad (default 0),
    nothing is written and every problem is listed as file:line: reason. A line repeated
    exactly in the same file is skipped as a duplicate.
    """
    from healthscore.garbage_collection import settle_process
    from healthscore.ingest.csv_import import import_folder
    from healthscore.ingest.csv_report import ImportFailed

    _, sessions = open_database()
    settle_process()  # a long run: what start-up loaded stays out of the collector's walks
    started = time.perf_counter()
    with progress_bar(rate="rows") as progress:
        try:
            report = import_folder(
                sessions,
                folder,
                progress=_stages(progress),
                max_bad_rows=max_bad_rows,
                rejects=rejects,
            )
        except ImportFailed as error:
            for problem in error.errors:
                errors.print(str(problem), markup=False, highlight=False, soft_wrap=True)
            raise fail(_refusal(error, rejects)) from error
    _summarise(report, rejects, time.perf_counter() - started)


def _stages(progress: Progress) -> Callable[[str, int, int | None], None]:
    """One bar per stage (checking, then loading, each file), each with its rows/s."""
    from rich.progress import TaskID

    tasks: dict[str, TaskID] = {}

    def update(stage: str, done: int, total: int | None) -> None:
        if stage not in tasks:
            tasks[stage] = progress.add_task(stage, total=total)
        progress.update(tasks[stage], completed=done, total=total)

    return update


def _refusal(error: ImportFailed, rejects: Path | None) -> str:
    message = f"import rejected: {error.total} problem(s)"
    if error.unusable and error.max_bad_rows:
        message += " (a file itself is at fault: --max-bad-rows only skips rows)"
    elif error.max_bad_rows:
        message += f", more than --max-bad-rows {error.max_bad_rows}"
    message += "; nothing was written"
    if rejects is not None:
        message += f"; every problem is listed in {rejects}"
    return message


def _summarise(report: ImportReport, rejects: Path | None, seconds: float) -> None:
    """Per file: rows loaded, duplicates skipped, rows rejected; then the rejected rows."""
    for name, result in report.files.items():
        console.print(
            f"{name}: {result.loaded} rows loaded, {result.duplicates} skipped as duplicates, "
            f"{result.rejected} rejected",
            highlight=False,
            soft_wrap=True,
        )
    results = report.files.values()
    loaded = sum(r.loaded for r in results)
    skipped = sum(r.duplicates for r in results)
    read = loaded + skipped + report.rejected
    rate = f" ({read / seconds:,.0f} rows/s)" if seconds > 0 else ""
    console.print(
        f"{read:,} rows read in {seconds:.1f}s{rate}: {loaded:,} loaded, "
        f"{skipped:,} skipped as duplicates, {report.rejected:,} rejected",
        highlight=False,
        soft_wrap=True,
    )
    if not report.rejected:
        return
    for problem in report.errors[:SHOWN]:
        errors.print(str(problem), markup=False, highlight=False, soft_wrap=True)
    where = f"all of them are in {rejects}" if rejects else "--rejects FILE writes them all"
    more = f"; {report.rejected - SHOWN} more not shown" if report.rejected > SHOWN else ""
    errors.print(
        f"{report.rejected} bad row(s) rejected, not loaded{more}; {where}",
        markup=False,
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    app.command("import")(import_)
