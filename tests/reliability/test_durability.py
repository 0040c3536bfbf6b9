"""Nothing acknowledged is lost, nothing is stored twice, while the server is SIGKILLed.

A client streams Segment batches (each message with its own messageId) and native
``trackEngagement`` calls (each with an Idempotency-Key) at a live ``healthscore serve``
process; another thread SIGKILLs the server at random moments and restarts it. The client
retries anything not acknowledged, with the same ids, as real SDKs do. At the end every
event is in the database exactly once — on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from healthscore.auth.keys import Scope, create_key
from healthscore.storage import models as m
from healthscore.storage.database import transaction
from tests.fixtures.server import SHARED_TLS, free_port

pytestmark = pytest.mark.slow  # processes of its own: `make test` runs it in its own step

HEALTHSCORE = str(Path(sys.executable).parent / "healthscore")
BATCHES = 40
PER_BATCH = 25
KILLS = 3


class Server:
    def __init__(self, env: dict[str, str], port: int) -> None:
        self.env = env
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> None:
        self.process = subprocess.Popen(
            [HEALTHSCORE, "serve", "--port", str(self.port)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                url = f"http://127.0.0.1:{self.port}/healthz"
                if httpx.get(url, timeout=1, verify=SHARED_TLS).is_success:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self.kills += 1

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)


def send_until_acknowledged(call) -> int:
    attempts = 0
    while True:
        attempts += 1
        try:
            response = call()
            if response.status_code in (200, 201):
                return attempts
            if response.status_code == 409:
                # Killed between claiming its Idempotency-Key and answering: the claim
                # lapses (api.idempotency), as Retry-After says; then the retry runs.
                assert response.json()["error"]["code"] == "idempotency_key_in_use"
                time.sleep(float(response.headers["Retry-After"]))
                continue
            assert response.status_code >= 500, response.text  # a 4xx would be our bug
        except httpx.TransportError:
            pass
        time.sleep(0.05)


def test_sigkilled_server_loses_and_duplicates_nothing(db_url, sessions, tmp_path):
    now = datetime.now(UTC)
    with transaction(sessions) as session:
        key = create_key(session, scope=Scope.ingest).secret
        session.add(
            m.Customer(id="acme", name="Acme", created_at=now - timedelta(days=9), traits={})
        )
    env = {
        **os.environ,
        "HEALTHSCORE_DATABASE_URL": db_url,
        "HEALTHSCORE_QUEUE_PATH": str(tmp_path / "queue.db"),
        "HEALTHSCORE_LOG_LEVEL": "WARNING",
        # A key claimed by a request the kill interrupted is free again after this (30 s by
        # default): the retry's wait, not the guarantee, is what it shortens.
        "HEALTHSCORE_IDEMPOTENCY_CLAIM_SECONDS": "3",
    }
    env.pop("HEALTHSCORE_REDIS_URL", None)
    server = Server(env, free_port())
    server.start()
    done = threading.Event()

    def killer() -> None:
        rng = random.Random(7)
        for _ in range(KILLS):
            if done.wait(rng.uniform(0.8, 2.0)):
                return
            server.kill()
            server.start()

    chaos = threading.Thread(target=killer)
    chaos.start()
    sent: list[int] = []
    retried = 0
    base = f"http://127.0.0.1:{server.port}"
    try:
        with (
            httpx.Client(verify=SHARED_TLS, base_url=base, auth=(key, ""), timeout=5) as segment,
            httpx.Client(
                verify=SHARED_TLS, base_url=base, headers={"X-API-Key": key}, timeout=5
            ) as native,
        ):
            b = 0
            # Keep the load on until every kill has happened (and at least BATCHES batches).
            while b < BATCHES or chaos.is_alive():
                seqs = list(range(b * (PER_BATCH + 1), b * (PER_BATCH + 1) + PER_BATCH))
                batch = {
                    "batch": [
                        {
                            "type": "track",
                            "messageId": f"msg-{seq}",
                            "userId": "u1",
                            "event": "Report Exported",
                            "properties": {"seq": seq},
                            "context": {"groupId": "acme"},
                            "timestamp": (now - timedelta(seconds=seq)).isoformat(),
                        }
                        for seq in seqs
                    ]
                }
                retried += (
                    send_until_acknowledged(
                        lambda batch=batch: segment.post("/v1/batch", json=batch)  # type: ignore[misc]
                    )
                    - 1
                )
                native_seq = seqs[-1] + 1
                body = {
                    "customerId": "acme",
                    "eventType": "report_exported",
                    "metadata": {"seq": native_seq},
                }
                retried += (
                    send_until_acknowledged(
                        lambda body=body, seq=native_seq: native.post(  # type: ignore[misc]
                            "/api/v1/engagement-events",
                            json=body,
                            headers={"Idempotency-Key": f"native-{seq}"},
                        )
                    )
                    - 1
                )
                sent += [*seqs, native_seq]
                b += 1
    finally:
        done.set()
        chaos.join()
        server.stop()

    assert server.kills == KILLS, "the server was killed while the client was sending"
    with sessions() as session:
        stored = Counter(
            props["seq"]
            for props in session.scalars(
                select(m.EngagementEvent.properties).where(m.EngagementEvent.customer_id == "acme")
            )
        )
    assert len(sent) >= BATCHES * (PER_BATCH + 1)
    assert set(stored) == set(sent), "every acknowledged event is stored"
    assert max(stored.values()) == 1, "and none twice"
    print(
        f"durability: {len(sent)} events acknowledged and stored once, "
        f"{KILLS} SIGKILLs, {retried} retried requests"
    )
