"""Health-change webhooks on the rescoring path: every tier change and every score move of
at least a subscription's ``min_score_change`` becomes one signed event per subscriber."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta

from sqlalchemy import select

from healthscore.playbooks import delivery
from healthscore.playbooks.delivery import verify
from healthscore.rescoring.service import Rescoring
from healthscore.storage import job_models as jm
from healthscore.storage.database import transaction
from healthscore.subscriptions import service
from tests.jobs.support import Receiver
from tests.playbooks.test_service import LAST_LOGIN_DAY, START, enterprise_that_goes_silent


def _subscribe(sessions, events: list[str], min_score_change: int) -> service.Created:
    with transaction(sessions) as session:
        created = service.subscribe(
            session,
            url="http://127.0.0.1:9/hook",
            events=events,
            min_score_change=min_score_change,
            description="",
        )
        session.expunge(created.subscription)
    return created


def _events(sessions, subscription_id: int) -> list[tuple[str, int, int, str, str]]:
    with sessions() as session:
        rows = session.scalars(
            select(jm.Delivery).where(jm.Delivery.kind == "subscription").order_by(jm.Delivery.id)
        )
        return [
            (
                d.payload["type"],
                d.payload["previousScore"],
                d.payload["score"],
                d.payload["previousRiskLevel"],
                d.payload["riskLevel"],
            )
            for d in rows
            if d.action["subscription_id"] == subscription_id
        ]


def test_each_change_is_one_event_per_subscriber_and_a_first_score_is_none(
    sessions, rescoring: Rescoring, recorder
):
    enterprise_that_goes_silent(sessions())
    every = _subscribe(sessions, ["score.changed", "tier.changed"], min_score_change=1)
    tiers = _subscribe(sessions, ["tier.changed"], min_score_change=5)
    seen: list[tuple[int, str]] = []
    for day in range(LAST_LOGIN_DAY - 2, LAST_LOGIN_DAY + 30):
        rescored = rescoring.rescore(kind="test", as_of=START + timedelta(days=day))
        [score] = rescored.run.scores
        seen.append((score.score, score.tier.value))
    expected_every, expected_tiers = [], []
    for (before, before_tier), (after, after_tier) in itertools.pairwise(seen):
        if after != before:
            expected_every.append(("score.changed", before, after, before_tier, after_tier))
        if after_tier != before_tier:
            change = ("tier.changed", before, after, before_tier, after_tier)
            expected_every.append(change)
            expected_tiers.append(change)
    assert {t for _, t in seen} >= {"healthy", "critical"}, "the silent account falls"
    assert len(expected_tiers) >= 2 and len(expected_every) > len(expected_tiers)
    assert _events(sessions, every.subscription.id) == expected_every
    assert _events(sessions, tiers.subscription.id) == expected_tiers
    # Every event was handed to the queue by the rescore that made it.
    with sessions() as session:
        ids = set(session.scalars(select(jm.Delivery.id).where(jm.Delivery.kind == "subscription")))
    assert ids <= {i for batch in recorder.deliveries for i in batch}


def test_without_a_subscription_a_rescore_queues_no_change_event(sessions, rescoring: Rescoring):
    enterprise_that_goes_silent(sessions())
    for day in (LAST_LOGIN_DAY, LAST_LOGIN_DAY + 20):
        rescoring.rescore(kind="test", as_of=START + timedelta(days=day))
    with sessions() as session:
        assert not session.scalars(
            select(jm.Delivery).where(jm.Delivery.kind == "subscription")
        ).all()


def test_an_event_is_signed_with_its_subscriptions_secret(sessions, rescoring: Rescoring):
    enterprise_that_goes_silent(sessions())
    created = _subscribe(sessions, ["tier.changed"], min_score_change=5)
    for day in range(LAST_LOGIN_DAY, LAST_LOGIN_DAY + 30, 3):
        rescoring.rescore(kind="test", as_of=START + timedelta(days=day))
    receiver = Receiver()
    try:
        with sessions() as session:
            first = session.scalars(
                select(jm.Delivery).where(jm.Delivery.kind == "subscription").limit(1)
            ).one()
            first.action = {**first.action, "url": receiver.url}
            delivery.send(first, redis_url=None, allow_private=True)
        [(headers, body)] = receiver.received
    finally:
        receiver.close()
    assert verify(created.secret, headers["X-Healthscore-Signature"], body)
    assert not verify("whsec_other", headers["X-Healthscore-Signature"], body)
    payload = json.loads(body)
    assert payload["type"] == "tier.changed" and payload["customerId"] == "ent"
    assert payload["customerName"] == "Big Corp"
    assert headers["X-Healthscore-Idempotency-Key"] == payload["idempotencyKey"]
