"""Ingested data reaches the score, and fires playbooks, without anyone asking for a rescore."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


def wait_for(read, condition, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if condition(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; last value {value!r}")
        time.sleep(0.1)


def test_a_failed_payment_is_rescored_and_fires_its_playbook_within_seconds(live_server):
    now = datetime.now(UTC)
    with live_server.client("admin") as api:
        api.put(
            "/api/v1/customers/acme",
            json={"name": "Acme", "createdAt": (now - timedelta(days=200)).isoformat()},
        ).raise_for_status()
        for day in range(1, 30):
            api.post(
                "/api/v1/engagement-events",
                json={
                    "customerId": "acme",
                    "eventType": "login",
                    "userId": f"u{day % 4}",
                    "timestamp": (now - timedelta(days=day)).isoformat(),
                },
            ).raise_for_status()
        # The logins above were picked up by the background rescore as well.
        first = wait_for(
            lambda: api.get("/api/v1/health-scores/acme"), lambda r: r.status_code == 200
        ).json()
        assert first["components"]["payments"] == 100.0

        api.post(
            "/api/v1/payments",
            json={"customerId": "acme", "amount": "120.00", "status": "failed"},
        ).raise_for_status()
        after = wait_for(
            lambda: api.get("/api/v1/health-scores/acme").json(),
            lambda body: body["components"]["payments"] < 100.0,
        )
        log = wait_for(
            lambda: api.get("/api/v1/outreach", params={"playbook": "payment_failed"}).json(),
            lambda body: body["total"] >= 1,
        )
    assert after["score"] < first["score"]
    assert log["items"][0]["customerId"] == "acme"
