"""Segment's HTTP Tracking API against a live server, driven by Segment's own Python SDK.

``segment.analytics.Client(host=...)`` posts to ``/v1/batch`` with Basic auth (write key as
user name), exactly as it would to api.segment.io; raw httpx covers what the SDK cannot
send (bad keys, retries of the same messageIds, future timestamps, oversized batches).
"""

from __future__ import annotations

import gzip
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from segment.analytics import Client
from segment.analytics.request import APIError
from sqlalchemy import func, select, update

from healthscore.auth.keys import Scope, create_key, revoke_key
from healthscore.storage import job_models as jm
from healthscore.storage import models as m
from healthscore.storage.database import transaction
from tests.fixtures.server import SHARED_TLS


def sdk(live_server: Any, scope: str = "ingest", **options: Any) -> Client:
    """The real SDK pointed at the test server; sync_mode posts each call before returning."""
    options.setdefault("sync_mode", True)
    return Client(write_key=live_server.keys[scope], host=live_server.url, max_retries=0, **options)


def segment_http(live_server: Any, scope: str | None = "ingest") -> httpx.Client:
    """Raw HTTP the way Segment's API is spoken: Basic auth, key as user, empty password."""
    auth = httpx.BasicAuth(live_server.keys[scope], "") if scope else None
    return httpx.Client(base_url=live_server.url, auth=auth, timeout=30, verify=SHARED_TLS)


def rows(live_server: Any, model: type[m.Base], customer_id: str | None = None) -> int:
    with live_server.sessions() as session:
        query = select(func.count()).select_from(model)
        if customer_id is not None:
            query = query.where(model.customer_id == customer_id)  # type: ignore[attr-defined]
        return session.scalar(query) or 0


def track(event: str, **fields: Any) -> dict[str, Any]:
    return {"type": "track", "event": event, "messageId": str(uuid.uuid4()), **fields}


def score(admin: httpx.Client, customer_id: str) -> int:
    response = admin.post(f"/api/v1/health-scores/{customer_id}/refresh")
    assert response.status_code == 200, response.text
    value: int = response.json()["score"]
    return value


def test_events_sent_with_the_segment_sdk_change_the_health_score(live_server):
    with live_server.client("admin") as admin:
        assert admin.put("/api/v1/customers/acme", json={"name": "Acme"}).status_code == 200
        before = score(admin, "acme")

        errors: list[Any] = []
        client = sdk(live_server, sync_mode=False, on_error=lambda e, batch: errors.append(e))
        for user in ("u1", "u2", "u3"):
            client.group(user, "acme", traits={"name": "Acme Inc", "plan": "pro", "mrr": 1200})
            client.identify(user, traits={"email": f"{user}@acme.test"})
            client.track(user, "Signed In")
        for feature in ("reports", "exports", "alerts", "sso", "billing"):
            client.track("u1", "Feature Used", properties={"feature": feature})
        client.track("u2", "API Call", properties={"calls": 250})
        client.page("u1", name="Dashboard", properties={"url": "https://app.test/dash"})
        client.flush()
        client.join()
        assert errors == []

        after = score(admin, "acme")
        assert after > before + 20, (before, after)
        customer = admin.get("/api/v1/customers/acme").json()
        assert (customer["name"], customer["plan"], customer["mrr"]) == (
            "Acme Inc",
            "pro",
            "1200.00",
        )
    assert rows(live_server, m.Session, "acme") == 3
    assert rows(live_server, m.FeatureUsage, "acme") == 5
    assert rows(live_server, m.User, "acme") == 3
    with live_server.sessions() as session:
        assert session.scalar(select(m.ApiUsage.calls)) == 250
        seat = session.scalars(select(m.User).where(m.User.user_id == "u3")).one()
        assert seat.traits == {"email": "u3@acme.test"}


def test_gzip_bodies_from_the_sdk_are_accepted(live_server):
    client = sdk(live_server, gzip=True)
    client.group("u1", "gz")
    client.track("u1", "Login", context={"groupId": "gz"})
    assert rows(live_server, m.Session, "gz") == 1


def test_a_small_gzip_body_that_inflates_past_the_limit_gets_413(live_server):
    bomb = gzip.compress(json.dumps({"batch": [], "pad": "0" * 2_000_000}).encode())
    assert len(bomb) < 10_000
    with segment_http(live_server) as http:
        response = http.post(
            "/v1/batch",
            content=bomb,
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
        assert response.status_code == 413
        garbage = http.post(
            "/v1/batch",
            content=b"not gzip",
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
        assert garbage.status_code == 400
        not_json = http.post(
            "/v1/batch", content=b"{nope", headers={"Content-Type": "application/json"}
        )
        assert not_json.status_code == 400


def test_single_call_endpoints_answer_like_segment(live_server):
    with segment_http(live_server) as http:
        for path, body in (
            ("/v1/group", {"userId": "u1", "groupId": "solo", "traits": {"name": "Solo"}}),
            ("/v1/identify", {"userId": "u1", "traits": {"role": "admin"}}),
            ("/v1/track", {"userId": "u1", "event": "Signed In"}),
            ("/v1/page", {"userId": "u1", "name": "Settings"}),
        ):
            response = http.post(path, json=body)
            assert (response.status_code, response.json()) == (200, {"success": True}), path
        wrong = http.post("/v1/track", json={"type": "identify", "userId": "u1", "event": "x"})
        assert wrong.status_code == 400
    assert rows(live_server, m.Session, "solo") == 1
    assert rows(live_server, m.EngagementEvent, "solo") == 1


def test_a_retried_batch_is_acknowledged_but_stored_once(live_server):
    batch = {
        "batch": [
            {"type": "group", "userId": "u1", "groupId": "acme", "messageId": "g-1"},
            *(track("Signed In", userId="u1", messageId=f"m-{i}") for i in range(5)),
        ]
    }
    with segment_http(live_server) as http:
        for _ in range(2):
            response = http.post("/v1/batch", json=batch)
            assert (response.status_code, response.json()) == (200, {"success": True})
        # a later batch repeating one old message plus a new one: only the new one counts
        partial = {"batch": [batch["batch"][1], track("Signed In", userId="u1", messageId="m-9")]}
        assert http.post("/v1/batch", json=partial).status_code == 200
    assert rows(live_server, m.Session, "acme") == 6
    assert rows(live_server, m.User) == 1
    assert rows(live_server, jm.ProcessedMessage) == 7


def test_keys_are_checked_like_segment_write_keys(live_server):
    body = {"batch": [track("Signed In", userId="u1", context={"groupId": "acme"})]}
    with segment_http(live_server, scope=None) as anonymous:
        response = anonymous.post("/v1/batch", json=body)
        assert response.status_code == 401
        assert "Basic" in response.headers["www-authenticate"]
        wrong = anonymous.post("/v1/batch", json=body, auth=("hs_not_a_key", ""))
        assert wrong.status_code == 401
    with segment_http(live_server, scope="read") as reader:
        assert reader.post("/v1/batch", json=body).status_code == 403
    with pytest.raises(APIError) as error:
        sdk(live_server, scope="read").track("u1", "Signed In", context={"groupId": "acme"})
    assert error.value.status == 403
    assert rows(live_server, jm.ProcessedMessage) == 0


def test_a_future_timestamp_rejects_the_whole_batch(live_server):
    with live_server.client("admin") as admin:
        admin.put("/api/v1/customers/acme", json={"name": "Acme"})
    now = datetime.now(UTC)
    batch = {
        "sentAt": now.isoformat(),
        "batch": [
            track("Signed In", userId="u1", context={"groupId": "acme"}),
            track(
                "Signed In",
                userId="u1",
                context={"groupId": "acme"},
                timestamp=(now + timedelta(days=2)).isoformat(),
            ),
        ],
    }
    with segment_http(live_server) as http:
        response = http.post("/v1/batch", json=batch)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["details"] == [{"field": "batch.1.timestamp", "message": "is in the future"}]
    assert rows(live_server, m.Session) == 0
    assert rows(live_server, jm.ProcessedMessage) == 0


def test_a_device_clock_running_ahead_is_corrected_not_rejected(live_server):
    with live_server.client("admin") as admin:
        admin.put("/api/v1/customers/acme", json={"name": "Acme"})
    device_now = datetime.now(UTC) + timedelta(hours=6)  # clock six hours fast
    event = track(
        "Signed In",
        userId="u1",
        context={"groupId": "acme"},
        timestamp=(device_now - timedelta(minutes=30)).isoformat(),
    )
    with segment_http(live_server) as http:
        response = http.post("/v1/batch", json={"sentAt": device_now.isoformat(), "batch": [event]})
    assert response.status_code == 200, response.text
    with live_server.sessions() as session:
        ts = session.scalars(select(m.Session.ts)).one()
    assert abs(ts - (datetime.now(UTC) - timedelta(minutes=30))) < timedelta(minutes=1)


def test_an_unknown_account_rejects_the_batch_and_names_the_message(live_server):
    with live_server.client("admin") as admin:
        admin.put("/api/v1/customers/acme", json={"name": "Acme"})
    batch = {
        "batch": [
            {"type": "group", "userId": "u1", "groupId": "acme", "messageId": "g"},
            track("Signed In", userId="u1"),
            track("Signed In", userId="u1", context={"groupId": "nobody"}),
            track("Signed In", userId="never-grouped"),
        ]
    }
    with segment_http(live_server) as http:
        response = http.post("/v1/batch", json=batch)
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "invalid_message"
        assert [d["field"] for d in error["details"]] == [
            "batch.2.context.groupId",
            "batch.3.context.groupId",
        ]
        assert "nobody" in error["details"][0]["message"]
        malformed = http.post("/v1/batch", json={"batch": [{"type": "track", "userId": "u"}]})
        assert malformed.status_code == 400
        assert malformed.json()["error"]["details"][0]["field"] == "batch.0.event"
    assert rows(live_server, m.User) == 0
    assert rows(live_server, m.Session) == 0
    assert rows(live_server, jm.ProcessedMessage) == 0

    # the SDK surfaces the rejection as a non-retryable error
    with pytest.raises(APIError) as sdk_error:
        sdk(live_server).track("u1", "Signed In", context={"groupId": "nobody"})
    assert sdk_error.value.status == 400


def test_batches_over_500_kb_get_413_and_write_nothing(live_server):
    padding = "x" * 1000
    events = [
        track("Big", userId="u1", context={"groupId": "acme"}, properties={"pad": padding})
        for _ in range(520)
    ]
    with segment_http(live_server) as http:
        too_big = http.post("/v1/batch", json={"batch": events})
        assert too_big.status_code == 413
        assert too_big.json()["error"]["code"] == "payload_too_large"
        # single calls are limited to 32 KB, as at Segment
        big_call = {"userId": "u1", "event": "Big", "properties": {"pad": "x" * 40_000}}
        assert http.post("/v1/track", json=big_call).status_code == 413
        # just under the batch limit is fine
        http.post("/v1/group", json={"userId": "u1", "groupId": "acme"})
        near_limit = {"batch": events[:400]}
        assert 450 * 1024 < len(json.dumps(near_limit)) < 500 * 1024
        fits = http.post("/v1/batch", json=near_limit)
        assert fits.status_code == 200, fits.text
    assert rows(live_server, m.EngagementEvent, "acme") == 400


def test_group_links_the_user_so_later_events_need_no_group_id(live_server):
    client = sdk(live_server)
    client.group("alice", "acme", traits={"name": "Acme"})
    client.group("bob", "globex", traits={"name": "Globex"})
    client.track("alice", "Signed In")
    client.track("alice", "Feature Used", properties={"feature": "reports"})
    client.track("bob", "API Call", properties={"calls": 3})
    assert rows(live_server, m.Session, "acme") == 1
    assert rows(live_server, m.Session, "globex") == 0
    assert rows(live_server, m.FeatureUsage, "acme") == 1
    assert rows(live_server, m.ApiUsage, "globex") == 1


def test_unmapped_events_are_kept_as_engagement_events(live_server):
    client = sdk(live_server)
    client.group("u1", "acme")
    client.track("u1", "Report Exported", properties={"format": "pdf", "rows": 120})
    client.page("u1", name="Billing", properties={"url": "https://app.test/billing"})
    with live_server.client("read") as reader:
        response = reader.get("/api/v1/engagement-events", params={"customerId": "acme"})
    assert response.status_code == 200
    items = {item["eventType"]: item for item in response.json()["items"]}
    assert set(items) == {"report_exported", "page_viewed"}
    assert items["report_exported"]["metadata"] == {"format": "pdf", "rows": 120}
    assert items["report_exported"]["userId"] == "u1"
    assert items["page_viewed"]["metadata"] == {
        "name": "Billing",
        "url": "https://app.test/billing",
    }


def test_a_revoked_write_key_is_refused_on_the_very_next_batch(live_server):
    with live_server.client("admin") as admin:
        admin.put("/api/v1/customers/acme", json={"name": "Acme"})
    with transaction(live_server.sessions) as session:
        issued = create_key(session, scope=Scope.ingest, name="segment source")
    body = {"batch": [track("Signed In", userId="u1", context={"groupId": "acme"})]}
    with httpx.Client(
        verify=SHARED_TLS, base_url=live_server.url, auth=(issued.secret, ""), timeout=30
    ) as http:
        assert http.post("/v1/batch", json=body).status_code == 200
        with transaction(live_server.sessions) as session:
            revoke_key(session, issued.prefix)
        again = {"batch": [track("Signed In", userId="u1", context={"groupId": "acme"})]}
        refused = http.post("/v1/batch", json=again)
        assert refused.status_code == 401
        assert refused.json()["error"]["message"] == "unknown or revoked API key"
        # …even for a body that would not validate: the key is checked first
        assert http.post("/v1/batch", json={"batch": "nope"}).status_code == 401
    assert rows(live_server, m.Session, "acme") == 1
    assert rows(live_server, jm.ProcessedMessage) == 1


def test_the_key_is_checked_before_the_body_and_its_use_is_recorded(live_server):
    with live_server.sessions() as session:
        session.execute(update(m.ApiKey).values(last_used_at=None))
        session.commit()
    with segment_http(live_server, scope="read") as reader:
        assert reader.post("/v1/batch", content=b"{nope").status_code == 403
    with segment_http(live_server) as http:
        response = http.post("/v1/batch", json={"batch": [{"type": "track", "userId": "u"}]})
        assert response.status_code == 400
    with live_server.sessions() as session:
        used = session.scalars(select(m.ApiKey.scope).where(m.ApiKey.last_used_at.is_not(None)))
        assert set(used) == {"read", "ingest"}


def test_bodies_must_be_json_and_errors_name_the_field(live_server):
    batch = {"batch": [track("Signed In", userId="u1", context={"groupId": "acme"})]}
    with segment_http(live_server) as http:
        # text/plain is JSON too here, as analytics.js sends it (no CORS preflight): read,
        # so the refusal is about the message (acme does not exist), not the body.
        plain = http.post(
            "/v1/batch", content=json.dumps(batch), headers={"Content-Type": "text/plain"}
        )
        assert plain.status_code == 400
        assert plain.json()["error"]["details"][0]["field"] == "batch.0.context.groupId"
        form = http.post(
            "/v1/batch",
            content=json.dumps(batch),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert form.status_code == 415
        assert form.json()["error"]["code"] == "unsupported_media_type"
        empty = http.post("/v1/batch", content=b"", headers={"Content-Type": "application/json"})
        assert empty.status_code == 400
        charset = http.post(
            "/v1/batch",
            content=json.dumps(
                {"batch": [{"type": "track", "event": "x", "userId": 7, "timestamp": "yesterday"}]}
            ),
            headers={"Content-Type": "application/json; charset=utf-8"},
        )
        assert charset.status_code == 400
        assert [d["field"] for d in charset.json()["error"]["details"]] == ["batch.0.timestamp"]
        bad_type = http.post("/v1/batch", json={"batch": [{"type": "nope", "userId": "u"}]})
        assert bad_type.status_code == 400
        assert bad_type.json()["error"]["details"][0]["field"] == "batch.0"
    assert rows(live_server, jm.ProcessedMessage) == 0


def test_concurrent_retries_of_one_batch_store_it_exactly_once(live_server):
    with live_server.client("admin") as admin:
        admin.put("/api/v1/customers/acme", json={"name": "Acme"})
    batch = {
        "batch": [
            track("Signed In", userId=f"u{i}", context={"groupId": "acme"}) for i in range(50)
        ]
    }

    def send(_: int) -> int:
        with segment_http(live_server) as http:
            return http.post("/v1/batch", json=batch).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(send, range(12)))
    assert statuses == [200] * 12
    assert rows(live_server, m.Session, "acme") == 50
    assert rows(live_server, jm.ProcessedMessage) == 50
