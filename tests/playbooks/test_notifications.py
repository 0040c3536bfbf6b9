"""A case's messages reach a real webhook receiver when it opens, escalates and resolves —
never while its condition merely persists — signed, with the event in the payload."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from healthscore.ingest.bulk import insert_rows
from healthscore.playbooks import cases
from healthscore.playbooks.case_rules import Outcome
from healthscore.playbooks.delivery import send, verify
from healthscore.playbooks.rules import PlaybookSet
from healthscore.storage import job_models as jm
from healthscore.storage import models as m
from tests.jobs.support import SECRET, Receiver
from tests.playbooks.test_service import (
    LAST_LOGIN_DAY,
    START,
    daily,
    enterprise_that_goes_silent,
    entries,
)


@pytest.fixture
def receiver(monkeypatch):
    monkeypatch.setenv("HEALTHSCORE_HOOK_SECRET", SECRET)
    r = Receiver()
    yield r
    r.close()


def rules(url: str) -> PlaybookSet:
    return PlaybookSet.model_validate(
        {
            "version": 1,
            "playbooks": [
                {
                    "name": "slipping",
                    "when": [{"kind": "score_below", "score": 70}],
                    "auto_resolve_days": 0,
                    "actions": [
                        {"kind": "outreach", "owner": "csm"},
                        {"kind": "webhook", "url": url, "secret_env": "HEALTHSCORE_HOOK_SECRET"},
                    ],
                }
            ],
        }
    )


def deliver_all(session) -> None:
    """What the workers do: send every queued delivery once (real HTTP, real signature), in
    the order they were queued (PostgreSQL returns rows in no set order without one)."""
    pending = select(jm.Delivery).where(jm.Delivery.status == "pending").order_by(jm.Delivery.id)
    for delivery in session.scalars(pending):
        send(delivery, redis_url=None, allow_private=True)
        delivery.status = "delivered"
    session.commit()


def test_messages_go_out_on_open_escalate_and_resolve_only(session, receiver):
    enterprise_that_goes_silent(session)
    playbooks = rules(receiver.url)
    silent = daily(session, playbooks, range(LAST_LOGIN_DAY, LAST_LOGIN_DAY + 28))
    deliver_all(session)
    fired = [r for r in silent if r.firings]
    assert len(fired) >= 15, "the condition persists for weeks"
    # One message per step: opened in monitor, escalated at at_risk and again at critical.
    assert [json.loads(body)["event"] for _, body in receiver.received] == [
        "opened",
        "escalated",
        "escalated",
    ]

    # Logins come back: the score recovers, the condition clears, the case resolves.
    insert_rows(
        session,
        m.Session,
        [
            {"customer_id": "ent", "user_id": f"u{u}", "ts": START + timedelta(days=d, hours=10)}
            for d in range(LAST_LOGIN_DAY + 28, LAST_LOGIN_DAY + 58)
            for u in range(12)
        ],
    )
    session.commit()
    back = daily(session, playbooks, range(LAST_LOGIN_DAY + 28, LAST_LOGIN_DAY + 58))
    deliver_all(session)
    assert sum(r.count(Outcome.resolve) for r in back) == 1
    events = [json.loads(body) for _, body in receiver.received]
    assert [e["event"] for e in events] == ["opened", "escalated", "escalated", "resolved"]
    [case] = entries(session)
    assert {e["caseId"] for e in events} == {case.id}
    assert [e["severity"] for e in events] == ["normal", "high", "urgent", "urgent"]
    assert events[3]["state"] == "resolved" and events[3]["resolution"] == "cleared"
    for headers, body in receiver.received:
        assert verify(SECRET, headers["X-Healthscore-Signature"], body)
    keys = [h["X-Healthscore-Idempotency-Key"] for h, _ in receiver.received]
    assert keys[0] == f"{case.idempotency_key}:1" and len(set(keys)) == 4


def test_a_resolved_case_whose_condition_comes_back_soon_reopens_with_a_message(session, receiver):
    enterprise_that_goes_silent(session)
    playbooks = PlaybookSet.model_validate(
        {
            "version": 1,
            "playbooks": [
                {
                    "name": "billing",
                    "when": [{"kind": "payment_failed"}],
                    "cooldown_days": 5,
                    "auto_resolve_days": None,
                    "actions": [
                        {
                            "kind": "webhook",
                            "url": receiver.url,
                            "secret_env": "HEALTHSCORE_HOOK_SECRET",
                        }
                    ],
                }
            ],
        }
    )

    def failed(day: float) -> None:
        at = START + timedelta(days=day)
        insert_rows(
            session, m.Payment, [{"customer_id": "ent", "ts": at, "amount": 9, "status": "failed"}]
        )
        session.commit()

    failed(19.9)
    daily(session, playbooks, range(20, 22))
    [case] = entries(session)
    change = cases.Transition("resolve", note="card updated")
    cases.transition(
        session,
        case.id,
        change,
        actor="api:test",
        playbooks=playbooks,
        now=START + timedelta(days=21.5),
    )
    session.commit()
    failed(23.9)
    daily(session, playbooks, range(22, 26))
    deliver_all(session)
    events = [json.loads(body) for _, body in receiver.received]
    assert [(e["event"], e.get("reopened", False)) for e in events] == [
        ("opened", False),
        ("resolved", False),
        ("opened", True),
    ]
    assert {e["caseId"] for e in events} == {case.id}
