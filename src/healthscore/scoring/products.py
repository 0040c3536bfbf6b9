"""The products step of a scoring run: after the signals, before overrides and roll-ups.

Reads each scored account's per-product aggregates (``product_queries``), scores every
(account, product) pair in one engine batch, combines each account's product scores into
its score (``product_rules``, through ``ScoredBatch.set_score``, so the stored
explanation keeps the account's own score, each product's and the rule) and, in a run
that saves, replaces the accounts' ``product_scores`` rows. A scorecard without a
``products`` section reads nothing and changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from healthscore.scoring import product_queries, product_rules
from healthscore.scoring.engine import ScoredBatch
from healthscore.scoring.lifecycle import DAY_SECONDS
from healthscore.scoring.metrics import Aggregate, Column, Lookup
from healthscore.scoring.repository import Account
from healthscore.scoring.requirements import product_aggregates
from healthscore.scoring.scorecard import Scorecard
from healthscore.scoring.selection import Selection
from healthscore.timeutc import utc


@dataclass(frozen=True)
class ProductScore:
    """One product of one account, scored."""

    customer_id: str
    product: str
    score: int
    tier: str
    share: float
    confidence: float
    signals: dict[str, Any]


def combine_products(
    session: Session,
    scorecard: Scorecard,
    batches: Sequence[ScoredBatch],
    accounts: Sequence[Account],
    *,
    as_of: datetime,
    customer_ids: Selection = None,
    save: bool,
) -> list[ProductScore]:
    """Score the products of the accounts in ``batches`` at ``as_of`` and fold them into
    the accounts' scores; with ``save``, write them (the caller's transaction)."""
    products = scorecard.products
    if products is None:
        return []
    scored = {cid for batch in batches for cid in batch.customer_ids}
    read = product_queries.load_product_columns(
        session,
        product_aggregates(scorecard),
        as_of=as_of,
        share_days=products.combine.window_days,
        accounts=scored,
        customer_ids=customer_ids,
    )
    if not read.pairs:
        if save:
            _save(session, [], as_of=as_of, customer_ids=customer_ids, card=scorecard)
        return []
    created = {a.id: utc(a.created_at).timestamp() for a in accounts}
    moment = utc(as_of).timestamp()
    ages = np.array(
        [max(0.0, (moment - created[cid]) / DAY_SECONDS) for cid, _ in read.pairs], dtype=float
    )
    batch = product_rules.score_product_pairs(
        scorecard, pairs=read.pairs, as_of=as_of, get=_lookup(read.columns), ages=ages
    )
    shares = product_rules.activity_shares(read.pairs, read.active_days)
    results = [
        ProductScore(
            customer_id=cid,
            product=product,
            score=int(batch.scores[i]),
            tier=batch.tiers[i].value,
            share=float(shares[i]),
            confidence=float(batch.confidence[i]),
            signals=_signals(batch, i),
        )
        for i, (cid, product) in enumerate(read.pairs)
    ]
    _fold_into_accounts(batches, results, scorecard)
    if save:
        _save(session, results, as_of=as_of, customer_ids=customer_ids, card=scorecard)
    return results


def _lookup(columns: dict[Aggregate, Column]) -> Lookup:
    return lambda aggregate: columns[aggregate]


def _signals(batch: ScoredBatch, i: int) -> dict[str, Any]:
    names = batch.signal_names
    raw = [None if np.isnan(v) else round(float(v), 6) for v in batch.raw[i]]
    return {
        "raw": dict(zip(names, raw, strict=True)),
        "value": dict(zip(names, np.round(batch.values[i], 6).tolist(), strict=True)),
        "weight": {s.name: s.weight for s in batch.scorecard.signals},
    }


def _fold_into_accounts(
    batches: Sequence[ScoredBatch], results: Sequence[ProductScore], scorecard: Scorecard
) -> None:
    assert scorecard.products is not None
    combine = scorecard.products.combine
    by_account: dict[str, list[ProductScore]] = {}
    for result in results:
        by_account.setdefault(result.customer_id, []).append(result)
    for batch in batches:
        for i, customer_id in enumerate(batch.customer_ids):
            own = by_account.get(customer_id)
            if not own:
                continue  # no product events: the account's own score stands
            account_score = int(batch.scores[i])
            score = product_rules.global_score(
                account_score, [p.score for p in own], [p.share for p in own], combine
            )
            detail = product_rules.combine_detail(
                account_score, [(p.product, p.score, p.tier, p.share) for p in own], combine
            )
            batch.set_score(i, score, step="products", detail=detail)


def _save(
    session: Session,
    results: Sequence[ProductScore],
    *,
    as_of: datetime,
    customer_ids: Selection,
    card: Scorecard,
) -> None:
    identity = card.identity
    rows = [
        {
            "customer_id": r.customer_id,
            "product": r.product,
            "as_of": as_of,
            "score": r.score,
            "tier": r.tier,
            "share": r.share,
            "signals": r.signals,
            "confidence": r.confidence,
            "scorecard": identity,
        }
        for r in results
    ]
    product_queries.save_product_scores(session, rows, as_of=utc(as_of), customer_ids=customer_ids)
