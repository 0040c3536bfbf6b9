"""The overview: what needs us today."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from healthscore.activity import nps
from healthscore.backtest.history import latest_backtest
from healthscore.charts.bars import Bar, stacked_bar
from healthscore.charts.lines import monthly_chart
from healthscore.charts.scores import (
    histogram_bins,
    meter_rows,
    score_histogram,
    tier_breakdown,
)
from healthscore.charts.svg import responsive
from healthscore.dashboard.pages import (
    TIERS,
    bands,
    change,
    group_order,
    label,
    page,
    scorecard,
)
from healthscore.scoring import listing, reports
from healthscore.scoring.labels import Trend

router = APIRouter(include_in_schema=False)


def histogram_stats(counts: dict[int, int]) -> dict[str, Any]:
    """Median and the share below 50, read off the same counts the histogram shows."""
    total = sum(counts.values())
    if not total:
        return {"median": None, "below_50": 0, "total": 0}
    seen, median = 0, None
    for score in sorted(counts):
        seen += counts[score]
        if seen * 2 >= total:
            median = score
            break
    below = sum(c for s, c in counts.items() if s < 50)
    return {"median": median, "below_50": below, "total": total}


def nps_panel(session: Session, f: nps.NpsFilter) -> dict[str, Any]:
    """NPS overall and per month, as the overview and an account page show it."""
    overall, periods = nps.summary(session, f)
    recent = periods[-12:]
    delta = None
    if len(recent) >= 2 and recent[-1].nps is not None and recent[-2].nps is not None:
        delta = recent[-1].nps - recent[-2].nps
    split = stacked_bar(
        [
            Bar("Promoters", overall.promoters, "nps-promoter"),
            Bar("Passives", overall.passives, "nps-passive"),
            Bar("Detractors", overall.detractors, "nps-detractor"),
        ],
        label="NPS answers by category",
        width=560,
    )
    trend = monthly_chart([(p.period_start, p.nps) for p in recent], label="NPS per month")
    return {
        "stats": overall,
        "periods": recent,
        "delta": delta,
        "split_chart": split,
        "trend_chart": trend,
    }


def _overview(request: Request, session: Session) -> dict[str, Any]:
    tier_bands = bands(scorecard(request))
    summary = reports.health_summary(session)
    customers = listing.customer_count(session)
    improving, _ = reports.list_scores(
        session,
        reports.ScoreFilter(trends=[Trend.improving.value]),
        sort="change",
        descending=True,
        limit=10,
    )
    counts = listing.score_counts(session)
    bins = histogram_bins(counts)
    title = "Average component scores"
    averages = summary.average_components
    components = [(label(g), averages[g]) for g in group_order(averages)]
    return {
        "nav": "overview",
        "customers": customers,
        "summary": summary,
        "at_risk": reports.riskiest(session, limit=20),
        "improving": improving,
        "change": change,
        "scorecard": scorecard(request).identity,
        "tier_chart": responsive(
            tier_breakdown(summary.tiers, width=560, height=230),
            tier_breakdown(summary.tiers, width=340, height=200),
        ),
        "histogram": responsive(
            score_histogram(bins, tier_bands, width=560, height=230),
            score_histogram(bins, tier_bands, width=340, height=200),
        ),
        "histogram_stats": histogram_stats(counts),
        "components_chart": responsive(
            meter_rows(components, label=title, bands=tier_bands, width=560, row=36),
            meter_rows(components, label=title, bands=tier_bands, width=340, row=32),
        ),
        "nps": nps_panel(session, nps.NpsFilter()),
        "tiers": TIERS,
        "backtest": latest_backtest(session),
    }


@router.get("/")
def overview(request: Request) -> Response:
    """What needs us today: tiers, distribution, components, NPS, riskiest and improving."""
    return page(request, "overview.html", lambda session, _user: _overview(request, session))
