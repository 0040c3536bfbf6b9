"""People's transitions of a case (``playbooks.cases``): one set of rules for the API and
the dashboard, each change an event saying who, when, from → to and why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from healthscore.accounts.repository import upsert_customer
from healthscore.playbooks import cases
from healthscore.playbooks.case_repository import CaseFilter
from healthscore.playbooks.rules import PlaybookSet
from healthscore.storage import case_models
from healthscore.storage import job_models as jm
from healthscore.storage import models as m

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HOOK = {"kind": "webhook", "url": "https://hooks.example.com/cs", "secret_env": "HEALTHSCORE_X"}
RULES = PlaybookSet.model_validate(
    {
        "version": 1,
        "playbooks": [
            {
                "name": "usage_drop",
                "when": [{"kind": "score_below", "score": 40}],
                "actions": [{"kind": "outreach"}, HOOK],
            }
        ],
    }
)


def a_case(session, *, status: str = "open", customer: str = "acme", key: str = "k1") -> int:
    if session.get(m.Customer, customer) is None:
        upsert_customer(session, {"id": customer, "name": customer.title(), "created_at": NOW})
    case = case_models.OutreachEntry(
        customer_id=customer,
        playbook="usage_drop",
        reason="usage fell",
        snapshot={"score": 35, "tier": "at_risk"},
        owner="csm",
        next_step="call",
        status=status,
        idempotency_key=key,
        created_at=NOW - timedelta(days=3),
        updated_at=NOW - timedelta(days=3),
        evidence=[{"asOf": "x", "score": 31, "tier": "at_risk", "trend": "declining"}],
    )
    session.add(case)
    session.flush()
    return case.id


def move(session, case_id: int, action: str, **fields) -> cases.Changed:
    return cases.transition(
        session,
        case_id,
        cases.Transition(action, **fields),  # type: ignore[arg-type]
        actor="api:robin",
        playbooks=RULES,
        now=NOW,
    )


def history(session, case_id: int) -> list[tuple]:
    return [
        (e.kind, e.from_state, e.to_state, e.actor, e.note)
        for e in cases.get_case(session, case_id).events
    ]


def deliveries(session) -> int:
    return session.scalar(select(func.count()).select_from(jm.Delivery)) or 0


def test_a_case_is_acknowledged_snoozed_resolved_and_reopened_with_its_history(session):
    case_id = a_case(session)
    assert move(session, case_id, "acknowledge", note="on it").changed
    until = NOW + timedelta(days=3)
    snoozed = move(session, case_id, "snooze", until=until, note="after the QBR")
    assert snoozed.detail.case.snoozed_until == until
    resolved = move(session, case_id, "resolve", note="renewed", resolution="dismissed")
    assert (resolved.detail.case.status, resolved.detail.case.resolution) == (
        "resolved",
        "dismissed",
    )
    assert resolved.detail.case.resolved_at == NOW and resolved.detail.case.snoozed_until is None
    reopened = move(session, case_id, "reopen", note="they churned after all")
    assert reopened.detail.case.resolution is None and reopened.detail.case.resolved_at is None
    assert history(session, case_id) == [
        ("acknowledged", "open", "acknowledged", "api:robin", "on it"),
        ("snoozed", "acknowledged", "snoozed", "api:robin", "after the QBR"),
        ("resolved", "snoozed", "resolved", "api:robin", "renewed"),
        ("reopened", "resolved", "open", "api:robin", "they churned after all"),
    ]
    assert cases.get_case(session, case_id).events[1].detail["until"] == until.isoformat()


@pytest.mark.parametrize(
    ("action", "fields", "start"),
    [
        ("acknowledge", {}, "acknowledged"),
        ("resolve", {}, "resolved"),
        ("reopen", {}, "open"),
        ("snooze", {"until": NOW + timedelta(days=2)}, "snoozed"),
        ("assign", {"owner": "csm"}, "open"),
    ],
)
def test_repeating_a_transition_that_already_holds_changes_nothing(session, action, fields, start):
    case_id = a_case(session)
    if start != "open":
        move(session, case_id, action, **fields)
    before = history(session, case_id)
    again = move(session, case_id, action, **fields)
    assert not again.changed and again.detail.case.status == start
    assert history(session, case_id) == before
    assert again.delivery_ids == []


def test_a_request_seen_before_is_not_applied_again_even_after_other_changes(session):
    case_id = a_case(session)
    first = cases.transition(
        session,
        case_id,
        cases.Transition("resolve"),
        actor="api:robin",
        playbooks=RULES,
        now=NOW,
        request_key="retry-1",
    )
    assert first.changed and len(first.delivery_ids) == 1
    move(session, case_id, "reopen")
    retried = cases.transition(
        session,
        case_id,
        cases.Transition("resolve"),
        actor="api:robin",
        playbooks=RULES,
        now=NOW,
        request_key="retry-1",
    )
    assert not retried.changed and retried.detail.case.status == "open"
    assert deliveries(session) == 1


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ("acknowledge", "is resolved: reopen it before acknowledging"),
        ("snooze", "is resolved: reopen it before snoozing"),
    ],
)
def test_a_resolved_case_must_be_reopened_first(session, action, message):
    case_id = a_case(session, status="resolved")
    fields = {"until": NOW + timedelta(days=1)} if action == "snooze" else {}
    with pytest.raises(cases.InvalidTransition, match=message) as raised:
        move(session, case_id, action, **fields)
    assert raised.value.status == 409
    assert history(session, case_id) == []


def test_reopening_is_refused_while_another_case_of_the_playbook_is_unresolved(session):
    old = a_case(session, status="resolved", key="old")
    newer = a_case(session, key="new")
    with pytest.raises(cases.InvalidTransition, match=f"already has unresolved case {newer}"):
        move(session, old, "reopen")
    assert cases.get_case(session, old).case.status == "resolved"


@pytest.mark.parametrize(
    ("action", "fields", "field"),
    [
        ("snooze", {}, "until"),
        ("snooze", {"until": NOW - timedelta(minutes=1)}, "until"),
        ("snooze", {"until": NOW + timedelta(days=400)}, "until"),
        ("resolve", {"resolution": "cleared"}, "resolution"),
        ("acknowledge", {"note": "n" * 10_001}, "note"),
        ("assign", {"owner": "o" * 256}, "owner"),
        ("explode", {}, "action"),
    ],
)
def test_bad_input_is_refused_before_anything_is_read(session, action, fields, field):
    case_id = a_case(session)
    with pytest.raises(cases.InvalidCaseChange) as raised:
        move(session, case_id, action, **fields)
    assert raised.value.status == 422
    assert [p.field for p in raised.value.problems] == [field]
    assert (
        history(session, case_id) == [] and cases.get_case(session, case_id).case.status == "open"
    )


def test_an_unknown_case_is_not_found(session):
    with pytest.raises(cases.CaseNotFound, match="no case 404") as raised:
        move(session, 404, "acknowledge")
    assert raised.value.status == 404


def test_assigning_records_the_old_and_new_owner(session):
    case_id = a_case(session)
    done = move(session, case_id, "assign", owner="dana", note="Dana knows them")
    assert done.detail.case.owner == "dana"
    [event] = done.detail.events
    assert (event.kind, event.detail) == ("assigned", {"owner": ["csm", "dana"]})
    assert move(session, case_id, "assign", owner=None).detail.case.owner is None


def test_resolving_queues_the_playbooks_messages_and_nothing_else_does(session):
    case_id = a_case(session)
    move(session, case_id, "acknowledge")
    move(session, case_id, "snooze", until=NOW + timedelta(days=1))
    move(session, case_id, "assign", owner="dana")
    assert deliveries(session) == 0
    resolved = move(session, case_id, "resolve", note="done")
    [delivery] = session.scalars(select(jm.Delivery)).all()
    assert resolved.delivery_ids == [delivery.id]
    assert delivery.payload["event"] == "resolved" and delivery.payload["caseId"] == case_id
    assert delivery.payload["resolution"] == "done" and delivery.payload["score"] == 31
    # A playbook no longer in force, or one without messages, sends nothing.
    other = a_case(session, customer="globex", key="k2")
    silent = cases.transition(
        session,
        other,
        cases.Transition("resolve"),
        actor="api:robin",
        playbooks=PlaybookSet(version=1),
        now=NOW,
    )
    assert silent.changed and silent.delivery_ids == []


def test_the_list_filters_by_state_owner_playbook_account_and_age(session):
    a = a_case(session)
    b = a_case(session, customer="globex", key="k2", status="resolved")
    move(session, a, "assign", owner="dana")
    everything = cases.list_cases(session, CaseFilter())
    assert everything.total == 2 and everything.counts == {
        "open": 1,
        "acknowledged": 0,
        "snoozed": 0,
        "resolved": 1,
    }
    assert everything.names == {"acme": "Acme", "globex": "Globex"}
    assert everything.owners == ["csm", "dana"]

    def ids(**filters) -> list[int]:
        return [c.id for c in cases.list_cases(session, CaseFilter(**filters)).cases]

    assert ids(states=("resolved",)) == [b]
    assert ids(owner="dana") == [a]
    assert ids(customer_id="globex") == [b]
    assert ids(playbook="nope") == []
    assert ids(opened_before=NOW - timedelta(days=2)) == [b, a]
    assert ids(opened_before=NOW - timedelta(days=4)) == []
    assert ids(status="done") == [], "the old status alias is state and resolution"
    # The state counts follow the other filters.
    assert cases.list_cases(session, CaseFilter(owner="dana")).counts["resolved"] == 0
