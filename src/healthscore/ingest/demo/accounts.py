"""Who each demo account is: size, contract, age, story and when a churn path decides.

Voluntary churn happens when the contract allows it: at an annual renewal or at a monthly
billing date. So a churn path first picks the date it decides at (inside the window or up
to ``Profile.future_days`` after it: accounts still at risk at "now"), snaps it to the
contract's calendar, and dates its first signs back from there by the path's lead time.
Days are counted from the window's start (negative: before it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.random import Generator

from healthscore.ingest.demo.profiles import CHURN_PATHS, Profile

SEATS = {"smb": (3, 20), "mid_market": (15, 120), "enterprise": (60, 400)}
PRICE_PER_SEAT = {"starter": 15, "pro": 30, "enterprise": 55}
MONTH = 30
YEAR = 365


@dataclass
class Account:
    """Everything drawn for one account before its rows are generated."""

    id: str
    archetype: str
    segment: str
    plan: str
    seats: int
    contract: str  # "monthly" | "annual"
    billing: str  # "monthly" | "annual": an annual contract may be paid either way
    created_day: int
    decision_day: int | None  # a churn path's renewal / billing date (may be after now)
    churns: bool  # whether the path ends in churn at ``decision_day``
    onset_day: int | None  # a churn path's first sign
    failure_day: int | None  # involuntary churn: the invoice whose payment keeps failing
    days: int
    mrr: float

    @property
    def path(self) -> str | None:
        return self.archetype if self.archetype in CHURN_PATHS else None

    @property
    def churn_day(self) -> int | None:
        """The day it churned, if inside the window."""
        if self.churns and self.decision_day is not None and self.decision_day < self.days:
            return self.decision_day
        return None

    @property
    def live_days(self) -> int:
        """Days of the window it was a customer for (activity stops at its churn)."""
        churn = self.churn_day
        return self.days if churn is None else churn

    @property
    def cycle(self) -> int:
        return YEAR if self.contract == "annual" else MONTH

    def next_cycle(self, day: float) -> int:
        """The first renewal (annual) or billing date (monthly) on or after ``day``."""
        periods = max(1, math.ceil((day - self.created_day) / self.cycle))
        return self.created_day + periods * self.cycle

    def renews_day(self) -> int | None:
        """The contract's next renewal as seen at the end of the window: the date it ended
        at for a churned annual account (its last contract end), none for monthly plans."""
        if self.contract != "annual":
            return None
        return self.churn_day if self.churn_day is not None else self.next_cycle(self.days)


def choice(rng: Generator, weights: dict[str, float]) -> str:
    names = [name for name, weight in weights.items() if weight > 0]
    p = np.array([weights[name] for name in names])
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def _seats(rng: Generator, segment: str, tail: float) -> int:
    """Truncated Pareto inside the segment's range: many small, a few very large teams."""
    low, high = SEATS[segment]
    u = rng.random()
    ratio = (low / high) ** tail
    return int(low * (1 - u * (1 - ratio)) ** (-1 / tail))


def draw_account(rng: Generator, index: int, days: int, profile: Profile) -> Account:
    archetype = choice(rng, profile.archetypes)
    segment = choice(rng, profile.segments)
    if archetype == "small":
        segment = "smb"
    elif archetype == "api_only" and segment == "smb" and rng.random() < 0.6:
        segment = "mid_market"  # integrations are bought by larger companies
    plan = {"smb": "starter" if rng.random() < 0.6 else "pro", "mid_market": "pro"}.get(
        segment, "enterprise"
    )
    if archetype in {"small", "api_only"} or (segment == "smb" and rng.random() < 0.08):
        seats = int(rng.integers(1, 4))  # not only the accounts that stay are tiny
    else:
        seats = _seats(rng, segment, profile.seat_tail)
    annual = rng.random() < profile.annual_share[segment] + (0.3 if archetype == "api_only" else 0)
    contract = "annual" if annual else "monthly"
    upfront = annual and rng.random() < profile.annual_billed_upfront
    billing = "annual" if upfront and archetype != "payment_failure" else "monthly"
    created = -int(20 + rng.exponential(profile.mean_age_days))
    if archetype == "onboarding":
        created = int(rng.integers(-profile.new_account_days, max(days - 5, 1)))
    mrr = seats * PRICE_PER_SEAT[plan] * (0.85 if annual else 1.0)
    if archetype == "api_only":
        mrr += float(rng.lognormal(np.log(600), 0.5))  # API volume is billed on its own
    account = Account(
        id=f"cust_{index + 1:05d}",
        archetype=archetype,
        segment=segment,
        plan=plan,
        seats=seats,
        contract=contract,
        billing=billing,
        created_day=created,
        decision_day=None,
        churns=False,
        onset_day=None,
        failure_day=None,
        days=days,
        mrr=round(mrr, 2),
    )
    if account.path:
        _plan_churn_path(rng, account, profile)
    return account


def _plan_churn_path(rng: Generator, account: Account, profile: Profile) -> None:
    """Decision date on the contract's calendar, first sign dated back from it."""
    path = account.archetype
    target = int(rng.integers(7, account.days + profile.future_days))
    if path == "never_onboarded":
        # A new account that churns at its first renewal or one of its first billings.
        periods = 1 if account.contract == "annual" else int(rng.integers(1, 3))
        account.created_day = min(target - periods * account.cycle, account.days - 7)
    elif account.contract == "annual":
        # Its renewal falls on the target: the year it was signed follows from its age.
        years = max(1, math.ceil(-account.created_day / YEAR))
        account.created_day = target - years * YEAR
    decision = account.next_cycle(target)
    if path == "payment_failure":
        # Cards fail at a monthly invoice; dunning gives up some weeks later.
        account.failure_day = account.created_day + MONTH * max(
            1, math.ceil((target - account.created_day) / MONTH)
        )
        low, high = profile.leads[path]
        decision = account.failure_day + int(rng.integers(low, high + 1))
        onset = account.failure_day
    elif path == "never_onboarded":
        onset = account.created_day
    else:
        low, high = profile.leads[path]
        onset = decision - int(rng.integers(low, high + 1))
    account.decision_day = decision
    account.onset_day = max(onset, account.created_day)
    account.churns = bool(rng.random() < profile.churn_odds[path])
