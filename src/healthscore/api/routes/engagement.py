"""Seed 001's engagement operations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from healthscore.activity import engagement
from healthscore.api.dependencies import DbSession, IdempotencyKey, JobQueue, PageParams
from healthscore.api.errors import ErrorResponse
from healthscore.api.fact_schemas import EngagementEventOut, EngagementInput
from healthscore.api.schemas import Accepted, Page
from healthscore.api.security import IngestKey, ReadKey
from healthscore.ingest import facts
from healthscore.ingest.records import Event
from healthscore.jsontypes import Instant
from healthscore.observability.metrics import INGESTED

router = APIRouter(prefix="/api/v1", tags=["engagement"])


@router.post(
    "/engagement-events",
    operation_id="trackEngagement",
    status_code=201,
    response_model=Accepted,
    responses={422: {"model": ErrorResponse}},
)
def track_engagement(
    body: EngagementInput,
    _key: IngestKey,
    session: DbSession,
    jobs: JobQueue,
    idempotency_key: IdempotencyKey,
) -> Accepted:
    """Log an event. ``login``, ``feature_used`` (``metadata.feature``) and ``api_call``
    (``metadata.calls``, default 1) feed scoring signals; any other type is kept as is.
    With an ``Idempotency-Key`` header a retried request is never recorded twice."""
    event = Event(
        customer_id=body.customer_id,
        event_type=body.event_type,
        ts=body.timestamp or datetime.now(UTC),
        user_id=body.user_id,
        properties=body.metadata,
        product=body.product,
    )
    with facts.transaction(session):
        recorded = facts.record_event(session, event, idempotency_key=idempotency_key)
    if not recorded:
        return Accepted(accepted=0, duplicate=True)
    jobs.request_rescore()
    INGESTED.labels("api").inc()
    return Accepted(accepted=1)


@router.get(
    "/engagement-events",
    operation_id="listEngagementEvents",
    response_model=Page[EngagementEventOut],
)
def list_engagement_events(
    _key: ReadKey,
    session: DbSession,
    paging: PageParams,
    customer_id: Annotated[str | None, Query(alias="customerId", max_length=64)] = None,
    event_type: Annotated[str | None, Query(alias="eventType", max_length=128)] = None,
    since: Annotated[Instant | None, Query(description="from this moment on (RFC 3339)")] = None,
    until: Annotated[Instant | None, Query(description="before this moment (RFC 3339)")] = None,
) -> Page[EngagementEventOut]:
    """Events of one or all customers, newest first."""
    rows, total = engagement.list_events(
        session,
        engagement.EventFilter(
            customer_id=customer_id, event_type=event_type, since=since, until=until
        ),
        offset=paging.offset,
        limit=paging.page_size,
    )
    return Page(
        items=[
            EngagementEventOut(
                customer_id=r.customer_id,
                user_id=r.user_id,
                event_type=r.event_type,
                metadata=r.metadata,
                timestamp=r.timestamp,
            )
            for r in rows
        ],
        total=total,
        page=paging.page,
        page_size=paging.page_size,
    )
