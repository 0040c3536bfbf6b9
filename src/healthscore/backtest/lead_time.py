"""Lead time: how many days before each churn would a CSM have been alerted?

Seed 000 claims "churn predicted 30 days early". This module measures it: it replays the
score day by day (``replay``: midnight UTC, data before that moment only, nothing
written) or reads the daily ``health_score_history`` when it already covers the period
with the same scorecard, lets an alert rule (``alert_rules``) decide when an alert was
raised and when one was standing, and reports:

* per churned account, the days between its first alert inside a look-back window before
  its churn and the churn itself (``None`` when it was never alerted: a miss); an alert
  still standing when the window opens counts from the window's first day;
* the median lead time of alerted churners and the share alerted at least 30 days early
  (among churners the replay watched for at least 30 days before their churn);
* alert precision: of the accounts alerted (an alert raised on a day whose horizon is
  observed), the share that churned within the horizon after an alert. Without it a rule
  that alerts on everyone would look perfect.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import select
from sqlalchemy.orm import Session

from healthscore.backtest.alert_rules import SEED000_ALERT, AlertRule
from healthscore.backtest.dataset import data_span
from healthscore.backtest.defaults import DEFAULT_LOOKBACK_DAYS, LABEL_SLACK
from healthscore.backtest.replay import (
    NOT_SCORED,
    DayProgress,
    ReplayedScores,
    consecutive_days,
    history_covers,
    history_scores,
    replay_scores,
)
from healthscore.scoring.scorecard import Scorecard
from healthscore.storage import models as m
from healthscore.timeutc import utc

DEFAULT_EARLY_DAYS = 30

Source = Literal["auto", "replay", "history"]


@dataclass(frozen=True)
class DailyStates:
    """Per account and day: the score (``NOT_SCORED`` when inactive), whether an alert was
    raised that day (``alerts``) and whether one was standing (``standing``)."""

    days: list[datetime]
    customer_ids: list[str]
    scores: NDArray[np.int16]  # (accounts, days)
    alerts: NDArray[np.bool_]  # (accounts, days)
    standing: NDArray[np.bool_]  # (accounts, days)
    source: Literal["replay", "history"]


def replay_states(
    session: Session,
    scorecard: Scorecard,
    days: list[date],
    *,
    rule: AlertRule = SEED000_ALERT,
    progress: DayProgress | None = None,
) -> DailyStates:
    """Score every day of ``days`` (consecutive) in memory and apply ``rule``.

    The replay starts early enough to give the first day its trend reference (one trend
    window) and whatever earlier days the rule reads (``rule.warmup_days``).
    """
    wanted = sorted(days)
    warmup = max(scorecard.trend.window_days, rule.warmup_days) if wanted else 0
    first = wanted[0] - timedelta(days=warmup) if wanted else date.min
    scores = replay_scores(
        session, scorecard, consecutive_days(first, warmup + len(wanted)), progress=progress
    )
    return _states(scores, rule, warmup)


def history_states(
    session: Session, days: list[date], *, rule: AlertRule = SEED000_ALERT
) -> DailyStates:
    """The alert rule evaluated on saved daily history: what the product actually showed.

    History from ``rule.warmup_days`` before the first day is read too (previous tiers,
    earlier scores), as the playbooks read it when they ran.
    """
    wanted = sorted(days)
    warmup = rule.warmup_days if wanted else 0
    first = wanted[0] - timedelta(days=warmup) if wanted else date.min
    scores = history_scores(session, consecutive_days(first, warmup + len(wanted)))
    return _states(scores, rule, warmup)


def _states(scores: ReplayedScores, rule: AlertRule, warmup: int) -> DailyStates:
    alerts = rule.alerts(scores).columns(warmup)
    kept = scores.columns(warmup)
    return DailyStates(
        kept.days, kept.customer_ids, kept.scores, alerts.opened, alerts.standing, kept.source
    )


@dataclass(frozen=True)
class ChurnerLeadTime:
    """One churned account: when it was first alerted (inside the look-back) and churned."""

    customer_id: str
    churned_at: datetime
    first_alert: datetime | None
    lead_days: int | None
    observed_days: int


@dataclass(frozen=True)
class LeadTimeResult:
    """The honest numbers behind "churn predicted N days early"."""

    rule: str
    rule_description: str
    source: str
    first_day: date
    last_day: date
    horizon_days: int
    lookback_days: int
    early_days: int
    churners: list[ChurnerLeadTime]
    median_lead_days: float | None
    share_alerted: float | None
    share_early: float | None
    churners_observed_early: int
    alerted_accounts: int
    alerted_then_churned: int
    precision: float | None
    base_rate: float | None
    precision_days: int
    alerts_raised: int = 0
    """Alerts raised (for the playbook rule: cases opened) on every replayed day."""
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def lead_days(self) -> list[int]:
        return [c.lead_days for c in self.churners if c.lead_days is not None]


def summarise_lead_time(
    states: DailyStates,
    churned_at: dict[str, datetime],
    *,
    data_end: datetime | None,
    rule: AlertRule = SEED000_ALERT,
    horizon_days: int = 30,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    early_days: int = DEFAULT_EARLY_DAYS,
) -> LeadTimeResult:
    """Lead time per churner and alert precision from daily states (pure computation)."""
    moments = states.days
    horizon = timedelta(days=horizon_days)
    row_of = {cid: i for i, cid in enumerate(states.customer_ids)}
    notes: list[str] = []
    churners: list[ChurnerLeadTime] = []
    if moments:
        start, stop = moments[0], moments[-1] + timedelta(days=1)
        for cid, moment in sorted(churned_at.items(), key=lambda item: (item[1], item[0])):
            if start < moment <= stop:
                churners.append(_lead_time(states, row_of.get(cid), cid, moment, lookback_days))
    alerted_churners = [c for c in churners if c.lead_days is not None]
    leads = [c.lead_days for c in alerted_churners if c.lead_days is not None]
    # Only churners watched for at least ``early_days`` could have been alerted that early.
    could_be_early = [c for c in churners if c.observed_days >= early_days]

    # Precision only over days whose whole horizon has been observed.
    evaluated = [
        k
        for k, moment in enumerate(moments)
        if data_end is not None and moment + horizon <= data_end + LABEL_SLACK
    ]
    if moments and not evaluated:
        notes.append("no replayed day has a fully observed horizon: precision not measured")
    alerted = hits = active = active_churned = 0
    for i, cid in enumerate(states.customer_ids):
        alert_days = [moments[k] for k in evaluated if states.alerts[i, k]]
        active_days = [moments[k] for k in evaluated if states.scores[i, k] != NOT_SCORED]
        churn = churned_at.get(cid)
        if active_days:
            active += 1
            if churn is not None and active_days[0] < churn <= active_days[-1] + horizon:
                active_churned += 1
        if alert_days:
            alerted += 1
            if churn is not None and any(day < churn <= day + horizon for day in alert_days):
                hits += 1
    return LeadTimeResult(
        rule=rule.name,
        rule_description=rule.description,
        source=states.source,
        first_day=moments[0].date() if moments else date.min,
        last_day=moments[-1].date() if moments else date.min,
        horizon_days=horizon_days,
        lookback_days=lookback_days,
        early_days=early_days,
        churners=churners,
        median_lead_days=float(statistics.median(leads)) if leads else None,
        share_alerted=len(alerted_churners) / len(churners) if churners else None,
        share_early=(
            sum(lead >= early_days for lead in leads) / len(could_be_early)
            if could_be_early
            else None
        ),
        churners_observed_early=len(could_be_early),
        alerted_accounts=alerted,
        alerted_then_churned=hits,
        precision=hits / alerted if alerted else None,
        base_rate=active_churned / active if active else None,
        precision_days=len(evaluated),
        alerts_raised=int(states.alerts.sum()),
        notes=notes,
    )


def _lead_time(
    states: DailyStates, row: int | None, customer_id: str, churned_at: datetime, lookback: int
) -> ChurnerLeadTime:
    """Days from the first alert in ``[churn - lookback, churn)`` to the churn: the first
    day in the window with an alert standing (raised that day, or earlier and still open,
    which caps the lead time at the look-back)."""
    window_start = churned_at - timedelta(days=lookback)
    observed_from = max(window_start, states.days[0])
    observed_days = max(0, (churned_at - observed_from).days)
    first_alert = None
    if row is not None:
        for k, moment in enumerate(states.days):
            if window_start <= moment < churned_at and states.standing[row, k]:
                first_alert = moment
                break
    return ChurnerLeadTime(
        customer_id=customer_id,
        churned_at=churned_at,
        first_alert=first_alert,
        lead_days=None if first_alert is None else (churned_at - first_alert).days,
        observed_days=observed_days,
    )


def measure_lead_time(
    session: Session,
    scorecard: Scorecard,
    *,
    first_day: date,
    last_day: date,
    horizon_days: int = 30,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    early_days: int = DEFAULT_EARLY_DAYS,
    rule: AlertRule = SEED000_ALERT,
    source: Source = "auto",
    progress: DayProgress | None = None,
) -> LeadTimeResult:
    """Replay (or read) every day from ``first_day`` to ``last_day`` and measure lead time.

    ``source="auto"`` reads saved history when it covers every day with this scorecard,
    and replays otherwise; churns inside the period are the ones measured.
    """
    clock = time.perf_counter()
    days = [first_day + timedelta(days=i) for i in range((last_day - first_day).days + 1)]
    use_history = source == "history" or (
        source == "auto" and history_covers(session, scorecard, days)
    )
    if use_history:
        states = history_states(session, days, rule=rule)
    else:
        states = replay_states(session, scorecard, days, rule=rule, progress=progress)
    churned_at = {
        cid: utc(moment)
        for cid, moment in session.execute(
            select(m.Customer.id, m.Customer.churned_at).where(m.Customer.churned_at.is_not(None))
        )
        if moment is not None
    }
    result = summarise_lead_time(
        states,
        churned_at,
        data_end=data_span(session).last,
        rule=rule,
        horizon_days=horizon_days,
        lookback_days=lookback_days,
        early_days=early_days,
    )
    return replace(result, seconds=time.perf_counter() - clock)
