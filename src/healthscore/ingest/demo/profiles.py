"""Customer bases the demo can draw: the mix of stories and the parameters of each.

A score tuned on one base should be checked on another it was not designed on, so each
profile changes the mix (how many API-only integrations, monthly SMB plans, seasonal
accounts…) and some parameters (lead times, login rates, seat tails), not just the seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from healthscore.errors import Invalid, Problem

STAYERS = (
    "healthy",
    "growing",
    "onboarding",
    "seasonal",
    "api_only",
    "small",
    "detractor",
    "support_heavy",
)
"""Stories that renew, several of which look risky to a naive score."""
CHURN_PATHS = (
    "thinning",
    "champion_left",
    "never_onboarded",
    "sudden_silence",
    "payment_failure",
    "unforeseeable",
)
"""Stories that lead to churn (for most, not all, of the accounts on them)."""
ARCHETYPES = STAYERS + CHURN_PATHS
SEGMENTS = ("smb", "mid_market", "enterprise")


@dataclass(frozen=True)
class Profile:
    """One kind of customer base: who is in it and how they behave."""

    name: str
    description: str
    archetypes: dict[str, float]
    segments: dict[str, float] = field(
        default_factory=lambda: {"smb": 0.6, "mid_market": 0.3, "enterprise": 0.1}
    )
    annual_share: dict[str, float] = field(
        default_factory=lambda: {"smb": 0.2, "mid_market": 0.7, "enterprise": 0.95}
    )
    """Share of annual contracts per segment (the rest are monthly)."""
    annual_billed_upfront: float = 0.5
    """Share of annual contracts invoiced once a year (the rest pay monthly)."""
    api_share: dict[str, float] = field(
        default_factory=lambda: {"smb": 0.12, "mid_market": 0.3, "enterprise": 0.55}
    )
    """Share of ordinary accounts that also call the API, per segment."""
    churn_odds: dict[str, float] = field(
        default_factory=lambda: {
            "thinning": 0.75,
            "champion_left": 0.6,
            "never_onboarded": 0.7,
            "sudden_silence": 0.8,
            "payment_failure": 0.65,
            "unforeseeable": 1.0,
        }
    )
    """Share of a path's accounts that really churn; the others recover and renew."""
    leads: dict[str, tuple[int, int]] = field(
        default_factory=lambda: {
            "thinning": (60, 120),
            "champion_left": (30, 110),
            "sudden_silence": (21, 56),
            "payment_failure": (14, 25),
            "unforeseeable": (0, 14),
        }
    )
    """Days from the first sign to the churn date, per path (never onboarded: its life)."""
    seat_tail: float = 1.1
    """Pareto exponent of seat counts inside a segment's range (smaller: heavier tail)."""
    login_rate: float = 0.12
    """Median logins a day of an engaged seat (users spread around it, heavy-tailed)."""
    weekend: tuple[float, float] = (0.15, 0.45)
    """Weekend activity as a share of a weekday's, drawn per account."""
    bystander_share: float = 0.25
    """Accounts with activity from ids that are not seats (vendor support, bots, ex-users)."""
    future_days: int = 45
    """Churn paths decide up to this many days after now: at-risk accounts still live."""
    mean_age_days: float = 450.0
    new_account_days: int = 14
    """Onboarding accounts are created from this many days before the window on."""
    nps_noise: float = 1.8
    ticket_rate: float = 1.0
    features_per_login: float = 0.3
    random_failure: float = 0.03
    """Chance that any invoice fails once (an expired card) and is paid on the retry."""


DEFAULT = Profile(
    name="default",
    description="a mixed B2B base: mostly steady accounts, six churn paths, few percent a month",
    archetypes={
        "healthy": 0.35,
        "growing": 0.08,
        "onboarding": 0.06,
        "seasonal": 0.07,
        "api_only": 0.05,
        "small": 0.07,
        "detractor": 0.04,
        "support_heavy": 0.05,
        "thinning": 0.065,
        "champion_left": 0.04,
        "never_onboarded": 0.03,
        "sudden_silence": 0.03,
        "payment_failure": 0.03,
        "unforeseeable": 0.025,
    },
)

API_HEAVY = replace(
    DEFAULT,
    name="api_heavy",
    description="larger accounts on annual contracts, many API-only integrations, seasonal",
    archetypes={
        "healthy": 0.27,
        "growing": 0.07,
        "onboarding": 0.04,
        "seasonal": 0.14,
        "api_only": 0.17,
        "small": 0.03,
        "detractor": 0.05,
        "support_heavy": 0.06,
        "thinning": 0.05,
        "champion_left": 0.05,
        "never_onboarded": 0.02,
        "sudden_silence": 0.025,
        "payment_failure": 0.01,
        "unforeseeable": 0.03,
    },
    segments={"smb": 0.3, "mid_market": 0.45, "enterprise": 0.25},
    annual_share={"smb": 0.6, "mid_market": 0.9, "enterprise": 1.0},
    annual_billed_upfront=0.7,
    api_share={"smb": 0.4, "mid_market": 0.6, "enterprise": 0.8},
    leads={
        "thinning": (75, 150),
        "champion_left": (45, 140),
        "sudden_silence": (28, 60),
        "payment_failure": (14, 30),
        "unforeseeable": (0, 21),
    },
    seat_tail=0.9,
    login_rate=0.09,
    weekend=(0.1, 0.3),
    bystander_share=0.4,
    mean_age_days=700.0,
    nps_noise=2.1,
)

SMB_MONTHLY = replace(
    DEFAULT,
    name="smb_monthly",
    description="small teams on monthly card payments: fast churn, many never onboard",
    archetypes={
        "healthy": 0.33,
        "growing": 0.07,
        "onboarding": 0.1,
        "seasonal": 0.04,
        "api_only": 0.01,
        "small": 0.14,
        "detractor": 0.03,
        "support_heavy": 0.03,
        "thinning": 0.05,
        "champion_left": 0.03,
        "never_onboarded": 0.06,
        "sudden_silence": 0.05,
        "payment_failure": 0.05,
        "unforeseeable": 0.03,
    },
    segments={"smb": 0.88, "mid_market": 0.12, "enterprise": 0.0},
    annual_share={"smb": 0.05, "mid_market": 0.3, "enterprise": 0.8},
    api_share={"smb": 0.08, "mid_market": 0.2, "enterprise": 0.4},
    churn_odds={
        "thinning": 0.8,
        "champion_left": 0.7,
        "never_onboarded": 0.8,
        "sudden_silence": 0.85,
        "payment_failure": 0.6,
        "unforeseeable": 1.0,
    },
    leads={
        "thinning": (45, 90),
        "champion_left": (25, 75),
        "sudden_silence": (21, 45),
        "payment_failure": (10, 21),
        "unforeseeable": (0, 10),
    },
    seat_tail=1.4,
    login_rate=0.16,
    weekend=(0.2, 0.6),
    bystander_share=0.12,
    mean_age_days=250.0,
    nps_noise=1.6,
    random_failure=0.05,
)

PROFILES: dict[str, Profile] = {p.name: p for p in (DEFAULT, API_HEAVY, SMB_MONTHLY)}


def get_profile(name: str) -> Profile:
    """The profile called ``name``, or an error that lists the ones there are."""
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(PROFILES)
        raise Invalid(
            f"unknown demo profile {name!r} (known: {known})",
            problems=[Problem("profile", f"must be one of {known}")],
        ) from None
