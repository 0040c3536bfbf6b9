"""Running a backtest: score each cut-off from earlier data, evaluate, replay alerts.

``run_backtest`` is the front door the CLI (and later the API) calls: it scores every
account as of each cut-off from earlier data only (``dataset``), computes the statistics
(``evaluate``), and replays daily alerts to measure lead time (``lead_time``). Nothing here
writes to the database.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
from pydantic import BaseModel
from sqlalchemy.orm import Session

from healthscore.backtest.alert_rules import SEED000_ALERT, AlertRule
from healthscore.backtest.calibration import judge
from healthscore.backtest.calibration_results import Judgement
from healthscore.backtest.calibrations import validated_calibration
from healthscore.backtest.dataset import (
    DataSpan,
    Pooled,
    build_snapshots,
    data_span,
    pool,
)
from healthscore.backtest.defaults import DEFAULT_LOOKBACK_DAYS, LABEL_SLACK, WARMUP_DAYS
from healthscore.backtest.evaluate import AucResult, Evaluation, auc_with_ci, evaluate, pr_auc
from healthscore.backtest.lead_time import LeadTimeResult, measure_lead_time
from healthscore.backtest.replay import DayProgress
from healthscore.backtest.tiers import TierOrder, tier_order
from healthscore.scoring.scorecard import Scorecard
from healthscore.timeutc import utc

Progress = Callable[[str], None]


@dataclass(frozen=True)
class CutoffSummary:
    """One cut-off on its own: how many accounts, how many churned, how well it ranked."""

    as_of: datetime
    accounts: int
    churned: int
    churn_rate: float | None
    auc: float | None
    labels_complete: bool


@dataclass(frozen=True)
class ScorecardComparison:
    """The same cut-offs scored with another scorecard (e.g. a tuned one)."""

    scorecard: str
    roc_auc: AucResult
    pr_auc: float | None


@dataclass(frozen=True)
class CalibrationCheck:
    """The scorecard's saved calibration for this horizon, judged on these cut-offs: does
    the probability shown beside scores still hold?"""

    calibration_id: int
    horizon_days: int
    train_until: datetime
    overlaps_training: bool
    """Some cut-off's horizon reaches back into the calibration's training period: this is
    then not an out-of-time check."""
    judgement: Judgement


@dataclass
class BacktestResult:
    """Everything ``healthscore backtest`` prints, exports as JSON and renders as HTML."""

    scorecard: str
    horizon_days: int
    cutoffs: list[CutoffSummary]
    evaluation: Evaluation
    tier_order: TierOrder
    """Whether churn falls from critical to healthy, in a sentence."""
    lead_time: LeadTimeResult | None = None
    calibration: CalibrationCheck | None = None
    comparisons: list[ScorecardComparison] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = jsonable(self)
        return data


def jsonable(value: Any) -> Any:
    """Dataclasses, pydantic models (tier cut-offs), dates, enums and numpy values as plain
    JSON types (NaN → null)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def lead_time_period(
    cutoffs: Sequence[datetime], horizon_days: int, lookback_days: int, span: DataSpan
) -> tuple[date, date] | None:
    """Days to replay for lead time: a look-back before the first cut-off to the last horizon.

    Clipped to the data (after a warm-up), since days before the data starts would show
    every account as silent and alert on all of them.
    """
    if not cutoffs or span.first is None or span.last is None:
        return None
    first = max(
        min(cutoffs) - timedelta(days=lookback_days), span.first + timedelta(days=WARMUP_DAYS)
    )
    last = min(max(cutoffs) + timedelta(days=horizon_days), span.last)
    return (first.date(), last.date()) if first.date() <= last.date() else None


def run_backtest(
    session: Session,
    scorecard: Scorecard,
    cutoffs: Sequence[datetime],
    *,
    horizon_days: int = 30,
    with_lead_time: bool = True,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    rule: AlertRule = SEED000_ALERT,
    compare: Sequence[Scorecard] = (),
    resamples: int = 1000,
    seed: int = 0,
    progress: Progress | None = None,
    day_progress: DayProgress | None = None,
) -> BacktestResult:
    """Score each cut-off from earlier data, label churn in the horizon, evaluate, replay."""
    clock = time.perf_counter()
    cutoffs = sorted(utc(c) for c in cutoffs)
    span = data_span(session)
    warnings = _cutoff_warnings(cutoffs, horizon_days, span)
    snapshots = build_snapshots(
        session, scorecard, cutoffs, horizon_days=horizon_days, progress=progress
    )
    pooled = pool(snapshots)
    if progress:
        progress("computing statistics")
    evaluation = evaluate(
        pooled.churned,
        pooled.scores,
        pooled.tiers,
        pooled.values,
        pooled.signal_names,
        has_data=pooled.has_data,
        groups=pooled.customer_ids,
        resamples=resamples,
        seed=seed,
    )
    summaries = [
        CutoffSummary(
            as_of=s.as_of,
            accounts=len(s),
            churned=int(s.churned.sum()),
            churn_rate=float(s.churned.mean()) if len(s) else None,
            auc=auc_with_ci(s.churned, s.scores, resamples=0).auc,
            labels_complete=s.labels_complete,
        )
        for s in snapshots
    ]
    comparisons = []
    if compare:
        comparisons.append(
            ScorecardComparison(scorecard.identity, evaluation.roc_auc, evaluation.pr_auc)
        )
    for other in compare:
        other_pooled = pool(
            build_snapshots(session, other, cutoffs, horizon_days=horizon_days, progress=progress)
        )
        comparisons.append(
            ScorecardComparison(
                other.identity,
                auc_with_ci(
                    other_pooled.churned,
                    other_pooled.scores,
                    groups=other_pooled.customer_ids,
                    resamples=resamples,
                    seed=seed,
                ),
                pr_auc(other_pooled.churned, other_pooled.scores),
            )
        )
    lead = None
    if with_lead_time:
        period = lead_time_period(cutoffs, horizon_days, lookback_days, span)
        if period is None:
            warnings.append("lead time not measured: no data in the period to replay")
        else:
            if progress:
                progress(f"replaying daily alerts {period[0]} → {period[1]}")
            lead = measure_lead_time(
                session,
                scorecard,
                first_day=period[0],
                last_day=period[1],
                horizon_days=horizon_days,
                lookback_days=lookback_days,
                rule=rule,
                progress=day_progress,
            )
    return BacktestResult(
        scorecard=scorecard.identity,
        horizon_days=horizon_days,
        cutoffs=summaries,
        evaluation=evaluation,
        tier_order=tier_order(evaluation.by_tier),
        lead_time=lead,
        calibration=_check_calibration(session, scorecard, pooled, cutoffs, horizon_days),
        comparisons=comparisons,
        warnings=warnings,
        seconds=time.perf_counter() - clock,
    )


def _check_calibration(
    session: Session,
    scorecard: Scorecard,
    pooled: Pooled,
    cutoffs: Sequence[datetime],
    horizon_days: int,
) -> CalibrationCheck | None:
    stored = validated_calibration(session, scorecard, horizon_days)
    if stored is None or not len(pooled):
        return None
    first = min(cutoffs)
    return CalibrationCheck(
        calibration_id=stored.id,
        horizon_days=horizon_days,
        train_until=stored.train_until,
        overlaps_training=first <= stored.train_until + timedelta(days=horizon_days),
        judgement=judge(stored.mapping, pooled.churned, pooled.scores, pooled.customer_ids),
    )


def _cutoff_warnings(cutoffs: Sequence[datetime], horizon_days: int, span: DataSpan) -> list[str]:
    """Plain-language caveats: cut-offs with too little data behind or ahead of them."""
    warnings = []
    if span.first is None or span.last is None:
        return ["the database has no activity, payment, ticket or NPS data"]
    warm = span.first + timedelta(days=WARMUP_DAYS)
    early = [c for c in cutoffs if c < warm]
    if early:
        warnings.append(
            f"{len(early)} cut-off(s) fall within {WARMUP_DAYS} days of the first recorded data "
            f"({span.first:%Y-%m-%d}): their scores see partial windows"
        )
    late = [c for c in cutoffs if c + timedelta(days=horizon_days) > span.last + LABEL_SLACK]
    if late:
        warnings.append(
            f"{len(late)} cut-off(s) have a horizon ending after the newest data "
            f"({span.last:%Y-%m-%d}): churn after it is not known yet, so their churn is "
            "undercounted"
        )
    return warnings
