"""Real `healthscore worker` processes: killed mid-delivery, nothing is lost or doubled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from healthscore.jobs.queue import Jobs
from healthscore.playbooks.rules import PlaybookSet
from healthscore.scoring.scorecard_loading import load_scorecard
from healthscore.storage import job_models as jm
from tests.jobs.support import (
    SECRET,
    critical_account,
    fire,
    rules_for,
    wait_for,
)

pytestmark = pytest.mark.slow  # processes of its own: `make test` runs it in its own step

HEALTHSCORE = str(Path(sys.executable).parent / "healthscore")


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [HEALTHSCORE, "worker", "--threads", "1", "--no-periodic"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_a_worker_killed_mid_delivery_loses_nothing_and_sends_once(
    db_url, sessions, redis_url, receiver_factory
):
    # The receiver hangs on the first request: the worker is killed while sending it.
    receiver = receiver_factory(delay=0.0)
    hang = receiver_factory(delay=30.0)
    critical_account(sessions)
    rules = rules_for(hang.url)
    [delivery_id] = fire(sessions, rules)
    env = {
        **os.environ,
        "HEALTHSCORE_DATABASE_URL": db_url,
        "HEALTHSCORE_REDIS_URL": redis_url,
        "HEALTHSCORE_QUEUE_NAME": f"test-{uuid.uuid4().hex[:8]}",
        "HEALTHSCORE_DELIVERY_CLAIM_SECONDS": "2",
        "HEALTHSCORE_ALLOW_PRIVATE_WEBHOOK_TARGETS": "true",
        "HEALTHSCORE_HOOK_SECRET": SECRET,
    }
    from healthscore.settings import Settings

    settings = Settings(
        database_url=db_url,
        redis_url=redis_url,
        queue_name=env["HEALTHSCORE_QUEUE_NAME"],
        delivery_claim_seconds=2,
    )
    jobs = Jobs(settings, sessions=sessions, scorecard=load_scorecard("default"), playbooks=rules)
    first = start_worker(env)
    try:
        jobs.enqueue_deliveries([delivery_id])
        wait_for(lambda: len(hang.attempts) == 1)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    with sessions() as session:
        claimed = session.get(jm.Delivery, delivery_id)
        assert claimed.status == "sending" and claimed.attempts == 1

    # The endpoint is fixed (points at a healthy receiver); a new worker takes over once
    # the dead worker's claim expires, as the periodic sweep would arrange.
    with sessions() as session, session.begin():
        row = session.get(jm.Delivery, delivery_id)
        row.action = {**row.action, "url": receiver.url}
    second = start_worker(env)
    try:
        time.sleep(2.2)
        jobs._sweep()
        wait_for(lambda: len(receiver.received) == 1)
        time.sleep(1)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(20)
    assert len(receiver.received) == 1
    with sessions() as session:
        done = session.get(jm.Delivery, delivery_id)
        assert (done.status, done.attempts) == ("delivered", 2)


def test_slack_messages_go_to_the_incoming_webhook(
    sessions, queue_settings, receiver_factory, monkeypatch
):
    import json

    slack = receiver_factory()
    monkeypatch.setenv("HEALTHSCORE_SLACK_URL", slack.url)
    critical_account(sessions)
    rules = rules_for(slack.url, {"kind": "slack", "url_env": "HEALTHSCORE_SLACK_URL"})
    only_slack = PlaybookSet.model_validate(
        {
            "version": 1,
            "playbooks": [
                {
                    **rules.playbooks[0].model_dump(by_alias=True),
                    "actions": [{"kind": "slack", "url_env": "HEALTHSCORE_SLACK_URL"}],
                }
            ],
        }
    )
    ids = fire(sessions, only_slack)
    jobs = Jobs(
        queue_settings, sessions=sessions, scorecard=load_scorecard("default"), playbooks=only_slack
    )
    assert jobs._deliver(ids[0]) == "delivered"
    [(_headers, body)] = slack.received
    text = json.loads(body)["text"]
    assert "Gone Quiet Inc" in text and "critical" in text and "critical_alert" in text
