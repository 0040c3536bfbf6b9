"""Seed 001's NPS operations."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from healthscore.activity import nps
from healthscore.api.dependencies import DbSession, JobQueue, PageParams
from healthscore.api.errors import ErrorResponse
from healthscore.api.fact_schemas import NpsInput, NpsPeriod, NpsResponseOut, NpsSummary
from healthscore.api.schemas import Created, Page
from healthscore.api.security import IngestKey, ReadKey
from healthscore.ingest import facts
from healthscore.jsontypes import Instant
from healthscore.observability.metrics import INGESTED

router = APIRouter(prefix="/api/v1", tags=["nps"])


@router.post(
    "/nps-responses",
    operation_id="submitNpsResponse",
    status_code=201,
    response_model=Created,
    responses={422: {"model": ErrorResponse}},
)
def submit_nps_response(
    body: NpsInput, _key: IngestKey, session: DbSession, jobs: JobQueue
) -> Created:
    """Record one survey answer (0-10, optional comment); committed before the reply."""
    with facts.transaction(session):
        answer_id = facts.record_nps_response(
            session,
            customer_id=body.customer_id,
            score=body.score,
            comment=body.comment,
            user_id=body.user_id,
            ts=body.timestamp,
        )
    jobs.request_rescore()
    INGESTED.labels("api").inc()
    return Created(id=answer_id)


@router.get("/nps-responses", operation_id="listNpsResponses", response_model=Page[NpsResponseOut])
def list_nps_responses(
    _key: ReadKey,
    session: DbSession,
    paging: PageParams,
    customer_id: Annotated[str | None, Query(alias="customerId", max_length=64)] = None,
    since: Annotated[Instant | None, Query(description="from this moment on (RFC 3339)")] = None,
    until: Annotated[Instant | None, Query(description="before this moment (RFC 3339)")] = None,
) -> Page[NpsResponseOut]:
    """Answers, newest first; filter by customer and by date range [since, until)."""
    rows, total = nps.list_responses(
        session,
        nps.NpsFilter(customer_id=customer_id, since=since, until=until),
        offset=paging.offset,
        limit=paging.page_size,
    )
    return Page(
        items=[
            NpsResponseOut(
                id=r.id,
                customer_id=r.customer_id,
                user_id=r.user_id,
                score=r.score,
                comment=r.comment,
                category=nps.category(r.score),
                timestamp=r.ts,
            )
            for r in rows
        ],
        total=total,
        page=paging.page,
        page_size=paging.page_size,
    )


@router.get("/nps-summary", operation_id="getNpsSummary", response_model=NpsSummary)
def get_nps_summary(
    _key: ReadKey,
    session: DbSession,
    customer_id: Annotated[str | None, Query(alias="customerId", max_length=64)] = None,
    segment: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[Instant | None, Query(description="from this moment on (RFC 3339)")] = None,
    until: Annotated[Instant | None, Query(description="before this moment (RFC 3339)")] = None,
    period: nps.Period = "month",
) -> NpsSummary:
    """Average answer, NPS (% promoters - % detractors), counts, and the same per period."""
    overall, periods = nps.summary(
        session,
        nps.NpsFilter(customer_id=customer_id, since=since, until=until, segment=segment),
        period=period,
    )
    return NpsSummary(
        **vars(overall),
        periods=[NpsPeriod.model_validate(p, from_attributes=True) for p in periods],
    )
