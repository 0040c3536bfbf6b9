"""The progress bar long commands show on stderr, with items per second when asked."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class RateColumn(ProgressColumn):
    """Items per second, averaged over the task so far (steadier than Rich's 30 s window
    and right at once for a task that ends)."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        elapsed = task.finished_time or task.elapsed
        if not elapsed or not task.completed:
            return Text("")
        return Text(f"{task.completed / elapsed:,.0f} {self.unit}/s", style="progress.data.speed")


@contextmanager
def progress_bar(console: Console, *, rate: str | None = None) -> Iterator[Progress]:
    """With ``rate`` (a unit, e.g. ``rows``) the bar also shows that many per second and
    the time left."""
    columns: list[ProgressColumn] = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
    ]
    if rate:
        columns.append(RateColumn(rate))
    columns.append(TimeElapsedColumn())
    if rate:
        columns.append(TimeRemainingColumn())
    with Progress(*columns, console=console, transient=not sys.stderr.isatty()) as progress:
        yield progress
