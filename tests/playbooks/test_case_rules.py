"""What a scoring run does to a case, by hand (``case_rules.decide``; no database)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from healthscore.playbooks.case_rules import (
    EVIDENCE_KEPT,
    CaseView,
    Outcome,
    appended,
    decide,
)
from healthscore.playbooks.rules import AccountState, Playbook, judge

NOW = datetime(2026, 6, 10, tzinfo=UTC)
DAY = timedelta(days=1)
PLAYBOOK = Playbook.model_validate(
    {
        "name": "low",
        "when": [{"kind": "score_below", "score": 40}],
        "cooldown_days": 5,
        "auto_resolve_days": 3,
        "actions": [{"kind": "outreach"}],
    }
)


def state(score: int = 30, tier: str = "at_risk", confidence: float = 0.9) -> AccountState:
    return AccountState(
        customer_id="acme",
        name="Acme",
        segment="smb",
        plan="pro",
        score=score,
        tier=tier,
        trend="declining",
        previous_tier=tier,
        confidence=confidence,
    )


def judged(playbook: Playbook = PLAYBOOK, **changes: object):
    return judge(playbook, state(**changes), min_confidence=0.6)  # type: ignore[arg-type]


def case(**changes: object) -> CaseView:
    base = CaseView(
        id=7,
        key="low:acme:2026-06-01",
        state="open",
        severity="normal",
        opened_score=35,
        opened_tier="at_risk",
        last_seen_at=NOW - DAY,
        cleared_at=None,
        snoozed_until=None,
        resolved_at=None,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_first_firing_opens_a_case_at_the_playbooks_severity():
    step = decide(judged(), None, as_of=NOW)
    assert step is not None and step.outcome is Outcome.open and step.severity == "normal"
    assert step.notifies


@pytest.mark.parametrize("current", ["open", "acknowledged", "snoozed"])
def test_a_persisting_condition_updates_the_unresolved_case_without_a_message(current):
    step = decide(judged(score=33), case(state=current, snoozed_until=NOW + DAY), as_of=NOW)
    assert step is not None and step.outcome is Outcome.update
    assert step.seen and not step.notifies and not step.wakes


@pytest.mark.parametrize(
    ("score", "tier", "severity"),
    [
        (21, "at_risk", "normal"),  # 14 points below the opening 35: not yet
        (20, "at_risk", "high"),  # 15 points: one step
        (5, "at_risk", "urgent"),  # 30 points: two steps
        (30, "critical", "high"),  # one tier worse
        (0, "critical", "urgent"),  # capped at urgent
    ],
)
def test_a_case_escalates_as_the_score_falls_or_the_tier_worsens(score, tier, severity):
    step = decide(judged(score=score, tier=tier), case(), as_of=NOW)
    assert step is not None
    assert step.outcome is (Outcome.escalate if severity != "normal" else Outcome.update)
    assert (step.severity or "normal") == severity


def test_severity_never_goes_down_and_an_escalation_is_sent_once_per_level():
    high = case(severity="high")
    assert decide(judged(score=34), high, as_of=NOW).outcome is Outcome.update  # type: ignore[union-attr]
    assert decide(judged(score=20), high, as_of=NOW).outcome is Outcome.update  # type: ignore[union-attr]
    again = decide(judged(score=5), high, as_of=NOW)
    assert again is not None and (again.outcome, again.severity) == (Outcome.escalate, "urgent")


def test_no_escalation_without_the_rule_or_on_a_score_too_uncertain_to_judge():
    quiet = PLAYBOOK.model_copy(update={"escalate": None})
    assert decide(judged(quiet, score=0), case(), as_of=NOW).outcome is Outcome.update  # type: ignore[union-attr]
    payment = Playbook.model_validate(
        {"name": "pay", "when": [{"kind": "payment_failed"}], "actions": [{"kind": "outreach"}]}
    )
    low = judge(
        payment, replace(state(score=0), failed_payments={1: 1}, confidence=0.1), min_confidence=0.6
    )
    assert decide(low, case(), as_of=NOW).outcome is Outcome.update  # type: ignore[union-attr]


def test_escalating_wakes_a_snoozed_case():
    snoozed = case(state="snoozed", snoozed_until=NOW + 5 * DAY)
    step = decide(judged(score=10), snoozed, as_of=NOW)
    assert step is not None and step.outcome is Outcome.escalate and step.wakes


def test_a_resolved_case_stays_resolved_while_the_condition_persists():
    resolved = case(state="resolved", resolved_at=NOW - 10 * DAY)
    step = decide(judged(), resolved, as_of=NOW)
    assert step is not None and step.outcome is Outcome.nothing and step.seen
    assert not step.notifies


def test_a_resolved_case_reopens_as_a_new_case_only_after_clearing_and_coming_back():
    cleared = case(
        state="resolved",
        resolved_at=NOW - 10 * DAY,
        last_seen_at=NOW - 9 * DAY,
        cleared_at=NOW - 8 * DAY,
    )
    step = decide(judged(), cleared, as_of=NOW)
    assert step is not None and step.outcome is Outcome.open and step.case == cleared
    # Cleared before the last firing: that clearing does not count.
    stale = replace(cleared, cleared_at=NOW - 9.5 * DAY)
    assert decide(judged(), stale, as_of=NOW).outcome is Outcome.nothing  # type: ignore[union-attr]


def test_coming_back_inside_cooldown_days_of_the_resolution_reopens_the_case():
    recent = case(
        state="resolved",
        resolved_at=NOW - 4 * DAY,
        last_seen_at=NOW - 4 * DAY,
        cleared_at=NOW - 3 * DAY,
    )
    step = decide(judged(), recent, as_of=NOW)
    assert step is not None and step.outcome is Outcome.reopen and step.case == recent
    assert step.seen and step.notifies and "5 days" in step.why
    later = decide(judged(), recent, as_of=NOW + DAY)
    assert later is not None and later.outcome is Outcome.open


def test_the_first_run_without_a_firing_clears_and_enough_clear_days_resolve():
    first = decide(judged(score=60), case(), as_of=NOW)
    assert first is not None and first.outcome is Outcome.clear and first.clears
    cleared = case(cleared_at=NOW)
    assert decide(judged(score=60), cleared, as_of=NOW + DAY) is None, "already recorded"
    resolving = decide(judged(score=60), cleared, as_of=NOW + 3 * DAY)
    assert resolving is not None and resolving.outcome is Outcome.resolve and resolving.notifies


def test_auto_resolve_can_be_immediate_or_off():
    at_once = PLAYBOOK.model_copy(update={"auto_resolve_days": 0})
    step = decide(judged(at_once, score=60), case(), as_of=NOW)
    assert step is not None and step.outcome is Outcome.resolve and step.clears
    never = PLAYBOOK.model_copy(update={"auto_resolve_days": None})
    long_clear = case(last_seen_at=NOW - 100 * DAY, cleared_at=NOW - 99 * DAY)
    assert decide(judged(never, score=60), long_clear, as_of=NOW) is None


def test_an_uncertain_score_neither_fires_nor_clears():
    assert decide(judged(score=20, confidence=0.3), case(), as_of=NOW) is None
    assert decide(judged(score=20, confidence=0.3), None, as_of=NOW) is None


def test_a_snooze_that_has_ended_wakes_the_case_at_the_next_run():
    over = case(state="snoozed", snoozed_until=NOW - DAY)
    firing = decide(judged(), over, as_of=NOW)
    assert firing is not None and firing.outcome is Outcome.update and firing.wakes
    quiet = decide(judged(score=60), replace(over, cleared_at=NOW - DAY / 2), as_of=NOW)
    assert quiet is not None and quiet.outcome is Outcome.wake and quiet.wakes
    not_yet = case(state="snoozed", snoozed_until=NOW + DAY)
    assert not decide(judged(), not_yet, as_of=NOW).wakes  # type: ignore[union-attr]


def test_evidence_is_appended_once_per_moment_and_kept_bounded():
    entry = {"asOf": NOW.isoformat(), "score": 30}
    evidence = appended([], entry)
    assert appended(evidence, dict(entry)) == evidence
    for n in range(EVIDENCE_KEPT + 20):
        evidence = appended(evidence, {"asOf": f"moment {n}", "score": n})
    assert len(evidence) == EVIDENCE_KEPT
    assert evidence[0] == entry and evidence[-1]["asOf"] == f"moment {EVIDENCE_KEPT + 19}"
