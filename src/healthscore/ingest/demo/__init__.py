"""Demo customer bases whose churn looks like real B2B SaaS churn.

``healthscore demo`` uses it to show the product on a laptop, the tests use it as data
with known stories, and the benchmarks use it at 100,000 accounts. A score will be judged
on bases nobody here has seen, so the stories are the ones real churn follows (seats
thinning out, a champion leaving, an account that never onboarded, sudden silence,
failed payments, churn with no warning) next to accounts that look risky and stay
(API-only integrations, seasonal dips, detractors who renew, small sporadic teams), with
contracts that decide when churn can happen. Everything is drawn from one seeded
``numpy`` generator: the same seed and profile give the same data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from healthscore.ingest.demo.profiles import (
    ARCHETYPES,
    CHURN_PATHS,
    PROFILES,
    STAYERS,
    Profile,
    get_profile,
)

if TYPE_CHECKING:
    from healthscore.ingest.demo.generate import DemoSummary, generate_demo

GENERATOR_VERSION = 3
"""Bumped whenever the same seed stops giving the same data (cached benchmark datasets)."""

__all__ = [
    "ARCHETYPES",
    "CHURN_PATHS",
    "GENERATOR_VERSION",
    "PROFILES",
    "STAYERS",
    "DemoSummary",
    "Profile",
    "generate_demo",
    "get_profile",
]


def __getattr__(name: str) -> Any:
    """The generator (numpy, the database layer) loads on first use: importing the
    profiles, as ``healthscore --help`` does, stays instant."""
    if name in ("DemoSummary", "generate_demo"):
        from healthscore.ingest.demo import generate

        return getattr(generate, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
