"""Parents' roll-ups: a parent account's score made from its children's final scores.

The last step of a run after the signals (after per-product scores and manual
overrides): each parent scored in the run gets, through ``ScoredBatch.set_score``, the
scorecard's ``hierarchy.rollup`` of its active children — the MRR-weighted mean by default
(all children at MRR 0: the plain mean), the mean, or the minimum. Its tier and trend
follow from that score, and ``signals.adjusted.rollup`` keeps every child's score, MRR
and weight, and the parent's own score, so the number traces back to its children.

Parents are rolled up bottom-up (a child that is itself a parent counts with its own
roll-up). A child not scored in the run counts with its latest stored score; a churned or
not-yet-created child, or one never scored, does not count; a parent with no child that
counts keeps its own score. A parent whose final score a person locked (an ``override``
of the score) keeps it; the roll-up is recorded beside it, not applied.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from healthscore.scoring.engine import ScoredBatch, round_half_up
from healthscore.scoring.scorecard import RollupRule

STEP = "rollup"
"""The step's name in ``ScoredBatch.adjustments`` and ``signals.adjusted``."""


@dataclass(frozen=True, slots=True)
class Child:
    """An account with a parent, as the roll-up sees it (``repository.hierarchy_children``)."""

    id: str
    parent_id: str
    mrr: float
    active: bool
    """Existed and had not churned at the run's moment."""
    stored_score: int | None = None
    """Its latest stored score, for a child the run does not score (None: never scored)."""


@dataclass(frozen=True, slots=True)
class ChildScore:
    id: str
    score: int
    mrr: float


@dataclass(frozen=True, slots=True)
class RollUp:
    score: int
    detail: dict[str, Any]


def roll_up(rule: RollupRule, children: Sequence[ChildScore], *, own_score: int) -> RollUp | None:
    """The parent's score under ``rule`` from its children's, with the explanation; None
    without children (the parent keeps ``own_score``)."""
    if not children:
        return None
    scores = [c.score for c in children]
    total_mrr = sum(c.mrr for c in children)
    applied = rule
    if rule is RollupRule.minimum:
        lowest = min(range(len(children)), key=lambda k: (scores[k], children[k].id))
        weights = [1.0 if k == lowest else 0.0 for k in range(len(children))]
        score = scores[lowest]
    else:
        if rule is RollupRule.mrr_weighted_mean and total_mrr > 0:
            weights = [c.mrr / total_mrr for c in children]
        else:
            if rule is RollupRule.mrr_weighted_mean:  # every child at MRR 0
                applied = RollupRule.mean
            weights = [1 / len(children)] * len(children)
        mean = sum(w * s for w, s in zip(weights, scores, strict=True))
        score = min(100, max(0, round_half_up(round(mean, 9))))
    detail: dict[str, Any] = {
        "rule": applied.value,
        "children": [
            {"id": c.id, "score": c.score, "mrr": c.mrr, "weight": round(w, 4)}
            for c, w in zip(children, weights, strict=True)
        ],
        "ownScore": own_score,
    }
    if applied is not rule:
        detail["configured"] = rule.value
    return RollUp(score, detail)


def bottom_up(children: Iterable[Child]) -> list[tuple[str, list[Child]]]:
    """Each parent with its children, every parent after all the parents below it."""
    below: dict[str, list[Child]] = defaultdict(list)
    for child in children:
        below[child.parent_id].append(child)
    height: dict[str, int] = {}

    def height_of(parent: str, path: frozenset[str] = frozenset()) -> int:
        if parent not in height:
            kids = [c.id for c in below[parent] if c.id in below and c.id not in path]
            height[parent] = 1 + max((height_of(k, path | {parent}) for k in kids), default=0)
        return height[parent]

    return sorted(below.items(), key=lambda item: (height_of(item[0]), item[0]))


def roll_up_parents(
    batches: Sequence[ScoredBatch], children: Iterable[Child], rule: RollupRule
) -> None:
    """Give every parent scored in ``batches`` the roll-up of its children (in place)."""
    at = {cid: (batch, i) for batch in batches for i, cid in enumerate(batch.customer_ids)}
    for parent, kids in bottom_up(children):
        if parent not in at:
            continue
        batch, i = at[parent]
        counted = []
        for kid in sorted(kids, key=lambda k: k.id):
            score = _final_score(kid, at)
            if kid.active and score is not None:
                counted.append(ChildScore(kid.id, score, kid.mrr))
        own = int(batch.scores[i])
        result = roll_up(rule, counted, own_score=own)
        if result is None:
            continue
        if _locked(batch, i):
            locked = {**result.detail, "rolledUpScore": result.score, "locked": True}
            batch.set_score(i, own, step=STEP, detail=locked)
        else:
            batch.set_score(i, result.score, step=STEP, detail=result.detail)


def _final_score(child: Child, at: dict[str, tuple[ScoredBatch, int]]) -> int | None:
    if child.id in at:
        batch, i = at[child.id]
        return int(batch.scores[i])
    return child.stored_score


def _locked(batch: ScoredBatch, i: int) -> bool:
    """A person set this account's final score (``scoring.overrides``)."""
    if not batch.adjustments:
        return False
    override = batch.adjustments[i].get("override")
    return isinstance(override, dict) and "score" in override
