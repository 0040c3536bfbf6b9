"""Playbook emails: a case's message as plain text, sent through the configured SMTP server.

Composed with the standard library's ``email`` package and sent with ``smtplib`` (both made
for exactly this; STARTTLS or implicit TLS with certificate checks, login when configured).
Like every delivery, an email is sent once per case event: the outbox claims it first, and
its ``X-Healthscore-Idempotency-Key`` header lets a mail rule drop a duplicate.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from healthscore.playbooks.rules import EmailAction
from healthscore.settings import Settings

TIMEOUT = 10.0
EVENTS = {"opened": "New case", "escalated": "Escalated", "resolved": "Resolved"}


class MailError(RuntimeError):
    """The server refused or could not be reached; the delivery is retried."""


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    security: str
    username: str | None
    password: str | None
    sender: str

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpServer | None:
        if not settings.smtp_host:
            return None
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=settings.smtp_password,
            sender=settings.smtp_from,
        )


def compose(
    action: EmailAction, payload: dict[str, Any], *, sender: str, idempotency_key: str
) -> EmailMessage:
    """The email for one case event: what happened, to which account, and why."""
    event = str(payload.get("event", "opened"))
    severity = f" ({payload['severity']})" if payload.get("severity") else ""
    message = EmailMessage()
    message["Subject"] = (
        f"{action.subject_prefix} {EVENTS.get(event, event)}{severity}: "
        f"{payload['customerName']} — score {payload['score']}, {payload['riskLevel']}"
    ).strip()
    message["From"] = sender
    message["To"] = ", ".join(action.to)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="healthscore")
    message["X-Healthscore-Idempotency-Key"] = idempotency_key
    lines = [
        f"{EVENTS.get(event, event)}{severity} for {payload['customerName']} "
        f"({payload['customerId']}).",
        "",
        f"Score {payload['score']}, tier {payload['riskLevel']}, trend {payload['trend']}.",
        f"Playbook {payload['playbook']}: {payload['reason']}",
        f"Case {payload.get('caseId')} is {payload.get('state')}.",
    ]
    if payload.get("resolution"):
        lines.append(f"Resolution: {payload['resolution']}.")
    message.set_content("\n".join(lines) + "\n")
    return message


def send_email(server: SmtpServer, message: EmailMessage) -> None:
    """Deliver ``message``; ``MailError`` on any failure worth retrying."""
    context = ssl.create_default_context()
    try:
        client: smtplib.SMTP
        if server.security == "tls":
            client = smtplib.SMTP_SSL(server.host, server.port, timeout=TIMEOUT, context=context)
        else:
            client = smtplib.SMTP(server.host, server.port, timeout=TIMEOUT)
        with client:
            if server.security == "starttls":
                client.starttls(context=context)
            if server.username:
                client.login(server.username, server.password or "")
            client.send_message(message)
    except (OSError, smtplib.SMTPException) as error:
        raise MailError(f"SMTP {server.host}:{server.port}: {error}") from error
