"""Alert rules on replayed scores: seed 000's rule, and the playbooks' case openings.

Pure: scores are laid out by hand as a ``ReplayedScores`` (one row per account, one column
per day), so every expected alert can be read off the table.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from healthscore.backtest.alert_rules import (
    SEED000_ALERT,
    PlaybookCases,
    TierTrendAlert,
    cases,
    previous_tiers,
    scores_ago,
)
from healthscore.backtest.replay import NOT_SCORED, STAGES, TIERS, TRENDS, ReplayedScores
from healthscore.playbooks.rules import AccountState, Playbook, PlaybookSet, load_playbooks
from healthscore.scoring.labels import Stage, Tier, Trend
from healthscore.scoring.scorecard import Tiers

DAY0 = datetime(2026, 3, 1, tzinfo=UTC)
BANDS = Tiers()


def replayed(
    scores: list[list[int | None]],
    trends: list[list[Trend]] | None = None,
    *,
    confidence: float = 1.0,
    stage: Stage = Stage.mature,
) -> ReplayedScores:
    """Accounts ``c0``, ``c1``… with these daily scores (``None``: not scored that day);
    tiers from the default bands, trends stable unless given."""
    grid = np.array([[NOT_SCORED if s is None else s for s in row] for row in scores], np.int16)
    scored = grid != NOT_SCORED
    tiers = np.vectorize(lambda s: TIERS.index(BANDS.classify(s)))(grid).astype(np.int8)
    trend_codes = (
        np.array([[TRENDS.index(t) for t in row] for row in trends], np.int8)
        if trends
        else np.full(grid.shape, TRENDS.index(Trend.stable), np.int8)
    )
    return ReplayedScores(
        days=[DAY0 + timedelta(days=k) for k in range(grid.shape[1])],
        customer_ids=[f"c{i}" for i in range(grid.shape[0])],
        scores=grid,
        tiers=np.where(scored, tiers, NOT_SCORED).astype(np.int8),
        trends=np.where(scored, trend_codes, NOT_SCORED).astype(np.int8),
        stages=np.where(scored, STAGES.index(stage), NOT_SCORED).astype(np.int8),
        confidence=np.where(scored, confidence, np.nan),
        source="replay",
    )


@pytest.mark.parametrize(
    ("score", "trend", "fires"),
    [
        (20, Trend.stable, True),  # critical
        (20, Trend.improving, True),
        (40, Trend.declining, True),  # at_risk and declining
        (40, Trend.stable, False),
        (60, Trend.declining, False),  # monitor
        (80, Trend.declining, False),  # healthy
    ],
)
def test_seed000_alerts_on_critical_or_at_risk_and_declining(score, trend, fires):
    alerts = SEED000_ALERT.alerts(replayed([[score]], [[trend]]))
    assert alerts.opened.tolist() == [[fires]] and alerts.standing.tolist() == [[fires]]


def test_seed000_alerts_on_every_day_it_holds_and_never_when_unscored():
    alerts = SEED000_ALERT.alerts(replayed([[20, 20, None, 20]]))
    assert alerts.opened.tolist() == [[True, True, False, True]]


def test_an_alert_rule_can_be_swapped():
    wider = TierTrendAlert(name="wider", always=frozenset({Tier.critical, Tier.at_risk}))
    assert wider.alerts(replayed([[40]])).opened.tolist() == [[True]]
    assert wider.description == "tier is at_risk or critical"


def test_the_default_playbooks_replay_their_score_conditions_and_name_the_others():
    rule = PlaybookCases(load_playbooks())
    assert [p.name for p in rule.replayed] == [
        "seed000_alert",
        "score_below_threshold",
        "tier_downgrade",
        "sharp_drop",
        "slow_decline",
    ]
    assert rule.skipped == {
        "enterprise_no_login": "no_login",
        "onboarding_not_started": "onboarding_not_started",
        "payment_failed": "payment_failed",
        "nps_detractor": "nps_detractor",
    }
    assert "not replayable: enterprise_no_login (no_login)" in rule.description
    # slow_decline compares with the score 28 days ago, or up to 3 days before that.
    assert rule.warmup_days == 31


def _playbooks(*when: dict[str, object], match: str = "all", cooldown: int = 0) -> PlaybookSet:
    return PlaybookSet.model_validate(
        {
            "version": 1,
            "playbooks": [
                {
                    "name": "p",
                    "match": match,
                    "when": list(when),
                    "cooldown_days": cooldown,
                    "actions": [{"kind": "outreach"}],
                }
            ],
        }
    )


def test_a_playbook_needing_state_the_replay_lacks_is_skipped_or_replayed_in_part():
    both = [{"kind": "score_below", "score": 40}, {"kind": "payment_failed"}]
    assert PlaybookCases(_playbooks(*both)).replayed == []  # all: cannot be decided
    partial = PlaybookCases(_playbooks(*both, match="any"))
    assert [len(p.when) for p in partial.replayed] == [1]  # any: the score half replays
    fires = partial.fires(replayed([[39, 41]]))["p"]
    assert fires.tolist() == [[True, False]]


def test_tier_changes_and_score_drops_read_earlier_replayed_days():
    scores = replayed(
        [
            [75, 75, 45, 45, 25],  # healthy → healthy → at_risk → at_risk → critical
            [80, None, None, 60, 60],  # unscored days: previous tier is the last scored one
        ]
    )
    assert previous_tiers(scores).tolist()[1] == [NOT_SCORED, 0, 0, 0, 1]
    rule = PlaybookCases(
        _playbooks({"kind": "tier_changed", "from": ["healthy", "monitor"], "to": ["at_risk"]})
    )
    assert rule.fires(scores)["p"].tolist() == [
        [False, False, True, False, False],
        [False, False, False, False, False],  # healthy → monitor is not to at_risk
    ]
    drop = PlaybookCases(_playbooks({"kind": "score_dropped", "points": 20, "days": 2}))
    assert drop.fires(scores)["p"].tolist()[0] == [False, False, True, True, True]


def test_scores_n_days_ago_fall_back_up_to_three_days_earlier():
    scores = replayed([[50, 51, 52, None, None, None, None, None, 58]])
    ago = scores_ago(scores, 2).tolist()[0]
    # Day 5 looks at day 3 (unscored), then 2; day 7 at days 5, 4, 3 (unscored), then 2;
    # day 8 at days 6 to 3, all unscored.
    assert ago == [NOT_SCORED, NOT_SCORED, 50, 51, 52, 52, 52, 52, NOT_SCORED]


def test_the_replayed_state_carries_stage_and_confidence(monkeypatch):
    seen: list[AccountState] = []
    evaluate = Playbook.evaluate

    def spy(self: Playbook, state: AccountState, *, min_confidence: float) -> list[str] | None:
        seen.append(state)
        return evaluate(self, state, min_confidence=min_confidence)

    monkeypatch.setattr(Playbook, "evaluate", spy)
    rule = PlaybookCases(_playbooks({"kind": "score_below", "score": 50}))
    rule.fires(replayed([[30, 30, 30]], confidence=0.4, stage=Stage.onboarding))
    # Days 1 and 2 look the same (previous tier at_risk): equal states are evaluated once.
    assert [(s.score, s.previous_tier, s.stage, s.confidence) for s in seen] == [
        (30, None, "onboarding", pytest.approx(0.4)),
        (30, "at_risk", "onboarding", pytest.approx(0.4)),
    ]


def test_the_replay_judges_confidence_against_the_playbook_files_threshold():
    """A score below the file's ``min_confidence`` fires nothing, as in the product; a file
    that trusts every score (0) fires on it."""
    low = replayed([[30, 30, 30]], confidence=0.2, stage=Stage.mature)
    strict = _playbooks({"kind": "score_below", "score": 50})
    trusting = strict.model_copy(update={"min_confidence": 0.0})
    assert not PlaybookCases(strict).fires(low)["p"].any()
    assert PlaybookCases(trusting).fires(low)["p"].all()


def test_a_case_opens_once_and_closes_after_the_cooldown_without_firing():
    fires = np.array([[c == "F" for c in "FFF..F....F"]])
    opened, standing = cases(fires, cooldown_days=3)
    assert "".join("O" if o else "." for o in opened[0]) == "O.........O"
    assert "".join("s" if s else "." for s in standing[0]) == "ssssssss..s"
    # Without a cooldown the case closes the first day the playbook does not fire.
    opened, _ = cases(fires, cooldown_days=0)
    assert "".join("O" if o else "." for o in opened[0]) == "O....O....O"


def test_playbook_alerts_are_case_openings_across_playbooks():
    rule = PlaybookCases(
        PlaybookSet.model_validate(
            {
                "version": 1,
                "playbooks": [
                    {
                        "name": name,
                        "when": [{"kind": "score_below", "score": below}],
                        "cooldown_days": 2,
                        "actions": [{"kind": "outreach"}],
                    }
                    for name, below in (("low", 40), ("very_low", 20))
                ],
            }
        )
    )
    alerts = rule.alerts(replayed([[35, 35, 15, 15, 50, 50, 50, 35]]))
    # "low" opens day 0, closes after two quiet days (day 5), opens again on day 7;
    # "very_low" opens its own case on day 2 while "low" is open.
    assert alerts.opened.tolist() == [[True, False, True, False, False, False, False, True]]
    assert alerts.standing.tolist() == [[True, True, True, True, True, False, False, True]]
