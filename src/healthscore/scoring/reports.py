"""Read-side views of the latest scores: tier breakdown, riskiest accounts, one account.

The CLI prints these and the HTTP API serves them, so both show the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import bindparam, case, func, select
from sqlalchemy.orm import Session

from healthscore.scoring.explain import describe
from healthscore.scoring.labels import Stage, Tier, Trend
from healthscore.scoring.scorecard import Measurement, Scorecard, Signal
from healthscore.storage import models as m

TIER_ORDER = [Tier.healthy, Tier.monitor, Tier.at_risk, Tier.critical, Tier.churned]


@dataclass(frozen=True)
class AccountScore:
    """Who the account is and its latest score: what every list of scores shows (the
    API's response schemas are built on these dataclasses, so fields are named once)."""

    customer_id: str
    name: str
    segment: str
    plan: str
    mrr: Decimal
    score: int | None
    tier: str
    trend: str
    previous_score: int | None
    stage: Annotated[
        str | None,
        Field(description="lifecycle stage: onboarding, adopting, mature, renewal, churned"),
    ]
    confidence: Annotated[
        float | None,
        Field(description="share (0-1) of the score's weight that rests on enough data"),
    ]


@dataclass(frozen=True)
class ScoreRow(AccountScore):
    components: dict[str, float]
    drivers: dict[str, float]
    as_of: datetime


@dataclass(frozen=True)
class SignalDetail:
    """Everything needed to trace one signal's points back to the data and the recipe."""

    name: str
    group: str
    metric: str | None
    description: str
    window_days: int | None
    basis: str | None
    normalisation: str | None
    raw: float | None
    value: Annotated[float, Field(description="normalised 0-1")]
    weight: float
    contribution: Annotated[float, Field(description="points: value x weight x 100")]
    missing: Annotated[bool, Field(description="no data: the signal's `missing` value was used")]
    fallback: Annotated[
        int,
        Field(
            description="0: measured as the signal says; k: by its k-th fallback (e.g. no "
            "baseline yet), whose metric, window and normalisation are the ones shown"
        ),
    ] = 0
    credibility: Annotated[
        float,
        Field(
            description="how far the raw value was trusted (a baseline still too thin to "
            "compare with: below 1; the rest of the value is the fallback's or `missing`)"
        ),
    ] = 1.0


@dataclass(frozen=True)
class AccountDetail:
    score: ScoreRow
    scorecard: str
    signals: list[SignalDetail]
    adjusted: dict[str, Any] = field(default_factory=dict)
    """What changed the score after its signals (``ScoredBatch.set_score``): ``products``,
    ``override``, ``rollup``, each with the values computed beside it."""


def _score_rows_query() -> Any:
    return select(
        m.HealthScore.customer_id,
        m.Customer.name,
        m.Customer.segment,
        m.Customer.plan,
        m.Customer.mrr,
        m.HealthScore.score,
        m.HealthScore.tier,
        m.HealthScore.trend,
        m.HealthScore.previous_score,
        m.HealthScore.stage,
        m.HealthScore.confidence,
        m.HealthScore.components,
        m.HealthScore.drivers,
        m.HealthScore.as_of,
    ).join(m.Customer, m.Customer.id == m.HealthScore.customer_id)


def tier_distribution(session: Session) -> dict[str, int]:
    """Accounts per tier, every tier present (zero when empty), in severity order."""
    counts = dict(
        session.execute(select(m.HealthScore.tier, func.count()).group_by(m.HealthScore.tier)).all()
    )
    return {tier.value: int(counts.get(tier.value, 0)) for tier in TIER_ORDER}


def riskiest(session: Session, *, limit: int = 10) -> list[ScoreRow]:
    """Critical first, then at-risk and declining, lowest scores first (seed 000's list)."""
    urgency = case(
        (m.HealthScore.tier == Tier.critical.value, 0),
        (m.HealthScore.trend == Trend.declining.value, 1),
        else_=2,
    )
    query = (
        _score_rows_query()
        .where(m.HealthScore.tier.in_([Tier.critical.value, Tier.at_risk.value]))
        .order_by(urgency, m.HealthScore.score, m.HealthScore.customer_id)
        .limit(limit)
    )
    return [ScoreRow(*row) for row in session.execute(query)]


def all_score_rows(session: Session) -> list[ScoreRow]:
    query = _score_rows_query().order_by(m.HealthScore.customer_id)
    return [ScoreRow(*row) for row in session.execute(query)]


_DETAIL = (
    _score_rows_query()
    .add_columns(m.HealthScore.signals, m.HealthScore.scorecard)
    .where(m.HealthScore.customer_id == bindparam("customer_id"))
)
"""One account's row and its stored signals in one query, built once and run as plain SQL
on the session's connection (the API's most frequent read: no ORM layer needed)."""


def stored_stage(stored: str | None) -> Stage | None:
    """The stage a score row was computed in (None for rows from before stages)."""
    return Stage(stored) if stored is not None and stored in Stage.__members__ else None


def _measurement(signal: Signal | None, via: int) -> Measurement | None:
    """The measurement that gave the stored value: the signal's own or a fallback."""
    if signal is None:
        return None
    measurements = signal.measurements()
    return measurements[via] if 0 < via < len(measurements) else signal


def account_detail(
    session: Session, customer_id: str, scorecard: Scorecard
) -> AccountDetail | None:
    """The latest score with each signal explained.

    Raw value, normalised value and weight come from the stored row; the recipe (metric,
    window, normalisation) from the scorecard when it is the one that produced the row.
    """
    found = session.connection().execute(_DETAIL, {"customer_id": customer_id}).first()
    if found is None:
        return None
    *columns, stored_signals, stored_scorecard = found
    row = ScoreRow(*columns)
    card = (
        scorecard.for_account(row.segment, stored_stage(row.stage))
        if stored_scorecard == scorecard.identity
        else None
    )
    definitions = {s.name: s for s in card.signals} if card else {}
    fallbacks = stored_signals.get("via", {})
    credibility = stored_signals.get("credibility", {})
    signals = []
    for name, weight in stored_signals.get("weight", {}).items():
        raw = stored_signals["raw"][name]
        value = stored_signals["value"][name]
        definition = definitions.get(name)
        via = int(fallbacks.get(name, 0))
        measured = _measurement(definition, via)
        signals.append(
            SignalDetail(
                name=name,
                group=definition.group.value if definition else "",
                metric=measured.metric if measured else None,
                description=describe(definition) if definition else "",
                window_days=measured.window_days if measured else None,
                basis=measured.basis.value if measured else None,
                normalisation=measured.normalise.describe() if measured else None,
                raw=raw,
                value=value,
                weight=weight,
                contribution=round(value * weight * 100, 2),
                missing=raw is None,
                fallback=via,
                credibility=float(credibility.get(name, 0.0 if raw is None else 1.0)),
            )
        )
    adjusted = dict(stored_signals.get("adjusted", {}))
    return AccountDetail(score=row, scorecard=stored_scorecard, signals=signals, adjusted=adjusted)


@dataclass(frozen=True)
class ScoreFilter:
    """What the accounts list can be narrowed to; ``None`` means no restriction."""

    tiers: list[str] | None = None
    trends: list[str] | None = None
    segments: list[str] | None = None
    min_score: int | None = None
    max_score: int | None = None
    search: str | None = None


SORTS = {
    "score": m.HealthScore.score,
    "name": m.Customer.name,
    "mrr": m.Customer.mrr,
    "change": m.HealthScore.score - m.HealthScore.previous_score,
    "customer_id": m.HealthScore.customer_id,
    "tier": case(*((m.HealthScore.tier == t.value, i) for i, t in enumerate(TIER_ORDER))),
}


def _filtered(query: Any, f: ScoreFilter) -> Any:
    h = m.HealthScore
    if f.tiers:
        query = query.where(h.tier.in_(f.tiers))
    if f.trends:
        query = query.where(h.trend.in_(f.trends))
    if f.segments:
        query = query.where(m.Customer.segment.in_(f.segments))
    if f.min_score is not None:
        query = query.where(h.score >= f.min_score)
    if f.max_score is not None:
        query = query.where(h.score <= f.max_score)
    if f.search:
        escaped = f.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped.lower()}%"
        query = query.where(
            func.lower(m.Customer.name).like(pattern, escape="\\")
            | func.lower(m.Customer.id).like(pattern, escape="\\")
        )
    return query


def list_scores(
    session: Session,
    f: ScoreFilter,
    *,
    sort: str = "score",
    descending: bool = False,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[ScoreRow], int]:
    """One page of latest scores and the total matching; ties broken by customer id."""
    key = SORTS[sort]
    order = key.desc() if descending else key.asc()
    # Unscored (churned) rows sort last whichever the direction.
    query = (
        _filtered(_score_rows_query(), f)
        .order_by(key.is_(None), order, m.HealthScore.customer_id)
        .offset(offset)
        .limit(limit)
    )
    total_query = _filtered(
        select(func.count())
        .select_from(m.HealthScore)
        .join(m.Customer, m.Customer.id == m.HealthScore.customer_id),
        f,
    )
    rows = [ScoreRow(*row) for row in session.execute(query)]
    return rows, int(session.scalar(total_query) or 0)


@dataclass(frozen=True)
class Summary:
    accounts: int
    scored: int
    average_score: float | None
    tiers: dict[str, int]
    average_components: dict[str, float]
    trends: dict[str, int]
    declining: int
    improving: int
    as_of: datetime | None
    mrr_by_tier: dict[str, float]
    """Monthly recurring revenue of the accounts in each tier."""
    revenue_at_risk: float
    """MRR of the at_risk and critical accounts."""


def health_summary(session: Session, f: ScoreFilter | None = None) -> Summary:
    """Tier distribution, averages and trend counts over the latest scores."""
    f = f or ScoreFilter()
    h = m.HealthScore
    base = select(h, m.Customer.mrr.label("customer_mrr")).join(
        m.Customer, m.Customer.id == h.customer_id
    )
    sub = _filtered(base, f).subquery()
    tiers: dict[str, int] = {}
    mrr: dict[str, float] = {}
    for tier, count, total in session.execute(
        select(sub.c.tier, func.count(), func.sum(sub.c.customer_mrr)).group_by(sub.c.tier)
    ):
        tiers[tier], mrr[tier] = count, float(total or 0)
    mrr_by_tier = {tier.value: round(mrr.get(tier.value, 0.0), 2) for tier in TIER_ORDER}
    trends: dict[str, int] = dict(
        session.execute(
            select(sub.c.trend, func.count()).where(sub.c.score.is_not(None)).group_by(sub.c.trend)
        ).all()
    )
    scored, average, as_of = session.execute(
        select(func.count(sub.c.score), func.avg(sub.c.score), func.max(sub.c.as_of))
    ).one()
    totals: dict[str, float] = {}
    counts: dict[str, int] = {}
    for (components,) in session.execute(select(sub.c.components).where(sub.c.score.is_not(None))):
        for group, value in (components or {}).items():
            totals[group] = totals.get(group, 0.0) + float(value)
            counts[group] = counts.get(group, 0) + 1
    return Summary(
        accounts=int(sum(tiers.values())),
        scored=int(scored or 0),
        average_score=round(float(average), 1) if average is not None else None,
        tiers={tier.value: int(tiers.get(tier.value, 0)) for tier in TIER_ORDER},
        average_components={g: round(totals[g] / counts[g], 1) for g in sorted(totals)},
        trends={t.value: int(trends.get(t.value, 0)) for t in Trend},
        declining=int(trends.get(Trend.declining.value, 0)),
        improving=int(trends.get(Trend.improving.value, 0)),
        as_of=as_of,
        mrr_by_tier=mrr_by_tier,
        revenue_at_risk=round(
            mrr_by_tier[Tier.at_risk.value] + mrr_by_tier[Tier.critical.value], 2
        ),
    )


def score_history(
    session: Session, customer_id: str, *, since: date | None = None, until: date | None = None
) -> list[m.HealthScoreHistory]:
    h = m.HealthScoreHistory
    query = select(h).where(h.customer_id == customer_id)
    if since:
        query = query.where(h.day >= since)
    if until:
        query = query.where(h.day <= until)
    return list(session.scalars(query.order_by(h.day)))
