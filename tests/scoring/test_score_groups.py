"""A run's score objects, built a group at a time, are the ones built all at once."""

from __future__ import annotations

import pytest

from healthscore.scoring.service import score_accounts
from tests.scoring.test_fast_paths import CARD, NOW


@pytest.mark.parametrize("size", [1, 7, 80, 10_000])
def test_groups_hold_every_score_once_in_account_order(demo, size):
    run = score_accounts(demo, CARD, as_of=NOW)
    demo.rollback()
    assert len(run.batches) > 1  # several scorecard variants, each its own batch

    groups = list(run.score_groups(size))

    assert all(0 < len(group) <= size for group in groups)
    assert len(groups) == -(-run.scored // size)
    assert [score for group in groups for score in group] == run.scores
    assert sorted(run.customer_ids) == [score.customer_id for score in run.scores]
