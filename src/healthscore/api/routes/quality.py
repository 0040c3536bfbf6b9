"""The data-quality report: what in the data makes scores wrong, and what to do."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from healthscore.api.dependencies import DbSession
from healthscore.api.schemas import DataQualityOut
from healthscore.api.security import ReadKey
from healthscore.jsontypes import URL_INT
from healthscore.quality import service as quality

router = APIRouter(prefix="/api/v1", tags=["data quality"])


@router.get("/data-quality", operation_id="getDataQuality", response_model=DataQualityOut)
def data_quality(
    _key: ReadKey,
    session: DbSession,
    days: Annotated[
        int,
        Query(ge=1, le=quality.MAX_DAYS, description="look-back of the activity-based checks"),
        URL_INT,
    ] = quality.DEFAULT_DAYS,
    limit: Annotated[
        int,
        Query(ge=1, le=quality.MAX_LIMIT, description="items listed per finding"),
        URL_INT,
    ] = quality.DEFAULT_LIMIT,
) -> DataQualityOut:
    """Every data-quality check as of now: per finding a count, why it matters for the
    score and what to do, with the evidence (accounts, user ids, account keys) behind it.
    ``clean`` is false while any ``action`` finding has a count. Rules: ``docs/identity.md``."""
    report = quality.data_quality(session, now=datetime.now(UTC), days=days, limit=limit)
    return DataQualityOut(**asdict(report))
