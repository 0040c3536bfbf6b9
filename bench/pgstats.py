"""What a bench step cost PostgreSQL, measured from outside the product: CPU of the
backends a set of processes connected (by application name), pages read, WAL written to
one schema's relations (``pg_waldump``), and the bytes and rows of a dataset's tables.
Used by ``bench.scaling``."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from sqlalchemy import text

from bench.server import cpu_seconds
from healthscore.storage.database import make_engine

RAW_TABLES = ("sessions", "feature_usage", "api_usage", "engagement_events")
ROLLUP_TABLES = (
    "daily_sessions",
    "daily_features",
    "daily_api_usage",
    "user_activity",
    "feature_activity",
)
SCORE_TABLES = ("health_scores", "health_score_history")
ACCOUNT_TABLES = ("customers", "users", "payments", "support_tickets", "nps_responses")


def tagged(url: str, name: str) -> str:
    """``url`` whose connections carry ``application_name`` ``name``."""
    return f"{url}{'&' if '?' in url else '?'}application_name={quote(name)}"


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


class BackendCpu:
    """CPU seconds of the PostgreSQL backends named ``application`` while it runs: polled
    from ``pg_stat_activity`` every 0.2 s (a backend that connects and quits between two
    polls is missed; the product's pools keep theirs)."""

    def __init__(self, dsn: str, application: str) -> None:
        self.dsn, self.application = dsn, application
        self.start: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _pids(self, connection: psycopg.Connection[Any]) -> list[int]:
        return [
            int(pid)
            for (pid,) in connection.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s",
                (self.application,),
            )
        ]

    def _poll(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as connection:
            for pid in self._pids(connection):  # already connected: from here on
                self.start[pid] = self.last[pid] = cpu_seconds([pid])
            while not self._stop.wait(0.2):
                for pid in self._pids(connection):
                    self.start.setdefault(pid, 0.0)  # connected since: all of it
                    self.last[pid] = cpu_seconds([pid]) or self.last.get(pid, 0.0)

    def __enter__(self) -> BackendCpu:
        self._thread.start()
        time.sleep(0.3)
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def seconds(self) -> float:
        return sum(self.last[pid] - self.start[pid] for pid in self.last)


def wal_lsn(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as connection:
        row = connection.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')").fetchone()
        assert row is not None
        return int(row[0])


def pages_touched(dsn: str, schema: str) -> dict[str, int]:
    """Shared-buffer pages the schema's tables and indexes were read from so far: found
    in PostgreSQL's cache (``hit``) or read from the OS (``read``)."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        row = connection.execute(
            "SELECT sum(coalesce(heap_blks_hit, 0) + coalesce(idx_blks_hit, 0)), "
            "sum(coalesce(heap_blks_read, 0) + coalesce(idx_blks_read, 0)) "
            "FROM pg_statio_all_tables WHERE schemaname = %s",
            (schema,),
        ).fetchone()
    assert row is not None
    return {"hit": int(row[0] or 0), "read": int(row[1] or 0)}


def schema_of(url: str) -> str:
    return url.split("search_path%3D", 1)[1].split("&", 1)[0]


def storage(dsn: str, schema: str) -> dict[str, dict[str, float]]:
    """Bytes (``pg_total_relation_size`` of the table or of all its partitions: heap,
    indexes, TOAST) and rows (the planner's count, exact after the datasets' VACUUM
    ANALYZE) of each table that grows with accounts or events."""
    found = {}
    with psycopg.connect(dsn, autocommit=True) as connection:
        for table in (*RAW_TABLES, *ROLLUP_TABLES, *SCORE_TABLES, *ACCOUNT_TABLES):
            relation = f'"{schema}"."{table}"'
            row = connection.execute(
                "WITH parts AS (SELECT relid FROM pg_partition_tree(%(r)s::regclass) "
                "WHERE isleaf UNION SELECT %(r)s::regclass WHERE NOT EXISTS "
                "(SELECT FROM pg_partition_tree(%(r)s::regclass))) "
                "SELECT sum(pg_total_relation_size(p.relid)), sum(greatest(c.reltuples, 0)) "
                "FROM parts p JOIN pg_class c ON c.oid = p.relid",
                {"r": relation},
            ).fetchone()
            assert row is not None
            found[table] = {"bytes": float(row[0] or 0), "rows": float(row[1] or 0)}
        for table in SCORE_TABLES:
            # Rewritten by every rescore: their files hold the space of earlier versions
            # (reused, not returned), so count the live rows' bytes and the indexes.
            row = connection.execute(
                f'SELECT avg(pg_column_size(t.*)) + 4, pg_indexes_size(\'"{schema}"."{table}"\') '
                f'FROM "{schema}"."{table}" t TABLESAMPLE SYSTEM (5)'
            ).fetchone()
            assert row is not None
            live = float(row[0] or 0) * found[table]["rows"] + float(row[1] or 0)
            found[table]["live_bytes"] = live
    return found


WAL_RECORD = re.compile(rb"len \(rec/tot\):\s*\d+/\s*(\d+)")
WAL_BLOCK = re.compile(rb"rel \d+/(\d+)/(\d+)")


def wal_position(dsn: str) -> str:
    with psycopg.connect(dsn, autocommit=True) as connection:
        row = connection.execute("SELECT pg_current_wal_flush_lsn()::text").fetchone()
    assert row is not None
    return str(row[0])


def wal_bytes(dsn: str, schema: str, start: str, end: str) -> int | None:
    """WAL bytes (records with their full-page images) that touched the schema's tables,
    indexes and TOAST between two positions, read back with ``pg_waldump``: other
    databases and schemas written meanwhile are left out. None when the WAL cannot be
    read (another machine, or its segments already recycled)."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        found = connection.execute(
            "SELECT current_setting('data_directory'), "
            "(SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchone()
        assert found is not None
        directory, database = found
        nodes = {
            int(node)
            for (node,) in connection.execute(
                "SELECT pg_relation_filenode(c.oid) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %(s)s "
                "UNION SELECT pg_relation_filenode(t.oid) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "JOIN pg_class t ON t.oid = c.reltoastrelid WHERE n.nspname = %(s)s "
                "UNION SELECT pg_relation_filenode(i.indexrelid) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "JOIN pg_index i ON i.indrelid = c.reltoastrelid WHERE n.nspname = %(s)s",
                {"s": schema},
            )
            if node is not None
        }
    waldump = Path(f"/usr/lib/postgresql/{server_major(dsn)}/bin/pg_waldump")
    if not waldump.exists() or not Path(directory, "pg_wal").is_dir():
        return None
    dump = subprocess.Popen(
        [str(waldump), "-p", str(Path(directory, "pg_wal")), "-s", start, "-e", end],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    ours = f"/{database}/".encode()
    total = 0
    assert dump.stdout is not None
    for line in dump.stdout:
        if ours not in line:
            continue
        for db, node in WAL_BLOCK.findall(line):
            if int(db) == database and int(node) in nodes:
                record = WAL_RECORD.search(line)
                total += int(record.group(1)) if record else 0
                break
    if dump.wait() != 0 and total == 0:
        return None
    return total


def server_major(dsn: str) -> int:
    with psycopg.connect(dsn) as connection:
        return int(connection.info.server_version // 10000)


def analyze(url: str, tables: tuple[str, ...]) -> None:
    engine = make_engine(url)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for table in tables:
            connection.execute(text(f'ANALYZE "{table}"'))
    engine.dispose()
