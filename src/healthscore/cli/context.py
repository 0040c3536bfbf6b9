"""What every ``healthscore`` command shares: consoles, options, the database, the scorecard
and playbooks in force, the progress bar, and the summary a scoring command ends with.

Command modules in ``healthscore.cli.commands`` import from here and never from each other
or from ``healthscore.cli.main``, so the CLI has no import cycle. Everything heavier than
Typer and Rich is imported where it is used: ``healthscore --help`` must start at once.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from rich.progress import Progress
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from healthscore.playbooks.rules import PlaybookSet
    from healthscore.rescoring.listeners import Listener, ScoreListeners
    from healthscore.rescoring.service import Rescoring
    from healthscore.scoring.scorecard import Scorecard
    from healthscore.scoring.service import ScoringRun
    from healthscore.settings import Settings

console = Console()
errors = Console(stderr=True)

ScorecardOption = Annotated[
    str | None,
    typer.Option(
        "--scorecard",
        help="Bundled scorecard name (default, seed000) or a YAML path. "
        "Env: HEALTHSCORE_SCORECARD.",
        show_default=False,
    ),
]
MOMENT_FORMATS = [
    "%Y-%m-%d",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%d %H:%M:%S%z",
]
"""What every date-time option accepts: a day, or an ISO 8601 moment with or without its
UTC offset (``2026-05-01T09:30:00+02:00``, ``…Z``); without one it is UTC. Stated here,
not left to the CLI library, whose defaults changed between versions (no offsets)."""

AsOfOption = Annotated[
    datetime | None,
    typer.Option(
        "--as-of",
        formats=MOMENT_FORMATS,
        help="Score as of this moment (UTC), using only earlier data.",
    ),
]
PlaybooksOption = Annotated[
    str | None,
    typer.Option(
        "--playbooks", help="Playbook YAML (default: bundled). Env: HEALTHSCORE_PLAYBOOKS."
    ),
]
HorizonOption = Annotated[
    int,
    typer.Option(
        "--horizon-days", min=1, max=365, help="Churn counts if it happens this many days after."
    ),
]
StepOption = Annotated[
    int, typer.Option("--step-days", min=1, max=365, help="Days between cut-offs in a range.")
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the result as JSON instead of tables.")
]
ResamplesOption = Annotated[
    int,
    typer.Option(
        "--resamples",
        min=0,
        max=100_000,
        help="Bootstrap resamples for the AUC interval (0: none).",
    ),
]
HtmlOption = Annotated[
    Path | None,
    typer.Option("--html", help="Also write a self-contained HTML report to this file."),
]


def fail(message: str, code: int = 1) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    return typer.Exit(code)


def open_database(*, migrate: bool = True) -> tuple[Engine, sessionmaker[Session]]:
    from healthscore.settings import Settings
    from healthscore.storage.database import make_engine, make_sessionmaker, upgrade_if_behind

    engine = make_engine(Settings().database_url)
    if migrate:
        upgrade_if_behind(engine)
    return engine, make_sessionmaker(engine)


def live_push(settings: Settings) -> Listener | None:
    """How a process without open event streams (the worker, the CLI) reaches dashboards:
    through Redis, to every API process; without Redis there is no one to reach."""
    if not settings.redis_url:
        return None
    from healthscore.dashboard.live import live_channel, publish_scores_changed

    return functools.partial(
        publish_scores_changed, settings.redis_url, live_channel(settings.queue_name)
    )


@contextmanager
def score_listeners() -> Iterator[ScoreListeners]:
    """Who this command tells that scores changed: the API's cache and open dashboards."""
    from healthscore.rescoring.listeners import standard_listeners
    from healthscore.settings import Settings
    from healthscore.storage.cache import ScoreCache

    settings = Settings()
    cache = ScoreCache.for_settings(settings)
    try:
        yield standard_listeners(cache, live=live_push(settings))
    finally:
        cache.close()


def invalidate_cache() -> None:
    """Scores changed outside a rescore (an account erased, a backup restored, a sharded
    run finished by the workers): cached answers are stale, every dashboard re-reads."""
    with score_listeners() as listeners:
        listeners.scores_changed(())


@contextmanager
def rescoring(
    sessions: sessionmaker[Session], card: Scorecard, rules: PlaybookSet
) -> Iterator[Rescoring]:
    """The rescoring service for a command: deliveries are queued durably and sent by
    ``healthscore worker`` (or the worker inside ``serve``)."""
    from healthscore.jobs.queue import Jobs
    from healthscore.rescoring.service import Rescoring
    from healthscore.settings import Settings

    def enqueue(delivery_ids: list[int]) -> None:
        jobs = Jobs(Settings(), sessions=sessions, scorecard=card, playbooks=rules)
        jobs.enqueue_deliveries(delivery_ids)

    with score_listeners() as listeners:
        yield Rescoring(
            sessions=sessions,
            scorecard=card,
            playbooks=rules,
            deliveries=enqueue,
            listeners=listeners,
        )


def playbooks_from(option: str | None) -> PlaybookSet:
    from healthscore.playbooks.rules import PlaybookError, load_playbooks
    from healthscore.settings import Settings

    location = option or Settings().playbooks
    try:
        return load_playbooks(location)
    except PlaybookError as error:
        raise fail(str(error), code=2) from error


def scorecard_from(option: str | None) -> Scorecard:
    from healthscore.scoring.scorecard_loading import ScorecardError, load_scorecard
    from healthscore.settings import Settings, scorecard_location

    try:
        return load_scorecard(scorecard_location(option or Settings().scorecard))
    except ScorecardError as error:
        raise fail(str(error), code=2) from error


def progress_bar(*, rate: str | None = None) -> AbstractContextManager[Progress]:
    """The bar long commands show on stderr (``healthscore.cli.progress``)."""
    from healthscore.cli.progress import progress_bar as bar

    return bar(errors, rate=rate)


def as_of_or_now(as_of: datetime | None) -> datetime:
    from healthscore.timeutc import utc

    if as_of is None:
        return datetime.now(UTC)
    return utc(as_of)


def summarise(
    run: ScoringRun,
    sessions: sessionmaker[Session],
    card: Scorecard,
    *,
    show_riskiest: bool,
) -> None:
    """What every scoring command ends with: the tier breakdown and who needs attention."""
    from healthscore.cli import render
    from healthscore.scoring import reports

    seconds = sum(run.timings.values())
    console.print(
        f"scored {run.scored} accounts ({len(run.churned)} churned) "
        f"as of {run.as_of:%Y-%m-%d %H:%M} UTC with {card.identity} in {seconds:.2f}s"
    )
    with sessions() as session:
        console.print(render.tier_table(reports.tier_distribution(session)))
        if show_riskiest:
            rows = reports.riskiest(session, limit=10)
            console.print(render.accounts_table(rows, title="10 riskiest accounts"))
            return
        for s in run.scores:
            detail = reports.account_detail(session, s.customer_id, card)
            if detail:
                render.print_account(console, detail)
