"""Scorecards are validated data: bad ones are refused with the field named."""

from __future__ import annotations

import pytest
import yaml

from healthscore.scoring.scorecard_loading import (
    BUNDLED,
    BundledLoader,
    ScorecardError,
    bundled_yaml,
    load_scorecard,
    parse_scorecard,
)

GOOD = """
version: 1
name: t
signals:
  - {name: a, group: engagement, metric: logins, normalise: {kind: target, target: 10},
     weight: 0.6}
  - {name: b, group: payments, metric: payment_success_rate, normalise: {kind: target, target: 1},
     weight: 0.4}
"""


@pytest.mark.parametrize("name", ["default", "seed000"])
def test_bundled_scorecards_load_and_their_weights_sum_to_one(name):
    card = load_scorecard(name)
    assert sum(s.weight for s in card.signals) == pytest.approx(1)
    for variant in card.all_variants():
        assert sum(s.weight for s in variant.signals) == pytest.approx(1)


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_scorecards_read_by_libyaml_are_what_safe_load_reads(name):
    text = bundled_yaml(name)
    assert yaml.load(text, Loader=BundledLoader) == yaml.safe_load(text)
    assert load_scorecard(name) == parse_scorecard(text)


def test_default_covers_both_seeds_all_four_groups_the_csms_sentiment_and_commercial():
    card = load_scorecard("default")
    groups = {s.group.value for s in card.signals}
    assert groups == {"engagement", "payments", "nps", "support", "csm", "commercial"}
    (sentiment,) = [s for s in card.signals if s.group.value == "csm"]
    assert sentiment.metric == "csm_sentiment" and sentiment.when_missing == "skip"
    commercial = [s for s in card.signals if s.group.value == "commercial"]
    assert {s.metric for s in commercial} == {"mrr_change", "seat_change", "days_to_renewal"}
    assert {s.when_missing for s in commercial} == {"skip"}
    metrics = {
        measurement.metric
        for variant in card.all_variants()
        for signal in variant.signals
        for measurement in signal.measurements()
    }
    assert {
        "logins",
        "activity_days",
        "distinct_features",
        "api_calls",
        "new_users",
        "payment_success_rate",
        "ticket_rating",
        "tickets_opened",
        "high_severity_tickets",
        "ticket_resolution_rate",
        "nps_average",
    } <= metrics


def test_seed000_has_seed_000s_six_signals_weights_and_cut_offs():
    card = load_scorecard("seed000")
    assert [(s.name, s.weight) for s in card.signals] == [
        ("login_frequency", 0.2),
        ("feature_adoption", 0.2),
        ("support_sentiment", 0.15),
        ("api_usage_trend", 0.15),
        ("payment_health", 0.15),
        ("team_growth", 0.15),
    ]
    assert (card.tiers.healthy, card.tiers.monitor, card.tiers.at_risk) == (70, 50, 30)


def test_a_segment_override_changes_only_that_segment():
    card = load_scorecard("default")
    base = {s.name: s for s in card.signals}
    enterprise = {s.name: s for s in card.for_segment("enterprise").signals}
    assert enterprise["seat_activity"].normalise != base["seat_activity"].normalise
    assert enterprise["payment_health"] == base["payment_health"]
    assert card.for_segment("unknown-segment") is card


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("weight: 0.6", "weight: 1.6"), "signals.0.weight: Input should be less than or equal"),
        (("weight: 0.6", "weight: 0.5"), "weights must sum to 1, got 0.9"),
        (("metric: logins", "metric: vibes"), "unknown metric 'vibes'"),
        (("kind: target, target: 10", "kind: sigmoid"), "signals.0.normalise"),
        (("kind: target, target: 10", "kind: ramp, low: 3, high: 3"), "low and high must differ"),
        (
            ("metric: payment_success_rate,", "metric: payment_success_rate, basis: per_seat,"),
            "basis per_seat needs a count metric",
        ),
        (("name: b,", "name: a,"), "duplicate signal names: a"),
        (
            ("name: t", "name: t\ntiers: {healthy: 40, monitor: 50, at_risk: 30}"),
            "healthy > monitor > at_risk",
        ),
        (
            ("name: t", "name: t\nsegments: {smb: {signals: {zzz: {weight: 0.1}}}}"),
            "segments.smb.signals: unknown signal(s) ['zzz']",
        ),
        (("name: t", "name: t\nsegments: {smb: {signals: {a: {weight: 0.1}}}}"), "segments.smb"),
        (("name: t", "name: t\ncolour: blue"), "colour: Extra inputs are not permitted"),
    ],
)
def test_an_invalid_scorecard_names_the_field_at_fault(change, message):
    old, new = change
    with pytest.raises(ScorecardError, match=r"^t\.yaml: ") as error:
        parse_scorecard(GOOD.replace(old, new, 1), origin="t.yaml")
    assert message in str(error.value)


def test_yaml_that_is_not_a_mapping_or_not_yaml_is_refused():
    with pytest.raises(ScorecardError, match="expected a mapping"):
        parse_scorecard("- just\n- a list\n")
    with pytest.raises(ScorecardError, match="not valid YAML"):
        parse_scorecard("signals: [unclosed\n")


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(ScorecardError, match="neither a file nor one of default, seed000"):
        load_scorecard(tmp_path / "nope.yaml")
