"""Tier cut-offs that mean something: churn falls from critical to healthy.

``tier_order`` says plainly whether a set of churn rates per tier is monotone.
``propose_tiers`` chooses the three cut-offs of a scorecard's ``tiers`` from labelled
scores (the training cut-offs of ``healthscore tune``), by this rule (docs/backtest.md):

* **critical**: 1-10% of accounts, churning at least 3x as often as all accounts;
* **at_risk**: 5-25% of accounts, churning more often than all accounts;
* **monitor**: 10-40% of accounts;
* **healthy**: at least 40% of accounts, churning less often than all accounts;
* churn rates fall strictly from critical to at_risk to monitor to healthy, and every
  tier holds at least ``MIN_TIER_ACCOUNTS`` account snapshots.

Among the cut-offs that satisfy the rule, the one whose four churn rates explain the
labels best (highest log-likelihood) wins. Fewer than ``MIN_TRAIN_CHURNERS`` churned
accounts, or no cut-offs that satisfy the rule, and nothing is proposed: the reason says
why, and the scorecard keeps its tiers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from healthscore import formats
from healthscore.backtest.evaluate import RISK_ORDER, TierRate, churn_by_tier
from healthscore.scoring.scorecard import Tiers

MIN_TRAIN_CHURNERS = 30
"""Distinct churned accounts the training cut-offs need before tiers are proposed."""
MIN_TIER_ACCOUNTS = 30
"""Account snapshots every proposed tier must hold, so its churn rate is not a handful."""
CRITICAL_SHARE = (0.01, 0.10)
AT_RISK_SHARE = (0.05, 0.25)
MONITOR_SHARE = (0.10, 0.40)
HEALTHY_SHARE = (0.40, 1.0)
CRITICAL_LIFT = 3.0
RULE = (
    "critical 1-10% of accounts churning at least 3x the base rate; at_risk 5-25% above "
    "the base rate; monitor 10-40%; healthy at least 40% below the base rate; churn rates "
    "falling strictly from critical to healthy; at least 30 snapshots per tier; the "
    "cut-offs whose rates explain churn best (log-likelihood) among those"
)


@dataclass(frozen=True)
class TierOrder:
    """Whether churn rates fall from critical to healthy; ``None`` when undecidable."""

    monotone: bool | None
    text: str


def tier_order(rates: Sequence[TierRate]) -> TierOrder:
    """A plain sentence on the order of churn rates, riskiest tier first."""
    known = {str(t) for t in RISK_ORDER}
    present = [r for r in rates if r.tier in known and r.accounts and r.rate is not None]
    empty = [r.tier for r in rates if r.tier in known and not r.accounts]
    suffix = f" ({', '.join(empty)}: no accounts)" if empty else ""
    if len(present) < 2:
        return TierOrder(None, "fewer than two tiers hold accounts: no order to judge" + suffix)
    inversions = [
        f"{lower.tier} churns more than {higher.tier} "
        f"({formats.percent(lower.rate, 1)} vs {formats.percent(higher.rate, 1)})"
        for higher, lower in pairwise(present)
        if (lower.rate or 0.0) > (higher.rate or 0.0)
    ]
    if inversions:
        return TierOrder(False, "not monotone: " + "; ".join(inversions) + suffix)
    chain = " to ".join(f"{r.tier} ({formats.percent(r.rate, 1)})" for r in present)
    return TierOrder(True, f"monotone: churn falls from {chain}" + suffix)


def classify(scores: ArrayLike, tiers: Tiers) -> list[str]:
    """Each score's tier under ``tiers`` (lower bounds inclusive, as the engine does)."""
    return [tiers.classify(float(s)).value for s in np.asarray(scores).tolist()]


def rates_under(scores: ArrayLike, churned: ArrayLike, tiers: Tiers) -> list[TierRate]:
    """Churn rate per tier if ``tiers`` had been the cut-offs."""
    return churn_by_tier(churned, classify(scores, tiers))


@dataclass(frozen=True)
class TierProposal:
    """Proposed cut-offs and their training churn rates, or the reason there are none."""

    tiers: Tiers | None
    reason: str | None
    train_rates: list[TierRate]
    rule: str = RULE


def _log_likelihood(churned: NDArray[np.float64], total: NDArray[np.float64]) -> NDArray[Any]:
    """Σ c log r + (n - c) log(1 - r) of one tier, ``r = c / n`` (0 log 0 = 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(total > 0, churned / np.maximum(total, 1), 0.0)
        kept = total - churned
        part = np.where(churned > 0, churned * np.log(np.where(rate > 0, rate, 1.0)), 0.0)
        rest = np.where(kept > 0, kept * np.log(np.where(rate < 1, 1 - rate, 1.0)), 0.0)
    result: NDArray[Any] = part + rest
    return result


def propose_tiers(
    scores: ArrayLike, churned: ArrayLike, *, groups: ArrayLike | None = None
) -> TierProposal:
    """Cut-offs (integers) for ``Tiers`` by the rule above; see the module docstring."""
    values = np.clip(np.asarray(scores, dtype=np.int64), 0, 100)
    labels = np.asarray(churned, dtype=bool)
    owners = np.asarray(groups if groups is not None else np.arange(len(labels)))
    churners = len(np.unique(owners[labels])) if labels.any() else 0
    if churners < MIN_TRAIN_CHURNERS:
        return TierProposal(
            None,
            f"only {churners} churned account(s) in the training cut-offs; at least "
            f"{MIN_TRAIN_CHURNERS} are needed to place tier cut-offs",
            [],
        )
    # Accounts and churners below each score x (x = 0..101), then every cut-off triple
    # at_risk < monitor < healthy at once on a 101^3 grid (1 M cells: a few MB).
    n = np.concatenate([[0], np.cumsum(np.bincount(values, minlength=101))]).astype(float)
    c = np.concatenate([[0], np.cumsum(np.bincount(values[labels], minlength=101))]).astype(float)
    total, base = n[-1], c[-1] / n[-1]
    a, mo, h = np.ix_(np.arange(101), np.arange(101), np.arange(101))
    counts = [n[a] + 0 * mo + 0 * h, n[mo] - n[a], n[h] - n[mo], total - n[h]]
    churn = [c[a] + 0 * mo + 0 * h, c[mo] - c[a], c[h] - c[mo], c[-1] - c[h]]
    with np.errstate(divide="ignore", invalid="ignore"):
        rates = [
            np.where(k > 0, x / np.maximum(k, 1), np.nan)
            for x, k in zip(churn, counts, strict=True)
        ]
    shares = [k / total for k in counts]
    ok = (a >= 1) & (a < mo) & (mo < h) & (h <= 100)
    for share, (low, high) in zip(
        shares, (CRITICAL_SHARE, AT_RISK_SHARE, MONITOR_SHARE, HEALTHY_SHARE), strict=True
    ):
        ok &= (share >= low) & (share <= high)
    for k in counts:
        ok &= k >= MIN_TIER_ACCOUNTS
    with np.errstate(invalid="ignore"):
        ok &= (rates[0] > rates[1]) & (rates[1] > rates[2]) & (rates[2] > rates[3])
        ok &= (rates[0] >= CRITICAL_LIFT * base) & (rates[1] > base) & (rates[3] < base)
    if not ok.any():
        return TierProposal(
            None,
            "no cut-offs give churn rates falling from critical to healthy with the required "
            f"shares on the training cut-offs ({RULE}): the score does not separate churners "
            "enough to place tiers",
            [],
        )
    fit = sum(_log_likelihood(x, k) for x, k in zip(churn, counts, strict=True))
    best = np.unravel_index(int(np.argmax(np.where(ok, fit, -np.inf))), ok.shape)
    at_risk, monitor, healthy = (int(i) for i in best)
    tiers = Tiers(healthy=healthy, monitor=monitor, at_risk=at_risk)
    return TierProposal(tiers, None, rates_under(values, labels, tiers))


@dataclass(frozen=True)
class TierComparison:
    """Current cut-offs on the current score vs proposed cut-offs on the tuned score, both
    on the validation cut-offs; ``adopted`` when the tuned scorecard carries the proposal
    (it does only if churn falls monotonically on validation too)."""

    current: Tiers
    proposal: TierProposal
    current_validation: list[TierRate]
    current_order: TierOrder
    proposed_validation: list[TierRate]
    proposed_order: TierOrder | None
    adopted: bool


def compare_tiers(
    current: Tiers,
    *,
    train_scores: ArrayLike,
    train_churned: ArrayLike,
    train_groups: ArrayLike,
    validate_churned: ArrayLike,
    validate_current_tiers: Sequence[str],
    validate_scores: ArrayLike,
) -> TierComparison:
    """Propose cut-offs on training scores, judge them and the current ones on validation."""
    proposal = propose_tiers(train_scores, train_churned, groups=train_groups)
    current_rates = churn_by_tier(validate_churned, validate_current_tiers)
    proposed_rates: list[TierRate] = []
    proposed_order = None
    if proposal.tiers is not None:
        proposed_rates = rates_under(validate_scores, validate_churned, proposal.tiers)
        proposed_order = tier_order(proposed_rates)
    return TierComparison(
        current=current,
        proposal=proposal,
        current_validation=current_rates,
        current_order=tier_order(current_rates),
        proposed_validation=proposed_rates,
        proposed_order=proposed_order,
        adopted=proposed_order is not None and proposed_order.monotone is True,
    )
