"""The latest saved backtest: does the score predict churn on this customer base?"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic.dataclasses import dataclass as pydantic_dataclass

from healthscore.api.dependencies import DbSession
from healthscore.api.errors import ApiError
from healthscore.api.schemas import API_CONFIG
from healthscore.api.security import ReadKey
from healthscore.backtest.history import BacktestSummary, latest_backtest

router = APIRouter(prefix="/api/v1", tags=["backtest"])


@pydantic_dataclass(frozen=True, config=API_CONFIG)
class BacktestSummaryOut(BacktestSummary):
    pass


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
