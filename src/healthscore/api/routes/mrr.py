"""MRR history over HTTP: an account's total MRR from a moment on, and its history.

Stripe subscriptions arrive through ``/webhooks/stripe``; this is for billing systems that
are not Stripe (and for corrections). Rules: ``ingest.mrr``, ``docs/commercial.md``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import Field

from healthscore.accounts import service as accounts
from healthscore.api.dependencies import DbSession, JobQueue
from healthscore.api.errors import ErrorResponse
from healthscore.api.fact_schemas import KNOWN_ACCOUNT
from healthscore.api.schemas import (
    CLOCK,
    ApiModel,
    Created,
    CustomerId,
    InputModel,
    PastTimestamp,
)
from healthscore.api.security import IngestKey, ReadKey
from healthscore.ingest import facts, mrr
from healthscore.jsontypes import URL_INT, WHOLE_NUMBER, NonNegativeAmount
from healthscore.observability.metrics import INGESTED

router = APIRouter(prefix="/api/v1", tags=["customers"])


class MrrChangeInput(InputModel):
    customer_id: Annotated[CustomerId, Field(description=KNOWN_ACCOUNT)]
    mrr: Annotated[NonNegativeAmount, Field(description="the account's total MRR")]
    seats: Annotated[int, Field(ge=0, le=10**9), WHOLE_NUMBER] | None = None
    timestamp: Annotated[
        PastTimestamp | None,
        Field(description=f"from when (default: now); the same moment again replaces it; {CLOCK}"),
    ] = None


class MrrPointOut(ApiModel):
    at: datetime
    mrr: Decimal = Field(description="the account's MRR after this change (all streams)")
    seats: int | None
    stream: str = Field(description="the Stripe subscription that changed; '' for a total")
    source: str = Field(description="stripe, csv or api")


@router.post(
    "/mrr-changes",
    operation_id="recordMrrChange",
    status_code=201,
    response_model=Created,
    responses={422: {"model": ErrorResponse}},
)
def record_mrr_change(
    body: MrrChangeInput, _key: IngestKey, session: DbSession, jobs: JobQueue
) -> Created:
    """Record the account's total MRR from ``timestamp`` on: its commercial signals
    (``mrr_change``) compare the MRR in force at two moments."""
    with facts.transaction(session):
        change_id = facts.record_mrr_change(
            session,
            customer_id=body.customer_id,
            mrr_amount=body.mrr,
            seats=body.seats,
            at=body.timestamp,
        )
    jobs.request_rescore()
    INGESTED.labels("api").inc()
    return Created(id=change_id)


@router.get(
    "/customers/{customer_id}/mrr-history",
    operation_id="getMrrHistory",
    response_model=list[MrrPointOut],
    responses={404: {"model": ErrorResponse, "description": "unknown customer"}},
)
def get_mrr_history(
    customer_id: Annotated[str, Path(min_length=1, max_length=64)],
    _key: ReadKey,
    session: DbSession,
    limit: Annotated[int, Query(ge=1, le=1000), URL_INT] = 100,
) -> list[MrrPointOut]:
    """The account's MRR after each of its latest ``limit`` changes, oldest first."""
    accounts.require_account(session, customer_id)
    points = mrr.history(session, customer_id, limit=limit)
    return [MrrPointOut.model_validate(point, from_attributes=True) for point in points]
