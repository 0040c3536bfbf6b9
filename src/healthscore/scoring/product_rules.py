"""Per-product scores and the global rule, as pure functions (no SQL, no clock).

Each (account, product) pair is scored by the engine like an account, on the
scorecard's ``products.signals`` over that product's own events. The account's global
score then combines its own score with its products' (``docs/products.md``)::

    global = round((1 - weight) * account score + weight * Σ share_p * score_p)

where ``share_p`` is product p's part of the account's active days (days with any login,
feature use or API call for it) over ``combine.window_days``; equal shares when none of
its products was active in that window. Tier and trend follow from the global score.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from healthscore.scoring.engine import ScoredBatch, round_half_up, score_batch
from healthscore.scoring.metrics import Lookup
from healthscore.scoring.scorecard import ProductCombine, Scorecard

RULE = "round((1 - weight) * account score + weight * Σ share * product score)"


def product_scorecard(scorecard: Scorecard) -> Scorecard:
    """The scorecard the engine scores products with: the product signals, the base
    tiers; segment and stage overrides do not apply to products."""
    assert scorecard.products is not None, "the scorecard has no products section"
    return scorecard.model_copy(
        update={
            "signals": list(scorecard.products.signals),
            "segments": {},
            "stages": {},
            "products": None,
        }
    )


def score_product_pairs(
    scorecard: Scorecard,
    *,
    pairs: Sequence[tuple[str, str]],
    as_of: datetime,
    get: Lookup,
    ages: NDArray[np.float64] | None = None,
) -> ScoredBatch:
    """One batch for every (account, product) pair; ``get`` answers per pair, ``ages``
    are the accounts' ages (days) per pair. Product scores have no trend."""
    return score_batch(
        product_scorecard(scorecard),
        customer_ids=[customer_id for customer_id, _ in pairs],
        as_of=as_of,
        get=get,
        previous=[None] * len(pairs),
        ages=ages,
    )


def activity_shares(
    pairs: Sequence[tuple[str, str]], active_days: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Each pair's part of its account's active days (pairs of one account sum to 1;
    equal parts when none of the account's products was active)."""
    shares = np.zeros(len(pairs))
    by_account: dict[str, list[int]] = {}
    for i, (customer_id, _) in enumerate(pairs):
        by_account.setdefault(customer_id, []).append(i)
    for positions in by_account.values():
        days = active_days[positions]
        total = days.sum()
        shares[positions] = days / total if total > 0 else 1.0 / len(positions)
    rounded: NDArray[np.float64] = np.round(shares, 4)
    return rounded


def global_score(
    account_score: int,
    product_scores: Sequence[int],
    shares: Sequence[float],
    combine: ProductCombine,
) -> int:
    """The documented rule (``RULE``): the account's own score and its products' mean,
    weighted by their activity shares, mixed by ``combine.weight``."""
    total = sum(shares)
    mean = sum(s * w for s, w in zip(product_scores, shares, strict=True)) / (total or 1)
    mixed = (1 - combine.weight) * account_score + combine.weight * mean
    return max(0, min(100, round_half_up(round(mixed, 9))))


def combine_detail(
    account_score: int,
    products: Sequence[tuple[str, int, str, float]],
    combine: ProductCombine,
) -> dict[str, Any]:
    """What the stored explanation keeps of the combination (``signals.adjusted``)."""
    return {
        "rule": RULE,
        "weight": combine.weight,
        "window_days": combine.window_days,
        "account_score": account_score,
        "products": [
            {"product": product, "score": score, "tier": tier, "share": share}
            for product, score, tier, share in products
        ],
    }
