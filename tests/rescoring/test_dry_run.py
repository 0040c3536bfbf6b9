"""A playbook dry run says what a rescore would fire and do to cases, and writes nothing."""

from __future__ import annotations

from healthscore.playbooks.case_rules import Outcome
from healthscore.rescoring.service import Rescoring
from healthscore.storage import case_models
from healthscore.storage import job_models as jm
from healthscore.storage import models as m
from tests.rescoring.conftest import NOW, Recorder, quiet_account, rows

WRITTEN = (
    m.HealthScore,
    m.HealthScoreHistory,
    case_models.OutreachEntry,
    case_models.CaseEvent,
    jm.Delivery,
)


def fingerprint(firings) -> list[tuple]:
    return [(f.playbook.name, f.state, f.reason) for f in firings]


def outcomes(steps) -> list[tuple]:
    return [
        (s.playbook.name, s.state.customer_id, s.outcome, s.case.id if s.case else None)
        for s in steps
    ]


def test_a_dry_run_writes_nothing_and_tells_no_one(
    book, rescoring: Rescoring, sessions, recorder: Recorder
):
    with sessions() as session:
        before = {model: rows(session, model) for model in WRITTEN}
    dry = rescoring.dry_run(as_of=NOW)
    assert dry.firings, "the demo book has accounts the playbooks fire for"
    with sessions() as session:
        assert {model: rows(session, model) for model in WRITTEN} == before
    assert recorder.deliveries == [] and recorder.heard == []


def test_a_dry_run_fires_and_does_to_cases_exactly_what_the_rescore_then_does(
    book, rescoring: Rescoring, sessions
):
    quiet = quiet_account(sessions)
    dry = rescoring.dry_run(as_of=NOW)
    real = rescoring.rescore(kind="test", as_of=NOW).playbooks
    assert fingerprint(dry.firings) == fingerprint(real.firings)
    assert outcomes(dry.steps) == outcomes(real.steps)
    assert dry.would_log == {(e.customer_id, e.playbook) for e in real.logged_entries}
    assert (dry.logged, dry.suppressed) == (real.logged, real.suppressed)
    # The planted account is new to the log; demo accounts may newly fire on this day too.
    assert quiet in {customer for customer, _ in dry.would_log}
    assert dry.counts["update"] > 0, "the book's accounts have open cases to update"
    updated = next(f for f in dry.firings if dry.outcome(f) is Outcome.update)
    assert dry.case_id(updated) is not None and not dry.logs(updated)


def test_after_the_rescore_the_same_moment_would_log_nothing_again(book, rescoring: Rescoring):
    rescoring.rescore(kind="test", as_of=NOW)
    again = rescoring.dry_run(as_of=NOW)
    assert again.firings and again.logged == 0
    assert not any(again.logs(f) for f in again.firings)
    assert again.suppressed == len(again.firings)
