"""``healthscore demo``: generate realistic accounts, build score history, show the riskiest."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

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
        history = progress.add_task("scoring history", total=history_days)
        # Replaying playbooks over the history fills the outreach log as it would be.
        run = rescore.replay(
            [*backfill_days(history_days - 1, until=now.date()), now],
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


def register(app: typer.Typer) -> None:
    app.command()(demo)
