"""``healthscore demo``: generate realistic accounts, build score history, show the riskiest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from healthscore.cli.context import (
    ScorecardOption,
    console,
    fail,
    open_database,
    playbooks_from,
    progress_bar,
    rescoring,
    scorecard_from,
    summarise,
)
from healthscore.ingest.demo.profiles import PROFILES

if TYPE_CHECKING:
    from healthscore.playbooks.rules import PlaybookSet
    from healthscore.scoring.scorecard import Scorecard

DemoProfile = StrEnum("DemoProfile", {name: name for name in PROFILES})  # type: ignore[misc]
"""The ``--profile`` choices: typer rejects any other name before anything is written."""


def demo(
    customers: Annotated[
        int,
        typer.Option(
            min=1,
            max=1_000_000,
            envvar="HEALTHSCORE_DEMO_CUSTOMERS",
            help="Accounts (the first N accounts of a seed are the same whatever the total).",
        ),
    ] = 2000,
    days: Annotated[
        int,
        typer.Option(min=1, max=730, envvar="HEALTHSCORE_DEMO_DAYS", help="Days of activity."),
    ] = 180,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data).")] = 7,
    history_days: Annotated[
        int,
        typer.Option(
            min=1,
            max=730,
            envvar="HEALTHSCORE_DEMO_HISTORY_DAYS",
            help="Days of score history to backfill.",
        ),
    ] = 30,
    reset: Annotated[
        bool, typer.Option("--reset", help="Delete existing data in the database first.")
    ] = False,
    scorecard: ScorecardOption = None,
    profile: Annotated[
        DemoProfile,
        typer.Option(
            help="Kind of customer base: default (mixed B2B), api_heavy (annual contracts, "
            "API-only integrations, seasonal dips), smb_monthly (small teams, monthly plans)."
        ),
    ] = DemoProfile("default"),
    serve: Annotated[
        bool,
        typer.Option(
            "--serve",
            help="Then serve the API and dashboard (like `healthscore serve`) as soon as "
            "today's scores are in, and build the score history and cases in the background; "
            "open pages update when it is done.",
        ),
    ] = False,
    host: Annotated[str, typer.Option(help="With --serve: interface to listen on.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=1, max=65535, help="With --serve: port.")] = 8000,
) -> None:
    """Generate realistic demo accounts, build score history, print who needs attention."""
    from healthscore.ingest.demo import generate_demo
    from healthscore.scoring.service import backfill_days
    from healthscore.storage.database import transaction
    from healthscore.storage.maintenance import delete_all_data, has_customers

    card = scorecard_from(scorecard)
    rules = playbooks_from(None)
    _, sessions = open_database()
    with sessions() as session:
        if has_customers(session) and not reset:
            raise fail("the database already has customers; pass --reset to replace them")
    now = datetime.now(UTC)
    with progress_bar() as progress, rescoring(sessions, card, rules) as rescore:
        task = progress.add_task("generating accounts", total=customers)
        with transaction(sessions) as session:
            delete_all_data(session)
            summary = generate_demo(
                session,
                customers=customers,
                days=days,
                seed=seed,
                now=now,
                profile=profile.value,
                progress=lambda done: progress.update(task, completed=done),
            )
        # Replaying playbooks over the history fills the outreach log as it would be.
        moments = [*backfill_days(history_days - 1, until=now.date() - timedelta(days=1)), now]
        if serve:  # today's scores now; history, trends and cases once the server runs
            run = rescore.replay([now], playbooks=False)
        else:
            history = progress.add_task("scoring history", total=history_days)
            run = rescore.replay(
                moments,
                playbooks=True,
                scored=lambda _moment: progress.update(history, advance=1),
            )
    console.print(
        f"generated {summary.customers} {summary.profile} accounts ({summary.churned} churned): "
        + ", ".join(f"{k} {v}" for k, v in summary.archetypes.items() if v)
    )
    console.print(
        "churned by path: " + ", ".join(f"{k} {v}" for k, v in summary.churned_by_path.items())
    )
    assert run is not None
    summarise(run, sessions, card, show_riskiest=True)
    if serve:
        _serve_building_history(moments, card, rules, host=host, port=port)


def _serve_building_history(
    moments: list[datetime], card: Scorecard, rules: PlaybookSet, *, host: str, port: int
) -> None:
    """The dashboard answers at once; the score history is replayed meanwhile in a thread
    of the same process, so the pages it changes hear of it (live updates) when it ends."""
    import threading
    import time

    import uvicorn

    from healthscore.api.app import create_app
    from healthscore.rescoring.service import Rescoring
    from healthscore.settings import Settings

    settings = Settings()
    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level=settings.log_level.lower(),
            timeout_graceful_shutdown=5,
        )
    )
    history = Rescoring(
        sessions=app.state.sessions,
        scorecard=card,
        playbooks=rules,
        deliveries=lambda _ids: None,  # past moments: cases are logged, nothing is sent
        listeners=app.state.jobs.rescoring.listeners,
    )

    def build() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.1)
        started = time.perf_counter()
        history.replay(moments, playbooks=True)
        console.print(
            f"score history built: {len(moments)} days with their cases, "
            f"in {time.perf_counter() - started:.0f}s"
        )

    console.print(f"serving on http://{host}:{port}  (API docs: http://{host}:{port}/docs)")
    console.print(f"building {len(moments)} days of score history in the background…")
    threading.Thread(target=build, name="demo-history", daemon=True).start()
    server.run()


def register(app: typer.Typer) -> None:
    app.command()(demo)
