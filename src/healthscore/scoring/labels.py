"""The labels a score carries and a scorecard is written in: the tier and trend of a
score, the lifecycle stage of an account, the group and size basis of a signal. Apart from
the scorecard's models (``scorecard``) because they are the words scores are read and told
in well beyond it: the engine and reports, the API routes, the dashboard, playbook
conditions and the backtest."""

from __future__ import annotations

from enum import StrEnum


class Group(StrEnum):
    """Seed 001's four signal categories; each gets a component score."""

    engagement = "engagement"
    payments = "payments"
    nps = "nps"
    support = "support"
    commercial = "commercial"  # MRR and seat changes, the renewal date
    csm = "csm"  # what the account's CSM records: sentiment


class Tier(StrEnum):
    healthy = "healthy"
    monitor = "monitor"
    at_risk = "at_risk"
    critical = "critical"
    churned = "churned"


TIER_SEVERITY = {"healthy": 0, "monitor": 1, "at_risk": 2, "critical": 3, "churned": 4}
"""Tiers from best to worst, for "at least as good as" comparisons."""


class Trend(StrEnum):
    improving = "improving"
    stable = "stable"
    declining = "declining"


class Stage(StrEnum):
    """Where an account is in its life: what it can fairly be judged on (``lifecycle``)."""

    onboarding = "onboarding"  # younger than its segment's onboarding period
    adopting = "adopting"  # past onboarding, younger than ``lifecycle.mature_after_days``
    mature = "mature"
    renewal = "renewal"  # renewal date known and within ``lifecycle.renewal_window_days``
    churned = "churned"


class Basis(StrEnum):
    """How a raw count is made comparable across accounts of very different sizes."""

    absolute = "absolute"  # the count itself (seed 000)
    per_seat = "per_seat"  # count / seats on the account
    vs_baseline = "vs_baseline"  # daily rate now / daily rate in the account's own baseline
