"""Sending one delivery: a signed JSON webhook, a Slack message, or Redis list + channel.

Webhooks are signed like Stripe's: ``X-Healthscore-Signature: t=<unix>,v1=<hex>`` where
``v1`` is HMAC-SHA256 of ``"<t>.<raw body>"`` with the endpoint's secret, so receivers can
check both authenticity and freshness. ``X-Healthscore-Idempotency-Key`` is identical on
every retry of the same delivery.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import os
import socket
import ssl
import time
from typing import Any

import httpx
import orjson
import redis

from healthscore.playbooks.mail import MailError, SmtpServer, compose, send_email
from healthscore.playbooks.rules import EmailAction, RedisAction, SlackAction, WebhookAction
from healthscore.storage import job_models as jm

TIMEOUT = httpx.Timeout(10.0, connect=5.0)


@functools.cache
def _tls() -> ssl.SSLContext:
    """httpx's default TLS settings (certificates verified against its CA bundle), made
    once per process: httpx would load the bundle again for every delivery, 20 ms of CPU
    each."""
    return httpx.create_ssl_context()


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


class NotConfigured(DeliveryError):
    """The action needs something this deployment does not have (e.g. Redis): skip it."""


class UnsafeTarget(DeliveryError):
    """A webhook URL that resolves to a private, loopback or link-local address."""


def check_target(url: str, *, allow_private: bool) -> None:
    """SSRF guard: outbound webhooks may not reach the internal network.

    Every address the host resolves to is checked (a public name pointing at 10.0.0.5 is
    refused too). ``allow_private`` is for local development and tests only.
    """
    if allow_private:
        return
    try:
        host = httpx.URL(url).host
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (httpx.InvalidURL, UnicodeError) as error:  # a host no DNS name can spell
        raise DeliveryError(f"cannot resolve the host of {url!r}: {error}") from error
    except socket.gaierror as error:
        raise DeliveryError(f"cannot resolve {host!r}: {error}") from error
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global or address.is_multicast:
            raise UnsafeTarget(
                f"refusing to send to {host} ({address}): not a public address "
                "(set HEALTHSCORE_ALLOW_PRIVATE_WEBHOOK_TARGETS=true for local development)"
            )


def send(
    delivery: jm.Delivery,
    *,
    redis_url: str | None,
    allow_private: bool = False,
    smtp: SmtpServer | None = None,
) -> None:
    """Send once; raises ``DeliveryError`` on any failure worth retrying."""
    kind = delivery.action.get("kind")
    if kind == "webhook":
        action = WebhookAction.model_validate(delivery.action)
        check_target(action.url, allow_private=allow_private)
        _webhook(action, delivery)
    elif kind == "slack":
        slack = SlackAction.model_validate(delivery.action)
        check_target(_secret(slack.url_env), allow_private=allow_private)
        _slack(slack, delivery.payload)
    elif kind == "redis":
        _redis(RedisAction.model_validate(delivery.action), delivery.payload, redis_url)
    elif kind == "subscription":
        url = str(delivery.action["url"])
        check_target(url, allow_private=allow_private)
        _signed_post(url, str(delivery.action["secret"]), delivery)
    elif kind == "email":
        _email(EmailAction.model_validate(delivery.action), delivery, smtp)
    else:
        raise DeliveryError(f"unknown delivery kind {kind!r}")


def _post(url: str, body: bytes, headers: dict[str, str]) -> None:
    try:
        # No redirects: a 30x to an internal address would sidestep the SSRF guard.
        response = httpx.post(
            url,
            content=body,
            headers=headers,
            timeout=TIMEOUT,
            follow_redirects=False,
            verify=_tls(),
        )
    except (httpx.HTTPError, httpx.InvalidURL) as error:
        raise DeliveryError(f"{type(error).__name__}: {error}") from error
    if response.status_code >= 300:
        raise DeliveryError(f"HTTP {response.status_code} from {url}")


def _webhook(action: WebhookAction, delivery: jm.Delivery) -> None:
    _signed_post(action.url, _secret(action.secret_env), delivery)


def _signed_post(url: str, secret: str, delivery: jm.Delivery) -> None:
    body = orjson.dumps(delivery.payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "healthscore-webhooks",
        "X-Healthscore-Signature": sign(secret, int(time.time()), body),
        "X-Healthscore-Idempotency-Key": delivery.idempotency_key,
    }
    _post(url, body, headers)


SLACK_EVENTS = {
    "opened": ":rotating_light: New case",
    "escalated": ":arrow_double_up: Escalated",
    "resolved": ":white_check_mark: Resolved",
}


def slack_message(payload: dict[str, Any]) -> dict[str, Any]:
    event = payload.get("event", "opened")
    severity = f" ({payload['severity']})" if payload.get("severity") else ""
    text = (
        f"{SLACK_EVENTS.get(event, event)}{severity}: *{payload['customerName']}* "
        f"({payload['customerId']}) — score {payload['score']}, {payload['riskLevel']}, "
        f"{payload['trend']}.\nPlaybook `{payload['playbook']}`: {payload['reason']}"
    )
    return {"text": text}


def _slack(action: SlackAction, payload: dict[str, Any]) -> None:
    url = _secret(action.url_env)
    _post(url, orjson.dumps(slack_message(payload)), {"Content-Type": "application/json"})


def _redis(action: RedisAction, payload: dict[str, Any], redis_url: str | None) -> None:
    if not redis_url:
        raise NotConfigured("HEALTHSCORE_REDIS_URL is not set: Redis actions are skipped")
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


def _email(action: EmailAction, delivery: jm.Delivery, smtp: SmtpServer | None) -> None:
    if smtp is None:
        raise NotConfigured("HEALTHSCORE_SMTP_HOST is not set: email actions are skipped")
    message = compose(
        action, delivery.payload, sender=smtp.sender, idempotency_key=delivery.idempotency_key
    )
    try:
        send_email(smtp, message)
    except MailError as error:
        raise DeliveryError(str(error)) from error
