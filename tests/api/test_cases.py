"""Cases over HTTP: list and read with a read key, transitions with an admin key —
idempotent repeats, 409 for a transition the state refuses, 422 for bad input (nothing
changed), ``Idempotency-Key`` retries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from healthscore.storage import case_models
from healthscore.storage import job_models as jm
from healthscore.storage import models as m
from healthscore.storage.database import transaction

NOW = datetime.now(UTC).replace(microsecond=0)
SOON = (NOW + timedelta(days=30)).date().isoformat()


@pytest.fixture
def server(live_server):
    """Two accounts with three cases: acme's seed000_alert (open, 10 days old, csm),
    acme's payment_failed (resolved), globex's seed000_alert (open, 2 days old)."""
    with transaction(live_server.sessions) as session:
        for cid in ("acme", "globex"):
            session.add(
                m.Customer(
                    id=cid, name=cid.title(), created_at=NOW - timedelta(days=400), traits={}
                )
            )
        session.flush()
        for key, cid, playbook, status, age, owner in [
            ("a", "acme", "seed000_alert", "open", 10, "csm"),
            ("b", "acme", "payment_failed", "resolved", 5, None),
            ("c", "globex", "seed000_alert", "open", 2, None),
        ]:
            session.add(
                case_models.OutreachEntry(
                    customer_id=cid,
                    playbook=playbook,
                    reason=f"reason {key}",
                    snapshot={"score": 20, "tier": "critical"},
                    owner=owner,
                    status=status,
                    resolution="done" if status == "resolved" else None,
                    idempotency_key=key,
                    created_at=NOW - timedelta(days=age),
                    updated_at=NOW - timedelta(days=age),
                    last_seen_at=NOW - timedelta(days=1),
                    evidence=[{"asOf": "t", "score": 20, "tier": "critical", "trend": "stable"}],
                )
            )
    return live_server


def case_id(server, key: str) -> int:
    with server.sessions() as session:
        return session.scalars(
            select(case_models.OutreachEntry.id).where(
                case_models.OutreachEntry.idempotency_key == key
            )
        ).one()


def state_of(server, cid: int) -> tuple[str, str | None, int]:
    with server.sessions() as session:
        case = session.get(case_models.OutreachEntry, cid)
        events = session.scalars(
            select(case_models.CaseEvent).where(case_models.CaseEvent.case_id == cid)
        ).all()
        return case.status, case.owner, len(events)


def same_case(a: dict, b: dict) -> bool:
    return {k: v for k, v in a.items() if k != "ageDays"} == {
        k: v for k, v in b.items() if k != "ageDays"
    }


def test_cases_are_listed_by_state_owner_playbook_account_and_age(server):
    a, b, c = (case_id(server, k) for k in "abc")
    with server.client("read") as api:

        def ids(**params) -> list[int]:
            body = api.get("/api/v1/cases", params=params)
            assert body.status_code == 200, body.text
            return [i["id"] for i in body.json()["items"]]

        assert ids() == [c, b, a], "newest first"
        assert ids(sort="oldest") == [a, b, c]
        assert ids(state="open") == [c, a]
        assert ids(state=["open", "resolved"]) == [c, b, a]
        assert ids(owner="csm") == [a]
        assert ids(playbook="payment_failed") == [b]
        assert ids(customerId="globex") == [c]
        assert ids(olderThanDays=3) == [b, a]
        assert ids(olderThanDays=7, state="open") == [a]
        page = api.get("/api/v1/cases", params={"pageSize": 2, "page": 2}).json()
        assert (page["total"], [i["id"] for i in page["items"]]) == (3, [a])
        first = api.get("/api/v1/cases", params={"customerId": "acme", "state": "open"}).json()
        item = first["items"][0]
        assert (item["customerName"], item["state"], item["severity"]) == ("Acme", "open", "normal")
        assert 9.9 < item["ageDays"] < 10.1 and item["evidence"][0]["score"] == 20
        assert api.get("/api/v1/cases", params={"state": "lost"}).status_code == 422
        assert api.get("/api/v1/cases", params={"olderThanDays": -1}).status_code == 422


def test_one_case_with_its_events(server):
    a = case_id(server, "a")
    with server.client("admin") as admin:
        admin.post(f"/api/v1/cases/{a}/acknowledge", json={"note": "calling today"})
    with server.client("read") as api:
        case = api.get(f"/api/v1/cases/{a}").json()
        assert case["state"] == "acknowledged" and case["previousCaseId"] is None
        [event] = case["events"]
        assert (event["kind"], event["fromState"], event["toState"]) == (
            "acknowledged",
            "open",
            "acknowledged",
        )
        assert event["actor"] == "api:test admin" and event["note"] == "calling today"
        missing = api.get("/api/v1/cases/999999")
        assert missing.status_code == 404 and missing.json()["error"]["message"] == "no case 999999"


def test_every_transition_and_its_idempotent_repeat(server):
    a = case_id(server, "a")
    tomorrow = (NOW + timedelta(days=1)).date().isoformat()
    steps = [
        ("acknowledge", {"note": "on it"}, "acknowledged"),
        ("snooze", {"until": tomorrow, "note": "after the QBR"}, "snoozed"),
        ("assign", {"owner": "dana", "note": "Dana knows them"}, "snoozed"),
        ("resolve", {"note": "renewed", "resolution": "done"}, "resolved"),
        ("reopen", {"note": "not after all"}, "open"),
    ]
    with server.client("admin") as api:
        for action, body, expected in steps:
            first = api.post(f"/api/v1/cases/{a}/{action}", json=body)
            assert first.status_code == 200, (action, first.text)
            assert first.json()["state"] == expected
            events = state_of(server, a)[2]
            again = api.post(f"/api/v1/cases/{a}/{action}", json=body)
            assert again.status_code == 200 and same_case(again.json(), first.json()), action
            assert state_of(server, a)[2] == events, f"a repeated {action} records nothing"
        case = api.get(f"/api/v1/cases/{a}").json()
    assert case["owner"] == "dana" and case["snoozedUntil"] is None
    assert [e["kind"] for e in case["events"]] == [
        "acknowledged",
        "snoozed",
        "assigned",
        "resolved",
        "reopened",
    ]
    snoozed = case["events"][1]
    assert snoozed["detail"]["until"].startswith(f"{tomorrow}T00:00:00")
    # Every person's change is in the account's audit log too: who, old → new, why.
    with server.client("read") as api:
        audit = api.get("/api/v1/customers/acme/audit-log", params={"kind": "case"}).json()
    oldest_first = list(reversed(audit["items"]))
    assert [(e["old"], e["new"]["state"], e["reason"]) for e in oldest_first] == [
        ("open", "acknowledged", "on it"),
        ("acknowledged", "snoozed", "after the QBR"),
        ("snoozed", "snoozed", "Dana knows them"),
        ("snoozed", "resolved", "renewed"),
        ("resolved", "open", "not after all"),
    ]
    assert {e["actor"] for e in oldest_first} == {"api:test admin"}
    assert oldest_first[2]["new"]["owner"] == ["csm", "dana"]


def test_a_resolve_queues_the_playbooks_messages(server):
    c = case_id(server, "c")
    with server.client("admin") as api:
        assert api.post(f"/api/v1/cases/{c}/resolve").status_code == 200
    with server.sessions() as session:
        [delivery] = session.scalars(select(jm.Delivery)).all()
    assert delivery.kind == "redis" and delivery.payload["event"] == "resolved"
    assert delivery.payload["caseId"] == c and delivery.payload["customerId"] == "globex"


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("acknowledge", {}, "is resolved: reopen it before acknowledging"),
        ("snooze", {"until": SOON}, "is resolved: reopen it before snoozing"),
    ],
)
def test_a_transition_the_state_refuses_is_a_409_with_a_clear_message(server, path, body, message):
    b = case_id(server, "b")
    before = state_of(server, b)
    with server.client("admin") as api:
        refused = api.post(f"/api/v1/cases/{b}/{path}", json=body)
    assert refused.status_code == 409
    assert message in refused.json()["error"]["message"]
    assert state_of(server, b) == before


def test_reopening_while_another_case_is_unresolved_is_a_409(server):
    with transaction(server.sessions) as session:
        session.add(
            case_models.OutreachEntry(
                customer_id="acme",
                playbook="payment_failed",
                reason="again",
                snapshot={},
                status="open",
                idempotency_key="d",
                created_at=NOW,
                updated_at=NOW,
            )
        )
    b = case_id(server, "b")
    with server.client("admin") as api:
        refused = api.post(f"/api/v1/cases/{b}/reopen")
    assert refused.status_code == 409 and "already has unresolved case" in refused.text


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("snooze", {}, "until"),
        ("snooze", {"until": "2001-01-01"}, "until"),
        ("snooze", {"until": "next week"}, "until"),
        ("resolve", {"resolution": "cleared"}, "resolution"),
        ("acknowledge", {"note": "n" * 10_001}, "note"),
        ("acknowledge", {"colour": "red"}, "colour"),
        ("assign", {}, "owner"),
        ("assign", {"owner": "o" * 256}, "owner"),
    ],
)
def test_bad_input_is_a_422_and_changes_nothing(server, path, body, field):
    a = case_id(server, "a")
    before = state_of(server, a)
    with server.client("admin") as api:
        refused = api.post(f"/api/v1/cases/{a}/{path}", json=body)
    assert refused.status_code == 422, refused.text
    assert field in {d["field"].split(".")[0] for d in refused.json()["error"]["details"]}
    assert state_of(server, a) == before


def test_transitions_need_an_admin_key(server):
    a = case_id(server, "a")
    for scope in ("read", "ingest"):
        with server.client(scope) as api:
            assert api.post(f"/api/v1/cases/{a}/acknowledge").status_code == 403
    with server.client(None) as anonymous:
        assert anonymous.post(f"/api/v1/cases/{a}/acknowledge").status_code == 401
        assert anonymous.get("/api/v1/cases").status_code == 401
    assert state_of(server, a) == ("open", "csm", 0)


def test_a_retried_request_with_its_idempotency_key_is_applied_once(server):
    a = case_id(server, "a")
    with server.client("admin") as api:
        retry = {"Idempotency-Key": "resolve-a-1"}
        assert api.post(f"/api/v1/cases/{a}/resolve", headers=retry).json()["state"] == "resolved"
        assert api.post(f"/api/v1/cases/{a}/reopen").json()["state"] == "open"
        # The client never saw the first answer and retries: it gets that answer again
        # (Stripe's semantics) and the resolution is not applied again.
        again = api.post(f"/api/v1/cases/{a}/resolve", headers=retry)
        assert again.status_code == 200 and again.json()["state"] == "resolved"
        assert again.headers["Idempotent-Replayed"] == "true"
        assert api.get(f"/api/v1/cases/{a}").json()["state"] == "open"
    with server.sessions() as session:
        keys = session.scalars(
            select(case_models.CaseEvent.request_key).order_by(case_models.CaseEvent.id)
        ).all()
    assert keys == ["resolve-a-1", None]
