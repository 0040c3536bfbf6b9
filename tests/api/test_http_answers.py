"""Bad requests get the answer clients expect: status, code and a message that reads once.

One table, sent to one live server per database: malformed JSON (400 with line and
column) on the JSON API, Segment and Stripe alike; bodies that are not JSON (415; Segment
also reads ``text/plain``, as analytics.js sends it); validation messages without
pydantic's prefixes or a repeated field name; a malformed ``Idempotency-Key``.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
import stripe

from healthscore.api.idempotency import keeps
from healthscore.errors import validation_message as readable
from healthscore.ingest.records import InvalidFact
from tests.fixtures.server import LiveServer

FUTURE = (datetime.now(UTC) + timedelta(days=2)).isoformat()
STRIPE_SECRET = "whsec_test_secret"  # what the live_server fixture configures


@dataclass(frozen=True)
class Bad:
    """A request and the answer it must get."""

    name: str
    method: str
    path: str
    body: bytes
    content_type: str | None
    status: int
    code: str
    message: str
    details: list[dict[str, str]] | None = None
    """When given: exactly ``details``."""
    auth: str = "bearer"
    """``bearer`` (admin key), ``segment`` (Basic, ingest key) or ``stripe`` (signed)."""
    headers: dict[str, str] = field(default_factory=dict)


NPS_MISSING_COMMA = b'{\n  "customerId": "acme",\n  "score": 9\n  "comment": "fast"\n}'
SEGMENT_TRAILING_COMMA = b'{"batch": [\n  {"type": "track", "userId": "u1", "event": "x"},\n]}'
STRIPE_BROKEN = b'{"id": "evt_1",\n  "type": "invoice.paid",\n  "data": {nope}}'
MALFORMED = "malformed JSON at line {}, column {}: {}"

TABLE = [
    Bad(
        "API: malformed JSON names line and column",
        "POST",
        "/api/v1/nps-responses",
        NPS_MISSING_COMMA,
        "application/json",
        400,
        "malformed_json",
        MALFORMED.format(4, 3, "Expecting ',' delimiter"),
        [{"field": "body", "message": MALFORMED.format(4, 3, "Expecting ',' delimiter")}],
    ),
    Bad(
        "API: a body that is not UTF-8",
        "PUT",
        "/api/v1/customers/acme",
        b'{"name": "Ac\xffme"}',
        "application/json; charset=utf-8",
        400,
        "malformed_json",
        MALFORMED.format(1, 13, "the bytes are not UTF-8 text"),
    ),
    Bad(
        "API: text/plain is not JSON",
        "POST",
        "/api/v1/nps-responses",
        b'{"customerId": "acme", "score": 9}',
        "text/plain",
        415,
        "unsupported_media_type",
        "the body must be JSON (Content-Type: application/json); "
        "it came with Content-Type 'text/plain'",
    ),
    Bad(
        "API: a body without a Content-Type",
        "PUT",
        "/api/v1/customers/acme",
        b'{"name": "Acme"}',
        None,
        415,
        "unsupported_media_type",
        "the body must be JSON (Content-Type: application/json); it came with no Content-Type",
    ),
    Bad(
        "API: application/*+json is JSON",
        "POST",
        "/api/v1/engagement-events",
        json.dumps({"customerId": "acme", "eventType": "login", "timestamp": FUTURE}).encode(),
        "application/vnd.api+json",
        422,
        "validation_error",
        "timestamp: is in the future",
        [{"field": "timestamp", "message": "is in the future"}],
    ),
    Bad(
        "API: a model validator's message without 'Value error, '",
        "POST",
        "/api/v1/customers/acme/sentiment",
        b'{"note": "fine"}',
        "application/json",
        422,
        "validation_error",
        "body: give either value (1-5) or colour (red, yellow, green)",
        [{"field": "body", "message": "give either value (1-5) or colour (red, yellow, green)"}],
    ),
    Bad(
        "API: several fields, each once",
        "POST",
        "/api/v1/nps-responses",
        b'{"score": 11}',
        "application/json",
        422,
        "validation_error",
        "customerId: Field required; score: Input should be less than or equal to 10",
    ),
    Bad(
        "API: an Idempotency-Key with a space",
        "POST",
        "/api/v1/nps-responses",
        b'{"customerId": "acme", "score": 9}',
        "application/json",
        422,
        "validation_error",
        "Idempotency-Key: must be 1-255 visible ASCII characters (no spaces)",
        [
            {
                "field": "Idempotency-Key",
                "message": "must be 1-255 visible ASCII characters (no spaces)",
            }
        ],
        headers={"Idempotency-Key": "two words"},
    ),
    Bad(
        "Segment: malformed JSON names line and column",
        "POST",
        "/v1/batch",
        SEGMENT_TRAILING_COMMA,
        "application/json",
        400,
        "malformed_json",
        MALFORMED.format(3, 1, "Expecting value"),
        auth="segment",
    ),
    Bad(
        "Segment: a form is not JSON",
        "POST",
        "/v1/track",
        b"userId=u1&event=x",
        "application/x-www-form-urlencoded",
        415,
        "unsupported_media_type",
        "the body must be JSON (Content-Type: application/json); "
        "it came with Content-Type 'application/x-www-form-urlencoded'",
        auth="segment",
    ),
    Bad(
        "Segment: text/plain is read as JSON (analytics.js), its message checked",
        "POST",
        "/v1/track",
        json.dumps({"userId": "u1", "event": "Signed In", "timestamp": FUTURE}).encode(),
        "text/plain;charset=UTF-8",
        400,
        "invalid_message",
        "rejected, nothing from this request was stored: timestamp: is in the future",
        [{"field": "timestamp", "message": "is in the future"}],
        auth="segment",
    ),
    Bad(
        "Segment: a NUL in a text/plain body (no middleware reads those)",
        "POST",
        "/v1/track",
        b'{"userId": "u1", "event": "Signed\\u0000In"}',
        "text/plain",
        400,
        "invalid_message",
        "text may not contain NUL (U+0000) characters",
        auth="segment",
    ),
    Bad(
        "Stripe: a signed body that is not JSON",
        "POST",
        "/webhooks/stripe",
        STRIPE_BROKEN,
        "application/json",
        400,
        "malformed_json",
        MALFORMED.format(3, 12, "Expecting property name enclosed in double quotes"),
        auth="stripe",
    ),
    Bad(
        "Stripe: a signed body declared as text",
        "POST",
        "/webhooks/stripe",
        b'{"id": "evt_1", "type": "invoice.paid"}',
        "text/plain",
        415,
        "unsupported_media_type",
        "the body must be JSON (Content-Type: application/json); "
        "it came with Content-Type 'text/plain'",
        auth="stripe",
    ),
]


def _headers(server: LiveServer, bad: Bad) -> dict[str, str]:
    headers = dict(bad.headers)
    if bad.content_type is not None:
        headers["Content-Type"] = bad.content_type
    if bad.auth == "bearer":
        headers["Authorization"] = f"Bearer {server.keys['admin']}"
    elif bad.auth == "segment":
        basic = base64.b64encode(f"{server.keys['ingest']}:".encode()).decode()
        headers["Authorization"] = f"Basic {basic}"
    else:
        headers["Stripe-Signature"] = stripe.WebhookSignature.generate_signature_header(
            bad.body.decode(), STRIPE_SECRET, timestamp=int(time.time())
        )
    return headers


def test_bad_requests_get_their_status_code_and_a_message_that_reads_once(live_server):
    with live_server.client(scope=None) as http:
        http.put(
            "/api/v1/customers/acme",
            json={"name": "Acme"},
            headers={"Authorization": f"Bearer {live_server.keys['admin']}"},
        ).raise_for_status()
        for bad in TABLE:
            answer = http.request(
                bad.method, bad.path, content=bad.body, headers=_headers(live_server, bad)
            )
            error = answer.json()["error"]
            assert (answer.status_code, error["code"], error["message"]) == (
                bad.status,
                bad.code,
                bad.message,
            ), bad.name
            assert error["status"] == bad.status, bad.name
            if bad.details is not None:
                assert error["details"] == bad.details, bad.name
            for detail in error["details"]:
                assert not detail["message"].startswith(("Value error", "Assertion failed"))
                assert not detail["message"].startswith(f"{detail['field']}: "), bad.name
        # Nothing of any of them was applied.
        scores = http.get(
            "/api/v1/nps-responses",
            headers={"Authorization": f"Bearer {live_server.keys['admin']}"},
        ).json()
        assert scores["total"] == 0


@pytest.mark.parametrize(
    ("field", "problem", "expected"),
    [
        ("timestamp", {"msg": "Value error, timestamp: is in the future"}, "is in the future"),
        ("items.0.ts", {"msg": "Value error, ts: is before 1970"}, "is before 1970"),
        ("body", {"msg": "Assertion failed, x must be positive"}, "x must be positive"),
        ("score", {"msg": "Input should be less than 10"}, "Input should be less than 10"),
        (
            "timestamp",
            {
                "msg": "Value error, …",
                "ctx": {"error": InvalidFact("timestamp", "is out of range")},
            },
            "is out of range",
        ),
    ],
)
def test_validation_messages_lose_pydantics_prefix_and_the_repeated_field(
    field: str, problem: dict[str, object], expected: str
) -> None:
    assert readable(field, problem) == expected


@pytest.mark.parametrize(
    ("status", "operation_answered", "kept"),
    [
        (200, False, True),
        (201, False, True),
        (404, True, True),  # the operation found no such thing
        (422, True, True),  # the operation found a rule broken
        (422, False, False),  # refused by validation before it ran: fix it and resend
        (401, False, False),
        (429, False, False),
        (500, True, False),
        (503, False, False),
    ],
)
def test_which_answers_an_idempotency_key_keeps(
    status: int, operation_answered: bool, kept: bool
) -> None:
    assert keeps(status, operation_answered=operation_answered) is kept
