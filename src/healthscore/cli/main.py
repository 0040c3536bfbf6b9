"""``healthscore``: set up, load, score and inspect from the terminal."""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from healthscore.auth.keys import Scope, UnknownKeyError, create_key, list_keys, revoke_key
from healthscore.cli import render
from healthscore.ingest.journal import Journal, journal_file
from healthscore.jobs.queue import Jobs, queue_file
from healthscore.observability.logs import configure as configure_logs
from healthscore.playbooks.rules import PlaybookError, PlaybookSet, load_playbooks
from healthscore.playbooks.service import run_playbooks
from healthscore.scoring import reports
from healthscore.scoring.engine import raw_event_lookback_days
from healthscore.scoring.scorecard import Scorecard, ScorecardError, load_scorecard
from healthscore.scoring.service import (
    ScoringRun,
    UnknownCustomerError,
    backfill_days,
    score_accounts,
)
from healthscore.settings import Settings, scorecard_location
from healthscore.storage.cache import ScoreCache
from healthscore.storage.database import make_engine, make_sessionmaker, transaction, upgrade
from healthscore.storage.lifecycle import (
    UnknownAccountError,
    backup_sqlite,
    delete_customer,
    export_customer,
    restore_sqlite,
)
from healthscore.storage.partitions import RetentionTooShort
from healthscore.storage.partitions import maintain as maintain_raw_events
from healthscore.storage.rollups import RawEventsDropped
from healthscore.storage.rollups import rebuild_rollups as rebuild_from_raw

app = typer.Typer(
    help="Customer health scores that predict churn: explainable, as of any moment.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
export_app = typer.Typer(help="Export data.", no_args_is_help=True)
app.add_typer(export_app, name="export")
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
customers_app = typer.Typer(help="Accounts: erase or export one.", no_args_is_help=True)
app.add_typer(customers_app, name="customers")
playbooks_app = typer.Typer(help="CS playbooks.", no_args_is_help=True)
app.add_typer(playbooks_app, name="playbooks")
app.add_typer(keys_app, name="keys")
console = Console()


@app.callback()
def configure_logging() -> None:
    """Logs go to stderr at ``HEALTHSCORE_LOG_LEVEL`` (secrets and keys are never logged)."""
    settings = Settings()
    configure_logs(settings.log_level, settings.log_format)


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
AsOfOption = Annotated[
    datetime | None,
    typer.Option("--as-of", help="Score as of this moment (UTC), using only earlier data."),
]


def fail(message: str, code: int = 1) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def open_database(*, migrate: bool = True) -> tuple[Engine, sessionmaker[Session]]:
    engine = make_engine(Settings().database_url)
    if migrate:
        upgrade(engine)
    return engine, make_sessionmaker(engine)


def invalidate_cache(customer_ids: list[str] | None = None) -> None:
    """Scores changed outside the API: cached answers are stale, open dashboards should
    re-read (both through Redis, when configured)."""
    settings = Settings()
    cache = ScoreCache.for_settings(settings)
    cache.invalidate()
    cache.close()
    if settings.redis_url:
        from healthscore.dashboard.live import live_channel, publish_scores_changed

        publish_scores_changed(
            settings.redis_url, live_channel(settings.queue_name), customer_ids or []
        )


def playbooks_from(option: str | None) -> PlaybookSet:
    location = option or Settings().playbooks
    try:
        return load_playbooks(location)
    except PlaybookError as error:
        raise fail(str(error), code=2) from error


def scorecard_from(option: str | None) -> Scorecard:
    try:
        return load_scorecard(scorecard_location(option or Settings().scorecard))
    except ScorecardError as error:
        raise fail(str(error), code=2) from error


@contextmanager
def progress_bar() -> Iterator[Progress]:
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=errors,
        transient=not sys.stderr.isatty(),
    ) as progress:
        yield progress


def as_of_or_now(as_of: datetime | None) -> datetime:
    if as_of is None:
        return datetime.now(UTC)
    return as_of.replace(tzinfo=UTC) if as_of.tzinfo is None else as_of.astimezone(UTC)


@app.command()
def init() -> None:
    """Create or migrate the database (``alembic upgrade head``)."""
    engine, _ = open_database()
    console.print(f"database ready: {engine.url.render_as_string(hide_password=True)}")


@app.command()
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
    card = scorecard_from(scorecard)
    rules = playbooks_from(None)
    _, sessions = open_database()
    moment = as_of_or_now(as_of)
    if shards is not None:
        if customer:
            raise fail("--shards scores every account; it cannot be combined with --customer")
        distributed_rescore(sessions, card, rules, shards=shards, as_of=moment, timeout=timeout)
        return
    with progress_bar() as progress:
        task = progress.add_task("scoring", total=4)
        try:
            with transaction(sessions) as session:
                run = score_accounts(
                    session,
                    card,
                    as_of=moment,
                    customer_ids=customer or None,
                    progress=lambda step: progress.update(task, advance=1, description=step),
                )
                fired = run_playbooks(session, rules, run.scores, as_of=moment)
        except UnknownCustomerError as error:
            raise fail(str(error)) from error
    invalidate_cache()
    if fired.delivery_ids:
        # Queued durably; sent by `healthscore worker` (or the worker inside `serve`).
        jobs = Jobs(Settings(), sessions=sessions, scorecard=card, playbooks=rules)
        jobs.enqueue_deliveries(fired.delivery_ids)
    summarise(run, sessions, card, show_riskiest=not customer)
    console.print(
        f"playbooks: {fired.logged} outreach entries logged, "
        f"{fired.suppressed} suppressed by cooldown"
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
    from healthscore.jobs.shards import progress as run_progress

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


def summarise(
    run: ScoringRun,
    sessions: sessionmaker[Session],
    card: Scorecard,
    *,
    show_riskiest: bool,
) -> None:
    """What every scoring command ends with: the tier breakdown and who needs attention."""
    seconds = sum(run.timings.values())
    console.print(
        f"scored {len(run.scores)} accounts ({len(run.churned)} churned) "
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


@app.command()
def backfill(
    days: Annotated[int, typer.Option(min=1, max=3650, help="How many days of history.")] = 90,
    until: Annotated[
        datetime | None, typer.Option(help="Last day to score (default: today, UTC).")
    ] = None,
    scorecard: ScorecardOption = None,
) -> None:
    """Build daily score history: score as of midnight UTC of each day, oldest first.

    Each day is its own transaction, so an interrupted backfill keeps the days it finished
    and can simply be run again.
    """
    card = scorecard_from(scorecard)
    _, sessions = open_database()
    last = (until or datetime.now(UTC)).date()
    run: ScoringRun | None = None
    with progress_bar() as progress:
        task = progress.add_task("backfilling", total=days)
        for moment in backfill_days(days, until=last):
            with transaction(sessions) as session:
                run = score_accounts(session, card, as_of=moment)
            progress.update(task, advance=1, description=f"scored {moment:%Y-%m-%d}")
    assert run is not None
    invalidate_cache()
    summarise(run, sessions, card, show_riskiest=True)


@app.command()
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
) -> None:
    """Raw-event housekeeping (also run nightly by the worker): create the coming months'
    partitions on PostgreSQL and drop raw events past retention. Roll-ups are kept, so
    scores do not change; a retention shorter than the scorecard's windows is refused."""
    card = scorecard_from(scorecard)
    retention = retention_days or Settings().raw_event_retention_days
    _, sessions = open_database()
    try:
        with transaction(sessions) as session:
            if rebuild_rollups:
                for table, rows in rebuild_from_raw(session.connection()).items():
                    console.print(f"rebuilt {table}: {rows:,} rows")
            report = maintain_raw_events(
                session.connection(),
                retention_days=retention,
                lookback_days=raw_event_lookback_days(card),
            )
    except (RetentionTooShort, RawEventsDropped) as error:
        raise fail(str(error), code=2) from error
    for name in report.created:
        console.print(f"created partition {name}")
    for name in report.dropped:
        console.print(f"dropped partition {name}")
    kept = "kept forever" if retention is None else f"kept {retention} days"
    console.print(
        f"{len(report.created)} partitions created, {len(report.dropped)} dropped, "
        f"{report.deleted_rows:,} expired raw rows deleted; raw events {kept}"
    )


@app.command()
def show(
    customer: Annotated[str, typer.Argument(help="Account id.")],
    scorecard: ScorecardOption = None,
) -> None:
    """Explain an account's latest score: every signal, its data, window and weight."""
    card = scorecard_from(scorecard)
    _, sessions = open_database()
    with sessions() as session:
        detail = reports.account_detail(session, customer, card)
    if detail is None:
        raise fail(f"no score for customer {customer!r} (unknown id, or not scored yet)")
    render.print_account(console, detail)


@export_app.command("scores")
def export_scores(
    format: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
) -> None:
    """Export every account's latest score with its components."""
    if format not in {"csv", "json"}:
        raise fail(f"--format must be csv or json, not {format!r}", code=2)
    _, sessions = open_database()
    with sessions() as session:
        rows = reports.all_score_rows(session)
    records = [
        {
            "customer_id": r.customer_id,
            "name": r.name,
            "segment": r.segment,
            "plan": r.plan,
            "mrr": str(r.mrr),
            "score": r.score,
            "tier": r.tier,
            "trend": r.trend,
            "previous_score": r.previous_score,
            "as_of": r.as_of.isoformat(),
            **{f"component_{g}": v for g, v in sorted(r.components.items())},
        }
        for r in rows
    ]
    stream = output.open("w", newline="", encoding="utf-8") if output else sys.stdout
    try:
        if format == "json":
            json.dump(records, stream, indent=2)
            stream.write("\n")
        else:
            fields = sorted({key for record in records for key in record}, key=_field_order)
            writer = csv.DictWriter(stream, fieldnames=fields)
            writer.writeheader()
            writer.writerows(records)
    finally:
        if output:
            stream.close()
    if output:
        errors.print(f"wrote {len(records)} scores to {output}")


FIELD_ORDER = [
    "customer_id",
    "name",
    "segment",
    "plan",
    "mrr",
    "score",
    "tier",
    "trend",
    "previous_score",
    "as_of",
]


def _field_order(name: str) -> tuple[int, str]:
    return (FIELD_ORDER.index(name), "") if name in FIELD_ORDER else (len(FIELD_ORDER), name)


@app.command("import")
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


@app.command()
def demo(
    customers: Annotated[int, typer.Option(min=1, max=1_000_000)] = 2000,
    days: Annotated[int, typer.Option(min=1, max=730, help="Days of activity.")] = 90,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data).")] = 7,
    history_days: Annotated[
        int, typer.Option(min=1, max=730, help="Days of score history to backfill.")
    ] = 30,
    reset: Annotated[
        bool, typer.Option("--reset", help="Delete existing data in the database first.")
    ] = False,
    scorecard: ScorecardOption = None,
) -> None:
    """Generate realistic demo accounts, build score history, print who needs attention."""
    from healthscore.ingest.demo import generate_demo
    from healthscore.storage.maintenance import delete_all_data, has_customers

    card = scorecard_from(scorecard)
    _, sessions = open_database()
    with sessions() as session:
        if has_customers(session) and not reset:
            raise fail("the database already has customers; pass --reset to replace them")
    now = datetime.now(UTC)
    with progress_bar() as progress:
        task = progress.add_task("generating accounts", total=customers)
        with transaction(sessions) as session:
            delete_all_data(session)
            summary = generate_demo(
                session,
                customers=customers,
                days=days,
                seed=seed,
                now=now,
                progress=lambda done: progress.update(task, completed=done),
            )
        history = progress.add_task("scoring history", total=history_days)
        run: ScoringRun | None = None
        rules = playbooks_from(None)
        for moment in [*backfill_days(history_days - 1, until=now.date()), now]:
            with transaction(sessions) as session:
                run = score_accounts(session, card, as_of=moment)
                # Replaying playbooks over the history fills the outreach log as it would be.
                run_playbooks(session, rules, run.scores, as_of=moment, deliver=False)
            progress.update(history, advance=1)
    console.print(
        f"generated {summary.customers} accounts ({summary.churned} churned): "
        + ", ".join(f"{k} {v}" for k, v in summary.archetypes.items())
    )
    assert run is not None
    invalidate_cache()
    summarise(run, sessions, card, show_riskiest=True)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Processes (stateless; share the database).")
    ] = 1,
) -> None:
    """Run the HTTP API and dashboard (uvicorn; several processes share the port)."""
    import uvicorn

    from healthscore.api.processes import APP, serve_processes

    open_database()  # migrate once, before any worker accepts requests
    console.print(f"serving on http://{host}:{port}  (API docs: http://{host}:{port}/docs)")
    os.environ["HEALTHSCORE_MIGRATE_ON_START"] = "false"
    options: dict[str, Any] = {
        "log_level": Settings().log_level.lower(),
        "timeout_graceful_shutdown": 5,  # open dashboard event streams must not stall a stop
    }
    if workers == 1:
        uvicorn.run(APP, factory=True, host=host, port=port, **options)
    else:
        serve_processes(host, port, workers, **options)


@app.command()
def worker(
    threads: Annotated[int, typer.Option(min=1, max=64, help="Worker threads.")] = 2,
    periodic: Annotated[
        bool, typer.Option(help="Also run periodic tasks (full rescore, sweeps).")
    ] = True,
) -> None:
    """Process deliveries and scoring jobs from the queue (Redis in production)."""
    from healthscore.jobs.worker import run_worker

    settings = Settings()
    open_database()
    jobs = Jobs(settings)
    if settings.redis_url:
        from healthscore.dashboard.live import live_channel, publish_scores_changed

        redis_url, channel = settings.redis_url, live_channel(settings.queue_name)
        jobs.listeners.append(lambda ids: publish_scores_changed(redis_url, channel, ids))
        cache = ScoreCache.for_settings(settings)
        jobs.listeners.append(lambda _ids: cache.invalidate())
    where = settings.redis_url or f"SQLite queue {queue_file(settings)}"
    console.print(f"worker: {threads} thread(s) on {where}; Ctrl-C stops gracefully")
    run_worker(jobs, threads=threads, periodic=periodic)


@customers_app.command("delete")
def customers_delete(
    customer_id: Annotated[str, typer.Argument(help="Account id.")],
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: this cannot be undone.")] = False,
) -> None:
    """Erase an account and all its personal data (erasure requests)."""
    if not yes:
        raise fail("this deletes the account and all its data; pass --yes to confirm", code=2)
    _, sessions = open_database()
    try:
        with transaction(sessions) as session:
            counts = delete_customer(session, customer_id)
    except UnknownAccountError as error:
        raise fail(str(error)) from error
    invalidate_cache()
    removed = ", ".join(f"{table} {n}" for table, n in counts.items() if n)
    console.print(f"deleted {customer_id}: {removed}")


@customers_app.command("export")
def customers_export(
    customer_id: Annotated[str, typer.Argument(help="Account id.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File (default: stdout).")
    ] = None,
) -> None:
    """Everything stored about one account, as JSON (data access requests)."""
    _, sessions = open_database()
    with sessions() as session:
        try:
            data = export_customer(session, customer_id)
        except UnknownAccountError as error:
            raise fail(str(error)) from error
    text = json.dumps(data, indent=2, ensure_ascii=False)
    if output:
        output.write_text(text + "\n", encoding="utf-8")
        errors.print(f"wrote {output}")
    else:
        console.print_json(text)


@app.command()
def backup(destination: Annotated[Path, typer.Argument(help="Backup file to write.")]) -> None:
    """Consistent copy of the embedded SQLite database, safe while it is in use."""
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


@app.command()
def restore(
    source: Annotated[Path, typer.Argument(help="Backup file made by `healthscore backup`.")],
    yes: Annotated[bool, typer.Option("--yes", help="Confirm replacing the database.")] = False,
) -> None:
    """Replace the embedded SQLite database with a backup (stop serve/worker first)."""
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


@keys_app.command("create")
def keys_create(
    scope: Annotated[
        Scope, typer.Option(help="read: GET routes; ingest: tracking and data; admin: all.")
    ],
    name: Annotated[str, typer.Option(help="What the key is for.", max=255)] = "",
) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    _, sessions = open_database()
    with transaction(sessions) as session:
        issued = create_key(session, scope=scope, name=name)
    errors.print(f"created {scope.value} key #{issued.id} {name!r}; it is shown only once:")
    console.print(issued.secret, soft_wrap=True)


@keys_app.command("list")
def keys_list() -> None:
    """List keys (prefix, scope, name, state); secrets are never shown again."""
    _, sessions = open_database()
    with sessions() as session:
        console.print(render.keys_table(list_keys(session)))


@keys_app.command("revoke")
def keys_revoke(key: Annotated[str, typer.Argument(help="Key id or prefix.")]) -> None:
    """Revoke a key; requests with it get 401 from then on."""
    _, sessions = open_database()
    try:
        with transaction(sessions) as session:
            info = revoke_key(session, key)
    except UnknownKeyError as error:
        raise fail(str(error)) from error
    console.print(f"revoked key #{info.id} ({info.prefix})")
    settings = Settings()
    cache = ScoreCache.for_settings(settings)
    if not cache.invalidate_keys():
        console.print(
            "[yellow]Redis unreachable: API processes may still accept this key for up to "
            f"{settings.cache_ttl_seconds} s[/]"
        )
    cache.close()


PlaybooksOption = Annotated[
    str | None,
    typer.Option(
        "--playbooks", help="Playbook YAML (default: bundled). Env: HEALTHSCORE_PLAYBOOKS."
    ),
]


@playbooks_app.command("list")
def playbooks_list(playbooks: PlaybooksOption = None) -> None:
    """Show the playbook rules in force."""
    rules = playbooks_from(playbooks)
    console.print(render.playbooks_table(rules))


@playbooks_app.command("test")
def playbooks_test(
    playbooks: PlaybooksOption = None,
    scorecard: ScorecardOption = None,
    as_of: AsOfOption = None,
) -> None:
    """Dry run: which accounts each rule would fire for now. Nothing is written."""
    rules = playbooks_from(playbooks)
    card = scorecard_from(scorecard)
    _, sessions = open_database()
    moment = as_of_or_now(as_of)
    with sessions() as session:
        run = score_accounts(session, card, as_of=moment)
        result = run_playbooks(session, rules, run.scores, as_of=moment)
        session.rollback()
    console.print(render.firings_table(result.firings))
    console.print(
        f"{len(result.firings)} firings; {result.logged} would be logged, "
        f"{result.suppressed} are inside their cooldown"
    )


from healthscore.cli.backtest import register as _register_backtest  # noqa: E402

_register_backtest(app)
