"""Commercial signals through the HTTP API on SQLite and PostgreSQL: Stripe subscription
events and ``POST /api/v1/mrr-changes`` become MRR history, and a rescore reads the MRR
in force at two moments (``mrr_contraction``) and the renewal date (``renewal_proximity``).
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.api.test_stripe import account, add_account, deliver, make_event

DAY = 86_400


def subscription(
    *, quantity: int = 10, unit_amount: int = 5000, interval: str = "month", **fields: Any
) -> dict[str, Any]:
    """A subscription object as a v1 event carries it (one per-seat price)."""
    return {
        "id": "sub_main",
        "object": "subscription",
        "customer": "cus_acme",
        "status": "active",
        "currency": "usd",
        "metadata": {},
        "items": {
            "object": "list",
            "data": [
                {
                    "id": f"si_{uuid.uuid4().hex[:12]}",
                    "quantity": quantity,
                    "price": {
                        "id": "price_seat",
                        "currency": "usd",
                        "unit_amount": unit_amount,
                        "recurring": {
                            "interval": interval,
                            "interval_count": 1,
                            "usage_type": "licensed",
                        },
                    },
                }
            ],
        },
        **fields,
    }


def sent(live_server, event_type: str, obj: dict[str, Any], days_ago: float) -> dict[str, Any]:
    event = make_event(event_type, obj, created=int(time.time() - days_ago * DAY))
    answer = deliver(live_server, event)
    assert answer.status_code == 200, answer.text
    return answer.json()


def history(client, customer_id: str = "acme") -> list[tuple[str, int | None, str]]:
    points = client.get(f"/api/v1/customers/{customer_id}/mrr-history").json()
    return [(p["mrr"], p["seats"], p["stream"]) for p in points]


def signals(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in answer["signals"]}


def test_subscription_events_become_mrr_history_and_a_contraction_lowers_the_score(live_server):
    add_account(live_server)
    with live_server.client("admin") as admin:
        before = admin.post("/api/v1/health-scores/acme/refresh").json()
        # Delivered out of order: the seat cut 30 days ago arrives before the creation.
        assert sent(live_server, "customer.subscription.updated", subscription(quantity=6), 30)[
            "applied"
        ]
        assert sent(live_server, "customer.subscription.created", subscription(), 120)["applied"]
        # A new billing period (nothing about revenue changed) adds no history.
        again = sent(live_server, "customer.subscription.updated", subscription(quantity=6), 2)
        assert again == {**again, "applied": False, "detail": "sub_main: nothing changed"}
        assert history(admin) == [("500.00", 10, "sub_main"), ("300.00", 6, "sub_main")]
        assert admin.get("/api/v1/customers/acme").json()["mrr"] == "300.00"
        after = admin.post("/api/v1/health-scores/acme/refresh").json()
    assert signals(before)["mrr_contraction"]["missing"] is True
    contraction = signals(after)["mrr_contraction"]
    assert contraction["raw"] == -0.4  # 300 now against 500 ninety days ago
    assert contraction["value"] == 0  # 30% or more: no marks
    assert after["components"]["commercial"] == 0
    assert "commercial" not in before["components"]  # no data: skipped, not scored
    assert after["score"] < before["score"]


def test_a_second_subscription_keeps_the_account_when_one_is_cancelled(live_server):
    add_account(live_server)
    sent(live_server, "customer.subscription.created", subscription(), 60)
    addon = subscription(id="sub_addon", quantity=1, unit_amount=120_000, interval="year")
    sent(live_server, "customer.subscription.created", addon, 50)  # 1,200 a year: 100/month
    ended = int(time.time() - 10 * DAY)
    cancelled = sent(
        live_server,
        "customer.subscription.deleted",
        subscription(status="canceled", ended_at=ended),
        10,
    )
    assert cancelled["applied"] is True
    assert "not churned: sub_addon still paying" in cancelled["detail"]
    assert account(live_server).churned_at is None
    assert account(live_server).mrr == 100
    with live_server.client("read") as reader:
        assert history(reader) == [
            ("500.00", 10, "sub_main"),
            ("600.00", 11, "sub_addon"),
            ("100.00", 1, "sub_main"),  # the main subscription's 0 MRR and 0 seats
        ]
    last = subscription(id="sub_addon", status="canceled", ended_at=ended + 3600)
    assert sent(live_server, "customer.subscription.deleted", last, 9)["applied"] is True
    assert account(live_server).churned_at == datetime.fromtimestamp(ended + 3600, UTC)
    assert account(live_server).mrr == 0


def test_a_yearly_subscription_sets_the_renewal_and_a_trial_counts_no_revenue(live_server):
    add_account(live_server)
    period_end = int(time.time() + 40 * DAY)
    trial = subscription(id="sub_year", status="trialing", interval="year")
    trial["items"]["data"][0]["current_period_end"] = int(time.time() + 5 * DAY)  # API basil
    assert sent(live_server, "customer.subscription.created", trial, 100)["applied"] is True
    assert account(live_server).renews_at is None  # a trial's end is no renewal
    paying = subscription(id="sub_year", interval="year")
    paying["items"]["data"][0]["current_period_end"] = period_end
    assert sent(live_server, "customer.subscription.updated", paying, 1)["applied"] is True
    assert account(live_server).renews_at == datetime.fromtimestamp(period_end, UTC)
    with live_server.client("admin") as admin:
        # 10 seats x 50.00 a year = 41.67 a month; trialing, it brought in nothing.
        assert history(admin) == [("0.00", 10, "sub_year"), ("41.67", 10, "sub_year")]
        # An account total from another billing system, a week ago, through the API.
        week_ago = (datetime.now(UTC) - timedelta(days=7)).isoformat()
        body = {"customerId": "acme", "mrr": "80.00", "seats": 4, "timestamp": week_ago}
        created = admin.post("/api/v1/mrr-changes", json=body)
        assert created.status_code == 201, created.text
        retried = admin.post("/api/v1/mrr-changes", json={**body, "mrr": "90.00"})
        assert retried.json() == created.json()  # the same moment: replaced, not added
        assert history(admin) == [
            ("0.00", 10, "sub_year"),
            ("90.00", 14, ""),  # the trial's 0 + the total
            ("131.67", 14, "sub_year"),  # 41.67 + 90.00
        ]
        unknown = admin.post("/api/v1/mrr-changes", json={**body, "customerId": "nobody"})
        assert unknown.status_code == 422
        answer = admin.post("/api/v1/health-scores/acme/refresh").json()
    renewal = signals(answer)["renewal_proximity"]
    assert 39 < renewal["raw"] <= 40
    assert answer["stage"] == "renewal"
    assert signals(answer)["mrr_contraction"]["missing"] is True  # 0 ninety days ago
