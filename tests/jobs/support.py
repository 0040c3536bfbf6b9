"""Shared pieces of the job tests: a real HTTP receiver, a critical account, rules."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from healthscore.ingest.bulk import insert_rows
from healthscore.jobs.queue import Jobs
from healthscore.playbooks.rules import PlaybookSet
from healthscore.playbooks.service import run_playbooks
from healthscore.scoring.scorecard_loading import load_scorecard
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
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self) -> None:
        self.server.shutdown()


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def critical_account(sessions, *, now: datetime = NOW) -> str:
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
                    "created_at": now - timedelta(days=300),
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
                    "ts": now - timedelta(days=d),
                    "amount": 9,
                    "status": "failed",
                }
                for d in (3, 10, 20)
            ],
        )
    return "gone_quiet"


def rules_for(url: str, *extra: dict) -> PlaybookSet:
    return PlaybookSet.model_validate(
        {
            "version": 1,
            "playbooks": [
                {
                    "name": "critical_alert",
                    "when": [{"kind": "tier", "tiers": ["critical"]}],
                    # The account has no activity at all, so its score rests on little
                    # data (confidence ~0.3): this playbook judges it anyway.
                    "min_confidence": 0,
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
