"""The backtest's data: what the score said at a past moment, and what happened next.

A *snapshot* is every account active at a cut-off ``as_of``, scored exactly as the product
would have scored it then (same scorecard, same engine, aggregates bounded by
``ts < as_of``), plus a label: did the account churn in ``(as_of, as_of + horizon]``?
Nothing is written: scores are computed in memory from the same aggregate queries and
engine that ``service.score_accounts`` composes, so a backtest can run against a live
database without touching history or latest scores.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from healthscore.backtest.defaults import LABEL_SLACK
from healthscore.scoring.engine import ScoredBatch
from healthscore.scoring.labels import Tier, Trend
from healthscore.scoring.scorecard import Scorecard
from healthscore.scoring.service import score_without_saving
from healthscore.storage import models as m
from healthscore.storage.rollups import midnight
from healthscore.timeutc import utc

Progress = Callable[[str], None]


@dataclass(frozen=True)
class DataSpan:
    """Oldest and newest recorded fact (activity, payment, ticket, NPS answer or churn)."""

    first: datetime | None
    last: datetime | None


def data_span(session: Session) -> DataSpan:
    """Where the data starts and ends: bounds cut-offs and says whether labels are complete."""
    columns = [
        m.DailySessions.last_at,  # logins older than raw-event retention
        m.Session.ts,
        m.FeatureUsage.ts,
        m.ApiUsage.ts,
        m.EngagementEvent.ts,
        m.Payment.ts,
        m.NpsResponse.ts,
        m.SupportTicket.opened_at,
    ]
    firsts: list[datetime] = []
    lasts: list[datetime] = []
    for column in columns:
        first, last = session.execute(select(func.min(column), func.max(column))).one()
        if first is not None:
            firsts.append(utc(first))
            lasts.append(utc(last))
    churned_last = session.scalar(select(func.max(m.Customer.churned_at)))
    if churned_last is not None:
        lasts.append(utc(churned_last))
    return DataSpan(min(firsts, default=None), max(lasts, default=None))


def cutoff_days(first: date, until: date | None = None, step_days: int = 7) -> list[datetime]:
    """Midnight of ``first`` and every ``step_days`` after it up to ``until`` (inclusive)."""
    if step_days < 1:
        raise ValueError("step_days must be at least 1")
    last = until or first
    days = []
    day = first
    while day <= last:
        days.append(midnight(day))
        day += timedelta(days=step_days)
    return days


def labels_complete(as_of: datetime, horizon_days: int, data_end: datetime | None) -> bool:
    """Whether the whole horizon after ``as_of`` has been observed (else churn is undercounted)."""
    if data_end is None:
        return False
    return utc(as_of) + timedelta(days=horizon_days) <= data_end + LABEL_SLACK


def churned_between(session: Session, start: datetime, end: datetime) -> set[str]:
    """Accounts whose ``churned_at`` falls in ``(start, end]``: the positive labels."""
    query = select(m.Customer.id).where(m.Customer.churned_at > start, m.Customer.churned_at <= end)
    return set(session.scalars(query))


@dataclass(frozen=True)
class Snapshot:
    """Every account active at ``as_of``: what the score said then and what happened next.

    Row ``i`` of every array belongs to ``customer_ids[i]`` (sorted). ``values`` are the
    normalised signal values (0-1) the score was built from; ``has_data`` is False where a
    signal had no data and its ``missing`` default was used.
    """

    as_of: datetime
    horizon_days: int
    scorecard: str
    customer_ids: list[str]
    signal_names: list[str]
    scores: NDArray[np.int64]
    tiers: list[Tier]
    trends: list[Trend]
    values: NDArray[np.float64]
    has_data: NDArray[np.bool_]
    churned: NDArray[np.bool_]
    labels_complete: bool
    own_signals: NDArray[np.bool_] | None = None
    """True where the account's lifecycle stage judged it on signals of its own (the
    base signals' columns then hold their ``missing`` values); None: nowhere."""

    def __len__(self) -> int:
        return len(self.customer_ids)

    @property
    def judged_on_own_signals(self) -> NDArray[np.bool_]:
        return np.zeros(len(self), bool) if self.own_signals is None else self.own_signals


def build_snapshot(
    session: Session,
    scorecard: Scorecard,
    *,
    as_of: datetime,
    horizon_days: int,
    data_end: datetime | None = None,
) -> Snapshot:
    """Score every account active at ``as_of`` from earlier data and label its churn."""
    as_of = utc(as_of)
    batches = score_without_saving(session, scorecard, as_of=as_of)
    names = [s.name for s in scorecard.signals]
    ids = [cid for batch in batches for cid in batch.customer_ids]
    order = sorted(range(len(ids)), key=ids.__getitem__)

    def stacked(
        pick: Callable[[ScoredBatch], NDArray[np.float64]], unmeasured: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        if not batches:
            return np.empty((0, len(names)))
        rows = [_in_columns(batch, pick(batch), names, unmeasured) for batch in batches]
        return np.vstack(rows)[order]

    defaults = np.array([s.missing for s in scorecard.signals])
    own = np.concatenate(
        [np.full(len(b), b.signal_names != names, bool) for b in batches] or [np.empty(0, bool)]
    )

    tiers = [tier for batch in batches for tier in batch.tiers]
    trends = [trend for batch in batches for trend in batch.trends]
    scores = np.concatenate([b.scores for b in batches]) if batches else np.empty(0, np.int64)
    end = as_of + timedelta(days=horizon_days)
    churners = churned_between(session, as_of, end)
    sorted_ids = [ids[i] for i in order]
    return Snapshot(
        as_of=as_of,
        horizon_days=horizon_days,
        scorecard=scorecard.identity,
        customer_ids=sorted_ids,
        signal_names=names,
        scores=scores[order].astype(np.int64),
        tiers=[tiers[i] for i in order],
        trends=[trends[i] for i in order],
        values=stacked(lambda b: b.values, defaults),
        has_data=~np.isnan(stacked(lambda b: b.raw, np.full(len(names), np.nan))),
        churned=np.array([cid in churners for cid in sorted_ids], dtype=bool),
        labels_complete=labels_complete(as_of, horizon_days, data_end),
        own_signals=own[order] if own.any() else None,
    )


def _in_columns(
    batch: ScoredBatch,
    matrix: NDArray[np.float64],
    names: list[str],
    unmeasured: NDArray[np.float64],
) -> NDArray[np.float64]:
    """A batch's per-signal ``matrix`` in the base scorecard's columns. A lifecycle stage
    can judge its accounts on signals of its own (onboarding): a base signal its variant
    does not have was not measured for them and gets ``unmeasured`` (per column: the
    signal's ``missing`` value, or ``NaN`` for raw values), as a signal without data does."""
    own = batch.signal_names
    if own == names:
        return matrix
    at = {name: j for j, name in enumerate(own)}
    columns = np.tile(unmeasured, (len(batch), 1))
    for k, name in enumerate(names):
        if name in at:
            columns[:, k] = matrix[:, at[name]]
    return columns


def build_snapshots(
    session: Session,
    scorecard: Scorecard,
    cutoffs: Sequence[datetime],
    *,
    horizon_days: int,
    progress: Progress | None = None,
) -> list[Snapshot]:
    """One snapshot per cut-off, oldest first."""
    data_end = data_span(session).last
    snapshots = []
    for as_of in sorted(utc(c) for c in cutoffs):
        if progress:
            progress(f"scoring as of {as_of:%Y-%m-%d}")
        snapshots.append(
            build_snapshot(
                session, scorecard, as_of=as_of, horizon_days=horizon_days, data_end=data_end
            )
        )
    return snapshots


def relabelled(
    session: Session, snapshots: Sequence[Snapshot], *, horizon_days: int
) -> list[Snapshot]:
    """The same snapshots (same scores) labelled for another horizon: one query each."""
    data_end = data_span(session).last
    result = []
    for s in snapshots:
        churners = churned_between(session, s.as_of, s.as_of + timedelta(days=horizon_days))
        result.append(
            replace(
                s,
                horizon_days=horizon_days,
                churned=np.array([cid in churners for cid in s.customer_ids], dtype=bool),
                labels_complete=labels_complete(s.as_of, horizon_days, data_end),
            )
        )
    return result


@dataclass(frozen=True)
class Pooled:
    """Several snapshots stacked: one row per (cut-off, account) pair.

    An account active at three cut-offs appears three times; ``customer_ids`` lets the
    bootstrap resample it as one unit.
    """

    customer_ids: list[str]
    cutoff: NDArray[np.int64]
    signal_names: list[str]
    scores: NDArray[np.int64]
    tiers: list[Tier]
    values: NDArray[np.float64]
    has_data: NDArray[np.bool_]
    churned: NDArray[np.bool_]
    own_signals: NDArray[np.bool_]
    """Rows judged on a lifecycle stage's own signals (``Snapshot.own_signals``)."""

    def __len__(self) -> int:
        return len(self.customer_ids)


def pool(snapshots: Sequence[Snapshot]) -> Pooled:
    """Stack snapshots that used the same scorecard (same signals, same order)."""
    if not snapshots:
        return Pooled(
            customer_ids=[],
            cutoff=np.empty(0, np.int64),
            signal_names=[],
            scores=np.empty(0, np.int64),
            tiers=[],
            values=np.empty((0, 0)),
            has_data=np.empty((0, 0), bool),
            churned=np.empty(0, bool),
            own_signals=np.empty(0, bool),
        )
    names = snapshots[0].signal_names
    if any(s.signal_names != names for s in snapshots):
        raise ValueError("snapshots to pool must share the scorecard's signals")
    return Pooled(
        customer_ids=[cid for s in snapshots for cid in s.customer_ids],
        cutoff=np.concatenate([np.full(len(s), i, np.int64) for i, s in enumerate(snapshots)]),
        signal_names=names,
        scores=np.concatenate([s.scores for s in snapshots]),
        tiers=[t for s in snapshots for t in s.tiers],
        values=np.vstack([s.values for s in snapshots]),
        has_data=np.vstack([s.has_data for s in snapshots]),
        churned=np.concatenate([s.churned for s in snapshots]),
        own_signals=np.concatenate([s.judged_on_own_signals for s in snapshots]),
    )
