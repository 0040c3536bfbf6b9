"""The signal aggregates a scoring run reads, loaded for every account at once.

Product events are read through their daily roll-ups (raw rows only for a day an as-of
moment cuts in two), business records straight from their tables
(``aggregate_sources`` declares them, ``aggregate_queries`` builds the queries). Every
query is bounded by ``as_of``, which is what makes as-of scoring and the backtest
leak-free. Per-account work happens in Python on the results, never as one query per
account. Which accounts exist, previous scores and writing a run's results live in
``repository``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import numpy as np
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session as DbSession

from healthscore.scoring.aggregate_queries import Read
from healthscore.scoring.concurrent_read import exported_snapshot, read_concurrently
from healthscore.scoring.metrics import Aggregate, Column, empty_value
from healthscore.scoring.read_plans import plan_reads
from healthscore.scoring.selection import Selection
from healthscore.timeutc import utc

T = TypeVar("T")


def _run_read(
    connection: Connection, read: Read, as_of: datetime
) -> dict[Aggregate, dict[str, float]]:
    values: list[dict[str, Any]] = [{} for _ in read.wanted]
    for query in read.queries:
        for row in connection.execute(query, read.parameters):
            customer_id = row[0]
            for i, column in enumerate(values):
                value = row[i + 1]
                if value is None:
                    continue
                known = column.get(customer_id)
                column[customer_id] = value if known is None else read.merges[i](known, value)
    return {
        aggregate: {cid: _number(value, as_of) for cid, value in column.items()}
        for aggregate, column in zip(read.wanted, values, strict=True)
    }


def _fetch_tuples(
    connection: Connection, query: Any, parameters: Mapping[str, Any]
) -> Sequence[Sequence[Any]]:
    """The rows of ``query`` as plain tuples. On PostgreSQL straight from psycopg's cursor:
    SQLAlchemy's row objects and its timestamp processor cost about 0.3 s of CPU in a
    20,000-account rescore's reads, for values that become floats at once (a timestamp
    arrives naive UTC, as stored, and ``_number`` takes it as UTC). SQLite keeps them: it
    can hand a timestamp back as text, which the processor parses."""
    result = connection.execute(query, parameters)
    if connection.dialect.name != "postgresql":
        return result.all()
    try:
        rows: Sequence[Sequence[Any]] = result.cursor.fetchall()
    finally:
        result.close()
    return rows


AggregateColumns = dict[Aggregate, Column]
"""Aggregates as arrays aligned with a list of accounts (``empty_value`` where no rows)."""


def _run_read_columns(
    connection: Connection, read: Read, as_of: datetime, index: dict[str, int]
) -> AggregateColumns:
    """``_run_read`` straight into arrays: no dict per aggregate, no per-value ``float``
    in Python (numpy converts ints, Decimals and ``None`` → NaN in C). A measure of a
    timestamp, or a read whose second query merges into the first, goes through
    ``_run_read`` and is then laid out the same way."""
    n = len(index)
    if len(read.queries) != 1 or not read.wanted:
        merged = _run_read(connection, read, as_of)
        return {
            aggregate: np.fromiter(
                (merged[aggregate].get(cid, empty_value(aggregate)) for cid in index), float, n
            )
            for aggregate in read.wanted
        }
    rows = _fetch_tuples(connection, read.queries[0], read.parameters)
    # Accounts not being scored (churned, outside the selection) land in slot n, dropped.
    slots = np.fromiter((index.get(row[0], n) for row in rows), np.intp, len(rows))
    result: AggregateColumns = {}
    for i, aggregate in enumerate(read.wanted):
        raw = [row[i + 1] for row in rows]
        # A column holds one type: a timestamp column is measured in days before as_of.
        # (Checking every value's type took 0.2 s of a 20,000-account rescore's reads.)
        if isinstance(next((value for value in raw if value is not None), None), datetime):
            raw = [None if value is None else _number(value, as_of) for value in raw]
        values = np.array(raw, dtype=float)
        present = ~np.isnan(values)
        column = np.full(n + 1, empty_value(aggregate))
        column[slots[present]] = values[present]
        result[aggregate] = column[:n]
    return result


def load_aggregate_columns(
    session: DbSession,
    aggregates: Iterable[Aggregate],
    *,
    as_of: datetime,
    accounts: Sequence[str],
    customer_ids: Selection = None,
    concurrent: bool = False,
    snapshot: str | None = None,
) -> AggregateColumns:
    """``load_aggregates`` for the accounts being scored, as arrays in ``accounts`` order:
    what the engine takes, built without a dict per aggregate (the same values).
    ``snapshot`` (``run_snapshot``): the one a concurrent read shares, when the run
    exported it before writing."""
    index = {cid: i for i, cid in enumerate(accounts)}

    def run(connection: Connection, read: Read) -> AggregateColumns:
        return _run_read_columns(connection, read, as_of, index)

    return _load(session, aggregates, as_of, customer_ids, concurrent, run, snapshot)


def run_snapshot(session: DbSession) -> str | None:
    """A run that reads and writes in turns (``service._score_in_chunks``) exports its
    snapshot before it writes anything: a second connection can share it until the
    transaction ends, where one exported later would miss the run's own writes."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    return exported_snapshot(session)


CONCURRENT_READ_MIN_ACCOUNTS = 5000
"""From this many accounts, a PostgreSQL rescore reads on two connections at once."""


def load_aggregates(
    session: DbSession,
    aggregates: Iterable[Aggregate],
    *,
    as_of: datetime,
    customer_ids: Selection = None,
    concurrent: bool = False,
) -> dict[Aggregate, dict[str, float]]:
    """Every requested aggregate for every account, keyed aggregate → customer → value.

    ``concurrent`` (PostgreSQL) runs the queries on the session's connection and on a
    second one that shares its snapshot, so both cores work: one query runs on one core
    only, and the largest (distinct active users) is as long as all the others together.
    The result is the same: every query is unchanged and sees the same data.
    """

    def run(connection: Connection, read: Read) -> dict[Aggregate, dict[str, float]]:
        return _run_read(connection, read, as_of)

    return _load(session, aggregates, as_of, customer_ids, concurrent, run)


def _load(
    session: DbSession,
    aggregates: Iterable[Aggregate],
    as_of: datetime,
    customer_ids: Selection,
    concurrent: bool,
    run: Callable[[Connection, Read], dict[Aggregate, T]],
    snapshot: str | None = None,
) -> dict[Aggregate, T]:
    dialect = session.get_bind().dialect.name
    reads = plan_reads(aggregates, as_of, customer_ids, dialect)
    connection = session.connection()
    if dialect == "postgresql":  # JIT-compiling these short scans costs more than it saves
        connection.exec_driver_sql("SET LOCAL jit = off")
        run = _with_settings(run)
    if concurrent and dialect == "postgresql" and snapshot is None:
        snapshot = exported_snapshot(session)
    if not concurrent or snapshot is None:
        result: dict[Aggregate, T] = {}
        for read in reads:
            result.update(run(connection, read))
        return result
    return read_concurrently(connection, snapshot, reads, run)


def _with_settings(
    run: Callable[[Connection, Read], dict[Aggregate, T]],
) -> Callable[[Connection, Read], dict[Aggregate, T]]:
    """``run`` under the read's planner settings (PostgreSQL), back to the defaults after
    it: the transaction goes on (the rescore writes in it) with its usual plans."""

    def run_with_settings(connection: Connection, read: Read) -> dict[Aggregate, T]:
        for name, value in read.settings:
            connection.exec_driver_sql(f"SET LOCAL {name} = {value}")
        result = run(connection, read)  # after an error the transaction is over anyway
        for name, _ in read.settings:
            connection.exec_driver_sql(f"SET LOCAL {name} TO DEFAULT")
        return result

    return run_with_settings


def _number(value: Any, as_of: datetime) -> float:
    if isinstance(value, datetime):  # last login → its age in days (naive: UTC)
        return (as_of - utc(value)).total_seconds() / 86400
    return float(value)
