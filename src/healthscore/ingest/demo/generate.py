"""Write a demo customer base: draw each account, its activity, then its rows, in batches."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy.orm import Session

from healthscore.ingest.bulk import insert_rows
from healthscore.ingest.demo.account_rows import customer_row, nps_rows, payment_rows, ticket_rows
from healthscore.ingest.demo.accounts import draw_account
from healthscore.ingest.demo.activity import draw_activity
from healthscore.ingest.demo.clock import weekend_days
from healthscore.ingest.demo.profiles import ARCHETYPES, CHURN_PATHS, get_profile
from healthscore.ingest.demo.revenue_rows import mrr_rows
from healthscore.ingest.demo.usage_rows import Rows, usage_rows
from healthscore.storage import models as m
from healthscore.timeutc import naive_utc

TABLES: list[type[m.Base]] = [
    m.Customer,  # first: every other table refers to it
    m.User,
    m.Session,
    m.FeatureUsage,
    m.EngagementEvent,
    m.ApiUsage,
    m.Payment,
    m.SupportTicket,
    m.NpsResponse,
    m.MrrChange,
]


@dataclass
class DemoSummary:
    customers: int
    churned: int
    rows: dict[str, int] = field(default_factory=dict)
    archetypes: dict[str, int] = field(default_factory=dict)
    churned_by_path: dict[str, int] = field(default_factory=dict)
    profile: str = "default"


def generate_demo(
    session: Session,
    *,
    customers: int = 2000,
    days: int = 180,
    seed: int = 7,
    now: datetime,
    progress: Callable[[int], None] | None = None,
    profile: str = "default",
) -> DemoSummary:
    """Write ``customers`` demo accounts of ``profile`` with ``days`` of activity ending at
    ``now``; the same seed and profile give the same data.

    Flushes in batches but never commits: the caller owns the transaction. Timestamps are
    generated as naive UTC (the columns store UTC; skipping tzinfo keeps this fast).
    """
    base = get_profile(profile)
    now = naive_utc(now)
    rng = np.random.default_rng(seed)
    start = now - timedelta(days=days)
    weekend = weekend_days(start, days)
    counts: Counter[str] = Counter()
    archetypes: Counter[str] = Counter()
    churned: Counter[str] = Counter()
    chunk = 200
    for first in range(0, customers, chunk):
        rows: Rows = {model: [] for model in TABLES}
        for index in range(first, min(first + chunk, customers)):
            account = draw_account(rng, index, days, base)
            archetypes[account.archetype] += 1
            if account.churn_day is not None:
                churned[account.archetype] += 1
            activity = draw_activity(rng, account, base, weekend)
            rows[m.Customer].append(customer_row(rng, account, start))
            usage_rows(rng, account, activity, base, start, rows)
            rows[m.Payment] += payment_rows(rng, account, base, start)
            rows[m.SupportTicket] += ticket_rows(rng, account, activity, base, start)
            rows[m.NpsResponse] += nps_rows(rng, account, activity, base, start)
            revenue = mrr_rows(account, activity, start)
            rows[m.MrrChange] += revenue
            rows[m.Customer][-1]["mrr"] = revenue[-1]["mrr"]  # what it pays now (or last)
        for model in TABLES:
            counts[model.__tablename__] += insert_rows(session, model, rows[model])
        session.flush()
        if progress:
            progress(min(first + chunk, customers))
    return DemoSummary(
        customers=customers,
        churned=sum(churned.values()),
        rows=dict(counts),
        archetypes={name: archetypes[name] for name in ARCHETYPES},
        churned_by_path={name: churned[name] for name in CHURN_PATHS},
        profile=base.name,
    )
