"""Playbook emails through the real queue to a real SMTP server on 127.0.0.1 (aiosmtpd)."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml
from aiosmtpd.controller import Controller
from sqlalchemy import select

from healthscore.jobs.worker import start_embedded
from healthscore.playbooks import delivery
from healthscore.playbooks.mail import SmtpServer
from healthscore.playbooks.rules import PlaybookError, load_playbooks
from healthscore.storage import job_models as jm
from tests.fixtures.server import free_port
from tests.jobs.support import critical_account, fire, jobs_for, rules_for, wait_for

EMAIL = {"kind": "email", "to": ["csm@example.com", "lead@example.com"]}


@dataclass
class Inbox:
    """What the SMTP server accepted: envelope recipients and the parsed message."""

    port: int
    received: list[tuple[list[str], email.message.EmailMessage]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.received.append((list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        return "250 OK"


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    box = Inbox(port=free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    yield box
    controller.stop()


def _email_deliveries(sessions) -> list[jm.Delivery]:
    with sessions() as session:
        return [d for d in session.scalars(select(jm.Delivery)) if d.action["kind"] == "email"]


def test_a_case_opening_sends_one_email_to_every_address(
    sessions, queue_settings, receiver_factory, inbox
):
    settings = queue_settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": inbox.port, "smtp_security": "none"}
    )
    critical_account(sessions)
    rules = rules_for(receiver_factory().url, EMAIL)
    ids = fire(sessions, rules)
    jobs = jobs_for(settings, sessions, rules)
    consumer = start_embedded(jobs)
    try:
        jobs.enqueue_deliveries(ids * 2)  # enqueued twice, sent once
        wait_for(lambda: len(inbox.received) >= 1)
        wait_for(lambda: not jobs.huey.pending_count())
    finally:
        consumer.stop(graceful=True)
    [(recipients, message)] = inbox.received
    [sent] = _email_deliveries(sessions)
    assert recipients == ["csm@example.com", "lead@example.com"]
    assert message["From"] == settings.smtp_from
    assert message["Subject"].startswith("[healthscore] New case (normal): Gone Quiet Inc — score ")
    assert message["Subject"].endswith(", critical")
    assert message["X-Healthscore-Idempotency-Key"] == sent.idempotency_key
    body = message.get_content()
    assert "New case (normal) for Gone Quiet Inc (gone_quiet)." in body
    assert "Playbook critical_alert: tier critical" in body
    assert (sent.status, sent.attempts) == ("delivered", 1)


def test_an_unreachable_server_is_a_failure_to_retry(sessions, queue_settings, receiver_factory):
    critical_account(sessions)
    fire(sessions, rules_for(receiver_factory().url, EMAIL))
    [pending] = _email_deliveries(sessions)
    closed = SmtpServer("127.0.0.1", free_port(), "none", None, None, "hs@example.com")
    with pytest.raises(delivery.DeliveryError, match=r"SMTP 127\.0\.0\.1"):
        delivery.send(pending, redis_url=None, smtp=closed)


def test_without_an_smtp_server_emails_are_skipped_not_retried(
    sessions, queue_settings, receiver_factory
):
    critical_account(sessions)
    fire(sessions, rules_for(receiver_factory().url, EMAIL))
    [pending] = _email_deliveries(sessions)
    with pytest.raises(delivery.NotConfigured, match="HEALTHSCORE_SMTP_HOST"):
        delivery.send(pending, redis_url=None, smtp=None)


@pytest.mark.parametrize("to", [[], ["not an address"], ["a@b.c, d@e.f"]])
def test_an_email_action_needs_real_addresses(to, tmp_path):
    playbook = {
        "name": "p",
        "when": [{"kind": "score_below", "score": 40}],
        "actions": [{"kind": "email", "to": to}],
    }
    path = tmp_path / "playbooks.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "playbooks": [playbook]}))
    with pytest.raises(PlaybookError, match=r"playbooks\.0\.actions\.0\.email\.to"):
        load_playbooks(path)
