"""Saved calibrations for tests of what shows a churn probability (API, CLI, dashboard)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from healthscore.backtest.calibration import Judgement, ReliabilityBin, ScoreMapping
from healthscore.backtest.calibrations import Calibration, save_calibrations, scorecard_digest
from healthscore.scoring.scorecard import Scorecard


def sigmoid_mapping(intercept: float = 0.5, slope: float = -0.05) -> ScoreMapping:
    """p(score) = 1 / (1 + exp(-(intercept + slope x score))): 62% at 0, 1% at 100."""
    return ScoreMapping(
        "sigmoid",
        [round(1 / (1 + math.exp(-(intercept + slope * s))), 6) for s in range(101)],
        {"intercept": intercept, "slope_per_point": slope},
    )


def save_calibration(
    session: Session,
    card: Scorecard,
    *,
    horizon_days: int = 90,
    validated: bool = True,
    mapping: ScoreMapping | None = None,
    scorecard: str | None = None,
    digest: str | None = None,
    months: float = 14.0,
) -> int:
    """Save one calibration of ``card`` (or of another ``scorecard`` identity / ``digest``)."""
    judgement = Judgement(
        rows=4000,
        churned=400,
        churned_accounts=120,
        base_rate=0.1,
        brier=0.08 if validated else 0.095,
        brier_base_rate=0.09,
        skill=0.11 if validated else -0.05,
        skill_low=0.06 if validated else -0.09,
        reliability=[ReliabilityBin(0.05, 0.04, 2000), ReliabilityBin(0.15, 0.16, 2000)],
        validated=validated,
        reason=None
        if validated
        else "its Brier score does not beat always predicting the base rate",
    )
    calibration = Calibration(
        scorecard=scorecard or card.identity,
        scorecard_digest=digest or scorecard_digest(card),
        horizon_days=horizon_days,
        mapping=mapping or sigmoid_mapping(),
        train_from=datetime(2025, 1, 6, tzinfo=UTC),
        train_until=datetime(2025, 9, 1, tzinfo=UTC),
        validate_from=datetime(2025, 12, 1, tzinfo=UTC),
        validate_until=datetime(2026, 2, 1, tzinfo=UTC),
        months_of_history=months,
        train_rows=20000,
        train_churned=1500,
        judgement=judgement,
    )
    return save_calibrations(session, [calibration])[0]
