"""Playbook deliveries through the real queue: signed webhooks, retries, Redis, several workers.

Receivers are real HTTP servers on 127.0.0.1; the queue is Huey on the real Redis of
``HEALTHSCORE_TEST_REDIS_URL`` (a private queue name per test).
"""

from __future__ import annotations

import json
import time
import uuid

import redis
from sqlalchemy import select

from healthscore.jobs.worker import start_embedded
from healthscore.playbooks import outbox
from healthscore.playbooks.delivery import verify
from healthscore.storage import case_models
from healthscore.storage import job_models as jm
from tests.jobs.support import SECRET, critical_account, fire, jobs_for, rules_for, wait_for


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
        delivery = session.scalars(select(jm.Delivery)).one()
        assert (delivery.status, delivery.attempts) == ("delivered", 3)
        assert "HTTP 503" in delivery.last_error
        assert len(session.scalars(select(case_models.OutreachEntry)).all()) == 1


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
        # Every copy taken off the shared queue; the graceful stop waits for those running.
        wait_for(lambda: not workers[0].huey.pending_count())
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
        assert session.get(jm.Delivery, delivery_id).status == "delivered"


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
        delivery = session.get(jm.Delivery, ids[0])
        assert delivery.status == "pending" and "127.0.0.1" in delivery.last_error


def test_redis_actions_are_skipped_not_retried_without_redis(
    sessions, queue_settings, receiver_factory
):
    receiver = receiver_factory()
    critical_account(sessions)
    rules = rules_for(receiver.url, {"kind": "redis"})
    ids = fire(sessions, rules)
    embedded = queue_settings.model_copy(update={"redis_url": None})
    jobs = jobs_for(embedded, sessions, rules)
    with sessions() as session:
        redis_delivery = session.scalars(
            select(jm.Delivery.id).where(jm.Delivery.kind == "redis")
        ).one()
    assert redis_delivery in ids
    assert jobs._deliver(redis_delivery).startswith("skipped")
    with sessions() as session:
        row = session.get(jm.Delivery, redis_delivery)
        assert row.status == "skipped" and "HEALTHSCORE_REDIS_URL" in row.last_error
        assert outbox.due(session) == [i for i in ids if i != redis_delivery]
