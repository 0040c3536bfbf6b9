"""``healthscore serve`` and ``worker``: the HTTP API and dashboard, and the queue worker."""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer

from healthscore.cli.context import console, live_push, open_database


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
    from healthscore.settings import Settings

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


def worker(
    threads: Annotated[int, typer.Option(min=1, max=64, help="Worker threads.")] = 2,
    periodic: Annotated[
        bool, typer.Option(help="Also run periodic tasks (full rescore, sweeps).")
    ] = True,
) -> None:
    """Process deliveries and scoring jobs from the queue (Redis in production)."""
    from healthscore.jobs.queue import Jobs, queue_file
    from healthscore.jobs.worker import run_worker
    from healthscore.rescoring.listeners import standard_listeners
    from healthscore.settings import Settings
    from healthscore.storage.cache import ScoreCache

    settings = Settings()
    open_database()
    listeners = standard_listeners(ScoreCache.for_settings(settings), live=live_push(settings))
    jobs = Jobs(settings, listeners=listeners)
    where = settings.redis_url or f"SQLite queue {queue_file(settings)}"
    console.print(f"worker: {threads} thread(s) on {where}; Ctrl-C stops gracefully")
    run_worker(jobs, threads=threads, periodic=periodic)


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(worker)
