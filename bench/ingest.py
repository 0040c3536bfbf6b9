"""Ingest throughput: events/s through ``POST /v1/batch`` and through ``healthscore import``.

Starts ``healthscore serve`` (one process, through ``bench.server``) on a fresh database
with accounts, then sends Segment batches of 100 track events from client threads over
keep-alive connections, and reports acknowledged events per second. Every acknowledged
event is then counted in the database. The CSV import is timed on a generated
``events.csv`` of the same kind.

The client shares the machine with the server, so it is kept cheap: request bodies are
serialised before the clock starts and sent with ``http.client`` (no per-request JSON
encoding or client-library overhead). ``--worker separate`` (the default) runs the job
worker as its own ``healthscore worker`` process next to the API process
(``HEALTHSCORE_EMBEDDED_WORKER=false``), the documented production shape; ``--worker
embedded`` runs it inside ``serve`` as ``make demo`` does. Either way the worker rescores
the touched accounts every 2 s on the same cores while the batches stream in.

    python -m bench.ingest [--backend sqlite|postgresql] [--batches 400] [--clients 4]
                           [--worker separate|embedded] [--ack applied|journaled]

With ``--ack journaled`` the server answers once a batch is journaled and the worker
applies the journal in bulk; "applied" events/s then counts from the first request until
the journal is empty, so it is the rate the tables actually absorb, not just the rate of
acknowledgements. The CPU time of every process (server, worker, PostgreSQL, this client)
per batch is printed too: unlike events/s, it does not depend on what else the two
cores are doing.
"""

from __future__ import annotations

import argparse
import base64
import csv
import http.client
import os
import shutil
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import orjson
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from bench import results
from bench.server import BenchServer, cpu_seconds, postgres_pids
from healthscore.auth.keys import Scope, create_key
from healthscore.ingest import journal
from healthscore.ingest.csv_import import import_folder
from healthscore.storage import models as m
from healthscore.storage.database import make_engine, make_sessionmaker, transaction, upgrade

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ACCOUNTS = 500


def fresh_database(backend: str, workdir: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{workdir / 'ingest.db'}"
    base = os.environ.get("HEALTHSCORE_BENCH_DATABASE_URL", DEFAULT_PG)
    schema = "bench_ingest"
    admin = make_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    return f"{base}{'&' if '?' in base else '?'}options={quote(f'-csearch_path={schema}')}"


def batch(now: datetime, sent: int) -> dict[str, object]:
    events = []
    for i in range(100):
        n = sent * 100 + i
        events.append(
            {
                "type": "track",
                "messageId": str(uuid.uuid4()),
                "userId": f"user-{n % 2000}",
                "event": ("Signed In", "Feature Used", "API Call", "Report Exported")[n % 4],
                "properties": {"feature": f"feature_{n % 12}", "calls": 3},
                "context": {"groupId": f"acct-{n % ACCOUNTS}"},
                "timestamp": (now - timedelta(seconds=n % 86400)).isoformat(),
            }
        )
    return {"batch": events, "sentAt": now.isoformat()}


def http_throughput(url: str, key: str, *, batches: int, clients: int) -> tuple[float, float, int]:
    now = datetime.now(UTC)
    bodies = [orjson.dumps(batch(now, i)) for i in range(batches)]
    headers = {
        "Content-Type": "application/json",
        "Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode(),
    }
    host, port = url.removeprefix("http://").split(":")
    acknowledged = 0
    failures: list[str] = []
    lock = threading.Lock()
    cursor = iter(range(batches))

    def client() -> None:
        nonlocal acknowledged
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        try:
            while True:
                with lock:
                    i = next(cursor, None)
                if i is None:
                    return
                connection.request("POST", "/v1/batch", bodies[i], headers)
                response = connection.getresponse()
                answer = response.read()
                with lock:
                    if response.status == 200:
                        acknowledged += 100
                    else:
                        failures.append(f"{response.status} {answer[:200]!r}")
        finally:
            connection.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if failures:
        print(f"{len(failures)} batches not acknowledged, e.g. {failures[0]}")
    return started, elapsed, acknowledged


def wait_until_applied(
    sessions: sessionmaker[Session], pending: journal.Journal, timeout: float = 300
) -> float:
    """Block until the ingest journal is empty; returns ``time.perf_counter()`` then."""
    deadline = time.monotonic() + timeout
    while True:
        with sessions() as session:
            waiting = pending.backlog(session)[0]
        if not waiting:
            return time.perf_counter()
        if time.monotonic() > deadline:
            raise SystemExit(f"{waiting} journal entries still unapplied after {timeout:.0f} s")
        time.sleep(0.02)


def import_throughput(database_url: str, workdir: Path, rows: int) -> float:
    folder = workdir / "csv"
    folder.mkdir()
    now = datetime.now(UTC)
    with (folder / "events.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["customer_id", "user_id", "ts", "type", "name", "value"])
        kinds = ("login", "feature_used", "api_call", "report_exported")
        for n in range(rows):
            kind = kinds[n % 4]
            writer.writerow(
                [
                    f"acct-{n % ACCOUNTS}",
                    f"user-{n % 2000}",
                    (now - timedelta(seconds=n % 86400 + 60)).isoformat(),
                    kind,
                    f"feature_{n % 12}" if kind == "feature_used" else "",
                    "3" if kind == "api_call" else "",
                ]
            )
    engine = make_engine(database_url)
    started = time.perf_counter()
    import_folder(make_sessionmaker(engine), folder)
    elapsed = time.perf_counter() - started
    engine.dispose()
    return rows / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--batches", type=int, default=400)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--import-rows", type=int, default=200_000)
    parser.add_argument(
        "--ack",
        default="applied",
        choices=["applied", "journaled"],
        help="HEALTHSCORE_INGEST_ACK: answer after applying, or after journaling",
    )
    parser.add_argument(
        "--worker",
        default="separate",
        choices=["separate", "embedded"],
        help="job worker as its own process (production shape) or inside serve",
    )
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="hs-ingest-"))
    url = fresh_database(args.backend, workdir)
    engine = make_engine(url)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as session:
        key = create_key(session, scope=Scope.admin, name="bench").secret
        now = datetime.now(UTC) - timedelta(days=30)
        session.add_all(
            m.Customer(id=f"acct-{i}", name=f"Account {i}", created_at=now, traits={})
            for i in range(ACCOUNTS)
        )
    with BenchServer(url, worker=args.worker, env={"HEALTHSCORE_INGEST_ACK": args.ack}) as server:
        base = server.url
        pending = journal.Journal(url)
        http_throughput(base, key, batches=20, clients=2)  # warm-up
        wait_until_applied(sessions, pending)
        watched = {
            **server.pids(),
            "postgresql": postgres_pids() if args.backend == "postgresql" else [],
        }
        cpu_before = {name: cpu_seconds(pids) for name, pids in watched.items()}
        client_before = time.process_time()
        started, elapsed, acknowledged = http_throughput(
            base, key, batches=args.batches, clients=args.clients
        )
        rate = acknowledged / elapsed
        applied_at = wait_until_applied(sessions, pending)
        applied_rate = acknowledged / (applied_at - started)
        if args.backend == "postgresql":  # backends connected during the run count whole
            watched["postgresql"] = sorted(set(watched["postgresql"]) | set(postgres_pids()))
        cpu = {name: cpu_seconds(pids) - cpu_before[name] for name, pids in watched.items()}
        cpu["client"] = time.process_time() - client_before
    with sessions() as session:
        stored = sum(
            int(session.scalar(select(func.count()).select_from(t)) or 0)
            for t in (m.Session, m.FeatureUsage, m.ApiUsage, m.EngagementEvent)
        )
    print(
        f"{args.backend}, ack={args.ack}: /v1/batch {rate:,.0f} events/s acknowledged, "
        f"{applied_rate:,.0f} events/s applied (stored) "
        f"({acknowledged:,} acknowledged, warm-up excluded; {stored:,} stored in all), "
        f"{args.clients} client threads, 1 server process, {args.worker} worker, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    per_batch = ", ".join(
        f"{name} {seconds / (acknowledged / 100) * 1000:.2f}" for name, seconds in cpu.items()
    )
    print(
        f"{args.backend}, ack={args.ack}: CPU ms per batch of 100 events: {per_batch}; "
        f"in all {sum(cpu.values()) / (acknowledged / 100) * 1000:.2f} ms, so 2 cores "
        f"could take {2 * acknowledged / sum(cpu.values()):,.0f} events/s"
    )
    if stored < acknowledged:
        raise SystemExit(f"only {stored:,} events stored for {acknowledged:,} acknowledged")
    csv_rate = import_throughput(url, workdir, args.import_rows) if args.import_rows else None
    if csv_rate is not None:
        print(f"{args.backend}: import {csv_rate:,.0f} events/s ({args.import_rows:,} rows)")
    results.record(
        "ingest",
        backend=args.backend,
        ack=args.ack,
        worker=args.worker,
        clients=args.clients,
        events=acknowledged,
        seconds=round(elapsed, 3),
        applied_seconds=round(applied_at - started, 3),
        events_per_second=round(rate),
        applied_events_per_second=round(applied_rate),
        cpu_seconds={name: round(seconds, 3) for name, seconds in cpu.items()},
        cpu_ms_per_batch=round(sum(cpu.values()) / (acknowledged / 100) * 1000, 3),
        import_events_per_second=round(csv_rate) if csv_rate is not None else None,
        import_rows=args.import_rows,
    )
    engine.dispose()
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
