"""POST /webhooks/stripe against a real server on SQLite and PostgreSQL.

Every payload is signed with the ``stripe`` library's own routine
(``WebhookSignature.generate_signature_header``, the helper Stripe ships for tests), so
the endpoint is checked against exactly what Stripe's verification accepts.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import stripe
from sqlalchemy import func, select

from healthscore.accounts.repository import upsert_customer
from healthscore.api.app import create_app
from healthscore.storage import job_models as jm
from healthscore.storage import models as m
from healthscore.storage.database import transaction
from tests.fixtures.server import free_port, run_server

SECRET = "whsec_test_secret"  # what the live_server fixture configures
URL = "/webhooks/stripe"


def make_event(event_type: str, obj: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A v1 snapshot event, shaped as Stripe sends it."""
    return {
        "id": f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
        "data": {"object": obj},
        **fields,
    }


def signed(
    payload: dict[str, Any] | str, *, secret: str = SECRET, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """Body bytes and headers, signed the way Stripe signs deliveries."""
    body = payload if isinstance(payload, str) else json.dumps(payload)
    header = stripe.WebhookSignature.generate_signature_header(body, secret, timestamp=timestamp)
    return body.encode(), {"Stripe-Signature": header, "Content-Type": "application/json"}


def deliver(live_server, event: dict[str, Any] | str, **signing: Any):
    body, headers = signed(event, **signing)
    with live_server.client(scope=None) as anonymous:
        return anonymous.post(URL, content=body, headers=headers)


def invoice(customer: str = "cus_acme", **fields: Any) -> dict[str, Any]:
    return {
        "id": f"in_{uuid.uuid4().hex[:24]}",
        "object": "invoice",
        "customer": customer,
        "currency": "usd",
        "amount_due": 4900,
        "amount_paid": 0,
        "attempt_count": 1,
        "status_transitions": {"paid_at": None},
        "metadata": {},
        **fields,
    }


def charge(customer: str = "cus_acme", **fields: Any) -> dict[str, Any]:
    return {
        "id": f"ch_{uuid.uuid4().hex[:24]}",
        "object": "charge",
        "customer": customer,
        "currency": "usd",
        "amount": 12550,
        "created": int(time.time()) - 60,
        "invoice": None,
        "metadata": {},
        **fields,
    }


def add_account(live_server, account_id: str = "acme", stripe_id: str | None = "cus_acme") -> None:
    with transaction(live_server.sessions) as session:
        upsert_customer(
            session,
            {
                "id": account_id,
                "name": account_id.title(),
                "created_at": datetime.now(UTC) - timedelta(days=365),
                "stripe_customer_id": stripe_id,
            },
        )


def payments(live_server) -> list[m.Payment]:
    with live_server.sessions() as session:
        return list(session.scalars(select(m.Payment).order_by(m.Payment.id)))


def count(live_server, model: type[m.Base]) -> int:
    with live_server.sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def account(live_server, account_id: str = "acme") -> m.Customer:
    with live_server.sessions() as session:
        customer = session.get(m.Customer, account_id)
        assert customer is not None
        return customer


def assert_nothing_written(live_server) -> None:
    assert count(live_server, m.Payment) == 0
    assert count(live_server, jm.ProcessedMessage) == 0
    assert account(live_server).churned_at is None


# --- each event type ------------------------------------------------------------------


def test_invoice_paid_records_a_succeeded_payment_at_its_paid_time(live_server):
    add_account(live_server)
    paid_at = int(time.time()) - 3600
    obj = invoice(amount_paid=4900, status_transitions={"paid_at": paid_at})
    response = deliver(live_server, make_event("invoice.paid", obj))
    assert response.status_code == 200
    assert response.json()["received"] is True
    assert response.json()["applied"] is True
    [payment] = payments(live_server)
    assert payment.customer_id == "acme"
    assert payment.status == "succeeded"
    assert payment.amount == Decimal("49.00")
    assert payment.currency == "usd"
    assert payment.external_id == f"stripe:{obj['id']}"
    assert payment.ts == datetime.fromtimestamp(paid_at, UTC)


def test_invoice_payment_failed_records_each_failed_attempt(live_server):
    add_account(live_server)
    obj = invoice(amount_due=9900, currency="eur")
    for attempt in (1, 2):
        event = make_event("invoice.payment_failed", {**obj, "attempt_count": attempt})
        assert deliver(live_server, event).json()["applied"] is True
    rows = payments(live_server)
    assert [(p.status, p.amount, p.currency) for p in rows] == [
        ("failed", Decimal("99.00"), "eur"),
        ("failed", Decimal("99.00"), "eur"),
    ]
    # Dunning fails the same invoice again and again; then the invoice is paid.
    paid = make_event(
        "invoice.paid",
        {**obj, "amount_paid": 9900, "status_transitions": {"paid_at": int(time.time())}},
    )
    assert deliver(live_server, paid).json()["applied"] is True
    assert [p.status for p in payments(live_server)] == ["failed", "failed", "succeeded"]


def test_standalone_charges_are_recorded_and_invoice_charges_left_to_the_invoice(live_server):
    add_account(live_server)
    ok, bad = charge(), charge(amount=500, currency="jpy")
    assert deliver(live_server, make_event("charge.succeeded", ok)).json()["applied"] is True
    assert deliver(live_server, make_event("charge.failed", bad)).json()["applied"] is True
    of_invoice = charge(invoice="in_123")
    skipped = deliver(live_server, make_event("charge.succeeded", of_invoice)).json()
    assert skipped["applied"] is False
    assert "in_123" in skipped["detail"]
    rows = payments(live_server)
    assert [(p.external_id, p.status, p.amount, p.currency) for p in rows] == [
        (f"stripe:{ok['id']}", "succeeded", Decimal("125.50"), "usd"),
        (f"stripe:{bad['id']}", "failed", Decimal("500"), "jpy"),  # yen have no cents
    ]
    assert rows[0].ts == datetime.fromtimestamp(ok["created"], UTC)


def test_subscription_deleted_sets_churned_at_once(live_server):
    add_account(live_server)
    ended = int(time.time()) - 86_400
    subscription = {"id": "sub_1", "object": "subscription", "customer": "cus_acme"}
    event = make_event(
        "customer.subscription.deleted", {**subscription, "ended_at": ended, "canceled_at": 1}
    )
    assert deliver(live_server, event).json()["applied"] is True
    assert account(live_server).churned_at == datetime.fromtimestamp(ended, UTC)
    later = make_event("customer.subscription.deleted", {**subscription, "ended_at": ended + 60})
    answer = deliver(live_server, later).json()
    assert answer["applied"] is False
    assert account(live_server).churned_at == datetime.fromtimestamp(ended, UTC)


def test_metadata_maps_an_unmapped_stripe_customer_and_records_the_mapping(live_server):
    add_account(live_server, stripe_id=None)
    obj = charge(customer="cus_new", metadata={"healthscore_customer_id": "acme"})
    assert deliver(live_server, make_event("charge.succeeded", obj)).json()["applied"] is True
    assert account(live_server).stripe_customer_id == "cus_new"
    # Later events of that Stripe customer need no metadata.
    again = make_event("charge.failed", charge(customer="cus_new"))
    assert deliver(live_server, again).json()["applied"] is True
    assert {p.customer_id for p in payments(live_server)} == {"acme"}


def test_a_failed_payment_lowers_the_refreshed_score(live_server):
    add_account(live_server)
    with live_server.client("admin") as admin:
        before = admin.post("/api/v1/health-scores/acme/refresh").json()
        event = make_event("invoice.payment_failed", invoice(amount_due=4900))
        assert deliver(live_server, event).json()["applied"] is True
        after = admin.post("/api/v1/health-scores/acme/refresh").json()
    signal = {s["name"]: s for s in before["signals"]}
    signal_after = {s["name"]: s for s in after["signals"]}
    assert signal["payment_health"]["missing"] is True
    assert signal_after["payment_health"]["raw"] == 0  # 0 of 1 attempts succeeded
    assert signal_after["recent_payment_failures"]["raw"] == 1
    assert after["components"]["payments"] < before["components"]["payments"]
    assert after["score"] <= before["score"] - 10  # 35 → 23 with the default scorecard


# --- rejections -----------------------------------------------------------------------


def test_bad_signatures_are_rejected_and_write_nothing(live_server):
    add_account(live_server)
    event = make_event("invoice.paid", invoice(amount_paid=4900))
    body, headers = signed(event)
    wrong_secret = signed(event, secret="whsec_someone_else")[1]
    tampered = body.replace(b"4900", b"1")
    with live_server.client(scope=None) as anonymous:
        answers = [
            anonymous.post(URL, content=body, headers=wrong_secret),
            anonymous.post(URL, content=tampered, headers=headers),
            anonymous.post(URL, content=body, headers={"Content-Type": "application/json"}),
            anonymous.post(URL, content=body, headers={"Stripe-Signature": "t=1,v0=abc"}),
            anonymous.post(URL, content=body, headers={"Stripe-Signature": "garbage"}),
        ]
    for answer in answers:
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"]["code"] == "invalid_signature"
    assert_nothing_written(live_server)


def test_a_replay_outside_the_tolerance_is_rejected(live_server):
    add_account(live_server)
    event = make_event("invoice.paid", invoice(amount_paid=4900))
    stale = deliver(live_server, event, timestamp=int(time.time()) - 301 - 5)
    assert stale.status_code == 401
    assert stale.json()["error"]["code"] == "invalid_signature"
    assert "tolerance" in stale.json()["error"]["message"]
    assert_nothing_written(live_server)
    # The same event freshly signed (inside the window) is accepted.
    assert deliver(live_server, event, timestamp=int(time.time()) - 240).status_code == 200


def test_a_signed_body_that_is_not_an_event_is_rejected(live_server):
    add_account(live_server)
    for body in ("[]", json.dumps({"object": "event", "type": "invoice.paid"})):
        answer = deliver(live_server, body)
        assert answer.status_code == 400, body
        assert answer.json()["error"]["code"] == "invalid_payload"
    not_json = deliver(live_server, '{"id": "evt_1",\n "type": nope}')
    assert not_json.status_code == 400
    assert not_json.json()["error"]["code"] == "malformed_json"
    assert not_json.json()["error"]["message"] == (
        "malformed JSON at line 2, column 10: Expecting value"
    )
    assert_nothing_written(live_server)


# --- idempotency and events that cannot be applied --------------------------------------


def test_a_redelivered_event_is_acknowledged_but_applied_once(live_server):
    add_account(live_server)
    event = make_event("invoice.paid", invoice(amount_paid=4900))
    first, second = deliver(live_server, event), deliver(live_server, event)
    assert first.json()["applied"] is True
    assert second.status_code == 200
    assert second.json() == {
        "received": True,
        "applied": False,
        "detail": f"{event['id']} was already processed",
    }
    # Stripe re-sending the same invoice under a new event id is not counted twice either.
    copy = {**event, "id": f"evt_{uuid.uuid4().hex[:24]}"}
    assert deliver(live_server, copy).json()["applied"] is False
    assert len(payments(live_server)) == 1


def test_an_unknown_stripe_customer_is_acknowledged_and_ignored(live_server):
    add_account(live_server)
    event = make_event("invoice.paid", invoice(customer="cus_stranger", amount_paid=4900))
    answer = deliver(live_server, event)
    assert answer.status_code == 200
    assert answer.json()["applied"] is False
    assert "cus_stranger" in answer.json()["detail"]
    assert_nothing_written(live_server)
    # Once the customer is mapped, re-sending that event (Stripe dashboard) applies it.
    add_account(live_server, "stranger", stripe_id="cus_stranger")
    assert deliver(live_server, event).json()["applied"] is True
    assert [p.customer_id for p in payments(live_server)] == ["stranger"]


def test_an_untracked_event_type_is_acknowledged_and_ignored(live_server):
    add_account(live_server)
    answer = deliver(live_server, make_event("customer.updated", {"id": "cus_acme"}))
    assert answer.status_code == 200
    assert answer.json()["applied"] is False
    assert "customer.updated" in answer.json()["detail"]
    assert_nothing_written(live_server)


def test_without_a_secret_the_endpoint_is_unavailable(server_settings, sessions):
    app = create_app(server_settings.model_copy(update={"stripe_webhook_secret": None}))
    server, thread = run_server(app, port := free_port())
    try:
        body, headers = signed(make_event("invoice.paid", invoice(amount_paid=4900)))
        answer = httpx.post(f"http://127.0.0.1:{port}{URL}", content=body, headers=headers)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        app.state.engine.dispose()
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "not_configured"
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(jm.ProcessedMessage)) == 0
