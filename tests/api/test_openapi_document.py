"""The OpenAPI document says what the server does (issue 25), case by case.

``test_fuzz.py`` runs schemathesis over everything; these are the decisions it found, as
an integrator reading the document would expect them: ids empty or at their longest, no
number for a date-time, ``Allow`` on a 405, Segment's documented leniency.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def api(live_server: Any) -> Any:
    with live_server.client("admin") as client:
        assert client.put("/api/v1/customers/acme", json={"name": "Acme"}).status_code == 200
        yield client


def fields(answer: Any) -> list[str]:
    return [detail["field"] for detail in answer.json()["error"]["details"]]


def test_an_empty_id_is_refused_and_one_at_its_longest_kept(api: Any) -> None:
    payment = {"customerId": "acme", "amount": "49.00", "status": "failed"}
    for _ in range(2):  # an empty externalId was stored, and the next one was a 500
        empty = api.post("/api/v1/payments", json={**payment, "externalId": ""})
        assert empty.status_code == 422 and fields(empty) == ["externalId"], empty.text
    longest = {**payment, "externalId": "x" * 255}
    first = api.post("/api/v1/payments", json=longest)
    assert first.status_code == 201, first.text
    assert api.post("/api/v1/payments", json=longest).json() == first.json()  # a retry
    assert fields(api.post("/api/v1/payments", json={**longest, "externalId": "x" * 256})) == [
        "externalId"
    ]
    siblings = [
        ("/api/v1/nps-responses", {"customerId": "acme", "score": 9, "userId": ""}, "userId"),
        (
            "/api/v1/engagement-events",
            {"customerId": "acme", "eventType": "login", "userId": ""},
            "userId",
        ),
    ]
    for path, body, field in siblings:
        answer = api.post(path, json=body)
        assert answer.status_code == 422 and fields(answer) == [field], answer.text
        assert api.post(path, json={**body, field: "u" * 255}).status_code == 201
    taken = api.put("/api/v1/customers/acme", json={"stripeCustomerId": ""})
    assert taken.status_code == 422 and fields(taken) == ["stripeCustomerId"]
    account = "c" * 64
    assert api.put(f"/api/v1/customers/{account}", json={}).status_code == 200
    assert api.put(f"/api/v1/customers/{account}c", json={}).status_code == 422


def test_a_number_is_no_date_time_and_a_string_no_number(api: Any) -> None:
    for path in ("/api/v1/engagement-events", "/api/v1/nps-responses", "/api/v1/nps-summary"):
        for value in ("0.5", "1700000000"):
            answer = api.get(path, params={"until": value})
            assert answer.status_code == 422 and fields(answer) == ["until"], (path, value)
    assert api.get("/api/v1/outreach", params={"since": "0"}).status_code == 422
    history = api.get("/api/v1/health-scores/acme/history", params={"until": "0"})
    assert history.status_code == 422
    ticket = api.put("/api/v1/customers/acme/tickets/T-1", json={"openedAt": 0})
    assert ticket.status_code == 422 and fields(ticket) == ["openedAt"]
    seat = api.put("/api/v1/customers/acme/users/jane", json={"removedAt": 0})
    assert seat.status_code == 422 and fields(seat) == ["removedAt"]
    for score in ("9", True, 9.5):
        nps = api.post("/api/v1/nps-responses", json={"customerId": "acme", "score": score})
        assert nps.status_code == 422 and fields(nps) == ["score"], score
    whole = api.post("/api/v1/nps-responses", json={"customerId": "acme", "score": 9.0})
    assert whole.status_code == 201  # JSON Schema's integer: 9.0 is 9
    segment = api.post("/v1/track", json={"userId": "u1", "event": "E", "sentAt": 0})
    assert segment.status_code == 400 and fields(segment) == ["sentAt"]
    naive = (NOW - timedelta(hours=1)).replace(tzinfo=None).isoformat()
    event = {"customerId": "acme", "eventType": "login", "timestamp": naive}
    assert api.post("/api/v1/engagement-events", json=event).status_code == 201  # UTC


def test_a_405_names_every_method_of_the_path(api: Any) -> None:
    for path, allowed in (
        ("/api/v1/engagement-events", "GET, POST"),
        ("/api/v1/nps-responses", "GET, POST"),
        ("/api/v1/customers/acme/sentiment", "GET, POST"),
        ("/api/v1/webhook-subscriptions", "GET, POST"),
    ):
        answer = api.options(path)
        assert answer.status_code == 405 and answer.headers["Allow"] == allowed, path
        assert answer.json()["error"]["code"] == "method_not_allowed"


def test_segment_is_lenient_where_the_document_says_so(api: Any) -> None:
    assert api.post("/v1/group", json={"userId": 7, "groupId": "acme"}).status_code == 200
    message = {
        "userId": 7,  # a whole number reads as its digits
        "event": "Clicked",
        "context": {"groupId": "acme", "library": {"name": "analytics.js"}},
        "someNewSdkField": {"any": ["thing"]},
    }
    assert api.post("/v1/track", json=message).status_code == 200
    fraction = api.post("/v1/track", json={**message, "userId": 7.5})
    assert fraction.status_code == 400 and fields(fraction) == ["userId"]
    nobody = api.post("/v1/track", json={**message, "userId": "", "anonymousId": None})
    assert nobody.status_code == 400 and fields(nobody) == ["userId"]
    nul = api.post("/v1/track", json={**message, "event": "a\x00b"})
    assert nul.status_code == 400 and nul.json()["error"]["code"] == "invalid_message"


def test_the_document_declares_what_is_refused_and_what_is_welcome(live_server: Any) -> None:
    with live_server.client(None) as anonymous:
        document = anonymous.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    for name in ("NpsInput", "EngagementInput", "CustomerInput", "PaymentInput", "OverrideIn"):
        assert schemas[name]["additionalProperties"] is False, name
    for name in ("TrackMessage", "GroupMessage", "Batch", "Context"):
        assert schemas[name]["additionalProperties"] is True, name
    assert schemas["PaymentInput"]["properties"]["externalId"]["anyOf"][0]["minLength"] == 1
    assert "score" in schemas["OverrideIn"]["properties"]["target"]["enum"]
    webhook = document["paths"]["/webhooks/stripe"]["post"]
    assert webhook["security"] == [{"StripeSignature": []}]
    assert "401" in webhook["responses"] and "503" in webhook["responses"]
    for operations in document["paths"].values():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                assert {"type": "null"} not in parameter["schema"].get("anyOf", []), parameter
            if method == "get":  # a read answers no conflict, checks no body's media type
                assert not {"409", "415"} & set(operation["responses"]), operation["operationId"]
