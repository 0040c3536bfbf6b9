"""The latest saved backtest: does the score predict churn on this customer base?"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter

from healthscore.api.dependencies import DbSession
from healthscore.api.errors import ApiError
from healthscore.api.schemas import ApiModel
from healthscore.api.security import ReadKey
from healthscore.backtest.history import latest_backtest

router = APIRouter(prefix="/api/v1", tags=["backtest"])


class BacktestSummaryOut(ApiModel):
    id: int
    created_at: datetime
    scorecard: str
    horizon_days: int
    cutoffs: int
    first_cutoff: str | None
    last_cutoff: str | None
    accounts: int
    churned: int
    churn_rate: float | None
    roc_auc: float | None
    roc_auc_low: float | None
    roc_auc_high: float | None
    pr_auc: float | None
    churn_rate_by_tier: dict[str, float | None]
    median_lead_days: float | None
    share_alerted_early: float | None
    alert_precision: float | None
    details: dict[str, Any]


@router.get(
    "/backtests/latest", operation_id="getLatestBacktest", response_model=BacktestSummaryOut
)
def get_latest_backtest(_key: ReadKey, session: DbSession) -> BacktestSummaryOut:
    """ROC AUC (with its confidence interval), PR AUC, churn by tier, alert lead time and
    precision of the most recent `healthscore backtest`, plus its full result."""
    summary = latest_backtest(session)
    if summary is None:
        raise ApiError(404, "no backtest yet: run `healthscore backtest --as-of …`")
    return BacktestSummaryOut(**vars(summary))
