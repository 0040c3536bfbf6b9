"""Playbook conditions, by hand, and the bundled rules (seed 000 and seed 001)."""

from __future__ import annotations

import pytest
import yaml
from pydantic import TypeAdapter

from healthscore.playbooks.rules import (
    AccountState,
    Condition,
    Playbook,
    PlaybookError,
    PlaybookSet,
    bundled_playbooks_yaml,
    judge,
    judge_all,
    load_playbooks,
)
from healthscore.scoring.scorecard_loading import BundledLoader

condition = TypeAdapter(Condition)


def state(**changes) -> AccountState:
    base = {
        "customer_id": "c1",
        "name": "Acme",
        "segment": "enterprise",
        "plan": "pro",
        "score": 45,
        "tier": "at_risk",
        "trend": "declining",
        "previous_tier": "monitor",
        "scores_ago": {7: 70},
        "signal_values": {"login_trend": 0.1},
        "days_since_login": 8.5,
        "failed_payments": {1: 1},
        "detractors": {1: 0},
    }
    return AccountState(**{**base, **changes})


@pytest.mark.parametrize(
    ("spec", "changes", "fires"),
    [
        ({"kind": "score_below", "score": 50}, {}, True),
        ({"kind": "score_below", "score": 45}, {}, False),
        ({"kind": "tier", "tiers": ["at_risk"], "trend": "declining"}, {}, True),
        ({"kind": "tier", "tiers": ["at_risk"], "trend": "declining"}, {"trend": "stable"}, False),
        ({"kind": "tier_changed", "from": ["monitor"], "to": ["at_risk"]}, {}, True),
        ({"kind": "tier_changed"}, {"previous_tier": "at_risk"}, False),
        ({"kind": "tier_changed"}, {"previous_tier": None}, False),
        ({"kind": "tier_changed", "to": ["critical"]}, {}, False),
        ({"kind": "score_dropped", "points": 25, "days": 7}, {}, True),
        ({"kind": "score_dropped", "points": 26, "days": 7}, {}, False),
        ({"kind": "score_dropped", "points": 5, "days": 7}, {"scores_ago": {}}, False),
        ({"kind": "no_login", "days": 7, "segments": ["enterprise"]}, {}, True),
        ({"kind": "no_login", "days": 7, "segments": ["smb"]}, {}, False),
        ({"kind": "no_login", "days": 9}, {}, False),
        # Never logged in is not "stopped logging in" (onboarding_not_started's case)…
        ({"kind": "no_login", "days": 9}, {"days_since_login": None}, False),
        # …and an account still onboarding is not judged on logins yet.
        ({"kind": "no_login", "days": 7}, {"stage": "onboarding"}, False),
        ({"kind": "onboarding_not_started"}, {"days_since_login": None, "age_days": 14.0}, True),
        ({"kind": "onboarding_not_started"}, {"days_since_login": None, "age_days": 13.9}, False),
        ({"kind": "onboarding_not_started"}, {"days_since_login": 30.0, "age_days": 60.0}, False),
        (
            {"kind": "onboarding_not_started", "grace_days_by_segment": {"enterprise": 30}},
            {"days_since_login": None, "age_days": 20.0},
            False,
        ),
        (
            {"kind": "onboarding_not_started", "grace_days_by_segment": {"smb": 30}},
            {"days_since_login": None, "age_days": 20.0},
            True,
        ),
        ({"kind": "payment_failed", "days": 1}, {}, True),
        ({"kind": "payment_failed", "days": 1}, {"failed_payments": {1: 0}}, False),
        ({"kind": "nps_detractor", "days": 1}, {}, False),
        ({"kind": "nps_detractor", "days": 1}, {"detractors": {1: 2}}, True),
        ({"kind": "signal_below", "signal": "login_trend", "value": 0.2}, {}, True),
        ({"kind": "signal_below", "signal": "login_trend", "value": 0.1}, {}, False),
        ({"kind": "signal_below", "signal": "unknown", "value": 0.5}, {}, False),
    ],
)
def test_each_condition_fires_exactly_when_it_should(spec, changes, fires):
    reason = condition.validate_python(spec).holds(state(**changes))
    assert (reason is not None) is fires
    if fires:
        assert reason


def test_all_conditions_must_hold_unless_match_is_any():
    spec = {
        "name": "p",
        "when": [{"kind": "tier", "tiers": ["critical"]}, {"kind": "score_below", "score": 50}],
        "actions": [{"kind": "outreach"}],
    }
    assert Playbook.model_validate(spec).evaluate(state()) is None
    either = Playbook.model_validate({**spec, "match": "any"}).evaluate(state())
    assert either == ["score 45 is below 50"]


def test_the_bundled_playbooks_include_seed_000_and_seed_001_rules():
    names = {p.name for p in load_playbooks().playbooks}
    assert {
        "seed000_alert",
        "enterprise_no_login",
        "score_below_threshold",
        "tier_downgrade",
    } <= names
    seed000 = next(p for p in load_playbooks().playbooks if p.name == "seed000_alert")
    assert seed000.evaluate(state(tier="critical", trend="stable")) is not None
    assert seed000.evaluate(state(tier="at_risk", trend="declining")) is not None
    assert seed000.evaluate(state(tier="at_risk", trend="stable")) is None


@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "score_below", "score": 50},
        {"kind": "tier", "tiers": ["at_risk"]},
        {"kind": "tier_changed"},
        {"kind": "score_dropped", "points": 5, "days": 7},
    ],
)
def test_score_and_tier_conditions_never_fire_below_min_confidence(spec):
    playbook = Playbook.model_validate(
        {"name": "p", "when": [spec], "actions": [{"kind": "outreach"}]}
    )
    assert playbook.evaluate(state(confidence=0.6)) is not None
    uncertain = judge(playbook, state(confidence=0.59), min_confidence=0.6)
    assert uncertain.reasons is None
    assert not uncertain.certain, "not firing for want of data does not mean clear"
    assert judge(playbook, state(confidence=0.1), min_confidence=0.0).reasons is not None


def test_conditions_about_facts_ignore_confidence_and_a_failing_one_is_certain():
    playbook = Playbook.model_validate(
        {
            "name": "p",
            "when": [{"kind": "score_below", "score": 50}, {"kind": "payment_failed"}],
            "actions": [{"kind": "outreach"}],
        }
    )
    low = state(confidence=0.2)
    assert judge(playbook.model_copy(update={"match": "any"}), low, min_confidence=0.6).reasons == [
        "1 failed payment(s) in 1 day(s)"
    ]
    clear = judge(playbook, state(confidence=0.2, failed_payments={1: 0}), min_confidence=0.6)
    assert clear.reasons is None and clear.certain, "the fact condition alone rules it out"


def test_min_confidence_defaults_to_0_6_and_a_playbook_may_set_its_own():
    rules = load_playbooks()
    assert rules.min_confidence == 0.6
    custom = PlaybookSet.model_validate(
        {
            "version": 1,
            "min_confidence": 0.8,
            "playbooks": [
                {
                    "name": "a",
                    "when": [{"kind": "tier", "tiers": ["critical"]}],
                    "actions": [{"kind": "outreach"}],
                },
                {
                    "name": "b",
                    "when": [{"kind": "tier", "tiers": ["critical"]}],
                    "min_confidence": 0.0,
                    "actions": [{"kind": "outreach"}],
                },
            ],
        }
    )
    assert [custom.min_confidence_of(p) for p in custom.playbooks] == [0.8, 0.0]
    # Judging many accounts at once applies each playbook's own floor, account by account.
    critical = [state(customer_id=f"c{i}", tier="critical", confidence=i / 10) for i in range(10)]
    judged = judge_all(custom, critical)
    assert [(j.state.customer_id, j.playbook.name) for j in judged[:4]] == [
        ("c0", "a"),
        ("c0", "b"),
        ("c1", "a"),
        ("c1", "b"),
    ]
    assert [j.fires for j in judged if j.playbook.name == "a"] == [False] * 8 + [True] * 2
    assert [j.certain for j in judged if j.playbook.name == "a"] == [False] * 8 + [True] * 2
    assert all(j.fires and j.certain for j in judged if j.playbook.name == "b")
    assert judged == [
        judge(p, s, min_confidence=custom.min_confidence_of(p))
        for s in critical
        for p in custom.playbooks
    ]


def test_the_bundled_onboarding_playbook_asks_for_a_kickoff():
    onboarding = load_playbooks().named("onboarding_not_started")
    assert onboarding is not None
    outreach = onboarding.outreach()
    assert outreach is not None and outreach.owner == "onboarding"
    assert "kickoff" in outreach.next_step
    never = state(days_since_login=None, age_days=15.0, confidence=0.0, stage="onboarding")
    assert onboarding.evaluate(never) is not None
    assert onboarding.evaluate(state(days_since_login=None, age_days=10.0)) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "version: 1\nplaybooks: [{name: p, when: [{kind: nope}], actions: [{kind: outreach}]}]",
            "playbooks.0.when.0",
        ),
        (
            "version: 1\nplaybooks: [{name: p, when: [{kind: score_below, score: 500}], "
            "actions: [{kind: outreach}]}]",
            "playbooks.0.when.0.score_below.score",
        ),
        (
            "version: 1\nplaybooks: [{name: p, when: [], actions: [{kind: outreach}]}]",
            "playbooks.0.when",
        ),
        (
            "version: 1\nplaybooks: [{name: p, when: [{kind: score_below, score: 5}], "
            "actions: [{kind: webhook, url: 'ftp://x', secret_env: HEALTHSCORE_X}]}]",
            "playbooks.0.actions.0.webhook.url",
        ),
        (
            "version: 1\nplaybooks: [{name: p, when: [{kind: score_below, score: 5}], "
            "severity: panic, actions: [{kind: outreach}]}]",
            "playbooks.0.severity",
        ),
        ("version: 1\nmin_confidence: 2\nplaybooks: []", "min_confidence"),
    ],
)
def test_an_invalid_playbook_file_names_the_field(tmp_path, text, message):
    path = tmp_path / "playbooks.yaml"
    path.write_text(text)
    with pytest.raises(PlaybookError, match=message.replace(".", r"\.")):
        load_playbooks(path)


def test_the_bundled_playbooks_read_by_libyaml_are_what_safe_load_reads(tmp_path):
    text = bundled_playbooks_yaml()
    assert yaml.load(text, Loader=BundledLoader) == yaml.safe_load(text)
    (tmp_path / "playbooks.yaml").write_text(text, encoding="utf-8")
    assert load_playbooks() == load_playbooks(tmp_path / "playbooks.yaml")
