"""Rows about the account itself: its record, invoices, support tickets and NPS answers.

Each follows the account's story with noise: troubled accounts open more tickets and
rate them lower, NPS drops once a churn path's signs begin (and not for every account),
and involuntary churn shows as repeated failed payments only at its last invoice.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import numpy as np
from numpy.random import Generator

from healthscore.ingest.demo.accounts import MONTH, YEAR, Account
from healthscore.ingest.demo.activity import Activity
from healthscore.ingest.demo.clock import at, timestamps
from healthscore.ingest.demo.profiles import Profile
from healthscore.ingest.demo.vocabulary import (
    CHURN_REASONS,
    COMMENTS,
    FEATURES,
    NAME_FIRST,
    NAME_SECOND,
    SEVERITIES,
)

NPS_CENTRE = {
    "healthy": 8.3,
    "growing": 8.7,
    "onboarding": 8.0,
    "seasonal": 8.1,
    "api_only": 7.6,
    "small": 7.6,
    "detractor": 4.2,
    "support_heavy": 6.3,
}
NPS_PATH = {  # (before its signs, once they show)
    "thinning": (7.6, 5.6),
    "champion_left": (7.8, 6.2),
    "never_onboarded": (7.0, 6.0),
    "sudden_silence": (7.6, 6.8),
    "payment_failure": (7.8, 7.6),
    "unforeseeable": (7.9, 7.9),
}
TICKETS = {"support_heavy": 5.0, "detractor": 1.5, "small": 0.5, "api_only": 0.6}
TROUBLED_RATINGS = [0.25, 0.3, 0.25, 0.12, 0.08]
CONTENT_RATINGS = [0.03, 0.07, 0.15, 0.35, 0.4]
DUNNING = (0, 3, 7, 12, 18)


def customer_row(rng: Generator, account: Account, start: Any) -> dict[str, Any]:
    traits: dict[str, Any] = {
        "archetype": account.archetype,
        "contract": account.contract,
        "billing": account.billing,
    }
    if account.path:
        traits["churn_path"] = account.path
    churn, renews = account.churn_day, account.renews_day()
    if churn is not None and account.path == "unforeseeable":
        traits["churn_reason"] = CHURN_REASONS[int(rng.integers(0, len(CHURN_REASONS)))]
    first = NAME_FIRST[int(rng.integers(0, len(NAME_FIRST)))]
    second = NAME_SECOND[int(rng.integers(0, len(NAME_SECOND)))]
    return {
        "id": account.id,
        "name": f"{first} {second} {account.id[-5:]}",
        "plan": account.plan,
        "segment": account.segment,
        "mrr": account.mrr,
        "created_at": at(start, account.created_day, 8),
        "churned_at": None if churn is None else at(start, churn, 8),
        "renews_at": None if renews is None else at(start, renews, 8),
        "traits": traits,
    }


def payment_rows(
    rng: Generator, account: Account, profile: Profile, start: Any
) -> list[dict[str, Any]]:
    """Invoices on the billing calendar; dunning retries for involuntary churn."""
    cycle = MONTH if account.billing == "monthly" else YEAR
    amount = round(account.mrr * (1 if cycle == MONTH else 12), 2)
    first = account.created_day + cycle * max(0, math.ceil(-account.created_day / cycle))
    live, failing = account.live_days, account.failure_day
    attempts: list[tuple[int, str]] = []
    for day in range(first, live, cycle):
        if failing is not None and day == failing:
            tries = len(DUNNING) if account.churns else int(rng.integers(1, 3))
            attempts += [(day + gap, "failed") for gap in DUNNING[:tries]]
            if not account.churns:
                attempts.append((day + DUNNING[tries], "succeeded"))
        elif (failing is not None and day == failing - MONTH and rng.random() < 0.35) or (
            rng.random() < profile.random_failure
        ):
            attempts += [(day, "failed"), (day + 3, "succeeded")]  # an expired card, updated
        else:
            attempts.append((day, "succeeded"))
    return [
        {
            "customer_id": account.id,
            "ts": at(start, day, 6),
            "amount": amount,
            "currency": "usd",
            "status": status,
        }
        for day, status in attempts
        if day < live
    ]


def _trouble(account: Account, days: np.ndarray) -> np.ndarray:
    """Whether the account is in trouble on each day (a path's signs, or its nature)."""
    if account.archetype in {"support_heavy", "detractor"}:
        return np.ones(len(days), dtype=bool)
    if account.onset_day is None:
        return np.zeros(len(days), dtype=bool)
    return np.asarray(days >= account.onset_day)


def ticket_rows(
    rng: Generator, account: Account, activity: Activity, profile: Profile, start: Any
) -> list[dict[str, Any]]:
    days = np.arange(account.days)
    per_day = (0.008 + account.seats / 2500) * profile.ticket_rate
    shape = np.minimum(activity.story, 1.5) * TICKETS.get(account.archetype, 1.0)
    trouble = _trouble(account, days)
    onset = account.onset_day
    if onset is not None and account.path in {"thinning", "champion_left"}:
        shape = np.where(trouble & (days < onset + 45), 2.0, shape)  # confused, unhappy users
    elif account.path == "never_onboarded":
        shape = np.where(days - account.created_day < 30, 2.5, shape)
    alive = (days < account.live_days) & (days >= account.created_day)
    counts = rng.poisson(per_day * shape * alive)
    if account.failure_day is not None and 0 <= account.failure_day + 1 < account.live_days:
        counts[account.failure_day + 1] += int(rng.random() < 0.5)  # "why was my card declined?"
    opened_days = np.repeat(days, counts)
    troubled = trouble[opened_days]
    n = len(opened_days)
    severity = np.where(
        troubled,
        rng.choice(4, n, p=[0.1, 0.35, 0.35, 0.2]),
        rng.choice(4, n, p=[0.3, 0.55, 0.12, 0.03]),
    )
    rating = (
        np.where(
            troubled, rng.choice(5, n, p=TROUBLED_RATINGS), rng.choice(5, n, p=CONTENT_RATINGS)
        )
        + 1
    )
    hours = rng.lognormal(np.log(np.where(troubled, 24.0, 8.0)), 1.0)
    rated = rng.random(n) < 0.7
    topics = rng.integers(0, len(FEATURES), n)
    end = at(start, account.live_days)
    rows = []
    for k, opened in enumerate(timestamps(start, opened_days, rng)):
        resolved = opened + timedelta(hours=float(hours[k]))
        done = resolved < end
        level = SEVERITIES[int(severity[k])]
        rows.append(
            {
                "customer_id": account.id,
                "ticket_id": f"T-{account.id[-5:]}-{k}",
                "opened_at": opened,
                "resolved_at": resolved if done else None,
                "severity": level,
                "rating": int(rating[k]) if done and rated[k] else None,
                "subject": f"{level.title()} issue with {FEATURES[int(topics[k])]}",
            }
        )
    return rows


def nps_rows(
    rng: Generator, account: Account, activity: Activity, profile: Profile, start: Any
) -> list[dict[str, Any]]:
    """A survey now and then, answered by a seat; the answer follows the story, noisily."""
    first = max(account.created_day + 7, 0)
    live = account.live_days
    if first >= live:
        return []
    expected = 0.5 * account.days / 90 * (1 + account.seats / 80)
    days = np.sort(rng.integers(first, live, rng.poisson(expected)))
    if account.path:
        calm, worried = NPS_PATH[account.path]
        if not account.churns:
            worried = (calm + worried) / 2
        centre = np.where(_trouble(account, days), worried, calm)
    else:
        centre = np.full(len(days), NPS_CENTRE[account.archetype])
    scores = np.clip(np.rint(rng.normal(centre, profile.nps_noise)), 0, 10).astype(int).tolist()
    seats = rng.integers(0, activity.seats, len(days)).tolist()
    hours = rng.uniform(8, 18, len(days)).tolist()
    rows = []
    for day, score, seat, hour in zip(days.tolist(), scores, seats, hours, strict=True):
        bucket = "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"
        comments = COMMENTS[bucket]
        rows.append(
            {
                "customer_id": account.id,
                "user_id": activity.ids[seat],
                "ts": at(start, day, hour),
                "score": score,
                "comment": comments[(day + score) % len(comments)],
            }
        )
    return rows
