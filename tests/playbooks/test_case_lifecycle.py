"""A case's life across daily runs on a real database: hysteresis, snooze, auto-resolve,
and the one-unresolved-case rule the schema itself enforces."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from healthscore.ingest.bulk import insert_rows
from healthscore.playbooks import cases
from healthscore.storage import case_models
from healthscore.storage import models as m
from tests.playbooks.test_service import (
    LAST_LOGIN_DAY,
    START,
    daily,
    enterprise_that_goes_silent,
    entries,
    events,
    only,
)

SILENT = LAST_LOGIN_DAY + 8
"""The day enterprise_no_login first fires for the silent account."""


def at(day: float):
    return START + timedelta(days=day)


def resolve(session, case_id: int, day: float, **fields) -> None:
    change = cases.Transition("resolve", **fields)
    cases.transition(session, case_id, change, actor="api:test", playbooks=None, now=at(day))
    session.commit()


def failed_payment(session, day: float) -> None:
    insert_rows(
        session,
        m.Payment,
        [{"customer_id": "ent", "ts": at(day), "amount": 10, "status": "failed"}],
    )
    session.commit()


def logins(session, days: range) -> None:
    insert_rows(
        session,
        m.Session,
        [{"customer_id": "ent", "user_id": "u1", "ts": at(d) + timedelta(hours=10)} for d in days],
    )
    session.commit()


def test_a_case_resolved_while_the_condition_persists_does_not_reopen(session):
    enterprise_that_goes_silent(session)
    rules = only("enterprise_no_login")
    daily(session, rules, range(SILENT, SILENT + 1))
    [case] = entries(session)
    resolve(session, case.id, SILENT + 0.1, note="called the sponsor")
    runs = daily(session, rules, range(SILENT + 1, SILENT + 10))
    [case] = entries(session)
    assert case.status == "resolved" and case.resolution == "done"
    assert case.last_seen_at == at(SILENT + 9), "the resolved case still sees the condition"
    assert all(r.logged == 0 and r.delivery_ids == [] for r in runs)


def test_a_resolved_case_reopens_as_a_new_linked_case_after_clearing_and_coming_back(session):
    enterprise_that_goes_silent(session)
    rules = only("enterprise_no_login", cooldown_days=0)
    daily(session, rules, range(SILENT, SILENT + 1))
    [first] = entries(session)
    resolve(session, first.id, SILENT + 0.1)
    # Logins come back for a few days (the condition clears), then stop again.
    back = SILENT + 2
    logins(session, range(back, back + 3))
    daily(session, rules, range(SILENT + 1, back + 20))
    first, second = entries(session)
    assert first.cleared_at == at(back + 1), "the first run after a login clears it"
    assert second.previous_id == first.id and second.status == "open"
    # Last login on back+2 around 10:00: 7 full days later is midnight of back+10.
    assert second.created_at == at(back + 10)
    assert [e.kind for e in events(session) if e.case_id == second.id] == ["opened"]


def test_a_snoozed_case_wakes_at_the_first_run_after_its_date(session):
    enterprise_that_goes_silent(session)
    # Without escalation: an escalating case wakes at once (test_case_rules.py).
    rules = only("enterprise_no_login", escalate=None)
    daily(session, rules, range(SILENT, SILENT + 1))
    [case] = entries(session)
    until = at(SILENT + 2.5)
    change = cases.Transition("snooze", until=until, note="back from holiday on the 2nd")
    cases.transition(
        session, case.id, change, actor="dashboard:dana", playbooks=None, now=at(SILENT + 0.1)
    )
    session.commit()
    daily(session, rules, range(SILENT + 1, SILENT + 3))
    assert entries(session)[0].status == "snoozed", "still snoozed on the 2nd at midnight"
    daily(session, rules, range(SILENT + 3, SILENT + 4))
    [case] = entries(session)
    assert (case.status, case.snoozed_until) == ("open", None)
    woke = events(session, "woke")
    assert [(e.actor, e.from_state, e.to_state, e.at) for e in woke] == [
        ("system", "snoozed", "open", at(SILENT + 3))
    ]
    assert len(case.evidence) == 4, "updated while snoozed, as every day"


def test_a_case_resolves_itself_once_its_condition_has_been_clear_long_enough(session):
    enterprise_that_goes_silent(session)
    failed_payment(session, 20 - 0.1)
    rules = only("payment_failed", auto_resolve_days=7)
    runs = daily(session, rules, range(20, 29))
    [case] = entries(session)
    assert case.cleared_at == at(21)
    assert (case.status, case.resolution, case.resolved_at) == ("resolved", "cleared", at(28))
    [resolved] = events(session, "resolved")
    assert (resolved.actor, resolved.from_state, resolved.at) == ("system", "open", at(28))
    assert "clear since 2026-03-22" in resolved.note
    assert [r.logged for r in runs] == [1, 0, 0, 0, 0, 0, 0, 0, 0]


def test_a_condition_back_within_cooldown_days_reopens_its_case_later_opens_a_new_one(session):
    enterprise_that_goes_silent(session)
    rules = only("payment_failed", cooldown_days=5, auto_resolve_days=None)
    failed_payment(session, 20 - 0.1)
    daily(session, rules, range(20, 22))
    [first] = entries(session)
    resolve(session, first.id, 21.5)
    failed_payment(session, 24 - 0.1)  # cleared on day 21, back on day 24: inside 5 days
    runs = daily(session, rules, range(22, 26))
    [first] = entries(session)
    assert (first.status, first.resolution, first.last_seen_at) == ("open", None, at(24))
    [reopened] = events(session, "reopened")
    assert (reopened.actor, reopened.from_state, reopened.at) == ("system", "resolved", at(24))
    assert "back within 5 days of the resolution" in reopened.note
    assert sum(len(r.delivery_ids) for r in runs) == 0, "payment_failed has no message action"
    resolve(session, first.id, 25.5)
    failed_payment(session, 31 - 0.1)  # back again, after the cooldown
    daily(session, rules, range(26, 32))
    first, second = entries(session)
    assert second.created_at == at(31) and second.previous_id == first.id


def test_the_schema_allows_one_unresolved_case_per_account_and_playbook(session):
    enterprise_that_goes_silent(session)
    daily(session, only("enterprise_no_login"), range(SILENT, SILENT + 1))
    [case] = entries(session)

    def another(key: str, status: str) -> case_models.OutreachEntry:
        return case_models.OutreachEntry(
            customer_id="ent",
            playbook=case.playbook,
            reason="again",
            snapshot={},
            status=status,
            idempotency_key=key,
            created_at=at(SILENT + 1),
            updated_at=at(SILENT + 1),
        )

    session.add(another("dup", "acknowledged"))
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()
    session.add(another("old", "resolved"))
    session.commit()
    assert len(entries(session)) == 2
