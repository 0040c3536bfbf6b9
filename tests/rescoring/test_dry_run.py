"""A playbook dry run says what a rescore would fire and log, and writes nothing."""

from __future__ import annotations

from healthscore.rescoring.service import Rescoring
from healthscore.storage import job_models as jm
from healthscore.storage import models as m
from tests.rescoring.conftest import NOW, Recorder, quiet_account, rows

WRITTEN = (m.HealthScore, m.HealthScoreHistory, m.OutreachEntry, jm.Delivery)


def fingerprint(firings) -> list[tuple]:
    return [(f.playbook.name, f.state, f.reason) for f in firings]


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


def test_a_dry_run_fires_and_logs_exactly_what_the_rescore_then_does(
    book, rescoring: Rescoring, sessions
):
    quiet = quiet_account(sessions)
    dry = rescoring.dry_run(as_of=NOW)
    real = rescoring.rescore(kind="test", as_of=NOW).playbooks
    assert fingerprint(dry.firings) == fingerprint(real.firings)
    assert dry.would_log == {(e.customer_id, e.playbook) for e in real.logged_entries}
    assert (dry.logged, dry.suppressed) == (real.logged, real.suppressed)
    # The planted account is new to the log; demo accounts may newly fire on this day too.
    assert quiet in {customer for customer, _ in dry.would_log}
    assert dry.suppressed > 0, "the book's accounts are inside their cooldown"


def test_after_the_rescore_the_same_moment_would_log_nothing_again(book, rescoring: Rescoring):
    rescoring.rescore(kind="test", as_of=NOW)
    again = rescoring.dry_run(as_of=NOW)
    assert again.firings and again.logged == 0
    assert not any(again.logs(f) for f in again.firings)
    assert again.suppressed == len(again.firings)
