"""An account's revenue panel: MRR over time (``ingest.mrr``) and the next renewal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from markupsafe import Markup
from sqlalchemy.orm import Session

from healthscore.charts.lines import sparkline
from healthscore.ingest import mrr
from healthscore.scoring.lifecycle import DAY_SECONDS, next_renewal
from healthscore.storage import models as m

SHOWN = 12
"""MRR changes listed (the chart shows up to ``mrr.history``'s default)."""


@dataclass(frozen=True)
class MrrRow:
    """One change as the table shows it: the account's MRR after it and the move."""

    point: mrr.MrrPoint
    change: float | None
    """Relative to the MRR before it; ``None`` for the first, or after an MRR of 0."""


def panel(session: Session, customer: m.Customer) -> dict[str, Any]:
    """What the account page's revenue panel shows."""
    points = mrr.history(session, customer.id)
    rows = []
    for k, point in enumerate(points):
        before = points[k - 1].mrr if k else Decimal(0)
        change = float((point.mrr - before) / before) if before else None
        rows.append(MrrRow(point, change))
    return {
        "mrr_rows": list(reversed(rows[-SHOWN:])),
        "mrr_total": len(points),
        "mrr_chart": _chart(points),
        "days_to_renewal": days_to_renewal(customer.renews_at, datetime.now(UTC)),
    }


def days_to_renewal(renews_at: datetime | None, now: datetime) -> int | None:
    """Whole days to the renewal that is next (``lifecycle.next_renewal``); ``None`` when
    none is known or the known one has passed."""
    if renews_at is None:
        return None
    ahead = (next_renewal(renews_at, now) - now).total_seconds() / DAY_SECONDS
    return int(ahead) if ahead >= 0 else None


def _chart(points: list[mrr.MrrPoint]) -> Markup | None:
    if len(points) < 2:
        return None
    values = [float(p.mrr) for p in points]
    return sparkline(
        values, label="MRR after each change", high=max(values) or 1, width=240, height=48
    )
