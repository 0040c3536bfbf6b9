"""What the API and the dashboard show of per-product scores: each product's latest
score with its signals, and how the account's global score was made from them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy.orm import Session

from healthscore.scoring import product_queries


@dataclass(frozen=True)
class ProductSignalDetail:
    name: str
    raw: Annotated[float | None, Field(description="measured on the product's own events")]
    value: float
    weight: float
    contribution: Annotated[float, Field(description="points: value * weight * 100")]


@dataclass(frozen=True)
class ProductScoreDetail:
    product: str
    score: int
    tier: str
    share: Annotated[
        float,
        Field(
            description="the product's weight in the account's mean of product scores: its "
            "part of the account's active days over the combine window"
        ),
    ]
    confidence: float
    as_of: datetime
    scorecard: str
    signals: Sequence[ProductSignalDetail]


@dataclass(frozen=True)
class ProductCombination:
    """How the account's global score was made (``docs/products.md``)."""

    account_score: Annotated[
        int, Field(description="the score of the account's own signals, before its products")
    ]
    weight: Annotated[float, Field(description="combine.weight: the products' part")]
    window_days: Annotated[int, Field(description="combine.window_days: the shares' window")]
    rule: str
    products: Sequence[ProductScoreDetail]

    @property
    def products_mean(self) -> float:
        """The products' scores weighted by their shares: what ``weight`` applies to."""
        total = sum(p.share for p in self.products)
        return sum(p.share * p.score for p in self.products) / (total or 1)


def product_scores(session: Session, customer_id: str) -> list[ProductScoreDetail]:
    """The account's latest product scores, the most used product first."""
    details = []
    for row in product_queries.latest_product_scores(session, customer_id):
        stored: dict[str, Any] = row.signals
        signals = [
            ProductSignalDetail(
                name=name,
                raw=stored["raw"].get(name),
                value=stored["value"][name],
                weight=weight,
                contribution=round(stored["value"][name] * weight * 100, 2),
            )
            for name, weight in stored["weight"].items()
        ]
        details.append(
            ProductScoreDetail(
                product=row.product,
                score=row.score,
                tier=row.tier,
                share=row.share,
                confidence=row.confidence,
                as_of=row.as_of,
                scorecard=row.scorecard,
                signals=signals,
            )
        )
    return details


def product_combination(session: Session, customer_id: str) -> ProductCombination | None:
    """The combination stored with the account's latest score, with its products'
    latest scores; None when that score combined no products."""
    combined = product_queries.combination(session, customer_id)
    if not combined:
        return None
    return ProductCombination(
        account_score=combined["account_score"],
        weight=combined["weight"],
        window_days=combined["window_days"],
        rule=combined["rule"],
        products=product_scores(session, customer_id),
    )
