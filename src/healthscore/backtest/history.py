"""Saved backtests: the latest one is what the API and the dashboard show.

Only a summary is read back for display; the full result (every cut-off, decile, signal
and churner) is kept so the numbers on screen can always be traced to their run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from healthscore.backtest.service import BacktestResult
from healthscore.storage import job_models as jm


def save_backtest(session: Session, result: BacktestResult) -> int:
    row = jm.BacktestRun(
        created_at=datetime.now(UTC),
        scorecard=result.scorecard,
        horizon_days=result.horizon_days,
        result=result.to_dict(),
    )
    session.add(row)
    session.flush()
    return row.id


@dataclass(frozen=True)
class BacktestSummary:
    """The headline numbers a CS lead reads: does a low score come before churn?"""

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


def latest_backtest(session: Session) -> BacktestSummary | None:
    row = session.scalars(
        select(jm.BacktestRun).order_by(jm.BacktestRun.created_at.desc(), jm.BacktestRun.id.desc())
    ).first()
    if row is None:
        return None
    r = row.result
    evaluation = r.get("evaluation") or {}
    roc = evaluation.get("roc_auc") or {}
    lead = r.get("lead_time") or {}
    cutoffs = [c.get("as_of") for c in r.get("cutoffs") or []]
    return BacktestSummary(
        id=row.id,
        created_at=row.created_at,
        scorecard=row.scorecard,
        horizon_days=row.horizon_days,
        cutoffs=len(cutoffs),
        first_cutoff=min(cutoffs) if cutoffs else None,
        last_cutoff=max(cutoffs) if cutoffs else None,
        accounts=int(evaluation.get("accounts") or 0),
        churned=int(evaluation.get("churned") or 0),
        churn_rate=evaluation.get("churn_rate"),
        roc_auc=roc.get("auc"),
        roc_auc_low=roc.get("ci_low"),
        roc_auc_high=roc.get("ci_high"),
        pr_auc=evaluation.get("pr_auc"),
        churn_rate_by_tier={t["tier"]: t.get("rate") for t in evaluation.get("by_tier") or []},
        median_lead_days=lead.get("median_lead_days"),
        share_alerted_early=lead.get("share_early"),
        alert_precision=lead.get("precision"),
        details=r,
    )
