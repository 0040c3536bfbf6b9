"""Every account's score day by day: recomputed in memory, or read from saved history.

The lead-time replay needs what the product showed on each day of a period: score, tier,
trend, lifecycle stage and confidence. ``replay_scores`` recomputes them as of midnight
UTC of each day from earlier data only (nothing written); ``history_scores`` reads them
from ``health_score_history`` when that already covers the period with the same
scorecard. Both give a ``ReplayedScores``: one column per day, codes instead of strings,
so alert rules can work on whole columns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from healthscore.scoring.engine import PreviousScore
from healthscore.scoring.labels import Stage, Tier, Trend
from healthscore.scoring.scorecard import Scorecard
from healthscore.scoring.service import score_without_saving
from healthscore.storage import models as m
from healthscore.storage.rollups import midnight

NOT_SCORED = -1
"""Score and code of an account on a day it was not scored (inactive, or no history)."""
TIERS: tuple[Tier, ...] = tuple(Tier)
TRENDS: tuple[Trend, ...] = tuple(Trend)
STAGES: tuple[Stage, ...] = tuple(Stage)

DayProgress = Callable[[int, int], None]
"""``progress(days_done, days_total)``."""


@dataclass(frozen=True)
class ReplayedScores:
    """Per account (row) and day (column): what the score said that day.

    ``tiers``, ``trends`` and ``stages`` index ``TIERS``, ``TRENDS`` and ``STAGES``;
    ``NOT_SCORED`` marks a day without a score (and an unknown stage on history rows
    written before stages existed); ``confidence`` is NaN where unknown.
    """

    days: list[datetime]
    customer_ids: list[str]
    scores: NDArray[np.int16]
    tiers: NDArray[np.int8]
    trends: NDArray[np.int8]
    stages: NDArray[np.int8]
    confidence: NDArray[np.float64]
    source: Literal["replay", "history"]

    @property
    def scored(self) -> NDArray[np.bool_]:
        result: NDArray[np.bool_] = self.scores != NOT_SCORED
        return result

    def columns(self, start: int) -> ReplayedScores:
        """The same accounts from column ``start`` on (drops warm-up days)."""
        return ReplayedScores(
            self.days[start:],
            self.customer_ids,
            self.scores[:, start:],
            self.tiers[:, start:],
            self.trends[:, start:],
            self.stages[:, start:],
            self.confidence[:, start:],
            self.source,
        )


def empty_scores(
    days: list[datetime], ids: list[str], source: Literal["replay", "history"]
) -> ReplayedScores:
    shape = (len(ids), len(days))
    return ReplayedScores(
        days,
        ids,
        np.full(shape, NOT_SCORED, np.int16),
        np.full(shape, NOT_SCORED, np.int8),
        np.full(shape, NOT_SCORED, np.int8),
        np.full(shape, NOT_SCORED, np.int8),
        np.full(shape, np.nan, np.float64),
        source,
    )


def all_customer_ids(session: Session) -> list[str]:
    return list(session.scalars(select(m.Customer.id).order_by(m.Customer.id)))


def consecutive_days(first: date, count: int) -> list[date]:
    return [first + timedelta(days=k) for k in range(count)]


def replay_scores(
    session: Session,
    scorecard: Scorecard,
    days: Sequence[date],
    *,
    progress: DayProgress | None = None,
) -> ReplayedScores:
    """Score every account as of midnight of each of ``days`` (consecutive), in memory.

    The trend of day ``k`` compares with the replayed score 1-2 trend windows earlier, as
    daily scoring compares with history; days before ``days[0]`` have no reference, so a
    caller that needs trends replays a trend window of extra days first.
    """
    moments = [midnight(d) for d in sorted(days)]
    result = empty_scores(moments, all_customer_ids(session), "replay")
    row_of = {cid: i for i, cid in enumerate(result.customer_ids)}
    window = scorecard.trend.window_days
    tier_code = {t: k for k, t in enumerate(TIERS)}
    trend_code = {t: k for k, t in enumerate(TRENDS)}
    for k, moment in enumerate(moments):
        previous = _previous_from(result.scores, result.customer_ids, moments, k, window)
        for batch in score_without_saving(session, scorecard, as_of=moment, previous=previous):
            rows = np.fromiter((row_of[c] for c in batch.customer_ids), np.intp, len(batch))
            result.scores[rows, k] = batch.scores
            result.tiers[rows, k] = [tier_code[t] for t in batch.tiers]
            result.trends[rows, k] = [trend_code[t] for t in batch.trends]
            result.stages[rows, k] = STAGES.index(batch.stage)
            result.confidence[rows, k] = batch.confidence
        if progress:
            progress(k + 1, len(moments))
    return result


def _previous_from(
    scores: NDArray[np.int16], ids: list[str], moments: list[datetime], k: int, window: int
) -> dict[str, PreviousScore]:
    """The trend reference for day ``k``: the newest replayed score 1-2 trend windows back.

    Mirrors ``repository.previous_scores`` (newest history row between ``2 x window`` and
    ``window`` days earlier); contributions are left empty, drivers are not needed here.
    """
    found = np.full(len(ids), NOT_SCORED, dtype=np.int64)
    found_at = np.full(len(ids), -1, dtype=np.int64)
    for lag in range(window, 2 * window + 1):
        column = k - lag
        if column < 0:
            break
        take = (found == NOT_SCORED) & (scores[:, column] != NOT_SCORED)
        found[take] = scores[take, column]
        found_at[take] = column
    return {
        ids[i]: PreviousScore(moments[int(found_at[i])].date(), int(found[i]), {})
        for i in np.nonzero(found != NOT_SCORED)[0].tolist()
    }


def history_covers(session: Session, scorecard: Scorecard, days: Sequence[date]) -> bool:
    """Whether saved daily history has every day of ``days``, all from ``scorecard``."""
    if not days:
        return False
    h = m.HealthScoreHistory
    in_range = (h.day >= min(days), h.day <= max(days))
    matching = session.scalar(
        select(func.count(distinct(h.day))).where(*in_range, h.scorecard == scorecard.identity)
    )
    other = session.scalar(
        select(func.count()).select_from(h).where(*in_range, h.scorecard != scorecard.identity)
    )
    return matching == len(set(days)) and other == 0


def history_scores(session: Session, days: Sequence[date]) -> ReplayedScores:
    """What saved daily history holds for ``days``: what the product actually showed."""
    wanted = sorted(days)
    result = empty_scores([midnight(d) for d in wanted], all_customer_ids(session), "history")
    if not wanted:
        return result
    column_of = {d: k for k, d in enumerate(wanted)}
    row_of = {cid: i for i, cid in enumerate(result.customer_ids)}
    tier_code = {t.value: k for k, t in enumerate(TIERS)}
    trend_code = {t.value: k for k, t in enumerate(TRENDS)}
    stage_code = {s.value: k for k, s in enumerate(STAGES)}
    h = m.HealthScoreHistory
    query = select(h.customer_id, h.day, h.score, h.tier, h.trend, h.stage, h.confidence).where(
        h.day >= wanted[0], h.day <= wanted[-1]
    )
    for customer_id, day, score, tier, trend, stage, confidence in session.execute(query):
        k = column_of.get(day)
        if k is None:
            continue
        i = row_of[customer_id]
        result.scores[i, k] = score
        result.tiers[i, k] = tier_code[tier]
        result.trends[i, k] = trend_code[trend]
        result.stages[i, k] = stage_code.get(stage or "", NOT_SCORED)
        result.confidence[i, k] = np.nan if confidence is None else confidence
    return result
