"""The calibrations ``healthscore tune`` fits: each scorecard, 30 and 90 days, out of time.

For a horizon of H days, training uses only the training cut-offs whose H-day horizon
ends before the first validation cut-off (so no churn counted in validation is learnt
from), and validation only the cut-offs with H days of data after them. The scores are
the ones the scorecard gives (the tuned scorecard's are recomputed from the same signal
values with its weights); only the labels change with the horizon.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from healthscore.backtest.calibration import fit_mapping, judge
from healthscore.backtest.calibrations import SHOWN_HORIZONS, Calibration, scorecard_digest
from healthscore.backtest.dataset import DataSpan, Snapshot, pool, relabelled
from healthscore.backtest.defaults import Method
from healthscore.scoring.scorecard import Scorecard

DAYS_PER_MONTH = 30.44

ScoresOf = Callable[[Snapshot], NDArray[np.int64]]


@dataclass(frozen=True)
class CalibrationAttempt:
    """A calibration of one scorecard and horizon, or why none could be fitted."""

    scorecard: str
    horizon_days: int
    calibration: Calibration | None
    reason: str | None

    @property
    def validated(self) -> bool:
        return self.calibration is not None and self.calibration.validated


def months_between(first: datetime, last: datetime) -> float:
    return round(max(0.0, (last - first).days / DAYS_PER_MONTH), 1)


def calibrate_scorecards(
    session: Session,
    cards: Sequence[tuple[Scorecard, ScoresOf]],
    *,
    train: Sequence[Snapshot],
    validate: Sequence[Snapshot],
    span: DataSpan,
    method: Method = "sigmoid",
    resamples: int = 1000,
    seed: int = 0,
) -> list[CalibrationAttempt]:
    """Fit and judge every ``(scorecard, scores of a snapshot)`` for 30 and 90 days."""
    attempts = []
    for horizon in SHOWN_HORIZONS:
        train_h = relabelled(session, train, horizon_days=horizon)
        validate_h = relabelled(session, validate, horizon_days=horizon)
        for card, scores_of in cards:
            attempts.append(
                _attempt(
                    card,
                    scores_of,
                    horizon,
                    train_h,
                    validate_h,
                    span,
                    method=method,
                    resamples=resamples,
                    seed=seed,
                )
            )
    return attempts


def _attempt(
    card: Scorecard,
    scores_of: ScoresOf,
    horizon: int,
    train: Sequence[Snapshot],
    validate: Sequence[Snapshot],
    span: DataSpan,
    *,
    method: Method,
    resamples: int,
    seed: int,
) -> CalibrationAttempt:
    def refused(reason: str) -> CalibrationAttempt:
        return CalibrationAttempt(card.identity, horizon, None, reason)

    if not validate or span.first is None or span.last is None:
        return refused("no validation cut-offs")
    first_validation = min(s.as_of for s in validate)
    fit_on = [
        s
        for s in train
        if s.labels_complete and s.as_of + timedelta(days=horizon) <= first_validation
    ]
    judge_on = [s for s in validate if s.labels_complete]
    if not fit_on:
        return refused(
            f"no training cut-off has its {horizon}-day horizon end before validation starts "
            f"({first_validation:%Y-%m-%d})"
        )
    if not judge_on:
        return refused(f"no validation cut-off has {horizon} days of data after it yet")
    fit_rows, judge_rows = pool(fit_on), pool(judge_on)
    fit_scores = np.concatenate([scores_of(s) for s in fit_on])
    judge_scores = np.concatenate([scores_of(s) for s in judge_on])
    try:
        mapping = fit_mapping(fit_scores, fit_rows.churned, method)
    except ValueError as error:
        return refused(f"{error} in the training cut-offs")
    last_seen = min(span.last, max(s.as_of for s in judge_on) + timedelta(days=horizon))
    calibration = Calibration(
        scorecard=card.identity,
        scorecard_digest=scorecard_digest(card),
        horizon_days=horizon,
        mapping=mapping,
        train_from=min(s.as_of for s in fit_on),
        train_until=max(s.as_of for s in fit_on),
        validate_from=min(s.as_of for s in judge_on),
        validate_until=max(s.as_of for s in judge_on),
        months_of_history=months_between(span.first, last_seen),
        train_rows=len(fit_rows),
        train_churned=int(fit_rows.churned.sum()),
        judgement=judge(
            mapping,
            judge_rows.churned,
            judge_scores,
            judge_rows.customer_ids,
            resamples=resamples,
            seed=seed,
        ),
    )
    return CalibrationAttempt(card.identity, horizon, calibration, None)
