"""Raw-event volume: monthly partitions on PostgreSQL, and retention on both databases.

Raw product events (sessions, feature usage, API usage, engagement events) only grow.
On PostgreSQL each of those tables is range-partitioned by month on ``ts``: partitions are
created ahead of time (``ensure_partitions``, run by migrations, ``healthscore maintain``
and the nightly job), a ``DEFAULT`` partition catches anything outside them so an insert
never fails, and retention drops whole expired months in O(1). SQLite keeps the same
behaviour in its simpler form: retention deletes the expired rows.

Retention never touches the daily roll-ups (``storage/rollups.py``), which is why scores
stay the same after raw events are dropped — as long as the retention period covers the
scorecard's longest window, which ``check_retention`` enforces.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection, text

from healthscore.timeutc import naive_utc

PARTITIONED = ("sessions", "feature_usage", "api_usage", "engagement_events")
MONTHS_AHEAD = 2
"""Partitions exist for the current month and this many after it."""
MONTHS_BACK = 36
"""When partitioning existing data, months older than this stay in the DEFAULT partition."""


def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def partition_name(table: str, month: date) -> str:
    return f"{table}_p{month:%Y_%m}"


def default_partition(table: str) -> str:
    return f"{table}_default"


@dataclass
class MaintenanceReport:
    """What one maintenance pass did, for the CLI, the logs and the tests."""

    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    deleted_rows: int = 0
    rebuilt: dict[str, int] = field(default_factory=dict)
    """Roll-up tables recomputed from the raw events first, and their rows (when asked)."""


class RetentionTooShort(ValueError):
    """Retention shorter than the scorecard's lookback would change scores."""


def check_retention(retention_days: int, lookback_days: int) -> None:
    """Raw events must outlive every window, plus the day an as-of moment cuts in two."""
    needed = lookback_days + 2
    if retention_days < needed:
        raise RetentionTooShort(
            f"HEALTHSCORE_RAW_EVENT_RETENTION_DAYS={retention_days} is shorter than the "
            f"scorecard needs: its longest window reaches {lookback_days} days back, so keep "
            f"raw events for at least {needed} days"
        )


def is_partitioned(connection: Connection, table: str) -> bool:
    if connection.dialect.name != "postgresql":
        return False
    kind = connection.execute(
        text("SELECT relkind FROM pg_class WHERE oid = to_regclass(:t)"), {"t": table}
    ).scalar()
    return kind == "p"


def _partitions(connection: Connection, table: str) -> dict[date, str]:
    """Monthly partitions of ``table`` by their first day (the DEFAULT one excluded)."""
    names = connection.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(:t)"
        ),
        {"t": table},
    ).scalars()
    prefix = f"{table}_p"
    months = {}
    for name in names:
        if name.startswith(prefix):
            year, month = name[len(prefix) :].split("_")
            months[date(int(year), int(month), 1)] = name
    return months


def _lock(connection: Connection) -> None:
    """One maintainer at a time: API processes and workers may all start together."""
    connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('healthscore.partitions'))"))


def _create_partition(connection: Connection, table: str, month: date) -> str:
    """Create one month's partition, moving any of its rows out of the DEFAULT partition
    first (PostgreSQL refuses a new partition whose rows sit in DEFAULT)."""
    name = partition_name(table, month)
    low, high = month.isoformat(), add_months(month, 1).isoformat()
    default = default_partition(table)
    connection.execute(text(f'CREATE TABLE "{name}" (LIKE "{table}" INCLUDING DEFAULTS)'))
    connection.execute(
        text(
            f'WITH moved AS (DELETE FROM "{default}" WHERE ts >= :low AND ts < :high '
            f'RETURNING *) INSERT INTO "{name}" SELECT * FROM moved'
        ),
        {"low": low, "high": high},
    )
    connection.execute(
        text(
            f'ALTER TABLE "{table}" ATTACH PARTITION "{name}" '
            f"FOR VALUES FROM ('{low}') TO ('{high}')"
        )
    )
    return name


def ensure_partitions(
    connection: Connection,
    *,
    now: datetime | None = None,
    first_month: date | None = None,
    tables: Sequence[str] = PARTITIONED,
) -> list[str]:
    """Create the missing monthly partitions from ``first_month`` (default: the current
    month) to ``MONTHS_AHEAD`` months ahead; returns the names created."""
    if connection.dialect.name != "postgresql":
        return []
    today = (now or datetime.now(UTC)).date()
    last = add_months(month_start(today), MONTHS_AHEAD)
    month = month_start(first_month or today)
    _lock(connection)
    created = []
    for table in tables:
        if not is_partitioned(connection, table):
            continue
        existing = _partitions(connection, table)
        current = month
        while current <= last:
            if current not in existing:
                created.append(_create_partition(connection, table, current))
            current = add_months(current, 1)
    return created


def apply_retention(
    connection: Connection,
    *,
    retention_days: int,
    now: datetime | None = None,
    tables: Sequence[str] = PARTITIONED,
) -> MaintenanceReport:
    """Drop raw events older than ``retention_days``: whole expired monthly partitions on
    PostgreSQL (plus expired rows in DEFAULT), expired rows on SQLite."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    naive_cutoff = naive_utc(cutoff)
    report = MaintenanceReport()
    if connection.dialect.name == "postgresql":
        _lock(connection)
    for table in tables:
        if is_partitioned(connection, table):
            for month, name in sorted(_partitions(connection, table).items()):
                if add_months(month, 1) <= naive_cutoff.date():
                    connection.execute(text(f'DROP TABLE "{name}"'))
                    report.dropped.append(name)
            target = default_partition(table)
        else:
            target = table
        result = connection.execute(
            text(f'DELETE FROM "{target}" WHERE ts < :cutoff'), {"cutoff": naive_cutoff}
        )
        report.deleted_rows += result.rowcount or 0
    return report


def partition_table(connection: Connection, table: str, *, now: datetime | None = None) -> None:
    """Turn a plain PostgreSQL table into one range-partitioned by month on ``ts``,
    keeping its rows, ids, indexes and foreign keys (used by migration 0006)."""
    plain = f"{table}_plain"
    indexes = connection.execute(
        text(
            "SELECT indexname, indexdef FROM pg_indexes "
            "WHERE tablename = :t AND schemaname = current_schema() "
            "AND indexname <> :pk"
        ),
        {"t": table, "pk": f"pk_{table}"},
    ).all()
    connection.execute(text(f'ALTER TABLE "{table}" RENAME TO "{plain}"'))
    for name, _ in indexes:
        connection.execute(text(f'ALTER INDEX "{name}" RENAME TO "{name}_plain"'))
    for constraint in (f"pk_{table}", f"fk_{table}_customer_id_customers"):
        connection.execute(
            text(f'ALTER TABLE "{plain}" RENAME CONSTRAINT "{constraint}" TO "{constraint}_plain"')
        )
    connection.execute(
        text(f'CREATE TABLE "{table}" (LIKE "{plain}" INCLUDING DEFAULTS) PARTITION BY RANGE (ts)')
    )
    # A partitioned table's primary key must contain the partition key.
    connection.execute(
        text(f'ALTER TABLE "{table}" ADD CONSTRAINT "pk_{table}" PRIMARY KEY (id, ts)')
    )
    connection.execute(
        text(
            f'ALTER TABLE "{table}" ADD CONSTRAINT "fk_{table}_customer_id_customers" '
            "FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE"
        )
    )
    for _, definition in indexes:  # the original names and columns, on the new parent
        connection.execute(text(definition))
    connection.execute(text(f'ALTER SEQUENCE "{table}_id_seq" OWNED BY "{table}".id'))
    connection.execute(
        text(f'CREATE TABLE "{default_partition(table)}" PARTITION OF "{table}" DEFAULT')
    )
    oldest = connection.execute(text(f'SELECT min(ts) FROM "{plain}"')).scalar()
    today = (now or datetime.now(UTC)).date()
    earliest = add_months(month_start(today), -MONTHS_BACK)
    first = max(month_start(oldest.date()), earliest) if oldest is not None else None
    ensure_partitions(connection, now=now, first_month=first, tables=[table])
    connection.execute(text(f'INSERT INTO "{table}" SELECT * FROM "{plain}"'))
    connection.execute(text(f'DROP TABLE "{plain}"'))


def maintain(
    connection: Connection,
    *,
    retention_days: int | None,
    lookback_days: int,
    now: datetime | None = None,
) -> MaintenanceReport:
    """The nightly pass: partitions ahead, then retention (refused if it would change
    scores). One transaction, so a failure leaves the tables as they were."""
    if retention_days is not None:
        check_retention(retention_days, lookback_days)
    created = ensure_partitions(connection, now=now)
    if retention_days is None:
        return MaintenanceReport(created=created)
    report = apply_retention(connection, retention_days=retention_days, now=now)
    report.created = created
    return report
