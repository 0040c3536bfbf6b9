"""Rows of concurrent requests inserted and committed together (the ingest journal's
appends on PostgreSQL, ``ingest.journal``)."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.engine import Engine


class GroupCommit:
    """Journal rows of concurrent requests inserted and committed together.

    Why: on PostgreSQL most of what acknowledging a request costs the database is its own
    commit (the commit record, the WAL flush and its fsync), not the row. Each appending
    thread hands its row to one committer thread and waits; the committer inserts every
    row waiting at that moment in one statement and one transaction, then wakes their
    threads, which answer only then: each acknowledgement still follows the commit of
    its row. A failure of that commit fails every request in it (nothing acknowledged).
    """

    def __init__(self, engine: Engine, table: Table) -> None:
        self._engine = engine
        self._table = table
        self._waiting: list[tuple[dict[str, Any], Future[None]]] = []
        self._ready = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="journal-commit", daemon=True)
        self._thread.start()

    def append(self, row: dict[str, Any]) -> None:
        """Insert ``row``; return once it is committed (or raise why it was not)."""
        done: Future[None] = Future()
        with self._ready:
            if self._closed:
                raise RuntimeError("the journal is closed")
            self._waiting.append((row, done))
            self._ready.notify()
        done.result()

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._waiting and not self._closed:
                    self._ready.wait()
                group, self._waiting = self._waiting, []
                if not group and self._closed:
                    return
            try:
                with self._engine.begin() as connection:
                    connection.execute(insert(self._table), [row for row, _ in group])
            except BaseException as error:  # each waiting request fails with it
                for _, done in group:
                    done.set_exception(error)
            else:
                for _, done in group:
                    done.set_result(None)

    def close(self) -> None:
        """Commit what is waiting, then stop the committer thread."""
        with self._ready:
            self._closed = True
            self._ready.notify()
        self._thread.join(30)
