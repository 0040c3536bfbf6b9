"""What routes get injected: a database session and the active scorecard."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from healthscore.ingest.segment import KnownAccounts
from healthscore.jobs.queue import Jobs
from healthscore.jsontypes import URL_INT
from healthscore.playbooks.rules import PlaybookSet
from healthscore.scoring.scorecard import Scorecard
from healthscore.settings import Settings
from healthscore.storage.cache import ScoreCache

# Dependencies are ``async`` unless they wait on I/O: FastAPI runs a sync dependency in
# the thread pool, a hand-off (about 0.35 ms of CPU on a 2-core machine) that costs more
# than reading app state or checking query parameters.


async def database_session(request: Request) -> AsyncIterator[Session]:
    """A session per request; routes that write use ``with session.begin():``. Creating
    one does no I/O; closing one that holds a connection does (the pool rolls it back),
    so only then is it closed in the thread pool."""
    session: Session = request.app.state.sessions()
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


async def active_scorecard(request: Request) -> Scorecard:
    card: Scorecard = request.app.state.scorecard
    return card


async def active_playbooks(request: Request) -> PlaybookSet:
    rules: PlaybookSet = request.app.state.playbooks
    return rules


async def service_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def job_queue(request: Request) -> Jobs:
    jobs: Jobs = request.app.state.jobs
    return jobs


async def known_accounts(request: Request) -> KnownAccounts:
    known: KnownAccounts = request.app.state.known_accounts
    return known


async def score_cache(request: Request) -> ScoreCache:
    cache: ScoreCache = request.app.state.cache
    return cache


async def idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=255,
            pattern=r"^[\x21-\x7e]+$",
            description="Retry-safe writes (Stripe's semantics): a retry with the same "
            "key and the same request gets the first answer again, with "
            "`Idempotent-Replayed: true`, and is not applied twice; the same key with "
            "another body or path gets 422 `idempotency_key_reused`; while the first "
            "request runs, 409 `idempotency_key_in_use`. Kept 24 hours, per API key "
            "(`api.idempotency`).",
        ),
    ] = None,
) -> str | None:
    return key


DbSession = Annotated[Session, Depends(database_session)]
IdempotencyKey = Annotated[str | None, Depends(idempotency_key)]
Cache = Annotated[ScoreCache, Depends(score_cache)]
KnownAccountsCache = Annotated[KnownAccounts, Depends(known_accounts)]
JobQueue = Annotated[Jobs, Depends(job_queue)]
ActivePlaybooks = Annotated[PlaybookSet, Depends(active_playbooks)]
ActiveScorecard = Annotated[Scorecard, Depends(active_scorecard)]
ServiceSettings = Annotated[Settings, Depends(service_settings)]


@dataclass(frozen=True)
class Paging:
    """``page`` (1-based) and ``pageSize`` query parameters."""

    page: int
    page_size: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


async def paging(
    page: Annotated[int, Query(ge=1, le=100_000), URL_INT] = 1,
    page_size: Annotated[int, Query(alias="pageSize", ge=1, le=500), URL_INT] = 50,
) -> Paging:
    return Paging(page, page_size)


PageParams = Annotated[Paging, Depends(paging)]
