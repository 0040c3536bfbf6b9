"""A scoring run's reads on two PostgreSQL connections that share one snapshot.

One query runs on one core only, and the largest (distinct active users) is as long as
all the others together: a second connection in the same snapshot lets both cores work
while every query and what it sees stay unchanged.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session as DbSession

from healthscore.scoring.aggregate_queries import Read
from healthscore.scoring.metrics import Aggregate

T = TypeVar("T")


def exported_snapshot(session: DbSession) -> str | None:
    """The session's snapshot, exported for a second connection; ``None`` when that
    connection would not see what this transaction sees: it has written something
    (uncommitted rows are invisible to others) or is inside a savepoint (PostgreSQL
    cannot export from a subtransaction)."""
    if session.in_nested_transaction():
        return None
    snapshot: str | None = (
        session.connection()
        .exec_driver_sql(
            "SELECT CASE WHEN pg_current_xact_id_if_assigned() IS NULL"
            " THEN pg_export_snapshot() END"
        )
        .scalar()
    )
    return snapshot


@contextmanager
def snapshot_session(engine: Engine, snapshot: str) -> Iterator[DbSession]:
    """A read-only session on a connection of its own in ``snapshot`` (exported by a
    transaction that stays open meanwhile): it sees what that transaction saw when it
    exported it, whatever that one writes since, and may be used on another thread."""
    connection = engine.connect()
    try:
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
        connection.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        with DbSession(bind=connection) as reader:
            yield reader
    finally:
        connection.rollback()
        connection.close()


def read_concurrently(
    connection: Connection,
    snapshot: str,
    reads: list[Read],
    run: Callable[[Connection, Read], dict[Aggregate, T]],
) -> dict[Aggregate, T]:
    """Both connections take reads from one queue, biggest (keyed roll-ups) first, so
    whichever is free takes the next. A helper that cannot start leaves the queue to the
    session's connection; an error while reading is raised here."""
    queue = deque(sorted(reads, key=lambda read: not read.keyed))
    results: list[dict[Aggregate, T]] = []
    failure: list[BaseException] = []

    def drain(conn: Connection) -> None:
        while True:
            try:
                read = queue.popleft()
            except IndexError:
                return
            results.append(run(conn, read))

    def helper() -> None:
        try:
            conn = connection.engine.connect().execution_options(isolation_level="REPEATABLE READ")
        except Exception:  # no second connection: the session reads everything
            return
        try:
            conn.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            conn.exec_driver_sql("SET LOCAL jit = off")
        except Exception:
            conn.close()
            return
        try:
            drain(conn)
        except BaseException as error:  # re-raised by the session's thread
            failure.append(error)
        finally:
            conn.rollback()
            conn.close()

    thread = threading.Thread(target=helper, name="healthscore-read", daemon=True)
    thread.start()
    try:
        drain(connection)
    except BaseException:
        queue.clear()  # the helper stops after its current read
        raise
    finally:
        thread.join()
    if failure:
        raise failure[0]
    result: dict[Aggregate, T] = {}
    for part in results:
        result.update(part)
    return result
