"""Lead time: how many days before each churn would a CSM have been alerted?

Seed 000 claims "churn predicted 30 days early". This module measures it: it replays the
score day by day (midnight UTC, data before that moment only, nothing written) or reads
the daily ``health_score_history`` when it already covers the period with the same
scorecard, evaluates an alert rule on every account-day, and reports:

* per churned account, the days between the first alert inside a look-back window before
  its churn and the churn itself (``None`` when it was never alerted: a miss);
* the median lead time of alerted churners and the share alerted at least 30 days early
  (among churners the replay watched for at least 30 days before their churn);
* alert precision: of the accounts that were alerted, the share that churned within the
  horizon after an alert. Without it a rule that alerts on everyone would look perfect.

The alert rule is a small object (``AlertRule``) so the playbook rules can replace
``SEED000_ALERT`` once the playbooks engine lands; until then it reproduces seed 000's
rule: alert when the tier is ``critical``, or ``at_risk`` with a ``declining`` trend.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Literal, Protocol

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from healthscore.backtest.dataset import LABEL_SLACK, data_span
from healthscore.playbooks.rules import AccountState, PlaybookSet, ScoreBelow, TierIs
from healthscore.scoring.engine import PreviousScore
from healthscore.scoring.scorecard import Scorecard, Tier, Trend
from healthscore.scoring.service import score_without_saving
from healthscore.storage import models as m
from healthscore.storage.rollups import midnight
from healthscore.timeutc import utc

DEFAULT_LOOKBACK_DAYS = 90
DEFAULT_EARLY_DAYS = 30
NOT_SCORED = -1

Source = Literal["auto", "replay", "history"]
DayProgress = Callable[[int, int], None]
"""``progress(days_done, days_total)``."""


class AlertRule(Protocol):
    """Decides from one day's score whether a CSM would be alerted about the account."""

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    def fires(self, score: int, tier: Tier, trend: Trend) -> bool: ...


@dataclass(frozen=True)
class TierTrendAlert:
    """Alert on some tiers always, and on others only while the score is declining."""

    name: str = "seed000"
    always: frozenset[Tier] = frozenset({Tier.critical})
    when_declining: frozenset[Tier] = frozenset({Tier.at_risk})

    @property
    def description(self) -> str:
        def tiers(chosen: frozenset[Tier]) -> str:
            return " or ".join(t.value for t in Tier if t in chosen)

        clauses = [f"tier is {tiers(self.always)}"] if self.always else []
        declining = self.when_declining - self.always
        if declining:
            clauses.append(f"tier is {tiers(declining)} with a declining trend")
        return ", or ".join(clauses) or "never"

    def fires(self, score: int, tier: Tier, trend: Trend) -> bool:
        return tier in self.always or (tier in self.when_declining and trend is Trend.declining)


SEED000_ALERT = TierTrendAlert()
"""Seed 000's alert rule; a stand-in until playbook rules exist."""


@dataclass(frozen=True)
class DailyStates:
    """Per account and day: the score (``NOT_SCORED`` when inactive) and whether it alerted."""

    days: list[datetime]
    customer_ids: list[str]
    scores: NDArray[np.int16]  # (accounts, days)
    alerts: NDArray[np.bool_]  # (accounts, days)
    source: Literal["replay", "history"]


def _all_customer_ids(session: Session) -> list[str]:
    return list(session.scalars(select(m.Customer.id).order_by(m.Customer.id)))


def replay_states(
    session: Session,
    scorecard: Scorecard,
    days: Sequence[date],
    *,
    rule: AlertRule = SEED000_ALERT,
    progress: DayProgress | None = None,
) -> DailyStates:
    """Score every day in memory (set-based, nothing written) and evaluate ``rule``.

    The trend compares with the score ``trend.window_days`` earlier, as daily scoring does,
    so the replay starts one trend window before ``days[0]`` to have that reference.
    """
    window = scorecard.trend.window_days
    wanted = [midnight(d) for d in sorted(days)]
    if not wanted:
        return DailyStates([], [], np.empty((0, 0), np.int16), np.empty((0, 0), bool), "replay")
    moments = [wanted[0] - timedelta(days=lag) for lag in range(window, 0, -1)] + wanted
    ids = _all_customer_ids(session)
    row_of = {cid: i for i, cid in enumerate(ids)}
    scores = np.full((len(ids), len(moments)), NOT_SCORED, dtype=np.int16)
    alerts = np.zeros((len(ids), len(moments)), dtype=bool)
    for k, moment in enumerate(moments):
        previous = _previous_from(scores, ids, moments, k, window)
        for batch in score_without_saving(session, scorecard, as_of=moment, previous=previous):
            rows = np.fromiter((row_of[c] for c in batch.customer_ids), np.intp, len(batch))
            scores[rows, k] = batch.scores
            alerts[rows, k] = [
                rule.fires(int(s), tier, trend)
                for s, tier, trend in zip(
                    batch.scores.tolist(), batch.tiers, batch.trends, strict=True
                )
            ]
        if progress:
            progress(k + 1, len(moments))
    return DailyStates(wanted, ids, scores[:, window:], alerts[:, window:], "replay")


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


def history_states(
    session: Session, days: Sequence[date], *, rule: AlertRule = SEED000_ALERT
) -> DailyStates:
    """The alert rule evaluated on saved daily history: what the product actually showed."""
    wanted = sorted(days)
    column_of = {d: k for k, d in enumerate(wanted)}
    ids = _all_customer_ids(session)
    row_of = {cid: i for i, cid in enumerate(ids)}
    scores = np.full((len(ids), len(wanted)), NOT_SCORED, dtype=np.int16)
    alerts = np.zeros((len(ids), len(wanted)), dtype=bool)
    h = m.HealthScoreHistory
    if wanted:
        query = select(h.customer_id, h.day, h.score, h.tier, h.trend).where(
            h.day >= wanted[0], h.day <= wanted[-1]
        )
        for customer_id, day, score, tier, trend in session.execute(query):
            if day not in column_of:
                continue
            i, k = row_of[customer_id], column_of[day]
            scores[i, k] = score
            alerts[i, k] = rule.fires(score, Tier(tier), Trend(trend))
    return DailyStates([midnight(d) for d in wanted], ids, scores, alerts, "history")


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
        notes=notes,
    )


def _lead_time(
    states: DailyStates, row: int | None, customer_id: str, churned_at: datetime, lookback: int
) -> ChurnerLeadTime:
    """Days from the first alert in ``[churn - lookback, churn)`` to the churn."""
    window_start = churned_at - timedelta(days=lookback)
    observed_from = max(window_start, states.days[0])
    observed_days = max(0, (churned_at - observed_from).days)
    first_alert = None
    if row is not None:
        for k, moment in enumerate(states.days):
            if window_start <= moment < churned_at and states.alerts[row, k]:
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


@dataclass(frozen=True)
class PlaybookAlert:
    """The configured playbooks as an alert rule, for the conditions a daily score decides.

    ``score_below`` and ``tier`` (with or without a trend) are replayed exactly. Conditions
    that need more than the day's score (no login, payments, NPS answers, drops over days,
    tier changes, signal values) are not replayed and count as not holding, so a playbook
    made only of them never fires here; ``description`` lists what was replayed.
    """

    playbooks: PlaybookSet
    name: str = "playbooks"

    @property
    def description(self) -> str:
        replayed: list[str] = []
        skipped: list[str] = []
        for p in self.playbooks.playbooks:
            (replayed if any(_replayable(c) for c in p.when) else skipped).append(p.name)
        text = f"playbooks {', '.join(replayed) or 'none'} (score and tier conditions)"
        return text + (f"; not replayable: {', '.join(skipped)}" if skipped else "")

    def fires(self, score: int, tier: Tier, trend: Trend) -> bool:
        state = AccountState(
            customer_id="",
            name="",
            segment="",
            plan="",
            score=score,
            tier=tier.value,
            trend=trend.value,
            previous_tier=None,
        )
        for playbook in self.playbooks.playbooks:
            held = [_replayable(c) and c.holds(state) is not None for c in playbook.when]
            if (all(held) if playbook.match == "all" else any(held)) and held:
                return True
        return False


def _replayable(condition: object) -> bool:
    return isinstance(condition, ScoreBelow | TierIs)
