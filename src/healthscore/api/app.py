"""The FastAPI application factory used by ``healthscore serve`` and the tests."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import redis
from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine, text
from starlette.routing import BaseRoute

from healthscore import __version__
from healthscore.api import idempotency, openapi
from healthscore.api.errors import COMMON_RESPONSES, install_error_handlers
from healthscore.api.headers import SecurityHeaders
from healthscore.api.idempotency import IdempotentReplays
from healthscore.api.json_bodies import RequireJsonBodies
from healthscore.api.limits import BodySizeLimit
from healthscore.api.rate_limits import RateLimiter
from healthscore.api.routes import (
    backtests,
    cases,
    csm,
    customers,
    engagement,
    mrr,
    nps,
    outreach,
    playbooks,
    quality,
    scores,
    segment,
    stripe,
    subscriptions,
)
from healthscore.api.sanitize import RejectNulCharacters
from healthscore.api.security import ReadKey, TrustedKeys
from healthscore.dashboard import live
from healthscore.dashboard import routes as dashboard
from healthscore.garbage_collection import settle_process
from healthscore.ingest.segment import KnownAccounts
from healthscore.jobs.queue import Jobs
from healthscore.jobs.shards import latest_run_counts
from healthscore.jobs.worker import start_embedded
from healthscore.observability.logs import RequestContext
from healthscore.observability.metrics import (
    Combined,
    JournalBacklog,
    QueueDepth,
    ShardProgress,
    render,
)
from healthscore.playbooks.rules import load_playbooks
from healthscore.rescoring.listeners import standard_listeners
from healthscore.scoring.scorecard_loading import load_scorecard
from healthscore.settings import Settings, scorecard_location
from healthscore.storage.cache import ScoreCache
from healthscore.storage.database import (
    make_engine,
    make_read_sessionmaker,
    make_sessionmaker,
    upgrade,
)

log = logging.getLogger(__name__)

DESCRIPTION = """Customer health scores for customer-success teams.

Authenticate with an API key (`healthscore keys create --scope read|ingest|admin`) sent as
`Authorization: Bearer <key>` or `X-API-Key: <key>`. Errors always have the shape
`{"error": {"status", "code", "message", "details": [{"field", "message"}]}}`; a body that
is not JSON gets 415, one that does not parse 400 `malformed_json` with its line and column.
Writes accept an `Idempotency-Key` header: a retry gets the first answer again
(`Idempotent-Replayed: true`), the same key with another body 422 `idempotency_key_reused`.

Bodies are read as this document types them: unknown fields are refused (Segment's
endpoints welcome them, as Segment does), a number is not a string nor a string a number,
date-times are RFC 3339 strings (without an offset: UTC), text is taken as sent and may
not contain NUL (U+0000; 422). Rules JSON Schema cannot state (an account that must exist,
a timestamp not in the future, one date not before another) are in the fields'
descriptions and answered 422 (400 on Segment's endpoints).
"""


def _check(probe: Callable[[], None]) -> str:
    try:
        probe()
    except Exception as error:
        return f"error: {type(error).__name__}"
    return "ok"


def _ping_database(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def _ping_redis(url: str) -> None:
    client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    try:
        client.ping()
    finally:
        client.close()


ROUTERS = (
    # First: a request is matched against the routes in order, and Segment's /v1/batch is
    # the ingest hot path (matching it after every other route cost a tenth of an ingest
    # request's CPU). /v1/ is Segment's alone, so nothing else changes; the OpenAPI
    # document keeps it last (openapi.document).
    segment,
    scores,
    nps,
    engagement,
    outreach,
    cases,
    playbooks,
    backtests,
    customers,
    mrr,
    csm,
    quality,
    subscriptions,
    stripe,
)


@functools.cache
def _shared_routes() -> tuple[BaseRoute, ...]:
    """The JSON API's routers, then the dashboard's pages, included once per process and
    shared by its apps.

    FastAPI prepares an included router's routes (every dependency's signature, every
    parameter's and response's validator) for the app that includes it, on its first
    request: 0.15-0.3 s of CPU per app. Included here once, every app of the process
    (the test suite makes hundreds; ``serve`` one per worker process) reuses them. No
    route belongs to an app: handlers find their engine, settings and jobs on
    ``request.app.state``."""
    carrier = APIRouter()
    for module in ROUTERS:
        carrier.include_router(module.router, responses=COMMON_RESPONSES)
    carrier.include_router(dashboard.router)
    return tuple(carrier.routes)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    engine = make_engine(settings.database_url, pool_size=settings.database_pool_size)
    if settings.migrate_on_start:
        upgrade(engine)
    sessions = make_sessionmaker(engine)
    scorecard = load_scorecard(scorecard_location(settings.scorecard))
    rules = load_playbooks(settings.playbooks)
    cache = ScoreCache.for_settings(settings)
    # Live dashboards: through Redis pub/sub when several processes serve, else in-process.
    broadcaster: live.Broadcaster = (
        live.RedisBroadcaster(settings.redis_url, channel=live.live_channel(settings.queue_name))
        if settings.redis_url
        else live.Broadcaster()
    )
    jobs = Jobs(
        settings,
        sessions=sessions,
        scorecard=scorecard,
        playbooks=rules,
        listeners=standard_listeners(cache, live=broadcaster.notify_scores_changed),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Embedded default: no Redis, so the worker runs in this process (make demo).
        embedded = settings.embedded_worker
        consumer = (
            start_embedded(jobs)
            if (embedded is None and not settings.redis_url) or embedded
            else None
        )
        if consumer is not None:
            # What a process killed earlier acknowledged: applied now, not at the next sweep.
            jobs.resume()
        elif settings.ingest_ack == "journaled":
            log.info(
                "no worker in this process: journaled Segment events reach the tables once "
                "a `healthscore worker` applies them"
            )
        if isinstance(broadcaster, live.RedisBroadcaster):
            broadcaster.start()
        # Everything loaded so far (libraries, models, the scorecard) lives as long as the
        # process: moved out of the collector's sight, full collections stay short
        # instead of pausing requests to walk a few hundred thousand objects.
        settle_process()
        yield
        if consumer is not None:
            consumer.stop(graceful=True)
            # Journaled requests acknowledged since the worker's last pass reach the tables
            # before this process ends (a SIGKILLed one leaves them to the next start).
            jobs.drain_journal()
        if isinstance(broadcaster, live.RedisBroadcaster):
            broadcaster.stop()

    app = FastAPI(
        title="healthscore", version=__version__, description=DESCRIPTION, lifespan=lifespan
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = sessions
    app.state.read_sessions = make_read_sessionmaker(engine)
    app.state.scorecard = scorecard
    app.state.playbooks = rules
    app.state.jobs = jobs
    app.state.cache = cache
    app.state.trusted_keys = TrustedKeys(max_age=settings.cache_ttl_seconds)
    app.state.rate_limiter = RateLimiter.from_settings(
        settings.rate_limit, settings.redis_url, namespace=f"{settings.queue_name}:api"
    )
    app.state.known_accounts = KnownAccounts()
    install_error_handlers(app)
    # Added last = outermost: the size limit applies before the body is buffered; a body
    # refused for NULs or its media type never claims an Idempotency-Key.
    app.add_middleware(IdempotentReplays)
    app.add_middleware(RequireJsonBodies)
    app.add_middleware(RejectNulCharacters)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(RequestContext)  # outermost: ids and timing cover everything

    @app.get("/healthz", operation_id="liveness", tags=["operations"])
    def liveness() -> dict[str, str]:
        """Liveness: the process is up (no dependencies checked, no key needed)."""
        return {"status": "ok"}

    @app.get(
        "/readyz",
        operation_id="readiness",
        tags=["operations"],
        responses={503: {"description": "a dependency is unreachable"}},
    )
    def readiness() -> JSONResponse:
        """Readiness: the database (and Redis, when configured) answer. No key needed."""
        checks = {"database": _check(lambda: _ping_database(engine))}
        if settings.redis_url:
            checks["redis"] = _check(lambda: _ping_redis(settings.redis_url or ""))
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "unavailable", "checks": checks},
            status_code=200 if ready else 503,
        )

    def shard_counts() -> dict[str, int]:
        with sessions() as session:
            return latest_run_counts(session)

    def journal_backlog() -> tuple[int, float]:
        with sessions() as session:
            _, events, waited = jobs.journal.backlog(session)
            return events, waited

    operational = Combined(
        QueueDepth(jobs.huey.pending_count),
        ShardProgress(shard_counts),
        JournalBacklog(journal_backlog),
    )

    @app.get(
        "/metrics",
        operation_id="metrics",
        tags=["operations"],
        response_class=PlainTextResponse,
        responses={status: COMMON_RESPONSES[status] for status in (401, 403, 429, 500)},
    )
    def metrics(_key: ReadKey) -> Response:
        """Prometheus metrics (scrape with a read-scope key as bearer token)."""
        body, content_type = render(operational)
        return Response(body, media_type=content_type)

    app.router.routes.extend(_shared_routes())
    app.state.broadcaster = broadcaster
    idempotency.document(app)
    openapi.document(app, scorecard)
    app.mount("/static", StaticFiles(directory=dashboard.STATIC_DIR), name="static")
    return app
