"""What routes get injected: a database session and the active scorecard."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from sqlalchemy.orm import Session

from healthscore.ingest.segment import KnownAccounts
from healthscore.jobs.queue import Jobs
from healthscore.playbooks.rules import PlaybookSet
from healthscore.scoring.scorecard import Scorecard
from healthscore.storage.cache import ScoreCache


def database_session(request: Request) -> Iterator[Session]:
    """A session per request; routes that write use ``with session.begin():``."""
    with request.app.state.sessions() as session:
        yield session


# The dependencies below only read app state, so they are ``async``: FastAPI runs a sync
# dependency in the thread pool, a hand-off that costs more than the lookup itself.


async def active_scorecard(request: Request) -> Scorecard:
    card: Scorecard = request.app.state.scorecard
    return card


async def active_playbooks(request: Request) -> PlaybookSet:
    rules: PlaybookSet = request.app.state.playbooks
    return rules


async def job_queue(request: Request) -> Jobs:
    jobs: Jobs = request.app.state.jobs
    return jobs


async def known_accounts(request: Request) -> KnownAccounts:
    known: KnownAccounts = request.app.state.known_accounts
    return known


async def score_cache(request: Request) -> ScoreCache:
    cache: ScoreCache = request.app.state.cache
    return cache


def idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=255,
            pattern=r"^[\x21-\x7e]+$",
            description="Retry-safe writes: a request repeated with the same key is "
            "acknowledged but applied only once.",
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


class Paging:
    """``page`` (1-based) and ``pageSize`` query parameters."""

    def __init__(
        self,
        page: Annotated[int, Query(ge=1, le=100_000)] = 1,
        page_size: Annotated[int, Query(alias="pageSize", ge=1, le=500)] = 50,
    ) -> None:
        self.page = page
        self.page_size = page_size

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


PageParams = Annotated[Paging, Depends()]
