"""Seed 001's health score operations and score history."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import TypeAdapter
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from healthscore.api.dependencies import (
    ActiveScorecard,
    Cache,
    DbSession,
    JobQueue,
    PageParams,
)
from healthscore.api.errors import ApiError, ErrorResponse
from healthscore.api.schemas import (
    ChurnProbability,
    Driver,
    HealthScoreDetail,
    HealthScoreSummary,
    HealthSummary,
    HistoryPoint,
    Page,
    ProductCombination,
    ProductScoreDetail,
    SignalDetail,
)
from healthscore.api.security import AdminKey, KeyCheck, ReadKey, ReadKeyCheck
from healthscore.backtest import calibrations
from healthscore.jsontypes import URL_INT, Day
from healthscore.scoring import product_reports, reports
from healthscore.scoring.labels import Tier, Trend
from healthscore.scoring.service import UnknownCustomerError
from healthscore.storage import models as m
from healthscore.storage.cache import ScoreCache

router = APIRouter(prefix="/api/v1", tags=["health scores"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "unknown customer or not scored"}
}
SortKey = Literal["score", "name", "mrr", "change", "customer_id", "tier"]


def rendered(model: Any) -> bytes:
    """``model`` (a pydantic model or response-schema dataclass) as FastAPI would answer
    it: JSON with the camelCase aliases."""
    document: bytes = model.__pydantic_serializer__.to_json(model, by_alias=True)
    return document


async def answer_cached(
    request: Request,
    check: KeyCheck,
    cache: ScoreCache,
    key: str,
    build: Callable[[Session], object],
) -> Response:
    """A cached read in one thread-pool hop: one Redis MGET for the cached JSON and the
    keys generation, the key checked (in the database unless this process already trusts
    it in that generation), then the cached JSON as it is, else ``build``, rendered,
    cached and answered. The routes using this are ``async`` and take no sync dependency:
    each sync dependency or route costs a hop to the thread pool (about 0.35 ms of CPU on
    a 2-core machine), and these are the hottest reads. Sessions are autocommit
    (``make_read_sessionmaker``) and connect only if a statement is run: a cache hit by a
    trusted key touches no database connection."""
    sessions = request.app.state.read_sessions

    def answer() -> bytes:
        with sessions() as session:
            return cache.cached_json(
                key,
                lambda: rendered(build(session)),
                # Before anything cached is used: an unauthorised request learns nothing.
                admit=lambda generation: check(session, keys_generation=generation),
            )

    document = await run_in_threadpool(answer)
    return Response(document, media_type="application/json")


DERIVED = {"change", "churn_probability"}


def _summary_fields(
    row: reports.ScoreRow, probability: calibrations.ChurnProbability | None
) -> dict[str, Any]:
    """The summary's fields: the row's own (declared once, on ``reports.ScoreRow``) plus
    the change over the trend window and the churn probability, if there is one."""
    change = (
        row.score - row.previous_score
        if row.score is not None and row.previous_score is not None
        else None
    )
    own = [f.name for f in dataclasses.fields(HealthScoreSummary) if f.name not in DERIVED]
    return {name: getattr(row, name) for name in own} | {
        "change": change,
        "churn_probability": (
            ChurnProbability.model_validate(probability, from_attributes=True)
            if probability
            else None
        ),
    }


def summary_of(
    row: reports.ScoreRow, probability: calibrations.ChurnProbability | None = None
) -> HealthScoreSummary:
    return HealthScoreSummary(**_summary_fields(row, probability))


def detail_of(
    detail: reports.AccountDetail,
    probability: calibrations.ChurnProbability | None = None,
    products: product_reports.ProductCombination | None = None,
) -> HealthScoreDetail:
    return HealthScoreDetail(
        **_summary_fields(detail.score, probability),
        scorecard=detail.scorecard,
        signals=[SignalDetail(**vars(s)) for s in detail.signals],
        drivers=[Driver(signal=name, delta=delta) for name, delta in detail.score.drivers.items()],
        products=(
            TypeAdapter(ProductCombination).validate_python(dataclasses.asdict(products))
            if products
            else None
        ),
        adjusted=detail.adjusted,
    )


def _detail_or_404(
    session: DbSession, customer_id: str, card: ActiveScorecard
) -> HealthScoreDetail:
    detail = reports.account_detail(session, customer_id, card)
    if detail is None:
        if session.get(m.Customer, customer_id) is None:
            raise ApiError(404, f"unknown customer {customer_id!r}")
        raise ApiError(404, f"customer {customer_id!r} has not been scored yet", code="not_scored")
    probability = calibrations.churn_probability(
        session, card, scorecard=detail.scorecard, score=detail.score.score
    )
    return detail_of(detail, probability, product_reports.product_combination(session, customer_id))


@router.get(
    "/health-scores",
    operation_id="listHealthScores",
    response_model=Page[HealthScoreSummary],
)
async def list_health_scores(
    request: Request,
    check: ReadKeyCheck,
    paging: PageParams,
    tier: Annotated[list[Tier] | None, Query(description="repeatable")] = None,
    trend: Annotated[list[Trend] | None, Query(description="repeatable")] = None,
    segment: Annotated[list[str] | None, Query(description="repeatable")] = None,
    min_score: Annotated[int | None, Query(alias="minScore", ge=0, le=100), URL_INT] = None,
    max_score: Annotated[int | None, Query(alias="maxScore", ge=0, le=100), URL_INT] = None,
    search: Annotated[str | None, Query(max_length=255, description="name or id")] = None,
    sort: SortKey = "score",
    order: Literal["asc", "desc"] = "asc",
    *,
    cache: Cache,
    card: ActiveScorecard,
) -> Response:
    """Latest scores, filtered and sorted (lowest score first by default), paginated."""
    f = reports.ScoreFilter(
        tiers=[t.value for t in tier] if tier else None,
        trends=[t.value for t in trend] if trend else None,
        segments=segment,
        min_score=min_score,
        max_score=max_score,
        search=search or None,
    )

    def build(session: Session) -> Page[HealthScoreSummary]:
        rows, total = reports.list_scores(
            session,
            f,
            sort=sort,
            descending=order == "desc",
            offset=paging.offset,
            limit=paging.page_size,
        )
        probabilities = calibrations.churn_probabilities(
            session, card, [(r.customer_id, r.score) for r in rows]
        )
        return Page(
            items=[summary_of(r, probabilities.get(r.customer_id)) for r in rows],
            total=total,
            page=paging.page,
            page_size=paging.page_size,
        )

    key = cache.key("list", vars(f), sort, order, paging.page, paging.page_size)
    return await answer_cached(request, check, cache, key, build)


@router.get(
    "/health-scores/{customer_id}",
    operation_id="getHealthScore",
    response_model=HealthScoreDetail,
    responses=NOT_FOUND,
)
async def get_health_score(
    request: Request, customer_id: str, check: ReadKeyCheck, card: ActiveScorecard, cache: Cache
) -> Response:
    """The latest score with components, every signal explained, and drivers of change."""
    return await answer_cached(
        request,
        check,
        cache,
        cache.key("score", customer_id),
        lambda session: _detail_or_404(session, customer_id, card),
    )


@router.post(
    "/health-scores/{customer_id}/refresh",
    operation_id="refreshHealthScore",
    response_model=HealthScoreDetail,
    responses=NOT_FOUND,
)
def refresh_health_score(
    customer_id: str,
    _key: AdminKey,
    session: DbSession,
    card: ActiveScorecard,
    jobs: JobQueue,
) -> HealthScoreDetail:
    """Recompute this account's score now from all data so far, persist it, run playbooks."""
    try:
        jobs.rescoring.rescore(kind="refresh", as_of=datetime.now(UTC), customer_ids=[customer_id])
    except UnknownCustomerError as error:
        raise ApiError(404, f"unknown customer {customer_id!r}") from error
    return _detail_or_404(session, customer_id, card)


@router.get(
    "/health-scores/{customer_id}/history",
    operation_id="getHealthScoreHistory",
    response_model=list[HistoryPoint],
    responses=NOT_FOUND,
)
def get_health_score_history(
    customer_id: str,
    _key: ReadKey,
    session: DbSession,
    since: Annotated[Day | None, Query(description="from this day on (YYYY-MM-DD)")] = None,
    until: Annotated[Day | None, Query(description="up to this day (YYYY-MM-DD)")] = None,
) -> list[HistoryPoint]:
    """Daily scores, oldest first (one point per scoring day)."""
    if session.get(m.Customer, customer_id) is None:
        raise ApiError(404, f"unknown customer {customer_id!r}")
    return [
        HistoryPoint.model_validate(h, from_attributes=True)
        for h in reports.score_history(session, customer_id, since=since, until=until)
    ]


@router.get(
    "/health-scores/{customer_id}/products",
    operation_id="getProductScores",
    response_model=list[ProductScoreDetail],
    responses={404: {"model": ErrorResponse, "description": "unknown customer"}},
)
def get_product_scores(
    customer_id: str, _key: ReadKey, session: DbSession
) -> list[ProductScoreDetail]:
    """The latest score of each product the account uses, the most used first (empty when
    the scorecard scores no products or the account has no product events). How they
    make the account's score: ``products`` in ``getHealthScore``."""
    if session.get(m.Customer, customer_id) is None:
        raise ApiError(404, f"unknown customer {customer_id!r}")
    return TypeAdapter(list[ProductScoreDetail]).validate_python(
        [dataclasses.asdict(p) for p in product_reports.product_scores(session, customer_id)]
    )


@router.get("/health-summary", operation_id="getHealthSummary", response_model=HealthSummary)
async def get_health_summary(
    request: Request,
    check: ReadKeyCheck,
    segment: Annotated[list[str] | None, Query()] = None,
    *,
    cache: Cache,
) -> Response:
    """Tier distribution, average score and component scores, declining/improving counts,
    MRR per tier and revenue at risk (MRR of at_risk and critical accounts)."""

    def build(session: Session) -> HealthSummary:
        s = reports.health_summary(session, reports.ScoreFilter(segments=segment))
        return HealthSummary(
            accounts=s.accounts,
            scored=s.scored,
            average_score=s.average_score,
            tiers=s.tiers,
            average_components=s.average_components,
            trends=s.trends,
            declining=s.trends.get("declining", 0),
            improving=s.trends.get("improving", 0),
            as_of=s.as_of,
            mrr_by_tier=s.mrr_by_tier,
            revenue_at_risk=s.revenue_at_risk,
        )

    return await answer_cached(request, check, cache, cache.key("summary", segment), build)
