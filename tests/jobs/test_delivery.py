"""Playbook deliveries through the real queue: signed webhooks, retries, Redis, several workers.

Receivers are real HTTP servers on 127.0.0.1; the queue is Huey on the real Redis of
``HEALTHSCORE_TEST_REDIS_URL`` (a private queue name per test) or the embedded SQLite one.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import redis
from sqlalchemy import select

from healthscore.ingest.bulk import insert_rows
from healthscore.jobs.queue import Jobs
from healthscore.jobs.worker import start_embedded
from healthscore.playbooks import outbox
from healthscore.playbooks.delivery import verify
from healthscore.playbooks.rules import PlaybookSet
from healthscore.playbooks.service import run_playbooks
from healthscore.scoring.scorecard import load_scorecard
from healthscore.scoring.service import score_accounts
from healthscore.settings import Settings
from healthscore.storage import models as m
from healthscore.storage.database import transaction

SECRET = "whsec_outbound_test"
NOW = datetime.now(UTC)


class Receiver:
    """An HTTP endpoint that fails its first ``failures`` requests, then records the rest."""

    def __init__(self, failures: int = 0, delay: float = 0.0) -> None:
        self.failures = failures
        self.delay = delay
        self.attempts: list[dict[str, str]] = []
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.attempts.append(dict(self.headers))
                time.sleep(receiver.delay)
                if len(receiver.attempts) <= receiver.failures:
                    self.send_response(503)
                    self.end_headers()
                    return
                receiver.received.append((dict(self.headers), body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def receiver_factory() -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(**kwargs: float) -> Receiver:
        made.append(Receiver(**kwargs))  # type: ignore[arg-type]
        return made[-1]

    yield make
    for r in made:
        r.close()


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def critical_account(sessions) -> None:
    """An account with no activity at all: the default scorecard puts it in `critical`."""
    with transaction(sessions) as session:
        insert_rows(
            session,
            m.Customer,
            [
                {
                    "id": "gone_quiet",
                    "name": "Gone Quiet Inc",
                    "segment": "enterprise",
                    "created_at": NOW - timedelta(days=300),
                    "traits": {},
                }
            ],
        )
        insert_rows(
            session,
            m.Payment,
            [
                {
                    "customer_id": "gone_quiet",
                    "ts": NOW - timedelta(days=d),
                    "amount": 9,
                    "status": "failed",
                }
                for d in (3, 10, 20)
            ],
        )


def rules_for(url: str, *extra: dict) -> PlaybookSet:
    return PlaybookSet.model_validate(
        {
            "version": 1,
            "playbooks": [
                {
                    "name": "critical_alert",
                    "when": [{"kind": "tier", "tiers": ["critical"]}],
                    "actions": [
                        {"kind": "outreach", "owner": "csm"},
                        {"kind": "webhook", "url": url, "secret_env": "HEALTHSCORE_HOOK_SECRET"},
                        *extra,
                    ],
                }
            ],
        }
    )


def fire(sessions, rules: PlaybookSet) -> list[int]:
    with transaction(sessions) as session:
        run = score_accounts(session, load_scorecard("default"), as_of=NOW)
        fired = run_playbooks(session, rules, run.scores, as_of=NOW)
    assert [s.tier.value for s in run.scores] == ["critical"]
    return fired.delivery_ids


def jobs_for(settings: Settings, sessions, rules: PlaybookSet) -> Jobs:
    return Jobs(settings, sessions=sessions, scorecard=load_scorecard("default"), playbooks=rules)


@pytest.fixture
def queue_settings(db_url, redis_url, monkeypatch) -> Settings:
    monkeypatch.setenv("HEALTHSCORE_HOOK_SECRET", SECRET)
    return Settings(
        database_url=db_url,
        redis_url=redis_url,
        queue_name=f"test-{uuid.uuid4().hex[:8]}",
        delivery_claim_seconds=2,
        allow_private_webhook_targets=True,  # the receivers listen on 127.0.0.1
    )


def test_a_receiver_that_fails_twice_gets_one_signed_event_with_retries_recorded(
    sessions, queue_settings, receiver_factory
):
    receiver = receiver_factory(failures=2)
    critical_account(sessions)
    rules = rules_for(receiver.url)
    ids = fire(sessions, rules)
    assert len(ids) == 1
    jobs = jobs_for(queue_settings, sessions, rules)
    consumer = start_embedded(jobs)
    try:
        jobs.enqueue_deliveries(ids)
        wait_for(lambda: len(receiver.received) == 1)
        time.sleep(0.5)
    finally:
        consumer.stop(graceful=True)
    headers, body = receiver.received[0]
    assert verify(SECRET, headers["X-Healthscore-Signature"], body)
    assert not verify("wrong secret", headers["X-Healthscore-Signature"], body)
    payload = json.loads(body)
    assert payload["type"] == "health_alert" and payload["customerId"] == "gone_quiet"
    assert payload["riskLevel"] == "critical" and payload["playbook"] == "critical_alert"
    keys = {a["X-Healthscore-Idempotency-Key"] for a in receiver.attempts}
    assert len(receiver.attempts) == 3 and len(keys) == 1
    with sessions() as session:
        delivery = session.scalars(select(m.Delivery)).one()
        assert (delivery.status, delivery.attempts) == ("delivered", 3)
        assert "HTTP 503" in delivery.last_error
        assert len(session.scalars(select(m.OutreachEntry)).all()) == 1


def test_several_workers_on_one_redis_send_each_delivery_once(
    sessions, queue_settings, receiver_factory
):
    receiver = receiver_factory(delay=0.2)
    critical_account(sessions)
    rules = rules_for(receiver.url)
    ids = fire(sessions, rules)
    workers = [jobs_for(queue_settings, sessions, rules) for _ in range(3)]
    consumers = [start_embedded(w) for w in workers]
    try:
        for w in workers:  # the same delivery enqueued by everyone, several times
            w.enqueue_deliveries(ids * 3)
        wait_for(lambda: len(receiver.received) >= 1)
        time.sleep(3)
    finally:
        for c in consumers:
            c.stop(graceful=True)
    assert len(receiver.received) == 1


def test_a_worker_that_dies_mid_delivery_loses_nothing(sessions, queue_settings, receiver_factory):
    receiver = receiver_factory()
    critical_account(sessions)
    rules = rules_for(receiver.url)
    [delivery_id] = fire(sessions, rules)
    with sessions() as session:
        # A worker claims the delivery, then dies before sending or recording anything.
        assert outbox.claim(session, delivery_id, claim_seconds=1) is not None
        assert outbox.claim(session, delivery_id, claim_seconds=1) is None, "claimed once"
        assert outbox.due(session) == []
    time.sleep(1.2)
    jobs = jobs_for(queue_settings, sessions, rules)
    with sessions() as session:
        assert outbox.due(session) == [delivery_id]
    jobs._sweep()  # what the periodic task does every minute
    consumer = start_embedded(jobs)
    try:
        wait_for(lambda: len(receiver.received) == 1)
    finally:
        consumer.stop(graceful=True)
    with sessions() as session:
        assert session.get(m.Delivery, delivery_id).status == "delivered"


def test_redis_actions_push_seed_000s_queue_entry_and_publish(
    sessions, queue_settings, receiver_factory
):
    receiver = receiver_factory()
    queue = f"notification:queue:{uuid.uuid4().hex[:6]}"
    channel = f"healthscore:alerts:{uuid.uuid4().hex[:6]}"
    critical_account(sessions)
    rules = rules_for(receiver.url, {"kind": "redis", "queue": queue, "channel": channel})
    ids = fire(sessions, rules)
    client = redis.Redis.from_url(queue_settings.redis_url)
    pubsub = client.pubsub()
    pubsub.subscribe(channel)
    pubsub.get_message(timeout=1)  # the subscription confirmation
    jobs = jobs_for(queue_settings, sessions, rules)
    consumer = start_embedded(jobs)
    try:
        jobs.enqueue_deliveries(ids)
        wait_for(lambda: client.llen(queue) == 1)
        queued = json.loads(client.lindex(queue, 0) or b"{}")
        message = pubsub.get_message(timeout=5)
    finally:
        consumer.stop(graceful=True)
        client.delete(queue)
        pubsub.close()
    assert {k: queued[k] for k in ("type", "customerId", "riskLevel", "trend")} == {
        "type": "health_alert",
        "customerId": "gone_quiet",
        "riskLevel": "critical",
        "trend": "stable",
    }
    assert isinstance(queued["score"], int)
    assert message is not None and message["type"] == "message"
    assert json.loads(message["data"]) == queued
    assert receiver.received, "the webhook action of the same playbook was delivered too"


def test_webhooks_to_private_addresses_are_refused_unless_allowed(
    sessions, queue_settings, receiver_factory
):
    receiver = receiver_factory()
    critical_account(sessions)
    rules = rules_for(receiver.url)
    ids = fire(sessions, rules)
    guarded = queue_settings.model_copy(update={"allow_private_webhook_targets": False})
    jobs = jobs_for(guarded, sessions, rules)
    assert "not a public address" in jobs._deliver(ids[0])
    assert receiver.attempts == []
    with sessions() as session:
        delivery = session.get(m.Delivery, ids[0])
        assert delivery.status == "pending" and "127.0.0.1" in delivery.last_error
