"""A rescore scores, runs playbooks, hands deliveries on once and tells listeners after commit."""

from __future__ import annotations

import gc
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import event, select

from healthscore.rescoring import service
from healthscore.rescoring.listeners import ScoreListeners
from healthscore.rescoring.service import Rescoring
from healthscore.scoring.service import UnknownCustomerError
from healthscore.storage import case_models
from healthscore.storage import job_models as jm
from healthscore.storage import models as m
from tests.rescoring.conftest import HISTORY, NOW, Recorder, quiet_account, rows


def counted(name: str, kind: str) -> float:
    return REGISTRY.get_sample_value(name, {"kind": kind}) or 0.0


def test_a_rescore_commits_then_enqueues_its_deliveries_once_then_tells_listeners(
    book, rescoring: Rescoring, sessions, recorder: Recorder
):
    seen_committed: list[int] = []

    def committed_first(_ids: object) -> None:
        with sessions() as session:  # another session: only committed rows are visible
            seen_committed.append(rows(session, m.HealthScoreHistory))

    rescoring.listeners.append(committed_first)
    quiet_account(sessions)  # opens a case, with redis deliveries; the book's cases update
    before = counted("healthscore_rescored_accounts_total", "nightly-test")
    rescored = rescoring.rescore(kind="nightly-test", as_of=NOW)

    with sessions() as session:
        queued = list(session.scalars(select(jm.Delivery.id).order_by(jm.Delivery.id)))
        history = rows(session, m.HealthScoreHistory)
    delivery_ids = rescored.playbooks.delivery_ids
    assert delivery_ids and recorder.deliveries == [delivery_ids]
    assert sorted(delivery_ids) == queued  # the book's replay delivered nothing
    assert recorder.heard == [rescored.changed]
    assert sorted(rescored.changed) == sorted(
        [s.customer_id for s in rescored.run.scores] + rescored.run.churned
    )
    assert seen_committed == [history]
    assert counted("healthscore_rescored_accounts_total", "nightly-test") - before == (
        rescored.run.scored
    )
    assert counted("healthscore_rescore_seconds_count", "nightly-test") >= 1


def test_some_accounts_are_rescored_inside_the_transaction_that_picks_them(
    book, rescoring: Rescoring, sessions, recorder: Recorder
):
    with sessions() as session:
        two = list(session.scalars(select(m.Customer.id).order_by(m.Customer.id).limit(2)))
    recorded = []
    rescored = rescoring.rescore(
        kind="touched-test",
        as_of=NOW,
        select_ids=lambda _session: two,
        record=lambda _session, run: recorded.append(run.scored + len(run.churned)),
    )
    assert sorted(rescored.changed) == two and recorded == [2]
    assert recorder.heard == [rescored.changed]


def test_the_cyclic_collector_waits_for_the_whole_transaction_and_then_runs_again(
    book, rescoring: Rescoring
):
    """Scoring, the playbooks' per-account objects and the cases all allocate without
    cycles: the collector is paused from the accounts' pick to the commit (``record``
    runs last in it), and on again once the rescore is done."""
    collecting: list[bool] = []
    rescoring.rescore(
        kind="touched-test",
        as_of=NOW,
        select_ids=lambda _session: collecting.append(gc.isenabled()) or None,
        record=lambda _session, _run: collecting.append(gc.isenabled()),
    )
    assert collecting == [False, False]
    assert gc.isenabled()


def test_accounts_judged_in_groups_take_the_steps_all_at_once_would(
    book, rescoring: Rescoring, sessions, monkeypatch
):
    """The playbooks judge a full rescore's accounts a group at a time (``PLAYBOOK_GROUP``,
    here 3 of the book's 40): the same steps, in the same order, as the dry run plans for
    all of them at once, and the deliveries they queued. Three weeks after
    the book's last events, so that many accounts' cases open or change."""
    later = NOW + timedelta(days=21)
    planned = rescoring.dry_run(as_of=later)
    monkeypatch.setattr(service, "PLAYBOOK_GROUP", 3)
    rescored = rescoring.rescore(kind="nightly-test", as_of=later)

    def steps(found) -> list[tuple[str, str, str, str | None]]:
        return [
            (s.judgement.state.customer_id, s.judgement.playbook.name, s.outcome.value, s.why)
            for s in found
        ]

    assert len({s.judgement.state.customer_id for s in planned.steps}) > 3
    assert steps(rescored.playbooks.steps) == steps(planned.steps)
    assert [(f.state.customer_id, f.playbook.name) for f in rescored.playbooks.firings] == [
        (f.state.customer_id, f.playbook.name) for f in planned.firings
    ]
    with sessions() as session:
        queued = list(session.scalars(select(jm.Delivery.id).order_by(jm.Delivery.id)))
    delivered = rescored.playbooks.delivery_ids
    assert delivered and sorted(delivered) == queued[-len(delivered) :]


def test_a_rescore_without_a_moment_scores_when_its_accounts_have_been_picked(
    book, rescoring: Rescoring, sessions
):
    """The touched-account rescore claims marks in ``select_ids``: an event stored just
    before its mark was claimed must be before the scored moment, or it would not count
    and its mark would be gone."""
    with sessions() as session:
        one = list(session.scalars(select(m.Customer.id).order_by(m.Customer.id).limit(1)))
    picked: list[datetime] = []

    def pick(_session: object) -> list[str]:
        picked.append(datetime.now(UTC))
        return one

    rescored = rescoring.rescore(kind="touched-test", as_of=None, select_ids=pick)
    assert rescored.run.as_of >= picked[0]
    with sessions() as session:
        latest = session.get(m.HealthScore, one[0])
        assert latest is not None and latest.as_of == rescored.run.as_of


def test_an_unknown_account_writes_nothing_and_tells_no_one(
    book, rescoring: Rescoring, sessions, recorder: Recorder
):
    with sessions() as session:
        before = rows(session, m.HealthScoreHistory)
    with pytest.raises(UnknownCustomerError):
        rescoring.rescore(kind="refresh-test", as_of=NOW, customer_ids=["nobody"])
    with sessions() as session:
        assert rows(session, m.HealthScoreHistory) == before
    assert recorder.deliveries == [] and recorder.heard == []


def test_a_failing_listener_does_not_stop_the_others(book, rescoring: Rescoring, recorder):
    def broken(_ids: object) -> None:
        raise RuntimeError("cache down")

    rescoring.listeners = ScoreListeners([broken, recorder.listen])
    rescored = rescoring.rescore(kind="test", as_of=NOW)
    assert recorder.heard == [rescored.changed]


def test_a_replay_pauses_the_collector_for_each_moment_and_resumes_it_between(
    book, sessions, rescoring: Rescoring
):
    """A replayed moment is a rescore of every account with its playbooks (the demo's and
    a backfill's history): the collector is off until each moment commits, as in
    ``Rescoring.rescore`` (the demo's history took 18% less time), and on between them."""
    at_commit: list[bool] = []
    after_moment: list[bool] = []

    def committing(_session: object) -> None:
        at_commit.append(gc.isenabled())

    event.listen(sessions, "before_commit", committing)
    try:
        rescoring.replay(
            HISTORY[-2:], playbooks=True, scored=lambda _: after_moment.append(gc.isenabled())
        )
    finally:
        event.remove(sessions, "before_commit", committing)
    assert at_commit == [False, False]
    assert after_moment == [True, True]


def test_a_replay_opens_cases_but_delivers_nothing_and_announces_once(
    sessions, rescoring: Rescoring, recorder: Recorder
):
    from healthscore.ingest.demo import generate_demo
    from healthscore.storage.database import transaction

    with transaction(sessions) as session:
        generate_demo(session, customers=40, days=45, seed=5, now=NOW)
    scored_days = []
    last = rescoring.replay(HISTORY[-3:], playbooks=True, scored=scored_days.append)
    with sessions() as session:
        assert rows(session, case_models.OutreachEntry) > 0
        assert rows(session, jm.Delivery) == 0
        days = set(session.scalars(select(m.HealthScoreHistory.day)))
    assert days == {moment.date() for moment in HISTORY[-3:]}
    assert scored_days == HISTORY[-3:]
    assert last is not None and last.as_of == HISTORY[-1]
    assert recorder.deliveries == [] and recorder.heard == [[]]
