"""Realistic demo data: SaaS accounts whose behaviour follows recognisable archetypes.

``healthscore demo`` uses it to show the product on a laptop, the tests use it as a
dataset with a known story (a sudden drop-off must score worse than a healthy account),
and the benchmarks use it at 100,000 accounts. Everything is drawn from one seeded
``numpy`` generator, so the same seed gives the same data.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from numpy.random import Generator
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from healthscore.ingest.bulk import insert_rows
from healthscore.storage import models as m
from healthscore.timeutc import naive_utc

ARCHETYPES: dict[str, float] = {
    "healthy": 0.45,
    "growing": 0.10,
    "declining": 0.12,
    "dropoff": 0.06,
    "payment_trouble": 0.07,
    "support_heavy": 0.08,
    "churned": 0.12,
}
SEGMENTS = {"smb": 0.6, "mid_market": 0.3, "enterprise": 0.1}
SEATS = {"smb": (2, 10), "mid_market": (10, 60), "enterprise": (60, 400)}
PRICE_PER_SEAT = {"starter": 15, "pro": 30, "enterprise": 55}
FEATURES = [
    "dashboards",
    "reports",
    "alerts",
    "exports",
    "integrations",
    "api_keys",
    "sso",
    "audit_log",
    "workflows",
    "comments",
    "sharing",
    "templates",
    "mobile_app",
    "analytics_dashboard",
    "custom_fields",
]
OTHER_EVENTS = ["report_exported", "invite_sent", "dashboard_viewed", "integration_connected"]
NAME_FIRST = [
    "Northwind",
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Hooli",
    "Vandelay",
    "Soylent",
    "Tyrell",
    "Cyberdyne",
    "Wonka",
    "Gringotts",
    "Oscorp",
    "Aperture",
    "Black Mesa",
    "Massive",
    "Pied Piper",
    "Dunder",
    "Sterling",
    "Bluth",
    "Prestige",
    "Duff",
]
NAME_SECOND = [
    "Logistics",
    "Labs",
    "Analytics",
    "Health",
    "Foods",
    "Energy",
    "Media",
    "Robotics",
    "Capital",
    "Systems",
    "Retail",
    "Studios",
    "Networks",
    "Bio",
    "Mobility",
    "Cloud",
]
COMMENTS = {
    "promoter": ["Great product, fast support.", "Our team lives in it.", "Indispensable."],
    "passive": ["Does the job.", "Fine, a few rough edges.", "Good but pricey."],
    "detractor": ["Too slow lately.", "Support took days to answer.", "Missing key features."],
}
DAY = 86_400


@dataclass
class DemoSummary:
    customers: int
    churned: int
    rows: dict[str, int] = field(default_factory=dict)
    archetypes: dict[str, int] = field(default_factory=dict)


@dataclass
class _Account:
    """Everything drawn for one account before its rows are generated."""

    id: str
    archetype: str
    segment: str
    plan: str
    seats: int
    activity: NDArray[np.float64]  # multiplier per day of the window, oldest first
    login_rate: float
    churn_day: int | None


def generate_demo(
    session: Session,
    *,
    customers: int = 2000,
    days: int = 90,
    seed: int = 7,
    now: datetime,
    progress: Callable[[int], None] | None = None,
) -> DemoSummary:
    """Write ``customers`` demo accounts with ``days`` of activity ending at ``now``.

    Flushes in batches but never commits: the caller owns the transaction. Timestamps are
    generated as naive UTC (the columns store UTC; skipping tzinfo keeps this fast).
    """
    now = naive_utc(now)
    rng = np.random.default_rng(seed)
    start = now - timedelta(days=days)
    summary = DemoSummary(customers=customers, churned=0)
    counts: Counter[str] = Counter()
    archetypes: Counter[str] = Counter()
    batch: dict[type[m.Base], list[dict[str, Any]]] = {}
    chunk = 200
    for first in range(0, customers, chunk):
        for index in range(first, min(first + chunk, customers)):
            account = _draw_account(rng, index, days)
            archetypes[account.archetype] += 1
            for model, row in _account_rows(rng, account, start, days):
                batch.setdefault(model, []).append(row)
        # Customers first: every other table refers to them.
        for model in sorted(batch, key=lambda model: model is not m.Customer):
            counts[model.__tablename__] += insert_rows(session, model, batch[model])
        batch.clear()
        session.flush()
        if progress:
            progress(min(first + chunk, customers))
    summary.rows = dict(counts)
    summary.archetypes = {name: archetypes[name] for name in ARCHETYPES}
    summary.churned = archetypes["churned"]
    return summary


def _choice(rng: Generator, weights: dict[str, float]) -> str:
    names = list(weights)
    return str(rng.choice(names, p=np.array(list(weights.values())) / sum(weights.values())))


def _draw_account(rng: Generator, index: int, days: int) -> _Account:
    archetype = _choice(rng, ARCHETYPES)
    if archetype == "dropoff" and rng.random() < 0.7:
        segment = "enterprise"  # seed 000's enterprise account that stops logging in
    else:
        segment = _choice(rng, SEGMENTS)
    plan = {"smb": "starter" if rng.random() < 0.6 else "pro", "mid_market": "pro"}.get(
        segment, "enterprise"
    )
    low, high = SEATS[segment]
    seats = int(np.exp(rng.uniform(np.log(low), np.log(high))))
    activity, churn_day = _activity_curve(rng, archetype, days)
    return _Account(
        id=f"cust_{index + 1:05d}",
        archetype=archetype,
        segment=segment,
        plan=plan,
        seats=seats,
        activity=activity,
        login_rate=float(np.clip(rng.lognormal(np.log(0.25), 0.35), 0.05, 0.8)),
        churn_day=churn_day,
    )


def _activity_curve(
    rng: Generator, archetype: str, days: int
) -> tuple[NDArray[np.float64], int | None]:
    """How active the account is on each day of the window (1.0 = its normal level)."""
    t = np.arange(days, dtype=float)
    curve = np.ones(days)
    churn_day: int | None = None
    if archetype == "growing":
        curve = np.linspace(0.7, 1.4, days)
    elif archetype == "declining":
        onset = days - int(rng.integers(30, 50))
        curve = np.where(t < onset, 1.0, np.maximum(0.15, 1 - (t - onset) / (days - onset)))
    elif archetype == "dropoff":
        silent = int(rng.integers(7, 26))
        curve = np.where(t < days - silent, 1.0, 0.0)
    elif archetype == "support_heavy":
        curve = np.full(days, 0.8)
    elif archetype == "churned":
        churn_day = int(rng.integers(int(days * 0.4), days - 2))
        fade = max(churn_day - 30, 0)
        curve = np.where(t < fade, 1.0, np.maximum(0.0, 1 - (t - fade) / max(churn_day - fade, 1)))
        curve[churn_day:] = 0.0
    noise = rng.lognormal(0.0, 0.15, days)
    weekday = np.where((t + rng.integers(0, 7)) % 7 >= 5, 0.35, 1.0)  # quiet weekends
    return curve * noise * weekday, churn_day


def _timestamps(start: datetime, day_index: NDArray[np.int64], rng: Generator) -> list[datetime]:
    """A timestamp inside each given day (working hours more likely), as datetimes."""
    seconds = day_index * DAY + rng.normal(14 * 3600, 3 * 3600, len(day_index)).clip(60, DAY - 60)
    base = np.datetime64(start, "us")
    moments = base + (seconds * 1e6).astype("timedelta64[us]")
    stamps: list[datetime] = moments.tolist()  # naive datetimes: stored as UTC
    return stamps


def _account_rows(
    rng: Generator, account: _Account, start: datetime, days: int
) -> Iterator[tuple[type[m.Base], dict[str, Any]]]:
    """Every row of one account, table by table."""
    cid = account.id
    live_days = days if account.churn_day is None else account.churn_day
    churned_at = (
        None if account.churn_day is None else start + timedelta(days=account.churn_day, hours=9)
    )
    mrr = account.seats * PRICE_PER_SEAT[account.plan]
    yield (
        m.Customer,
        {
            "id": cid,
            "name": f"{rng.choice(NAME_FIRST)} {rng.choice(NAME_SECOND)} {account.id[-5:]}",
            "plan": account.plan,
            "segment": account.segment,
            "mrr": mrr,
            "created_at": start - timedelta(days=float(rng.uniform(30, 900))),
            "churned_at": churned_at,
            "traits": {"archetype": account.archetype},
        },
    )
    yield from _users_and_usage(rng, account, start, days, live_days)
    yield from _payments(rng, account, start, live_days, mrr)
    yield from _tickets(rng, account, start, days, live_days)
    yield from _nps(rng, account, start, live_days)


def _users_and_usage(
    rng: Generator, account: _Account, start: datetime, days: int, live_days: int
) -> Iterator[tuple[type[m.Base], dict[str, Any]]]:
    cid = account.id
    seats = account.seats
    added = {"growing": 0.4, "healthy": 0.05}.get(account.archetype, 0.02)
    new_seats = int(rng.binomial(seats, added))
    joined = np.concatenate(
        [np.full(seats, -1), rng.integers(0, max(live_days, 1), new_seats)]
    )  # day index; -1 = before the window
    removed = np.full(len(joined), days + 1)
    if account.archetype in {"declining", "churned"}:
        leaving = rng.random(len(joined)) < 0.25
        removed[leaving] = rng.integers(max(live_days - 30, 0), max(live_days, 1), leaving.sum())
        removed = np.maximum(removed, joined + 1)  # a seat leaves after it joined
    for u, (join, leave) in enumerate(zip(joined.tolist(), removed.tolist(), strict=True)):
        created = (
            start - timedelta(days=float(rng.uniform(1, 600)))
            if join < 0
            else start + timedelta(days=join, hours=10)
        )
        yield (
            m.User,
            {
                "customer_id": cid,
                "user_id": f"{cid}_u{u}",
                "created_at": created,
                "removed_at": start + timedelta(days=leave, hours=8) if leave <= days else None,
            },
        )
    # Per user and day: present (joined, not removed, not churned) x engaged user x activity.
    day = np.arange(days)
    present = (day[None, :] > joined[:, None]) & (day[None, :] < removed[:, None])
    present &= day[None, :] < live_days
    engaged = rng.random(len(joined)) < rng.beta(6, 3)
    rate = account.login_rate * account.activity[None, :] * present * engaged[:, None]
    logins = rng.poisson(rate)
    users, login_days = np.nonzero(logins)
    repeats = logins[users, login_days]
    users, login_days = np.repeat(users, repeats), np.repeat(login_days, repeats)
    for user, ts in zip(users.tolist(), _timestamps(start, login_days, rng), strict=True):
        yield m.Session, {"customer_id": cid, "user_id": f"{cid}_u{user}", "ts": ts}
    adopted = _adopted_features(rng, account)
    uses = rng.poisson(0.5, len(users))
    f_users, f_days = np.repeat(users, uses), np.repeat(login_days, uses)
    picks = rng.choice(adopted, len(f_users)) if len(f_users) else np.array([], dtype=str)
    for user, feature, ts in zip(
        f_users.tolist(), picks.tolist(), _timestamps(start, f_days, rng), strict=True
    ):
        yield (
            m.FeatureUsage,
            {
                "customer_id": cid,
                "user_id": f"{cid}_u{user}",
                "feature": feature,
                "ts": ts,
            },
        )
    others = rng.random(len(users)) < 0.08
    for user, ts in zip(
        users[others].tolist(), _timestamps(start, login_days[others], rng), strict=True
    ):
        event = str(rng.choice(OTHER_EVENTS))
        yield (
            m.EngagementEvent,
            {
                "customer_id": cid,
                "user_id": f"{cid}_u{user}",
                "event_type": event,
                "ts": ts,
                "properties": {"source": "web", "seats": int(account.seats)},
            },
        )
    if rng.random() < (0.7 if account.segment == "enterprise" else 0.3):
        base = rng.lognormal(np.log(50 * account.seats), 0.5)
        calls = rng.poisson(base * account.activity[:live_days])
        for d in np.nonzero(calls)[0].tolist():
            ts = _timestamps(start, np.array([d]), rng)[0]
            yield m.ApiUsage, {"customer_id": cid, "ts": ts, "calls": int(calls[d])}


def _adopted_features(rng: Generator, account: _Account) -> NDArray[np.str_]:
    low, high = {"starter": (2, 6), "pro": (4, 10), "enterprise": (7, 15)}[account.plan]
    count = int(rng.integers(low, high + 1))
    if account.archetype in {"declining", "churned", "support_heavy"}:
        count = max(1, count - int(rng.integers(1, 4)))
    return rng.choice(np.array(FEATURES), count, replace=False)


def _payments(
    rng: Generator, account: _Account, start: datetime, live_days: int, mrr: float
) -> Iterator[tuple[type[m.Base], dict[str, Any]]]:
    """A monthly invoice; failures (and retries) for accounts in payment trouble."""
    trouble_from = live_days - int(rng.integers(20, 60))
    for invoice_day in range(int(rng.integers(0, 30)), live_days, 30):
        trouble = account.archetype == "payment_trouble" and invoice_day >= trouble_from
        failures = int(rng.integers(1, 4)) if trouble else int(rng.random() < 0.02)
        for attempt in range(failures):
            day = invoice_day + 3 * attempt
            if day < live_days:
                yield m.Payment, _payment(account, start, day, mrr, "failed")
        recovered = invoice_day + 3 * failures
        if (not trouble or rng.random() < 0.3) and recovered < live_days:
            yield m.Payment, _payment(account, start, recovered, mrr, "succeeded")


def _payment(
    account: _Account, start: datetime, day: int, mrr: float, status: str
) -> dict[str, Any]:
    return {
        "customer_id": account.id,
        "ts": start + timedelta(days=day, hours=6),
        "amount": mrr,
        "currency": "usd",
        "status": status,
    }


def _tickets(
    rng: Generator, account: _Account, start: datetime, days: int, live_days: int
) -> Iterator[tuple[type[m.Base], dict[str, Any]]]:
    heavy = account.archetype == "support_heavy"
    per_day = (0.02 + account.seats / 3000) * (5 if heavy else 1)
    opened_days = np.sort(rng.integers(0, max(live_days, 1), rng.poisson(per_day * live_days)))
    for n, (day, opened) in enumerate(
        zip(opened_days.tolist(), _timestamps(start, opened_days, rng), strict=True)
    ):
        severity = str(
            rng.choice(
                ["low", "normal", "high", "urgent"],
                p=[0.1, 0.3, 0.4, 0.2] if heavy else [0.3, 0.55, 0.12, 0.03],
            )
        )
        resolved = opened + timedelta(hours=float(rng.lognormal(np.log(30 if heavy else 8), 1)))
        end = start + timedelta(days=live_days)
        rated = resolved < end and rng.random() < 0.7
        if heavy or account.archetype in {"declining", "churned"}:
            rating = int(rng.choice([1, 2, 3, 4], p=[0.3, 0.3, 0.25, 0.15]))
        else:
            rating = int(rng.choice([3, 4, 5], p=[0.15, 0.35, 0.5]))
        yield (
            m.SupportTicket,
            {
                "customer_id": account.id,
                "ticket_id": f"T-{account.id[-5:]}-{n}",
                "opened_at": opened,
                "resolved_at": resolved if resolved < end else None,
                "severity": severity,
                "rating": rating if rated else None,
                "subject": f"{severity.title()} issue with {rng.choice(FEATURES)}",
            },
        )
        del day


def _nps(
    rng: Generator, account: _Account, start: datetime, live_days: int
) -> Iterator[tuple[type[m.Base], dict[str, Any]]]:
    """A survey or two per quarter; answers follow the account's story."""
    answers = rng.poisson(1 + account.seats / 100)
    centre = {
        "healthy": 8.8,
        "growing": 9.2,
        "declining": 5.5,
        "dropoff": 7.0,
        "payment_trouble": 7.0,
        "support_heavy": 4.0,
        "churned": 4.5,
    }[account.archetype]
    for day in np.sort(rng.integers(0, max(live_days, 1), answers)).tolist():
        score = int(np.clip(round(rng.normal(centre, 1.3)), 0, 10))
        bucket = "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"
        yield (
            m.NpsResponse,
            {
                "customer_id": account.id,
                "user_id": f"{account.id}_u{int(rng.integers(0, account.seats))}",
                "ts": start + timedelta(days=day, hours=float(rng.uniform(8, 18))),
                "score": score,
                "comment": str(rng.choice(COMMENTS[bucket])),
            },
        )
