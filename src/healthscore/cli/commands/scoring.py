"""``healthscore score``, ``backfill``, ``maintain`` and ``show``: score accounts now, as of
a moment or day by day, keep raw events in bounds, and explain one account's score."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from healthscore.cli.context import (
    MOMENT_FORMATS,
    AsOfOption,
    ScorecardOption,
    as_of_or_now,
    console,
    errors,
    fail,
    invalidate_cache,
    open_database,
    playbooks_from,
    progress_bar,
    rescoring,
    scorecard_from,
    summarise,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from healthscore.playbooks.rules import PlaybookSet
    from healthscore.scoring.scorecard import Scorecard


def score(
    as_of: AsOfOption = None,
    customer: Annotated[
        list[str] | None, typer.Option("--customer", help="Only this account (repeatable).")
    ] = None,
    scorecard: ScorecardOption = None,
    shards: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=1000,
            help="Split a full rescore into N shards scored by all running workers "
            "(`healthscore worker`, or `serve` when embedded); shows progress until done.",
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option(min=1, help="With --shards: give up waiting after this many seconds.")
    ] = 3600,
) -> None:
    """Score every active account (or some), save history and latest, run playbooks."""
    from healthscore.playbooks.case_rules import Outcome
    from healthscore.scoring.service import UnknownCustomerError

    card = scorecard_from(scorecard)
    rules = playbooks_from(None)
    _, sessions = open_database()
    moment = as_of_or_now(as_of)
    if shards is not None:
        if customer:
            raise fail("--shards scores every account; it cannot be combined with --customer")
        distributed_rescore(sessions, card, rules, shards=shards, as_of=moment, timeout=timeout)
        return
    with progress_bar() as progress, rescoring(sessions, card, rules) as rescore:
        task = progress.add_task("scoring", total=4)
        try:
            rescored = rescore.rescore(
                kind="cli",
                as_of=moment,
                customer_ids=customer or None,
                progress=lambda step: progress.update(task, advance=1, description=step),
            )
        except UnknownCustomerError as error:
            raise fail(str(error)) from error
    summarise(rescored.run, sessions, card, show_riskiest=not customer)
    fired = rescored.playbooks
    console.print(
        f"playbooks: {fired.logged} outreach entries logged (new cases), "
        f"{fired.count(Outcome.update)} cases updated, {fired.count(Outcome.escalate)} "
        f"escalated, {fired.count(Outcome.resolve)} resolved"
    )


def distributed_rescore(
    sessions: sessionmaker[Session],
    card: Scorecard,
    rules: PlaybookSet,
    *,
    shards: int,
    as_of: datetime,
    timeout: float,
) -> None:
    from healthscore.cli import render
    from healthscore.jobs.queue import Jobs
    from healthscore.jobs.shards import progress as run_progress
    from healthscore.scoring import reports
    from healthscore.settings import Settings

    jobs = Jobs(Settings(), sessions=sessions, scorecard=card, playbooks=rules)
    run_id = jobs.start_sharded_rescore(shards, as_of=as_of)
    errors.print(f"rescore run {run_id}: {shards} shard(s) queued; waiting for workers")
    deadline = time.monotonic() + timeout
    with progress_bar() as progress:
        task = progress.add_task("shards scored", total=shards)
        while True:
            with sessions() as session:
                state = run_progress(session, run_id)
            progress.update(task, completed=state.done)
            if state.finished:
                break
            if time.monotonic() > deadline:
                raise fail(
                    f"run {run_id}: {state.done}/{state.shards} shards after {timeout:.0f}s; "
                    "is a worker running? Unfinished shards are resumed by any worker later."
                )
            time.sleep(0.5)
    invalidate_cache()
    console.print(
        f"rescore run {run_id}: {state.accounts} accounts in {state.shards} shards "
        f"as of {as_of:%Y-%m-%d %H:%M} UTC"
    )
    with sessions() as session:
        console.print(render.tier_table(reports.tier_distribution(session)))


def backfill(
    days: Annotated[int, typer.Option(min=1, max=3650, help="How many days of history.")] = 90,
    until: Annotated[
        datetime | None,
        typer.Option(formats=MOMENT_FORMATS, help="Last day to score (default: today, UTC)."),
    ] = None,
    scorecard: ScorecardOption = None,
) -> None:
    """Build daily score history: score as of midnight UTC of each day, oldest first.

    Each day is its own transaction, so an interrupted backfill keeps the days it finished
    and can simply be run again.
    """
    from healthscore.playbooks.rules import PlaybookSet
    from healthscore.scoring.service import backfill_days

    card = scorecard_from(scorecard)
    _, sessions = open_database()
    last = (until or datetime.now(UTC)).date()
    no_playbooks = PlaybookSet(version=1)  # history only: outreach is the live rescores'
    with progress_bar() as progress, rescoring(sessions, card, no_playbooks) as rescore:
        task = progress.add_task("backfilling", total=days)
        run = rescore.replay(
            backfill_days(days, until=last),
            playbooks=False,
            scored=lambda moment: progress.update(
                task, advance=1, description=f"scored {moment:%Y-%m-%d}"
            ),
        )
    assert run is not None
    summarise(run, sessions, card, show_riskiest=True)


def maintain(
    retention_days: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=36500,
            help="Drop raw events older than this (default: HEALTHSCORE_RAW_EVENT_RETENTION_DAYS).",
        ),
    ] = None,
    scorecard: ScorecardOption = None,
    rebuild_rollups: Annotated[
        bool,
        typer.Option(
            "--rebuild-rollups",
            help="First recompute the daily roll-ups from the raw events (after loading raw "
            "rows with other tools); refused once retention has dropped raw events.",
        ),
    ] = False,
    vacuum: Annotated[
        bool,
        typer.Option(
            help="Then VACUUM (ANALYZE) the PostgreSQL tables with many dead or new rows "
            "(PRAGMA optimize on SQLite).",
        ),
    ] = True,
) -> None:
    """Database housekeeping, the worker's pass (HEALTHSCORE_MAINTENANCE_CRON) by hand:
    create the coming months' partitions on PostgreSQL, drop raw events past retention,
    then VACUUM (ANALYZE) what needs it. Roll-ups are kept, so scores do not change; a
    retention shorter than the scorecard's windows is refused (exit 2). Exit 3 when a
    worker is running the pass (one at a time)."""
    from healthscore.jobs.maintenance import run_maintenance
    from healthscore.settings import Settings
    from healthscore.storage.partitions import RetentionTooShort
    from healthscore.storage.rollups import RawEventsDropped

    card = scorecard_from(scorecard)
    settings = Settings()
    if retention_days is not None:
        settings = settings.model_copy(update={"raw_event_retention_days": retention_days})
    engine, sessions = open_database()
    try:
        done = run_maintenance(
            engine, sessions, settings, card, vacuum=vacuum, rebuild_rollups=rebuild_rollups
        )
    except (RetentionTooShort, RawEventsDropped) as error:
        raise fail(str(error), code=2) from error
    if done is None:
        raise fail("another process is running maintenance (a worker); nothing done", code=3)
    report, vacuumed = done
    for table, rows in report.rebuilt.items():
        console.print(f"rebuilt {table}: {rows:,} rows")
    for name in report.created:
        console.print(f"created partition {name}")
    for name in report.dropped:
        console.print(f"dropped partition {name}")
    retention = settings.raw_event_retention_days
    kept = "kept forever" if retention is None else f"kept {retention} days"
    console.print(
        f"{len(report.created)} partitions created, {len(report.dropped)} dropped, "
        f"{report.deleted_rows:,} expired raw rows deleted; raw events {kept}"
    )
    if vacuum:
        console.print(
            vacuumed.note
            or f"VACUUM (ANALYZE) of {len(vacuumed.vacuumed)} tables ({vacuumed.dead_rows:,} "
            f"dead rows), ANALYZE of {len(vacuumed.analyzed)}"
        )


def show(
    customer: Annotated[str, typer.Argument(help="Account id.")],
    scorecard: ScorecardOption = None,
) -> None:
    """Explain an account's latest score: every signal, its data, window and weight."""
    from healthscore.backtest.calibrations import churn_probability
    from healthscore.cli import render
    from healthscore.scoring import reports

    card = scorecard_from(scorecard)
    _, sessions = open_database()
    with sessions() as session:
        detail = reports.account_detail(session, customer, card)
        probability = (
            churn_probability(session, card, scorecard=detail.scorecard, score=detail.score.score)
            if detail
            else None
        )
    if detail is None:
        raise fail(f"no score for customer {customer!r} (unknown id, or not scored yet)")
    render.print_account(console, detail, probability)


def register(app: typer.Typer) -> None:
    app.command()(score)
    app.command()(backfill)
    app.command()(maintain)
    app.command()(show)
