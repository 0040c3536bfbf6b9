"""Seed 000's story end to end: an enterprise account goes silent; after 7 days CS gets
one outreach entry and one correctly signed webhook — not three weeks later, not daily."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from healthscore.jobs.worker import start_embedded
from healthscore.playbooks.delivery import verify
from healthscore.playbooks.rules import PlaybookSet
from healthscore.playbooks.service import run_playbooks
from healthscore.scoring.scorecard_loading import load_scorecard
from healthscore.scoring.service import score_accounts
from healthscore.storage import case_models
from tests.jobs.support import SECRET, jobs_for, wait_for
from tests.playbooks.test_service import LAST_LOGIN_DAY, START, enterprise_that_goes_silent


def test_silence_is_caught_after_7_days_with_one_entry_and_one_signed_webhook(
    session, sessions, queue_settings, receiver_factory
):
    receiver = receiver_factory()
    enterprise_that_goes_silent(session)
    rules = PlaybookSet.model_validate(
        {
            "version": 1,
            "playbooks": [
                {
                    "name": "enterprise_no_login",
                    "when": [{"kind": "no_login", "days": 7, "segments": ["enterprise"]}],
                    "cooldown_days": 14,
                    # Seed 000's playbook knows no escalation; as the silence goes on the
                    # tier worsens, which would send "escalated" messages for the same case
                    # (tests/playbooks/test_notifications.py covers those).
                    "escalate": None,
                    "actions": [
                        {"kind": "outreach", "owner": "executive_sponsor"},
                        {
                            "kind": "webhook",
                            "url": receiver.url,
                            "secret_env": "HEALTHSCORE_HOOK_SECRET",
                        },
                    ],
                }
            ],
        }
    )
    jobs = jobs_for(queue_settings, sessions, rules)
    consumer = start_embedded(jobs)
    card = load_scorecard("default")
    try:
        for day in range(LAST_LOGIN_DAY - 5, LAST_LOGIN_DAY + 22):  # three weeks of silence
            as_of = START + timedelta(days=day)
            run = score_accounts(session, card, as_of=as_of)
            fired = run_playbooks(session, rules, run.scores, as_of=as_of)
            session.commit()
            jobs.enqueue_deliveries(fired.delivery_ids)
        wait_for(lambda: len(receiver.received) >= 1)
        wait_for(lambda: not jobs.huey.pending_count())
    finally:
        consumer.stop(graceful=True)

    entries = session.scalars(select(case_models.OutreachEntry)).all()
    assert [(e.playbook, e.created_at) for e in entries] == [
        ("enterprise_no_login", START + timedelta(days=LAST_LOGIN_DAY + 8))
    ]
    [(headers, body)] = receiver.received
    assert verify(SECRET, headers["X-Healthscore-Signature"], body)
    payload = json.loads(body)
    assert payload["customerId"] == "ent" and payload["playbook"] == "enterprise_no_login"
    assert payload["reason"].startswith("no login for 7 days")
    assert headers["X-Healthscore-Idempotency-Key"] == f"{entries[0].idempotency_key}:1"
