"""Stripe's webhook: payments and cancellations arrive as signed events.

The signature is the authentication (Stripe cannot send an API key), so the route has no
key dependency; the OpenAPI document declares the ``Stripe-Signature`` header as its
security scheme. It is checked against the raw request bytes with the official ``stripe``
library before anything is parsed or written; a missing or bad signature, or one older
than the tolerance (a replay), gets 401 ``invalid_signature`` and writes nothing (Stripe
retries any answer but a 2xx). Until ``HEALTHSCORE_STRIPE_WEBHOOK_SECRET`` is set the
endpoint answers 503 ``not_configured``.
A signed body declared as something else than ``application/json`` (what Stripe sends)
gets 415, one that is not JSON 400 ``malformed_json`` with the line and column.
An accepted event is de-duplicated on its id and applied in one transaction that commits
before the 200, so Stripe's at-least-once delivery never counts a payment twice.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import stripe
from fastapi import APIRouter, Depends, Request
from fastapi.security import APIKeyHeader
from pydantic import BaseModel

from healthscore.api.dependencies import DbSession, JobQueue
from healthscore.api.errors import ApiError, ErrorResponse, locate_error
from healthscore.api.json_bodies import is_json, unsupported
from healthscore.ingest import stripe_events
from healthscore.observability.metrics import INGESTED

router = APIRouter(tags=["webhooks"])

TOLERANCE_SECONDS = 300
"""Signed timestamps older than this are refused as replays (Stripe's own default)."""


class StripeReceipt(BaseModel):
    """The acknowledgement; ``applied`` is False for duplicates and ignored events."""

    received: bool
    applied: bool
    detail: str


async def raw_body(request: Request) -> bytes:
    """The body exactly as sent: the signature covers these bytes, not a re-encoding."""
    return await request.body()


RawBody = Annotated[bytes, Depends(raw_body)]
signature_header = APIKeyHeader(
    name="Stripe-Signature",
    scheme_name="StripeSignature",
    description="Stripe's signature of the body with the endpoint's secret "
    "(HEALTHSCORE_STRIPE_WEBHOOK_SECRET)",
    auto_error=False,
)
Signature = Annotated[str | None, Depends(signature_header)]
CHALLENGE = {"WWW-Authenticate": 'Stripe-Signature realm="healthscore"'}
STRIPE_EVENT = {
    "title": "StripeEvent",
    "type": "object",
    "description": "A Stripe event as Stripe sends it (the signature covers these exact "
    "bytes); invoice, charge and customer.subscription events are applied, others "
    "acknowledged with applied: false",
    "required": ["id", "type"],
    "properties": {
        "id": {"type": "string", "minLength": 1},
        "type": {"type": "string"},
        "data": {"type": "object", "properties": {"object": {"type": "object"}}},
    },
    "additionalProperties": True,
}


@router.post(
    "/webhooks/stripe",
    operation_id="receiveStripeWebhook",
    response_model=StripeReceipt,
    responses={
        400: {
            "model": ErrorResponse,
            "description": "a signed body that is not a Stripe event (`invalid_payload`) or "
            "not JSON (`malformed_json`)",
        },
        401: {
            "model": ErrorResponse,
            "description": "no signature, a bad one, or one older than 5 minutes (a replay): "
            "`invalid_signature`",
        },
        415: {"model": ErrorResponse, "description": "the body is not declared as JSON"},
        503: {
            "model": ErrorResponse,
            "description": "`not_configured`: HEALTHSCORE_STRIPE_WEBHOOK_SECRET is not set",
        },
    },
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": STRIPE_EVENT}}}
    },
)
def receive_stripe_webhook(
    request: Request,
    body: RawBody,
    session: DbSession,
    jobs: JobQueue,
    stripe_signature: Signature,
) -> StripeReceipt:
    """Verify a Stripe event, apply it once, and acknowledge it (committed before the 200).

    Events that cannot be used (untracked type, unknown Stripe customer) are acknowledged
    with ``applied: false`` and the reason: a non-2xx answer would only make Stripe re-send
    them for days.
    """
    secret: str | None = request.app.state.settings.stripe_webhook_secret
    if not secret:
        raise ApiError(503, "the Stripe endpoint secret is not configured", code="not_configured")
    event = _verified_event(body, stripe_signature, secret, request.headers.get("content-type"))
    event_id = event.get("id")
    if not isinstance(event_id, str) or not event_id or not isinstance(event.get("type"), str):
        raise ApiError(400, "the event has no id or type", code="invalid_payload")
    with session.begin():
        outcome = stripe_events.receive(session, event)
    if outcome.applied and outcome.customer_id:
        jobs.request_rescore()
        INGESTED.labels("stripe").inc()
    return StripeReceipt(received=True, applied=outcome.applied, detail=outcome.detail)


def _verified_event(
    body: bytes, signature: str | None, secret: str, content_type: str | None
) -> dict[str, Any]:
    """The event as plain dicts, once its signature and timestamp check out (then its
    Content-Type and its JSON: nobody unsigned learns more than "invalid signature")."""
    try:
        stripe.WebhookSignature.verify_header(body, signature, secret, TOLERANCE_SECONDS)
        if not is_json(content_type):
            raise unsupported(content_type)
        # Verifies again (an HMAC of the body: microseconds) and parses.
        event = stripe.Webhook.construct_event(body, signature, secret, tolerance=TOLERANCE_SECONDS)
    except stripe.SignatureVerificationError as error:
        raise ApiError(
            401, f"invalid Stripe signature: {error}", code="invalid_signature", headers=CHALLENGE
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise locate_error(body) or ApiError(400, "malformed JSON", code="malformed_json") from None
    except (ValueError, TypeError, AttributeError):
        # Only reachable with a valid signature: JSON that is not an object, or a thin
        # (v2) event notification, which is not consumed here.
        raise ApiError(400, "the body is not a Stripe event", code="invalid_payload") from None
    result: dict[str, Any] = event.to_dict()
    return result
