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
                           [--worker separate|embedded] [--ack journaled|applied]
                           [--probes 4]

With ``--ack journaled`` (the default, as the product's) the server answers once a batch
is journaled and the worker applies the journal in bulk; "applied" events/s then counts
from the first request until the journal is empty, so it is the rate the tables actually
absorb, not just the rate of acknowledgements. The CPU time of every process (server,
worker, PostgreSQL, this client) per batch is printed too: unlike events/s, it does not
depend on what else the two cores are doing.

``--probes N`` measures freshness *under that load*: N times a second while the batches
stream in, a probe sends one more event through ``/v1/batch`` for an account of its own
(nobody else's traffic touches it) and watches the database until that account has a
score computed as of a moment after the send: event → fresh score, with the journal's
apply, the rescore's batching window and the rescore itself in it. Median, p90 and p99
are printed and recorded with the ingest figures.
"""

from __future__ import annotations

import argparse
import base64
import csv
import http.client
import json
import os
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
from segment.analytics import Client
from segment.analytics.request import DatetimeSerializer
from segment.analytics.version import VERSION as SDK_VERSION
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from bench import results
from bench.server import BenchServer, cpu_seconds
from healthscore.auth.keys import Scope, create_key
from healthscore.ingest import journal
from healthscore.ingest.csv_import import import_folder
from healthscore.settings import Settings
from healthscore.storage import models as m
from healthscore.storage.database import make_engine, make_sessionmaker, transaction, upgrade

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ACCOUNTS = 500
PROBE_PREFIX = "probe-"
APPLICATION = "hs-bench-ingest"
"""The PostgreSQL application name of every connection of the bench and its server."""


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
    options = quote(f"-csearch_path={schema}")
    return f"{base}{'&' if '?' in base else '?'}options={options}&application_name={APPLICATION}"


def our_postgres_pids(sessions: sessionmaker[Session]) -> list[int]:
    """PostgreSQL processes working for this bench: the backends of its connections (by
    application name) and the server's own writers (WAL, checkpoints), which every
    client shares; not the backends of whatever else uses the server meanwhile."""
    with sessions() as session:
        rows = session.execute(
            text(
                "SELECT pid FROM pg_stat_activity WHERE application_name = :name "
                "OR backend_type IN ('walwriter', 'checkpointer', 'background writer')"
            ),
            {"name": APPLICATION},
        )
        return [int(pid) for (pid,) in rows]


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


def sdk_body(sdk: Client, key: str, now: datetime, sent: int) -> bytes:
    """The bytes segment-analytics-python posts for a batch of the same 100 events: its
    ``Client.track`` builds each message (library context, ``integrations``, millisecond
    timestamps, a uuid4 ``messageId``) and its ``request.post`` adds ``sentAt`` and the
    ``writeKey`` and serialises them, as the SDK's consumer thread does for each batch."""
    messages = []
    events: list[dict[str, Any]] = batch(now, sent)["batch"]  # type: ignore[assignment]
    for event in events:
        ok, message = sdk.track(
            user_id=event["userId"],
            event=event["event"],
            properties=event["properties"],
            context=event["context"],
            timestamp=datetime.fromisoformat(event["timestamp"]),
        )
        assert ok
        messages.append(message)
    body = {"batch": messages, "sentAt": datetime.now(UTC).isoformat(), "writeKey": key}
    return json.dumps(body, cls=DatetimeSerializer).encode()


def make_bodies(key: str, batches: int, bodies_from: str = "sdk") -> list[bytes]:
    """The request bodies, serialised before any clock starts."""
    now = datetime.now(UTC)
    if bodies_from == "sdk":  # sync_mode: no consumer thread; send=False: nothing sent
        sdk = Client(write_key=key, send=False, sync_mode=True)
        return [sdk_body(sdk, key, now, i) for i in range(batches)]
    return [orjson.dumps(batch(now, i)) for i in range(batches)]


def http_throughput(
    url: str,
    key: str,
    bodies: list[bytes] | None = None,
    *,
    batches: int = 0,
    clients: int,
    rate: float = 0,
) -> tuple[float, float, int]:
    """Send the batches from ``clients`` threads, as fast as the server answers, or paced
    at ``rate`` events/s (0: unpaced); without ``bodies``, ``batches`` compact ones."""
    if bodies is None:
        bodies = make_bodies(key, batches, "compact")
    batches = len(bodies)
    headers = {**auth_headers(key), "User-Agent": f"analytics-python/{SDK_VERSION}"}
    host, port = url.removeprefix("http://").split(":")
    acknowledged = 0
    failures: list[str] = []
    lock = threading.Lock()
    cursor = iter(range(batches))
    interval = 100 / rate if rate else 0.0

    def client() -> None:
        nonlocal acknowledged
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        try:
            while True:
                with lock:
                    i = next(cursor, None)
                if i is None:
                    return
                if interval:  # batch i is due at its place in a steady stream
                    wait = started + i * interval - time.perf_counter()
                    if wait > 0:
                        time.sleep(wait)
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


class Probes:
    """Freshness probes sent while the load runs (``--probes``): one event each, for an
    account no other traffic touches, timed until that account has a score as of a moment
    after the event was sent (the worker's clock: the same machine's)."""

    def __init__(self, url: str, key: str, sessions: sessionmaker[Session], per_second: float):
        self.url = url
        self.key = key
        self.sessions = sessions
        self.interval = 1 / per_second
        self.delays: list[float] = []
        self.lost = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def start(self) -> None:
        self._thread.start()

    def stop(self, wait: float = 30) -> None:
        """No new probes; those still out are watched up to ``wait`` seconds more."""
        self._grace = wait
        self._stop.set()

    def join(self) -> None:
        self._thread.join()

    def _send(self, connection: http.client.HTTPConnection, account: str) -> datetime:
        sent = datetime.now(UTC)
        body = orjson.dumps(
            {
                "batch": [
                    {
                        "type": "track",
                        "messageId": str(uuid.uuid4()),
                        "userId": f"{account}-user",
                        "event": "Signed In",
                        "context": {"groupId": account},
                        "timestamp": sent.isoformat(),
                    }
                ]
            }
        )
        connection.request("POST", "/v1/batch", body, auth_headers(self.key))
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"probe refused: {response.status}")
        return sent

    def _run(self) -> None:
        host, port = self.url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        out: dict[str, tuple[datetime, float]] = {}
        number = 0
        next_at = time.perf_counter()
        deadline: float | None = None
        while True:
            now = time.perf_counter()
            if self._stop.is_set() and deadline is None:
                deadline = now + self._grace
            if deadline is None and now >= next_at:
                account = f"{PROBE_PREFIX}{number}"
                number += 1
                started = time.perf_counter()
                out[account] = (self._send(connection, account), started)
                next_at += self.interval
            if out:
                with self.sessions() as session:
                    rows = session.execute(
                        select(m.HealthScore.customer_id, m.HealthScore.as_of).where(
                            m.HealthScore.customer_id.in_(out)
                        )
                    ).all()
                seen = time.perf_counter()
                for account, as_of in rows:
                    sent, started = out[account]
                    if as_of >= sent:
                        self.delays.append(seen - started)
                        del out[account]
            if deadline is not None and (not out or time.perf_counter() > deadline):
                self.lost = len(out)
                connection.close()
                return
            time.sleep(0.02)

    def summary(self) -> dict[str, float | int | None]:
        if not self.delays:
            return {"probes": 0, "lost": self.lost}
        ordered = sorted(self.delays)

        def pct(q: float) -> float:
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

        return {
            "probes": len(ordered),
            "lost": self.lost,
            "median_s": round(statistics.median(ordered), 3),
            "p90_s": pct(0.90),
            "p99_s": pct(0.99),
            "max_s": round(ordered[-1], 3),
        }


def auth_headers(key: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode(),
    }


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


def add_bench_accounts(sessions: sessionmaker[Session], count: int, *, key_name: str) -> str:
    """``count`` accounts ``acct-0``… created 30 days ago, and an admin key; its secret."""
    with transaction(sessions) as session:
        key = create_key(session, scope=Scope.admin, name=key_name).secret
        now = datetime.now(UTC) - timedelta(days=30)
        session.add_all(
            m.Customer(id=f"acct-{i}", name=f"Account {i}", created_at=now, traits={})
            for i in range(count)
        )
    return key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--batches", type=int, default=400)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--import-rows", type=int, default=200_000)
    parser.add_argument(
        "--rate",
        type=float,
        default=0,
        help="send at this many events/s (paced, open loop); 0: as fast as answered",
    )
    parser.add_argument(
        "--bodies",
        default="sdk",
        choices=["sdk", "compact"],
        help="sdk: the bytes segment-analytics-python sends; compact: minimal messages",
    )
    parser.add_argument(
        "--probes",
        type=float,
        default=0,
        help="freshness probes per second during the run (0: none)",
    )
    parser.add_argument(
        "--ack",
        default="journaled",
        choices=["applied", "journaled"],
        help="HEALTHSCORE_INGEST_ACK: answer after applying, or after journaling",
    )
    parser.add_argument(
        "--worker",
        default="separate",
        choices=["separate", "embedded"],
        help="job worker as its own process (production shape) or inside serve",
    )
    results.add_checkout_options(parser)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="hs-ingest-"))
    url = fresh_database(args.backend, workdir)
    engine = make_engine(url)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    key = add_bench_accounts(sessions, ACCOUNTS, key_name="bench")
    # Enough probe accounts for a run at 25k events/s (bounded: 1 per probe sent).
    probes = int(args.probes * (args.batches * 100 / 10_000 + 5)) + 1 if args.probes else 0
    with transaction(sessions) as session:
        now = datetime.now(UTC) - timedelta(days=30)
        session.add_all(
            m.Customer(id=f"{PROBE_PREFIX}{i}", name=f"Probe {i}", created_at=now, traits={})
            for i in range(probes)
        )
    env = {"HEALTHSCORE_INGEST_ACK": args.ack, **results.checkout_env(args.src)}
    with BenchServer(url, worker=args.worker, env=env) as server:
        base = server.url
        pending = journal.Journal(url)
        http_throughput(base, key, make_bodies(key, 20, args.bodies), clients=2)  # warm-up
        bodies = make_bodies(key, args.batches, args.bodies)
        wait_until_applied(sessions, pending)
        watched = {
            **server.pids(),
            "postgresql": our_postgres_pids(sessions) if args.backend == "postgresql" else [],
        }
        cpu_before = {  # per process: one that exits meanwhile must not count negative
            name: {pid: cpu_seconds([pid]) for pid in pids} for name, pids in watched.items()
        }
        client_before = time.process_time()
        prober = Probes(base, key, sessions, args.probes) if args.probes else None
        if prober:
            prober.start()
        started, elapsed, acknowledged = http_throughput(
            base, key, bodies, clients=args.clients, rate=args.rate
        )
        rate = acknowledged / elapsed
        if prober:
            prober.stop()
        applied_at = wait_until_applied(sessions, pending)
        if prober:
            prober.join()
        applied_rate = acknowledged / (applied_at - started)
        if args.backend == "postgresql":  # backends connected during the run count whole
            watched["postgresql"] = sorted(
                set(watched["postgresql"]) | set(our_postgres_pids(sessions))
            )
        cpu = {
            name: sum(max(0.0, cpu_seconds([pid]) - cpu_before[name].get(pid, 0.0)) for pid in pids)
            for name, pids in watched.items()
        }
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
        f"{args.clients} client threads ({args.bodies} bodies"
        f"{f', paced at {args.rate:,.0f}/s' if args.rate else ''}), "
        f"1 server process, {args.worker} worker, "
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
    freshness = prober.summary() if prober else None
    if freshness:
        print(
            f"{args.backend}, ack={args.ack}: event → fresh score under that load, "
            f"{freshness['probes']} probes ({freshness['lost']} not fresh within 30 s): "
            f"median {freshness.get('median_s')} s, p90 {freshness.get('p90_s')} s, "
            f"p99 {freshness.get('p99_s')} s, max {freshness.get('max_s')} s"
        )
    if stored < acknowledged:
        raise SystemExit(f"only {stored:,} events stored for {acknowledged:,} acknowledged")
    csv_rate = import_throughput(url, workdir, args.import_rows) if args.import_rows else None
    if csv_rate is not None:
        print(f"{args.backend}: import {csv_rate:,.0f} events/s ({args.import_rows:,} rows)")
    results.record(
        "ingest",
        **results.checkout(args.src, args.label),
        backend=args.backend,
        ack=args.ack,
        worker=args.worker,
        clients=args.clients,
        bodies=args.bodies,
        target_rate=args.rate or None,
        events=acknowledged,
        seconds=round(elapsed, 3),
        applied_seconds=round(applied_at - started, 3),
        events_per_second=round(rate),
        applied_events_per_second=round(applied_rate),
        cpu_seconds={name: round(seconds, 3) for name, seconds in cpu.items()},
        cpu_ms_per_batch=round(sum(cpu.values()) / (acknowledged / 100) * 1000, 3),
        import_events_per_second=round(csv_rate) if csv_rate is not None else None,
        import_rows=args.import_rows,
        freshness=freshness,
        rescore_delay_seconds=Settings().rescore_delay_seconds,
    )
    engine.dispose()
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
