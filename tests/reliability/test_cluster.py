"""Production shape on one machine: 2 API processes and 2 workers on PostgreSQL + Redis.

Clients ingest through both APIs at once (some batches delivered to both, as a retrying
client behind a load balancer would); then a sharded full rescore runs across both
workers. Every event must be stored once, every account scored once by the run, and
every playbook fired once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from healthscore.auth.keys import Scope, create_key
from healthscore.storage import case_models
from healthscore.storage import job_models as jm
from healthscore.storage import models as m
from healthscore.storage.database import make_engine, make_sessionmaker, transaction
from tests.fixtures.server import SHARED_TLS, free_port

pytestmark = pytest.mark.slow  # processes of its own: `make test` runs it in its own step

BIN = Path(sys.executable).parent
ACCOUNTS = 120
BATCHES_PER_CLIENT = 15


def wait_ready(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1, verify=SHARED_TLS)
            if ready.is_success:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server on {port} did not become ready")


def test_two_apis_and_two_workers_count_score_and_alert_exactly_once(postgres_url, redis_url):
    engine = make_engine(postgres_url)
    sessions = make_sessionmaker(engine)
    now = datetime.now(UTC)
    with transaction(sessions) as session:
        key = create_key(session, scope=Scope.admin).secret
        for i in range(ACCOUNTS):
            session.add(
                m.Customer(
                    id=f"acct-{i:03d}",
                    name=f"Account {i}",
                    segment="enterprise" if i % 3 == 0 else "smb",
                    created_at=now - timedelta(days=120),
                    traits={},
                )
            )
    env = {
        **os.environ,
        "HEALTHSCORE_DATABASE_URL": postgres_url,
        "HEALTHSCORE_REDIS_URL": redis_url,
        "HEALTHSCORE_QUEUE_NAME": f"cluster-{uuid.uuid4().hex[:8]}",
        "HEALTHSCORE_SESSION_SECRET": "cluster-test",
        "HEALTHSCORE_LOG_LEVEL": "WARNING",
        "HEALTHSCORE_ALLOW_PRIVATE_WEBHOOK_TARGETS": "true",
    }
    ports = [free_port(), free_port()]
    processes = [
        subprocess.Popen([BIN / "healthscore", "serve", "--port", str(p)], env=env) for p in ports
    ] + [
        subprocess.Popen([BIN / "healthscore", "worker", "--threads", "2"], env=env)
        for _ in range(2)
    ]
    sent: set[str] = set()
    lock = threading.Lock()
    try:
        for p in ports:
            wait_ready(p)

        def client(number: int) -> None:
            apis = [
                httpx.Client(
                    verify=SHARED_TLS, base_url=f"http://127.0.0.1:{p}", auth=(key, ""), timeout=30
                )
                for p in ports
            ]
            for b in range(BATCHES_PER_CLIENT):
                batch = {
                    "batch": [
                        {
                            "type": "track",
                            "messageId": f"c{number}-b{b}-{i}",
                            "userId": f"u{i}",
                            "event": "Report Exported",
                            "properties": {"n": i},
                            "context": {"groupId": f"acct-{(b * 20 + i) % ACCOUNTS:03d}"},
                        }
                        for i in range(20)
                    ]
                }
                # Each batch to one API, and every third one again to the other.
                first = apis[(number + b) % 2].post("/v1/batch", json=batch)
                assert first.status_code == 200, first.text
                if b % 3 == 0:
                    again = apis[(number + b + 1) % 2].post("/v1/batch", json=batch)
                    assert again.status_code == 200, again.text
                with lock:
                    sent.update(msg["messageId"] for msg in batch["batch"])
            for api in apis:
                api.close()

        clients = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for t in clients:
            t.start()
        for t in clients:
            t.join()

        with httpx.Client(
            verify=SHARED_TLS,
            base_url=f"http://127.0.0.1:{ports[0]}",
            headers={"X-API-Key": key},
            timeout=30,
        ) as api:
            for i in range(0, ACCOUNTS, 10):
                api.post(
                    "/api/v1/payments",
                    json={"customerId": f"acct-{i:03d}", "amount": "10.00", "status": "failed"},
                ).raise_for_status()

        rescore = subprocess.run(
            [BIN / "healthscore", "score", "--shards", "6", "--timeout", "120"],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert rescore.returncode == 0, rescore.stderr
        time.sleep(1)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(30)

    with sessions() as session:
        stored = session.scalar(select(func.count()).select_from(m.EngagementEvent))
        assert stored == len(sent) == 4 * BATCHES_PER_CLIENT * 20
        run = session.scalars(select(jm.RescoreRun)).one()
        assert run.finished_at is not None
        shards = session.scalars(select(jm.RescoreShard)).all()
        assert len(shards) == 6 and {s.status for s in shards} == {"done"}
        assert sum(s.accounts for s in shards) == ACCOUNTS, "every account in exactly one shard"
        assert all(s.attempts == 1 for s in shards), "no shard scored twice"
        day_rows = session.scalar(
            select(func.count())
            .select_from(m.HealthScoreHistory)
            .where(m.HealthScoreHistory.day == run.as_of.date())
        )
        assert day_rows == ACCOUNTS
        fired = session.execute(
            select(
                case_models.OutreachEntry.customer_id,
                case_models.OutreachEntry.playbook,
                func.count(),
            ).group_by(case_models.OutreachEntry.customer_id, case_models.OutreachEntry.playbook)
        ).all()
        assert fired and max(n for _, _, n in fired) == 1, "every playbook fired once"
        failed = {c for c, p, _ in fired if p == "payment_failed"}
        assert failed == {f"acct-{i:03d}" for i in range(0, ACCOUNTS, 10)}
    engine.dispose()
