"""``GET /api/v1/data-quality`` over real HTTP: problems planted through the API and
Segment show up with their evidence, and go once fixed the documented way."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.fixtures.server import SHARED_TLS
from tests.quality.planted import EXPECTED, HOSTILE, plant


def quality(server: Any, **params: Any) -> dict[str, Any]:
    with server.client("read") as api:
        response = api.get("/api/v1/data-quality", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def counts(body: dict[str, Any]) -> dict[str, int]:
    return {f["code"]: f["count"] for f in body["findings"]}


def test_an_empty_database_is_clean(live_server: Any) -> None:
    body = quality(live_server)
    assert body["clean"] is True and body["windowDays"] == 30
    assert set(counts(body).values()) == {0}
    first = body["findings"][0]
    assert set(first) == {"code", "title", "level", "count", "unit", "why", "fix"}


def test_planted_problems_are_reported_with_their_evidence(live_server: Any) -> None:
    plant(live_server)
    body = quality(live_server)
    assert counts(body) == EXPECTED
    assert body["clean"] is False
    (acme,) = body["unseatedAccounts"]
    assert (acme["customerId"], acme["users"], acme["events"]) == ("acme", 2, 4)
    assert [u["userId"] for u in acme["topUsers"]] == ["stranger", "<b>intruder</b>"]
    assert [a["name"] for a in body["accountsWithoutSeats"]] == [HOSTILE]
    assert [(k["source"], k["accountKey"], k["events"]) for k in body["unknownAccounts"]] == [
        ("api", "ghost", 1)
    ]
    skews = {(s["source"], s["kind"]): s for s in body["clockSkew"]}
    assert set(skews) == {("api", "future"), ("segment", "sent_at")}
    assert 3500 < skews[("segment", "sent_at")]["worstSeconds"] < 3700


def test_fixing_the_data_the_documented_way_clears_the_findings(live_server: Any) -> None:
    plant(live_server)
    segment = httpx.Client(
        verify=SHARED_TLS,
        base_url=live_server.url,
        auth=httpx.BasicAuth(live_server.keys["ingest"], ""),
        timeout=30,
    )
    with segment, live_server.client("ingest") as api:
        # Seat the users: a Segment group call, an identify naming the account, the API.
        assert (
            segment.post("/v1/group", json={"userId": "stranger", "groupId": "acme"}).status_code
            == 200
        )
        identify = {"userId": "<b>intruder</b>", "traits": {"groupId": "acme"}}
        assert segment.post("/v1/identify", json=identify).status_code == 200
        assert api.put("/api/v1/customers/evil/users/e1", json={}).status_code == 200
        event = {"customerId": "evil", "eventType": "login", "userId": "e1"}
        assert api.post("/api/v1/engagement-events", json=event).status_code == 201
        assert api.put("/api/v1/customers/ghost", json={"name": "Ghost"}).status_code == 200
        assert api.put("/api/v1/customers/ghost/users/g1", json={}).status_code == 200
        seat = {"createdAt": "2020-01-01T00:00:00Z"}
        assert api.put("/api/v1/customers/acme/users/u9", json=seat).status_code == 200
        ticket = {"openedAt": "2026-01-01T00:00:00Z", "resolvedAt": "2026-01-02T00:00:00Z"}
        assert api.put("/api/v1/customers/acme/tickets/T1", json=ticket).status_code == 200
    left = counts(quality(live_server))
    # Clock skew is history: it leaves the window, it cannot be fixed after the fact.
    assert left == {**{code: 0 for code in EXPECTED}, "future_timestamps": 1, "sent_at_skew": 1}
    assert quality(live_server)["clean"] is False
    assert counts(quality(live_server, days=1))["future_timestamps"] == 1


def test_the_report_needs_a_read_key_and_valid_options(live_server: Any) -> None:
    with httpx.Client(verify=SHARED_TLS, base_url=live_server.url) as anonymous:
        assert anonymous.get("/api/v1/data-quality").status_code == 401
    with live_server.client("ingest") as ingest:
        assert ingest.get("/api/v1/data-quality").status_code == 403
    with live_server.client("admin") as admin:
        assert admin.get("/api/v1/data-quality").status_code == 200
        for params in ({"days": 0}, {"days": 366}, {"limit": 0}, {"limit": "x"}):
            response = admin.get("/api/v1/data-quality", params=params)
            assert response.status_code == 422, params
        assert len(admin.get("/api/v1/data-quality", params={"limit": 1}).json()["findings"]) == 8


@pytest.mark.parametrize("days", [1, 365])
def test_the_window_is_reported_back(live_server: Any, days: int) -> None:
    body = quality(live_server, days=days)
    assert body["windowDays"] == days
