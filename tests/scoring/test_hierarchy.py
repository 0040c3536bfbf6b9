"""Parents' roll-ups (``scoring.hierarchy``): the rules over children's final scores and
MRR, bottom-up through several levels, on real scored batches (no database)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from healthscore.scoring.engine import PreviousScore, ScoredBatch, score_batch
from healthscore.scoring.hierarchy import Child, ChildScore, roll_up, roll_up_parents
from healthscore.scoring.labels import Tier, Trend
from healthscore.scoring.scorecard import RollupRule
from healthscore.scoring.scorecard_loading import load_scorecard, parse_scorecard

NOW = datetime(2026, 11, 20, tzinfo=UTC)
CARD = load_scorecard("default")


def three(scores: tuple[int, int, int], mrr: tuple[float, float, float]) -> list[ChildScore]:
    return [ChildScore(f"c{k}", s, m) for k, (s, m) in enumerate(zip(scores, mrr, strict=True))]


def test_a_parent_with_three_children_mrr_100_100_800_gets_their_mrr_weighted_mean():
    result = roll_up(
        RollupRule.mrr_weighted_mean, three((90, 70, 20), (100, 100, 800)), own_score=88
    )
    assert result is not None
    # (90 x 100 + 70 x 100 + 20 x 800) / 1000 = 32, where the plain mean would be 60.
    assert result.score == 32
    assert result.detail == {
        "rule": "mrr_weighted_mean",
        "children": [
            {"id": "c0", "score": 90, "mrr": 100, "weight": 0.1},
            {"id": "c1", "score": 70, "mrr": 100, "weight": 0.1},
            {"id": "c2", "score": 20, "mrr": 800, "weight": 0.8},
        ],
        "ownScore": 88,
    }


@pytest.mark.parametrize(
    ("rule", "expected"),
    [(RollupRule.mean, 60), (RollupRule.minimum, 20)],
)
def test_mean_and_minimum_ignore_mrr(rule, expected):
    result = roll_up(rule, three((90, 70, 20), (100, 100, 800)), own_score=88)
    assert result is not None and result.score == expected
    assert result.detail["rule"] == rule.value


def test_children_all_at_mrr_0_fall_back_to_the_plain_mean_and_say_so():
    result = roll_up(RollupRule.mrr_weighted_mean, three((90, 71, 20), (0, 0, 0)), own_score=5)
    assert result is not None
    assert result.score == 60  # 181 / 3 = 60.33
    assert result.detail["rule"] == "mean"
    assert result.detail["configured"] == "mrr_weighted_mean"


def test_halves_round_up_as_scores_do():
    result = roll_up(RollupRule.mean, three((50, 51, 50), (1, 1, 1))[:2], own_score=0)
    assert result is not None and result.score == 51  # 50.5


def test_a_parent_without_children_keeps_its_own_score():
    assert roll_up(RollupRule.mrr_weighted_mean, [], own_score=77) is None


def batch_of(ids: list[str], scores: list[int], previous: list[int | None]) -> ScoredBatch:
    """A real batch (every account without data), then each account given its score."""
    batch = score_batch(
        CARD,
        customer_ids=ids,
        as_of=NOW,
        get=lambda aggregate: np.zeros(len(ids)),
        previous=[PreviousScore(NOW.date(), p, {}) if p is not None else None for p in previous],
    )
    for i, score in enumerate(scores):
        batch.set_score(i, score, step="test", detail={})
    return batch


def test_rollups_run_bottom_up_and_skip_inactive_or_unscored_children():
    # root ← mid (MRR 300) ← leaf_a (MRR 100), leaf_b (MRR 300); root ← other (MRR 100,
    # not in this run: its stored score counts); root ← gone (churned); root ← new (never
    # scored). The run scores root, mid, leaf_a, leaf_b.
    batch = batch_of(["leaf_a", "leaf_b", "mid", "root"], [80, 40, 99, 99], [None, None, None, 90])
    children = [
        Child("leaf_a", "mid", 100.0, True),
        Child("leaf_b", "mid", 300.0, True),
        Child("mid", "root", 300.0, True),
        Child("other", "root", 100.0, True, stored_score=90),
        Child("gone", "root", 5000.0, False, stored_score=0),
        Child("new", "root", 5000.0, True, stored_score=None),
    ]
    roll_up_parents([batch], children, RollupRule.mrr_weighted_mean)
    scores = dict(zip(batch.customer_ids, batch.scores.tolist(), strict=True))
    assert scores["mid"] == 50  # (80 x 100 + 40 x 300) / 400
    assert scores["root"] == 60  # (50 x 300 + 90 x 100) / 400: mid counts with its roll-up
    root = batch.customer_ids.index("root")
    detail = batch.adjustments[root]["rollup"]
    assert [c["id"] for c in detail["children"]] == ["mid", "other"]
    assert detail["ownScore"] == 99
    # Tier and trend follow the rolled-up score (90 → 60 is declining).
    assert batch.tiers[root] is CARD.tiers.classify(60) is Tier.monitor
    assert batch.trends[root] is Trend.declining
    assert batch.scores[batch.customer_ids.index("leaf_a")] == 80


def test_a_parent_outside_the_run_is_left_alone_and_a_hand_set_score_is_kept():
    batch = batch_of(["a", "b", "p"], [10, 20, 90], [None, None, None])
    p = batch.customer_ids.index("p")
    batch.set_score(p, 90, step="override", detail={"score": {"value": 90}})
    children = [Child("a", "p", 1.0, True), Child("b", "p", 1.0, True), Child("x", "q", 1, True)]
    roll_up_parents([batch], children, RollupRule.minimum)
    assert batch.scores[p] == 90
    assert batch.adjustments[p]["rollup"]["rolledUpScore"] == 10
    assert batch.adjustments[p]["rollup"]["locked"] is True


def test_the_scorecard_chooses_the_rule_and_names_a_wrong_one():
    text = (
        "version: 1\nname: t\nsignals: [{name: s, group: engagement, metric: logins, "
        "normalise: {kind: target, target: 10}, weight: 1}]\n"
    )
    assert parse_scorecard(text).hierarchy.rollup is RollupRule.mrr_weighted_mean
    assert parse_scorecard(text + "hierarchy: {rollup: minimum}\n").hierarchy.rollup == "minimum"
    with pytest.raises(ValueError, match=r"hierarchy\.rollup"):
        parse_scorecard(text + "hierarchy: {rollup: median}\n")
