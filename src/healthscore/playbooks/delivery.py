"""Sending one delivery: a signed JSON webhook, a Slack message, or Redis list + channel.

Webhooks are signed like Stripe's: ``X-Healthscore-Signature: t=<unix>,v1=<hex>`` where
``v1`` is HMAC-SHA256 of ``"<t>.<raw body>"`` with the endpoint's secret, so receivers can
check both authenticity and freshness. ``X-Healthscore-Idempotency-Key`` is identical on
every retry of the same delivery.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from typing import Any

import httpx
import orjson
import redis

from healthscore.playbooks.rules import RedisAction, SlackAction, WebhookAction
from healthscore.storage import models as m

TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class DeliveryError(RuntimeError):
    """A send that failed and may succeed later."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify(secret: str, header: str, body: bytes, *, tolerance: int = 300) -> bool:
    """What a receiver does (used by tests and documented for integrators)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def _secret(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise DeliveryError(f"environment variable {name} (webhook secret) is not set")
    return value


def send(delivery: m.Delivery, *, redis_url: str | None) -> None:
    """Send once; raises ``DeliveryError`` on any failure worth retrying."""
    kind = delivery.action.get("kind")
    if kind == "webhook":
        _webhook(WebhookAction.model_validate(delivery.action), delivery)
    elif kind == "slack":
        _slack(SlackAction.model_validate(delivery.action), delivery.payload)
    elif kind == "redis":
        _redis(RedisAction.model_validate(delivery.action), delivery.payload, redis_url)
    else:
        raise DeliveryError(f"unknown delivery kind {kind!r}")


def _post(url: str, body: bytes, headers: dict[str, str]) -> None:
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=TIMEOUT)
    except httpx.HTTPError as error:
        raise DeliveryError(f"{type(error).__name__}: {error}") from error
    if response.status_code >= 300:
        raise DeliveryError(f"HTTP {response.status_code} from {url}")


def _webhook(action: WebhookAction, delivery: m.Delivery) -> None:
    body = orjson.dumps(delivery.payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "healthscore-webhooks",
        "X-Healthscore-Signature": sign(_secret(action.secret_env), int(time.time()), body),
        "X-Healthscore-Idempotency-Key": delivery.idempotency_key,
    }
    _post(action.url, body, headers)


def slack_message(payload: dict[str, Any]) -> dict[str, Any]:
    text = (
        f":rotating_light: *{payload['customerName']}* ({payload['customerId']}) — "
        f"score {payload['score']}, {payload['riskLevel']}, {payload['trend']}.\n"
        f"Playbook `{payload['playbook']}`: {payload['reason']}"
    )
    return {"text": text}


def _slack(action: SlackAction, payload: dict[str, Any]) -> None:
    url = _secret(action.url_env)
    _post(url, orjson.dumps(slack_message(payload)), {"Content-Type": "application/json"})


def _redis(action: RedisAction, payload: dict[str, Any], redis_url: str | None) -> None:
    if not redis_url:
        raise DeliveryError("HEALTHSCORE_REDIS_URL is not set; cannot push to Redis")
    # Seed 000's queue entries: {type, customerId, score, riskLevel, trend} (+ context).
    message = orjson.dumps(payload)
    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    try:
        pipe = client.pipeline()
        pipe.rpush(action.queue, message)
        if action.channel:
            pipe.publish(action.channel, message)
        pipe.execute()
    except redis.RedisError as error:
        raise DeliveryError(f"Redis: {error}") from error
    finally:
        client.close()
